"""What the pages show, without Streamlit: view models, Altair charts and form specs.

Plain functions of run folders, data sets and TrainConfig's metadata, tested without a
browser; the pages in ``app_pages/`` only draw what these return.
"""

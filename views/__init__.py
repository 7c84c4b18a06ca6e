"""What the pages show, without Streamlit: view models, Altair charts and form specs, tested
without a browser; the pages in ``app_pages/`` only draw what these return."""

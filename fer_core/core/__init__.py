"""The engine's lowest layer: what every other layer may use and which uses none of them.

Settings and presets (``config``), environment settings, class names, errors, atomic writes,
the read-only switch, the device, calibration maths, the backbone table and the studies' plans.
"""

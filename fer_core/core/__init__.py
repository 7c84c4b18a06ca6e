"""The engine's lowest layer: what every other layer may use and which uses none of them."""

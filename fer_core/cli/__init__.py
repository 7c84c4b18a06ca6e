"""The command line, ``python -m fer_core``: its table of commands in ``commands``."""

from fer_core.cli.commands import build_parser, main

__all__ = ["build_parser", "main"]

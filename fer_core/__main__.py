"""``python -m fer_core``: see ``fer_core/cli/commands.py`` for the commands."""

from fer_core.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

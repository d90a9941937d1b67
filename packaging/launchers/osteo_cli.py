"""Frozen entry point of the `osteo` command line (PyInstaller runs this file)."""

import sys

from osteo_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())

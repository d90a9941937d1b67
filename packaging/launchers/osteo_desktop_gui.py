"""Frozen entry point of the desktop app (PyInstaller runs this file; installed wheels use the console script)."""

import sys

from osteo_desktop.gui.app import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m osteo_desktop``: the ``osteo`` command line."""

import sys

from osteo_desktop.cli import main

# Guarded so that importing the module (documentation tools, PyInstaller's analysis) does not run the program.
if __name__ == "__main__":
    sys.exit(main())

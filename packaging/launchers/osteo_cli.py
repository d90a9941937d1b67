"""Frozen entry point of the `osteo` command line (PyInstaller runs this file)."""

import os
import sys

# NumPy's OpenBLAS would start a thread per core for the explanation's small matrix-vector products; waking them
# costs far more than the work (measured: 30 ms instead of 1 ms per Grad-CAM while LiteRT keeps the cores busy).
# Must be set before NumPy is imported. An explicit setting in the environment still wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from osteo_desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""osteo-desktop: offline osteoporosis screening of knee radiographs (a research tool, not a diagnostic device)."""

import os as _os

# NumPy's multi-threaded BLAS spins its threads after each product; for the small matrices of the explanation that
# made Grad-CAM ~15x slower on 2 cores. Set before NumPy is first imported; a user's own setting wins.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.3.0"

# The words of a result live in core.results.text; the disclaimer is re-exported here, where the app has always had it.
from osteo_desktop.core.results.text import DISCLAIMER  # noqa: E402

__all__ = ["DISCLAIMER", "__version__"]

"""Where the shared, read-only test data lives.

A module of its own (not conftest) because tests/gui has a conftest too: ``from conftest import ...`` would pick
whichever conftest pytest imported first.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("OSTEO_SHARED_DIR", REPO_ROOT.parent / "shared"))
KNEE_DIR = SHARED / "data" / "knee-xray"
DICOM_DIR = SHARED / "data" / "dicom"
IMAGENET_WEIGHTS = SHARED / "weights" / "imagenet" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"

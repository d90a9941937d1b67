"""Where the shared, read-only test data lives.

A module of its own (not conftest) because tests/gui has a conftest too: ``from conftest import ...`` would pick
whichever conftest pytest imported first.
"""

from __future__ import annotations

from pathlib import Path

from osteo_desktop.core.paths import shared_data_dir, shared_dicom_dir, shared_imagenet_dir, shared_knee_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = shared_data_dir()  # OSTEO_SHARED_DIR, else ../shared: decided in one place, core.paths
KNEE_DIR = shared_knee_dir()
DICOM_DIR = shared_dicom_dir()
IMAGENET_WEIGHTS = shared_imagenet_dir() / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"

"""osteo-desktop: offline osteoporosis screening of knee radiographs (a research tool, not a diagnostic device)."""

__version__ = "0.1.0"

DISCLAIMER = (
    "Research tool, not a diagnostic device. The result is a screening estimate from a machine-learning model "
    "and must not be used on its own to diagnose or treat a patient."
)

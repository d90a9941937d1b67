"""Scanning on a cluster (issue 13): optional backends behind the ``cluster`` extra, outside the core.

The core never imports this package; :mod:`osteo_desktop.core.pipeline.backends` names its backends and imports one
only when it is asked for by name (``osteo scan --backend ray``).
"""

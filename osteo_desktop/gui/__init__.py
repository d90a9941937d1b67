"""The desktop application (PySide6): a thin layer over :mod:`osteo_desktop.core`.

Nothing here imports TensorFlow; the model runs through :class:`osteo_desktop.core.model.runtime.Classifier` (LiteRT) in
worker threads so the window never freezes.
"""

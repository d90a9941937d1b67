"""The domain core: imaging, preprocessing, inference, explanation, scanning and history.

Nothing in this package imports Qt or TensorFlow; the GUI, the command line and the tests all drive it the same way.
"""

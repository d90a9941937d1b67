"""Training, evaluation and export. The only package that needs TensorFlow (``pip install -e .[train]``)."""

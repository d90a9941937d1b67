"""The DICOM node: networking (pynetdicom) lives here only, never in core. Nothing here opens a socket until a
command (`osteo serve`) or the GUI explicitly configures it."""

"""``osteo train``, ``osteo evaluate``, ``osteo train-knee-detector`` and ``osteo train-knee``: handed to the training
package.

``train`` and ``evaluate`` need TensorFlow; the knee detector (numpy) and the knee head (LiteRT features, a NumPy
head) train without it."""

from __future__ import annotations

from osteo_desktop.cli.common import EXIT_FAILED, say


def run_training(command: str, argv: list[str]) -> int:
    if command == "train-knee-detector":
        from osteo_desktop.training.knee_detector_command import train_knee_detector_main

        return int(train_knee_detector_main(argv) or 0)
    if command == "train-knee":  # LiteRT features and a NumPy head: no TensorFlow needed
        from osteo_desktop.training import knee_commands

        return int(knee_commands.train_knee_main(argv) or 0)
    try:
        from osteo_desktop.training import commands  # imports TensorFlow: only ever here
    except ImportError as exc:
        say(f"error: 'osteo {command}' needs the training extra (TensorFlow); install it with "
            f"pip install 'osteo-desktop[train]' ({exc})")
        return EXIT_FAILED
    entry = commands.train_main if command == "train" else commands.evaluate_main
    return int(entry(argv) or 0)

"""``osteo info FILE``: what the reader makes of one file (size, bit depth, window, key DICOM tags, warnings)."""

from __future__ import annotations

import argparse
import json

from osteo_desktop.cli.common import EXIT_FAILED, EXIT_OK, model_description, say
from osteo_desktop.core.errors import ImageReadError
from osteo_desktop.core.results.names import escape_undecodable_in, for_terminal
from osteo_desktop.core.results.text import DISCLAIMER


def info_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from osteo_desktop.core.reading.reader import describe_radiograph, read_radiograph

    try:
        radiograph = read_radiograph(args.file)
    except ImageReadError as exc:
        say(f"error: {exc}")
        return EXIT_FAILED
    description = describe_radiograph(radiograph)
    description["model"] = model_description(getattr(args, "model_dir", None))
    if args.include_patient:
        description["patient"] = dict(radiograph.patient)
    if args.json:
        print(json.dumps(escape_undecodable_in(description), indent=2, default=str, ensure_ascii=False))
        return EXIT_OK
    for key, value in description.items():
        if key == "warnings":
            continue
        if isinstance(value, dict):
            print(f"{key}:")
            for sub_key, sub_value in value.items():
                print(f"  {for_terminal(sub_key)}: {for_terminal(sub_value)}")
        else:
            print(f"{key}: {for_terminal(value)}")
    input_warnings = description["warnings"]
    print("warnings: " + ("none" if not input_warnings else ""))
    for warning in input_warnings:
        print(f"  - {for_terminal(warning)}")
    print(DISCLAIMER)
    return EXIT_OK

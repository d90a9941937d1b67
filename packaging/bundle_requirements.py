"""Print the requirements of pyproject extras that the build environment does not satisfy, one per line.

    python packaging/bundle_requirements.py [--pyproject FILE] EXTRA...

scripts/build-installer.sh runs it with the extras the shipped app uses at run time and pip-installs what it prints,
so a bundle never depends on what the build venv happened to hold (a venv made by run-app.sh had no pynetdicom, and
its bundle had no DICOM networking). Only the extras' own requirements are installed, never the project again: an
editable install of this checkout (or of another one) stays as it is.

Exit status 0 with nothing printed: every requirement is installed at a version the extra allows. Standard library
and pip's vendored copies of tomli/packaging only: it runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib  # type: ignore[no-redef]
try:
    from packaging.requirements import Requirement
except ModuleNotFoundError:
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]


def unsatisfied(pyproject: Path, extras: list[str]) -> list[str]:
    """The requirement strings of ``extras`` (in pyproject order) whose distribution is missing or too old/new.

    Raises KeyError naming an extra that pyproject does not declare: a renamed extra must break the build, not
    silently bundle less.
    """
    declared = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"].get("optional-dependencies", {})
    missing: list[str] = []
    for extra in extras:
        if extra not in declared:
            raise KeyError(f"pyproject.toml declares no extra {extra!r} (it has: {', '.join(sorted(declared))})")
        for text in declared[extra]:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate():
                continue  # for another platform
            try:
                installed = version(requirement.name)
            except PackageNotFoundError:
                missing.append(text)
                continue
            if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
                missing.append(text)
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=Path(__file__).resolve().parents[1] / "pyproject.toml")
    parser.add_argument("extras", nargs="+")
    args = parser.parse_args(argv)
    try:
        missing = unsatisfied(args.pyproject, args.extras)
    except KeyError as error:
        print(f"bundle_requirements: {error.args[0]}", file=sys.stderr)
        return 2
    for text in missing:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

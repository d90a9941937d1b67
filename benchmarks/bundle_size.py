#!/usr/bin/env python3
"""What takes the space in the one-folder bundle: total, by component, and the largest files.

    .venv/bin/python benchmarks/bundle_size.py [dist/osteo-desktop] [--top 25]

Symbolic links are not counted (PyInstaller links top-level Qt libraries to PySide6/Qt/lib). Prints a table and
writes benchmarks/results/bundle_size.json (the committed record; benchmarks/run_all.py), or ``--out PATH``:
scripts/build-installer.sh writes build/bundle_size.json, so that a build never modifies a tracked file.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, write_result  # noqa: E402

# First matching pattern names the component a file belongs to (paths relative to the bundle, '/'-separated).
COMPONENTS = [
    ("model (model_weights/)", r"model_weights/"),
    ("resources (sample, icons, licences)", r"resources/"),
    ("Qt: ICU data and libraries", r"libicu"),
    ("Qt: plugins", r"PySide6/Qt/plugins/"),
    ("Qt: libraries", r"(PySide6/Qt/lib/|libQt6)"),
    ("PySide6/Shiboken bindings", r"(PySide6/|shiboken6/|libpyside6|libshiboken6)"),
    ("LiteRT runtime", r"(ai_edge_litert|libpywrap_litert)"),
    ("NumPy + OpenBLAS", r"(numpy/|numpy\.libs/)"),
    ("Pillow + its codecs", r"(PIL/|pillow\.libs/)"),
    ("DICOM: pydicom + pylibjpeg codecs", r"(pydicom|openjpeg|libjpeg|_libjpeg|_openjpeg|rle/|pylibjpeg)"),
    ("Python runtime + stdlib", r"(libpython|python3\.\d+/|base_library\.zip)"),
    ("executables (with their Python code)", r"^(osteo|osteo-desktop)(\.exe)?$"),
    ("system libraries (X11/xcb, fontconfig, glib, dbus, ssl, ...)", r"\.so"),
    ("other", r""),
]


def measure(bundle: Path, top: int) -> dict:
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()]
    sizes = {p.relative_to(bundle).as_posix().removeprefix("_internal/"): p.stat().st_size for p in files}
    by_component: dict[str, int] = {name: 0 for name, _ in COMPONENTS}
    for rel, size in sizes.items():
        for name, pattern in COMPONENTS:
            if re.search(pattern, rel):
                by_component[name] += size
                break
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:top]
    return {
        "bundle": str(bundle),
        "total_mb": round(sum(sizes.values()) / 1e6, 1),
        "files": len(sizes),
        "by_component_mb": {k: round(v / 1e6, 1) for k, v in sorted(by_component.items(), key=lambda kv: -kv[1]) if v},
        "largest_files_mb": [[rel, round(size / 1e6, 2)] for rel, size in largest],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=REPO / "dist" / "osteo-desktop")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=None,
                        help="write the JSON here instead of benchmarks/results/bundle_size.json")
    args = parser.parse_args()
    if not args.bundle.is_dir():
        print(f"no bundle at {args.bundle}: run scripts/build-installer.sh first", file=sys.stderr)
        return 1
    result = measure(args.bundle, args.top)
    print(f"bundle {result['bundle']}: {result['total_mb']} MB in {result['files']} files (target < 250 MB)")
    print("\nby component:")
    for name, mb in result["by_component_mb"].items():
        print(f"  {mb:8.1f} MB  {name}")
    print(f"\nlargest {args.top} files:")
    for rel, mb in result["largest_files_mb"]:
        print(f"  {mb:8.2f} MB  {rel}")
    write_result("bundle_size", result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

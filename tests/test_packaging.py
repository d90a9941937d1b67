"""What the installer ships besides the code: the synthetic sample, the licence texts, the install script.

The bundle itself is built and checked by scripts/build-installer.sh and scripts/check-bundle.sh (CI runs them after
the tests); these checks are the fast part that needs no build.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from osteo_desktop.core.paths import resources_dir, sample_image_path

REPO = Path(__file__).resolve().parents[1]


def _load_make_sample():
    spec = importlib.util.spec_from_file_location("make_sample", REPO / "scripts" / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sample_is_the_synthetic_phantom_drawn_by_the_script():
    with Image.open(sample_image_path()) as image:
        assert image.mode == "L"
        shipped = np.asarray(image)
    redrawn = _load_make_sample().draw_phantom()
    assert np.array_equal(shipped, redrawn), "resources/samples/knee_sample.png differs from scripts/make_sample.py's drawing"


def test_sample_is_not_a_copy_of_a_shared_radiograph(knee_manifest):
    digest = hashlib.sha256(sample_image_path().read_bytes()).hexdigest()
    assert digest not in {row["sha256"] for row in knee_manifest}


def test_sample_looks_like_a_radiograph_to_the_reader():
    from osteo_desktop.core.reading.reader import read_radiograph

    radiograph = read_radiograph(sample_image_path())
    pixels = radiograph.pixels
    assert pixels.shape == (960, 420)  # tall and narrow, like the long-leg knee films of the public sources
    # A dark background at the edges, grey soft tissue, bright bone in the middle (femur, joint, tibia).
    assert pixels[:, :20].mean() < 0.1 < pixels[100:800, 60:120].mean() < 0.5 < pixels[100:800, 190:240].mean()


def test_every_licence_file_named_in_the_index_exists():
    licences = resources_dir() / "licenses"
    index = (licences / "THIRD_PARTY.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([\w.-]+\.txt)`", index))
    assert named, "THIRD_PARTY.md names no licence files"
    missing = sorted(name for name in named if not (licences / name).is_file())
    assert not missing, f"THIRD_PARTY.md names licence files that are not there: {missing}"
    assert "GPL" in (licences / "pylibjpeg-libjpeg-GPL-3.0.txt").read_text(encoding="utf-8")


def test_model_files_listed_by_the_card_exist_for_the_bundle():
    import json

    card = json.loads((REPO / "model_weights" / "model_card.json").read_text())
    for entry in card["files"].values():
        assert (REPO / "model_weights" / entry["path"]).is_file(), f"build.spec would fail: {entry['path']} missing"


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_install_script_parses_and_installs_into_a_prefix(tmp_path):
    script = REPO / "packaging" / "linux" / "install.sh"
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    # A fake unpacked archive: the install script only copies files and writes the menu entry.
    archive = tmp_path / "archive"
    app = archive / "osteo-desktop"
    (app / "_internal" / "resources" / "icons").mkdir(parents=True)
    for name in ("osteo-desktop", "osteo"):
        (app / name).write_text("#!/bin/sh\necho fake\n")
        (app / name).chmod(0o755)
    shutil.copy(resources_dir() / "icons" / "osteo-desktop.png", app / "_internal" / "resources" / "icons")
    shutil.copy(script, archive)
    shutil.copy(REPO / "packaging" / "linux" / "osteo-desktop.desktop.in", archive)
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "XDG_DATA_HOME": str(home / "share")}
    done = subprocess.run(["sh", str(archive / "install.sh"), "--user"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    installed = home / ".local" / "opt" / "osteo-desktop"
    desktop = (home / "share" / "applications" / "osteo-desktop.desktop").read_text()
    assert f"Exec=\"{installed}/osteo-desktop\" %f" in desktop
    assert (home / ".local" / "bin" / "osteo").resolve() == installed / "osteo"
    assert (home / "share" / "icons" / "hicolor" / "256x256" / "apps" / "osteo-desktop.png").is_file()
    removed = subprocess.run(["sh", str(installed / "uninstall.sh")], env=env, capture_output=True, text=True)
    assert removed.returncode == 0, removed.stderr
    assert not installed.exists() and not (home / ".local" / "bin" / "osteo").exists()
    assert not (home / "share" / "applications" / "osteo-desktop.desktop").exists()


def test_pyproject_licence_is_an_spdx_string_so_pip_does_not_warn() -> None:
    """setuptools>=77 warns on the table form ``license = {text = ...}``; PEP 639 wants an SPDX string."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "MIT"
    assert any(req.replace(" ", "").startswith("setuptools>=77") for req in project["build-system"]["requires"])


def test_the_bundle_size_report_of_a_build_goes_to_build_not_to_a_tracked_file(tmp_path):
    """scripts/build-installer.sh must leave the checkout clean: its size report goes to build/ (ignored)."""
    script = (REPO / "scripts" / "build-installer.sh").read_text()
    calls = [line for line in script.splitlines() if "bundle_size.py" in line and not line.lstrip().startswith("#")]
    assert calls and all("--out build/bundle_size.json" in line for line in calls)
    ignored = subprocess.run(["git", "check-ignore", "-q", "build/bundle_size.json"], cwd=REPO)
    assert ignored.returncode == 0
    # The script honours --out and leaves the committed record alone.
    bundle = tmp_path / "osteo-desktop"
    (bundle / "_internal" / "model_weights").mkdir(parents=True)
    (bundle / "_internal" / "model_weights" / "m.tflite").write_bytes(b"\0" * 2_000_000)
    record = REPO / "benchmarks" / "results" / "bundle_size.json"
    before = record.read_bytes()
    out = tmp_path / "size.json"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bundle_size.py"), str(bundle), "--out", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["total_mb"] == 2.0
    assert record.read_bytes() == before


def _fake_root_path(tmp_path: Path) -> str:
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    (fake_bin / "id").write_text('#!/bin/sh\n[ "$1" = -u ] && echo 0 && exit 0\nexec /usr/bin/id "$@"\n')
    (fake_bin / "id").chmod(0o755)
    return f"{fake_bin}:/usr/bin:/bin"


def test_install_as_root_without_system_refuses_and_says_how(tmp_path):
    script = REPO / "packaging" / "linux" / "install.sh"
    prefix = tmp_path / "opt"
    env = {"HOME": str(tmp_path / "home"), "PATH": _fake_root_path(tmp_path)}
    done = subprocess.run(["sh", str(script), "--prefix", str(prefix)], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "every user" in done.stderr and "sudo ./install.sh --system" in done.stderr
    assert "without sudo" in done.stderr
    assert not prefix.exists()  # nothing was installed
    plain = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)
    assert plain.returncode == 2 and "/opt/osteo-desktop" in plain.stderr

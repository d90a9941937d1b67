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


def _fake_archive(tmp_path: Path) -> Path:
    """A fake unpacked archive: install.sh only copies files, links the commands and writes the menu entry."""
    script = REPO / "packaging" / "linux" / "install.sh"
    archive = tmp_path / "archive"
    app = archive / "osteo-desktop"
    (app / "_internal" / "resources" / "icons").mkdir(parents=True)
    for name in ("osteo-desktop", "osteo"):
        (app / name).write_text("#!/bin/sh\necho fake\n")
        (app / name).chmod(0o755)
    shutil.copy(resources_dir() / "icons" / "osteo-desktop.png", app / "_internal" / "resources" / "icons")
    shutil.copy(script, archive)
    shutil.copy(REPO / "packaging" / "linux" / "osteo-desktop.desktop.in", archive)
    return archive


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under root (relative path -> contents), to show what an install left alone."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_install_script_parses_and_installs_for_the_user(tmp_path):
    assert subprocess.run(["sh", "-n", str(REPO / "packaging" / "linux" / "install.sh")]).returncode == 0
    archive = _fake_archive(tmp_path)
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


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_install_into_a_prefix_keeps_what_other_programs_keep_there(tmp_path):
    """Trial 22: `install.sh --prefix DIR` moved DIR itself aside and deleted it (another app's files with it), then
    failed on the bin/ link. The app must go into DIR/osteo-desktop, and install, reinstall and uninstall must leave
    every other file in DIR as it was."""
    archive = _fake_archive(tmp_path)
    prefix = tmp_path / "opt"
    (prefix / "otherapp").mkdir(parents=True)
    (prefix / "otherapp" / "data.txt").write_text("another program's data\n")
    (prefix / "bin").mkdir()
    (prefix / "bin" / "otherapp").write_text("#!/bin/sh\n")
    others = _tree(prefix)
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "XDG_DATA_HOME": str(home / "share")}
    install = ["sh", str(archive / "install.sh"), "--user", "--prefix", str(prefix)]

    for attempt in ("install", "reinstall over its own previous install"):
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        assert done.returncode == 0, (attempt, done.stderr)
        app = prefix / "osteo-desktop"
        assert (app / "osteo").read_text() == "#!/bin/sh\necho fake\n", attempt
        assert (prefix / "bin" / "osteo").resolve() == app / "osteo", attempt
        assert (prefix / "bin" / "osteo-desktop").resolve() == app / "osteo-desktop", attempt
        assert {name: data for name, data in _tree(prefix).items() if name in others} == others, attempt
        # Nothing else appears in the prefix: no staging or .old folder is left behind.
        assert sorted(path.name for path in prefix.iterdir()) == ["bin", "osteo-desktop", "otherapp"], attempt

    removed = subprocess.run(["sh", str(archive / "install.sh"), "--uninstall", "--user", "--prefix", str(prefix)],
                             env=env, capture_output=True, text=True)
    assert removed.returncode == 0, removed.stderr
    assert _tree(prefix) == others
    assert not (prefix / "osteo-desktop").exists() and not (prefix / "bin" / "osteo").is_symlink()


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_install_refuses_to_replace_a_folder_or_command_that_is_not_its_own(tmp_path):
    archive = _fake_archive(tmp_path)
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "XDG_DATA_HOME": str(home / "share")}
    # A folder called osteo-desktop that some other process made (no marker of an install): left alone.
    prefix = tmp_path / "shared"
    (prefix / "osteo-desktop").mkdir(parents=True)
    (prefix / "osteo-desktop" / "notes.txt").write_text("not the app\n")
    before = _tree(prefix)
    done = subprocess.run(["sh", str(archive / "install.sh"), "--user", "--prefix", str(prefix)], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "not an installation of osteo-desktop" in done.stderr
    assert _tree(prefix) == before and sorted(path.name for path in prefix.iterdir()) == ["osteo-desktop"]
    # An `osteo` command of another program in the commands folder: not overwritten, and nothing installed.
    prefix2 = tmp_path / "usr-local"
    (prefix2 / "bin").mkdir(parents=True)
    (prefix2 / "bin" / "osteo").write_text("#!/bin/sh\necho another osteo\n")
    before2 = _tree(prefix2)
    done = subprocess.run(["sh", str(archive / "install.sh"), "--user", "--prefix", str(prefix2)], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and f"{prefix2 / 'bin' / 'osteo'} exists" in done.stderr
    assert _tree(prefix2) == before2 and not (prefix2 / "osteo-desktop").exists()
    # uninstall of a prefix without the app: refuses, removes nothing.
    done = subprocess.run(["sh", str(archive / "install.sh"), "--uninstall", "--user", "--prefix", str(prefix)], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 1 and _tree(prefix) == before


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_install_replaces_a_previous_install_made_before_the_marker(tmp_path):
    """0.2.0 installs have no marker file; they are recognised by the uninstall.sh install.sh wrote into them."""
    archive = _fake_archive(tmp_path)
    home = tmp_path / "home"
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "XDG_DATA_HOME": str(home / "share")}
    old = home / ".local" / "opt" / "osteo-desktop"
    (old / "_internal").mkdir(parents=True)
    for name in ("osteo-desktop", "osteo"):
        (old / name).write_text("#!/bin/sh\necho old\n")
        (old / name).chmod(0o755)
    (old / "uninstall.sh").write_text("#!/bin/sh\n# Remove osteo-desktop as installed by install.sh (the per-user ...)\n")
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "osteo").symlink_to(old / "osteo")
    done = subprocess.run(["sh", str(archive / "install.sh"), "--user"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (old / "osteo").read_text() == "#!/bin/sh\necho fake\n"
    assert (home / ".local" / "bin" / "osteo").resolve() == old / "osteo"


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
    # the command it advises keeps the --prefix given (trial 22b: it advised --system alone, which installs in /opt)
    assert "every user" in done.stderr and f"sudo ./install.sh --system --prefix {prefix}" in done.stderr
    assert "without sudo" in done.stderr
    assert not prefix.exists()  # nothing was installed
    plain = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)
    assert plain.returncode == 2 and "/opt/osteo-desktop" in plain.stderr
    assert "say so: sudo ./install.sh --system\n" in plain.stderr


def _bundled_extras() -> list[str]:
    """The extras scripts/build-installer.sh installs before bundling (its BUNDLED_EXTRAS line)."""
    script = (REPO / "scripts" / "build-installer.sh").read_text(encoding="utf-8")
    found = re.findall(r'^BUNDLED_EXTRAS="([^"]*)"', script, flags=re.MULTILINE)
    assert len(found) == 1, "build-installer.sh must name the bundled extras once, as BUNDLED_EXTRAS=\"...\""
    return found[0].split()


def _distribution(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_library_the_shipped_app_imports_is_installed_by_the_bundle_build():
    """Trial 22: a bundle built from a venv made by run-app.sh (core dependencies only) had no pynetdicom, so
    `osteo serve` and the PACS dialog failed. Every third-party package imported by the shipped code (all of
    osteo_desktop but training and cluster, which build.spec leaves out) must be a core dependency or come from an
    extra that build-installer.sh installs before bundling."""
    import ast
    from importlib.metadata import packages_distributions

    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    bundled = _bundled_extras()
    assert set(bundled) <= set(extras)
    installed_by_build = {_distribution(text) for text in project["dependencies"]}
    installed_by_build |= {_distribution(text) for extra in bundled for text in extras[extra]}
    owners = packages_distributions()
    imported: dict[str, str] = {}
    for path in sorted((REPO / "osteo_desktop").rglob("*.py")):
        if path.relative_to(REPO / "osteo_desktop").parts[0] in ("training", "cluster"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top != "osteo_desktop":
                    imported.setdefault(top, str(path.relative_to(REPO)))
    assert "pynetdicom" in imported  # the check sees the lazily imported networking modules
    missing = {
        top: where for top, where in imported.items()
        if not {name.lower().replace("_", "-") for name in owners.get(top, [top])} & installed_by_build
    }
    assert not missing, f"imported by the shipped app but not installed by build-installer.sh: {missing}"


def test_every_extra_is_either_bundled_or_deliberately_left_out():
    """A new extra must be sorted into the bundle or out of it, not silently missing from the workstation build."""
    tomllib = pytest.importorskip("tomllib")
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"])
    left_out = {"train", "cluster", "dev", "build", "mutation"}  # training, cluster, test and tool venvs only
    assert extras - left_out == set(_bundled_extras())


def test_bundle_requirements_prints_what_the_venv_lacks(tmp_path):
    """packaging/bundle_requirements.py decides what build-installer.sh pip-installs: missing distributions, ones
    outside the extra's version range, and nothing for requirements of another platform."""
    from importlib.metadata import version

    numpy_major = int(version("numpy").split(".")[0])
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[project]\nname = 'x'\n[project.optional-dependencies]\n"
        "net = ['numpy>=1', 'no-such-distribution-osteo22>=1', "
        f"'numpy<{numpy_major}', \"numpy>=999; platform_system == 'NoSuchOS'\"]\n"
        "other = ['no-such-other-distribution-osteo22']\n",
        encoding="utf-8",
    )
    script = REPO / "packaging" / "bundle_requirements.py"
    done = subprocess.run([sys.executable, str(script), "--pyproject", str(pyproject), "net"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["no-such-distribution-osteo22>=1", f"numpy<{numpy_major}"]
    both = subprocess.run([sys.executable, str(script), "--pyproject", str(pyproject), "net", "other"],
                          capture_output=True, text=True, timeout=60)
    assert both.stdout.splitlines()[-1] == "no-such-other-distribution-osteo22"
    unknown = subprocess.run([sys.executable, str(script), "--pyproject", str(pyproject), "network"],
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "no extra 'network'" in unknown.stderr and unknown.stdout == ""


def _load_check_bundle_dicom():
    spec = importlib.util.spec_from_file_location("check_bundle_dicom", REPO / "packaging" / "check_bundle_dicom.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_check_bundle_dicom_accepts_real_results_and_rejects_missing_or_foreign_ones(tmp_path, knee_jpeg):
    """scripts/check-bundle.sh's DICOM check (Trial 22: it never ran dicom-export, so a bundle that could write no
    DICOM result passed). On the installed app's genuine output it passes; with the PDF gone, a result moved to
    another study, or nothing written at all, it fails."""
    import pydicom

    checker = _load_check_bundle_dicom()
    source = tmp_path / "knee.dcm"
    checker.make_knee(knee_jpeg, source)
    made = pydicom.dcmread(source)
    with Image.open(knee_jpeg) as image:
        expected = np.asarray(image.convert("L"), dtype=np.uint16) * 16
    assert made.Modality == "DX" and made.BitsStored == 12 and np.array_equal(made.pixel_array, expected)
    out = tmp_path / "out"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "osteo_desktop", "dicom-export", str(source), "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "3 files: SR" in checker.check_export(source, out)

    with pytest.raises(checker.CheckFailed, match="expected 1 SR"):
        checker.check_export(source, tmp_path / "nothing-written")
    pdf = next(path for path in out.iterdir() if pydicom.dcmread(path).Modality == "DOC")
    moved = tmp_path / "no-pdf"
    shutil.copytree(out, moved)
    (moved / pdf.name).unlink()
    with pytest.raises(checker.CheckFailed, match="1 PDF"):
        checker.check_export(source, moved)
    foreign = tmp_path / "foreign"
    shutil.copytree(out, foreign)
    sr_path = next(path for path in foreign.iterdir() if pydicom.dcmread(path).Modality == "SR")
    sr = pydicom.dcmread(sr_path)
    sr.StudyInstanceUID = pydicom.uid.generate_uid()
    sr.save_as(sr_path)
    with pytest.raises(checker.CheckFailed, match="not in the source's study"):
        checker.check_export(source, foreign)


def _fake_build_checkout(tmp_path: Path, *, pip_fails: bool) -> tuple[Path, Path, dict[str, str]]:
    """A scratch checkout holding build-installer.sh and a stand-in Python: the venv lacks pynetdicom until the
    script pip-installs it; PyInstaller is never really run (the stand-in stops there with status 3)."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    (checkout / "osteo_desktop").mkdir()
    shutil.copy(REPO / "scripts" / "build-installer.sh", checkout / "scripts")
    (checkout / "osteo_desktop" / "__init__.py").write_text('__version__ = "9.9.9"\n')
    state = tmp_path / "state"
    state.mkdir()
    fake = tmp_path / "python"
    fake.write_text(f"""#!/bin/sh
state={state}
case "$1" in
  -c) case "$2" in *"import PyInstaller"*|*"import osteo_desktop"*) exit 0 ;; esac ;;
  packaging/bundle_requirements.py) echo "$*" >> "$state/asked"; [ -f "$state/installed" ] || echo 'pynetdicom>=2.1'; exit 0 ;;
  -m) case "$2" in
        pip) echo "$*" >> "$state/pip"; {"exit 1" if pip_fails else 'touch "$state/installed"; exit 0'} ;;
        PyInstaller) echo "PyInstaller reached" >> "$state/pyinstaller"; exit 3 ;;
      esac ;;
esac
exec {sys.executable} "$@"
""")
    fake.chmod(0o755)
    return checkout, state, {"PATH": "/usr/bin:/bin", "PYTHON": str(fake), "HOME": str(tmp_path)}


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_build_installer_installs_the_missing_network_extra_before_bundling(tmp_path):
    checkout, state, env = _fake_build_checkout(tmp_path, pip_fails=False)
    done = subprocess.run(["bash", str(checkout / "scripts" / "build-installer.sh")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert (state / "pip").read_text().split() == ["-m", "pip", "install", "-q", "pynetdicom>=2.1"]
    assert (state / "asked").read_text().splitlines() == ["packaging/bundle_requirements.py dicom-network"] * 2
    assert (state / "pyinstaller").is_file() and done.returncode == 3, done.stderr  # went on to bundle


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_build_installer_stops_before_bundling_when_the_extra_cannot_be_installed(tmp_path):
    checkout, state, env = _fake_build_checkout(tmp_path, pip_fails=True)
    done = subprocess.run(["bash", str(checkout / "scripts" / "build-installer.sh")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert "FAILED to install pynetdicom>=2.1" in done.stderr and "--no-index --find-links" in done.stderr
    assert not (state / "pyinstaller").exists()

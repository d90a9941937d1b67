#!/usr/bin/env bash
# Build the standalone app (PyInstaller one-folder bundle, build.spec) and the installer artifact for this platform:
#   Linux:   dist/osteo-desktop-<version>-linux-<arch>.tar.gz  (the app folder + install.sh + desktop entry)
#   macOS:   dist/Osteo Desktop.app, and dist/osteo-desktop-<version>-macos-<arch>.dmg when hdiutil is there
#   Windows: dist/osteo-desktop/ (then packaging/windows/osteo-desktop.iss with Inno Setup; see packaging/README.md)
# Uses ./.venv (created and filled by scripts/run-tests.sh or run-app.sh); installs PyInstaller and the extras the
# app ships with (dicom-network: pynetdicom) into it if missing, and fails if it cannot.
# Works offline once the venv has PyInstaller. Environment: PYTHON (default .venv/bin/python),
# OSTEO_BUNDLE_LIBJPEG=0 (leave out the GPLv3 JPEG-lossless/JPEG-LS decoder), OSTEO_STRIP=0.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=.venv/Scripts/python.exe  # Git Bash on Windows
if [ ! -x "$PY" ]; then
  echo "build-installer: no virtual environment at .venv; run scripts/run-tests.sh (or pip install -e '.[build]') first" >&2
  exit 1
fi
if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
  echo "build-installer: installing PyInstaller into .venv"
  "$PY" -m pip install -q "pyinstaller>=6.5"
fi
# The bundle must not need TensorFlow, but the spec needs the app's own run-time dependencies importable.
"$PY" -c "import osteo_desktop, PySide6, ai_edge_litert, pydicom, pylibjpeg, highdicom" || {
  echo "build-installer: .venv lacks the app's dependencies; run: $PY -m pip install -e ." >&2; exit 1; }
# The extras the shipped app uses at run time (pyproject's [project.optional-dependencies]); PyInstaller bundles
# only what the venv holds, so a venv made by run-app.sh (core only) gave a bundle without DICOM networking whose
# `osteo serve` failed with "No module named 'pynetdicom'". Install what is missing (the extras' requirements only,
# never the project again), and stop if that fails. Not bundled: train and cluster (never on a workstation), dev,
# build (PyInstaller, above), mutation. tests/test_packaging.py fails when pyproject gains an extra not sorted here.
BUNDLED_EXTRAS="dicom-network"
missing=$("$PY" packaging/bundle_requirements.py $BUNDLED_EXTRAS) || {
  echo "build-installer: could not read the extras $BUNDLED_EXTRAS from pyproject.toml" >&2; exit 1; }
if [ -n "$missing" ]; then
  echo "build-installer: installing into the venv what the bundled extras ($BUNDLED_EXTRAS) need:" $missing
  # shellcheck disable=SC2086  # one requirement per line, none with spaces
  (IFS=$'\n'; "$PY" -m pip install -q $missing) || {
    echo "build-installer: FAILED to install $(echo $missing); the bundle would lack them (no DICOM networking)." >&2
    echo "  Offline: pip install them from a wheel folder (pip install --no-index --find-links DIR ...), then rerun." >&2
    exit 1; }
  still=$("$PY" packaging/bundle_requirements.py $BUNDLED_EXTRAS)
  [ -z "$still" ] || { echo "build-installer: still missing after pip install: $(echo $still)" >&2; exit 1; }
fi

version=$("$PY" -c "import re,pathlib; print(re.search(r'__version__\s*=\s*\"([^\"]+)\"', pathlib.Path('osteo_desktop/__init__.py').read_text()).group(1))")
arch=$(uname -m)
echo "build-installer: osteo-desktop $version, PyInstaller $("$PY" -c 'import PyInstaller; print(PyInstaller.__version__)')"

rm -rf dist/osteo-desktop
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller build.spec
bundle=dist/osteo-desktop
[ -x "$bundle/osteo-desktop" ] || [ -f "$bundle/osteo-desktop.exe" ] || { echo "build-installer: no app in $bundle" >&2; exit 1; }

case "$(uname -s)" in
  Linux)
    name=osteo-desktop-$version-linux-$arch
    stage=build/installer/$name
    rm -rf "build/installer" && mkdir -p "$stage"
    cp -R "$bundle" "$stage/osteo-desktop"
    cp packaging/linux/install.sh packaging/linux/osteo-desktop.desktop.in "$stage/"
    chmod 755 "$stage/install.sh"
    cat > "$stage/README.txt" <<EOF
osteo-desktop $version for Linux ($arch): offline osteoporosis screening of knee radiographs.
Research tool, not a diagnostic device.

Install for yourself:   ./install.sh          (into ~/.local/opt/osteo-desktop, commands in ~/.local/bin)
Install for everyone:   sudo ./install.sh --system   (into /opt/osteo-desktop, commands in /usr/local/bin)
Or run it in place:     ./osteo-desktop/osteo-desktop      and      ./osteo-desktop/osteo --help
Check it works:         ./osteo-desktop/osteo-desktop --self-test
Remove it:              ~/.local/opt/osteo-desktop/uninstall.sh   (or /opt/osteo-desktop/uninstall.sh)

Needs no Python and no network. System libraries it expects (present on any desktop Linux; on a minimal
Debian/Ubuntu: apt install libgl1 libegl1 libfontconfig1 libxkbcommon-x11-0 libxcb-cursor0 libdbus-1-3):
glibc 2.36 or newer, libGL/libEGL (libglvnd), and for the window an X11 or Wayland session.
Third-party licences: osteo-desktop/_internal/resources/licenses/THIRD_PARTY.md
EOF
    if command -v pigz >/dev/null 2>&1; then gzip_cmd="pigz -6"; else gzip_cmd="gzip -6"; fi
    tar -C build/installer -cf - "$name" | $gzip_cmd > "dist/$name.tar.gz"
    artifact=dist/$name.tar.gz
    # An AppImage needs appimagetool (and its runtime), which are downloaded from the network; not done here.
    ;;
  Darwin)
    artifact="dist/Osteo Desktop.app"
    if command -v hdiutil >/dev/null 2>&1; then
      hdiutil create -volname "Osteo Desktop $version" -srcfolder "dist/Osteo Desktop.app" -ov -format UDZO \
        "dist/osteo-desktop-$version-macos-$arch.dmg"
      artifact=dist/osteo-desktop-$version-macos-$arch.dmg
    fi
    ;;
  MINGW*|MSYS*|CYGWIN*)
    artifact=$bundle
    if command -v iscc >/dev/null 2>&1; then
      iscc "//DAppVersion=$version" packaging/windows/osteo-desktop.iss && artifact=dist/osteo-desktop-$version-windows-setup.exe
    else
      echo "build-installer: Inno Setup (iscc) not on PATH; the bundle is in $bundle (see packaging/README.md)"
    fi
    ;;
esac

# Into build/ (ignored): a build never modifies a tracked file. The committed record in benchmarks/results/ is
# updated only by benchmarks/run_all.py.
"$PY" benchmarks/bundle_size.py "$bundle" --top 12 --out build/bundle_size.json || true
echo "build-installer: $artifact ($(du -sh "$artifact" | cut -f1)) built in $(( $(date +%s) - started )) s"

#!/usr/bin/env bash
# Smoke-test the frozen app the way a reading-room workstation runs it: no Python, no network, nothing from the
# build machine's environment. Run after scripts/build-installer.sh; exits non-zero, loudly, if anything breaks.
#
#   scripts/check-bundle.sh [BUNDLE_DIR]
#
# With no argument it unpacks the newest dist/osteo-desktop-*-linux-*.tar.gz, installs it with its install.sh into a
# scratch HOME and checks the installed copy (so the installer is tested too); without an archive it checks
# dist/osteo-desktop in place. Checks:
#   1. osteo-desktop --self-test on the bundled sample (real window, offscreen) -> JSON with "ok": true
#   2. osteo-desktop --self-test on a shared knee radiograph (when ../shared exists)
#   3. osteo predict --json on the sample, a shared knee JPEG and PNG and shared JPEG 2000 / JPEG-lossless DICOMs
#   4. osteo scan --csv on a folder of those files, osteo info --json on a DICOM, osteo --version
#   5. osteo dicom-export on a knee DICOM (a shared knee JPEG wrapped as DX): the SR, annotated image and PDF it writes
#      must read back with pydicom, in the source's study, the SR with the model's probability
#   6. osteo serve: the node on a free loopback port answers C-ECHO, takes a C-STORE of that knee DICOM, forwards its
#      SR and annotated image to a storage SCP standing in for the PACS, and stops cleanly on SIGTERM
#   7. nothing of TensorFlow/Keras is in the bundle
# Each runs with an empty environment (no PYTHONPATH/PYTHONHOME, PATH without the venv or any Python), and inside
# a network namespace with no interfaces (unshare -n) where the kernel allows it; for 6 the namespace's loopback is
# brought up and the stand-in PACS and modality (the checker's Python, packaging/check_bundle_dicom.py) run in it too.
# The checker's Python is $PYTHON, else .venv/bin/python, else python3; 5 and 6 need pydicom and pynetdicom in it.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
shared=${OSTEO_SHARED_DIR:-$repo/../shared}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/osteo-check-bundle.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
fail() { echo "check-bundle: FAIL: $*" >&2; exit 1; }
step() { echo "check-bundle: $*"; }

# The checker's own JSON parsing may use any Python; the app under test never sees it.
checker_py=$(command -v python3 || true)
[ -x .venv/bin/python ] && checker_py=$repo/.venv/bin/python
[ -n "${PYTHON:-}" ] && checker_py=$PYTHON
[ -n "$checker_py" ] || fail "need python3 on the build machine to parse the JSON results"
"$checker_py" -c "import numpy, PIL, pydicom, pynetdicom" 2>/dev/null \
  || fail "the checker's Python ($checker_py) needs numpy, Pillow, pydicom and pynetdicom to check the DICOM results and the node (PYTHON=... or .venv with the dicom-network extra)"
dicom_check() { "$checker_py" "$repo/packaging/check_bundle_dicom.py" "$@"; }

# --- which bundle ------------------------------------------------------------------------------------------------
if [ $# -ge 1 ]; then
  bundle=$(cd "$1" && pwd)
else
  archive=$( (ls -t dist/osteo-desktop-*-linux-*.tar.gz 2>/dev/null || true) | sed -n 1p)
  if [ -n "$archive" ]; then
    step "installing $archive into a scratch HOME"
    mkdir -p "$scratch/unpack" "$scratch/home"
    tar -C "$scratch/unpack" -xzf "$archive"
    installer=$(ls "$scratch"/unpack/*/install.sh)
    HOME=$scratch/home XDG_DATA_HOME=$scratch/home/.local/share "$installer" --user >"$scratch/install.log" 2>&1 \
      || { cat "$scratch/install.log"; fail "install.sh failed"; }
    bundle=$scratch/home/.local/opt/osteo-desktop
    [ -f "$scratch/home/.local/share/applications/osteo-desktop.desktop" ] || fail "install.sh wrote no desktop entry"
    [ -f "$scratch/home/.local/share/icons/hicolor/256x256/apps/osteo-desktop.png" ] || fail "install.sh installed no icon"
    [ -L "$scratch/home/.local/bin/osteo" ] || fail "install.sh linked no osteo command"
  else
    bundle=$repo/dist/osteo-desktop
  fi
fi
[ -x "$bundle/osteo-desktop" ] && [ -x "$bundle/osteo" ] || fail "no frozen app in $bundle (run scripts/build-installer.sh)"
step "bundle: $bundle ($(du -sh "$bundle" | cut -f1))"

# --- a clean, offline environment ----------------------------------------------------------------------------------
mkdir -p "$scratch/home" "$scratch/empty-path" "$scratch/tmp" "$scratch/runtime"
chmod 700 "$scratch/runtime"
netns=()
unshare_bin=$(command -v unshare || true)
if [ -n "$unshare_bin" ] && "$unshare_bin" -n true 2>/dev/null; then
  netns=("$unshare_bin" -n)
elif [ -n "$unshare_bin" ] && "$unshare_bin" -rn true 2>/dev/null; then
  netns=("$unshare_bin" -rn)
fi
if [ ${#netns[@]} -gt 0 ]; then step "network: none (${netns[*]})"; else step "network: unshare not permitted here; running without proxies only"; fi

run_clean() {
  env -i HOME="$scratch/home" PATH="$scratch/empty-path" TMPDIR="$scratch/tmp" LANG=C.UTF-8 \
    XDG_RUNTIME_DIR="$scratch/runtime" QT_QPA_PLATFORM=offscreen ${netns[@]+"${netns[@]}"} "$@"
}

json_check() {  # json_check FILE PYTHON-EXPRESSION-ON-data MESSAGE
  "$checker_py" - "$1" "$2" <<'EOF' || fail "$3"
import json, sys
data = json.load(open(sys.argv[1], encoding="utf-8"))
ok = eval(sys.argv[2], {"data": data})
if not ok:
    print(json.dumps(data, indent=2)[:4000], file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
}

# --- 1, 2: the desktop app's self-test ----------------------------------------------------------------------------
self_test() {  # self_test NAME [FILE]
  local out=$scratch/self-test-$1.json
  local start=$(date +%s%N)
  if ! run_clean "$bundle/osteo-desktop" --self-test ${2:+"$2"} --self-test-output "$out" >"$scratch/self-test-$1.log" 2>&1; then
    cat "$scratch/self-test-$1.log" >&2
    fail "osteo-desktop --self-test ${2:-(bundled sample)} exited non-zero"
  fi
  # An answer either way: a result, or (a file the scope gate declines) no result with its reason and no numbers.
  json_check "$out" 'data.get("ok") is True and ((data.get("label") and 0.0 <= data["probability"] <= 1.0) or (data.get("out_of_scope") and data.get("label") is None and data.get("probability") is None))' \
    "self-test ${2:-(bundled sample)} did not report a result"
  step "self-test $1 ok in $(( ($(date +%s%N) - start) / 1000000 )) ms: $("$checker_py" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["label"] or "no result: %s" % d.get("out_of_scope"), d["probability"] if d["probability"] is None else round(d["probability"], 3), "startup_ms", d.get("startup_ms"))' "$out")"
}
self_test sample
if [ -d "$shared/data/knee-xray" ]; then
  jpegs=("$shared"/data/knee-xray/*/*.jpg) pngs=("$shared"/data/knee-xray/*/*.png)
  knee_jpg=${jpegs[0]} knee_png=${pngs[0]}
  self_test knee-jpeg "$knee_jpg"
fi

# --- 3, 4: the command line ----------------------------------------------------------------------------------------
sample=$bundle/_internal/resources/samples/knee_sample.png
[ -f "$sample" ] || fail "bundled sample missing: $sample"
files=("$sample")
if [ -d "$shared/data/knee-xray" ]; then files+=("$knee_jpg" "$knee_png"); fi
dicoms=()
for name in CR_tibia_RG3_J2KR_MONO1_10bit_j2k-lossless.dcm CR_hip_RG2_JPLL_MONO2_10bit_jpeg-lossless-sv1.dcm; do
  if [ -f "$shared/data/dicom/$name" ]; then dicoms+=("$shared/data/dicom/$name"); fi
done
if [ "${OSTEO_BUNDLE_LIBJPEG:-1}" = 0 ] && [ ${#dicoms[@]} -gt 1 ]; then dicoms=("${dicoms[0]}"); fi
files+=(${dicoms[@]+"${dicoms[@]}"})
start=$(date +%s%N)
if ! run_clean "$bundle/osteo" predict --json "${files[@]}" >"$scratch/predict.json" 2>"$scratch/predict.log"; then
  cat "$scratch/predict.log" "$scratch/predict.json" >&2
  fail "osteo predict --json exited non-zero"
fi
# Every file answered: a result, or no result with the scope gate's reason (the tibia and hip DICOMs are not knees).
# The knee radiographs from the shared set must get a result.
json_check "$scratch/predict.json" \
  "len(data) == ${#files[@]} and all(r.get('error') is None and ((r.get('label') and 0.0 <= r['probability'] <= 1.0) or (r.get('out_of_scope') and r.get('probability') is None)) for r in data) and all(r.get('label') for r in data if '/knee-xray/' in r['path'])" \
  "osteo predict --json did not answer every file (or declined a knee radiograph)"
step "osteo predict --json: ${#files[@]} files ok in $(( ($(date +%s%N) - start) / 1000000 )) ms"
"$checker_py" -c 'import json,sys,os; [print("    %-13s %s  %s" % (r["label"] or "no result", "%.3f" % r["probability"] if r["probability"] is not None else r["out_of_scope"], os.path.basename(r["path"]))) for r in json.load(open(sys.argv[1]))]' "$scratch/predict.json"

mkdir -p "$scratch/folder"
for f in "${files[@]}"; do ln -s "$f" "$scratch/folder/"; done
if ! run_clean "$bundle/osteo" scan --no-history --csv "$scratch/scan.csv" "$scratch/folder" >"$scratch/scan.log" 2>&1; then
  cat "$scratch/scan.log" >&2
  fail "osteo scan exited non-zero"
fi
rows=$("$checker_py" -c 'import csv,sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8"))))' "$scratch/scan.csv")
[ "$rows" = "${#files[@]}" ] || fail "osteo scan wrote $rows rows for ${#files[@]} files"
step "osteo scan --csv: $rows rows"

if [ ${#dicoms[@]} -gt 0 ]; then
  run_clean "$bundle/osteo" info --json "${dicoms[0]}" >"$scratch/info.json" 2>"$scratch/info.log" \
    || { cat "$scratch/info.log" >&2; fail "osteo info --json on a DICOM exited non-zero"; }
  json_check "$scratch/info.json" 'isinstance(data, dict) and data.get("model")' "osteo info --json gave no description"
  step "osteo info --json on a DICOM ok"
fi
version=$(run_clean "$bundle/osteo" --version 2>&1) || fail "osteo --version exited non-zero"
step "$version"

# --- 5: DICOM results (Trial 22: highdicom's data files were missing, so the installed app wrote none) -------------
mkdir -p "$scratch/dicom"
knee_source=$sample knee_any=--any-result  # the synthetic sample may be declined as not a knee: any answer will do
if [ -d "$shared/data/knee-xray" ]; then knee_source=$knee_jpg knee_any=; fi
knee_dcm=$scratch/dicom/knee.dcm
dicom_check make-knee "$knee_source" "$knee_dcm" >/dev/null || fail "could not make the knee DICOM from $knee_source"
start=$(date +%s%N)
if ! run_clean "$bundle/osteo" dicom-export "$knee_dcm" --out "$scratch/dicom-export" >"$scratch/dicom-export.log" 2>&1; then
  cat "$scratch/dicom-export.log" >&2
  fail "osteo dicom-export on a knee DICOM exited non-zero"
fi
export_ms=$(( ($(date +%s%N) - start) / 1000000 ))
summary=$(dicom_check check-export $knee_any "$knee_dcm" "$scratch/dicom-export") || fail "osteo dicom-export wrote DICOM results that do not check out"
step "osteo dicom-export ok in $export_ms ms: $summary"

# --- 6: the DICOM node (Trial 22: a bundle built from a venv without pynetdicom had none) ---------------------------
node_env=(--app-env "HOME=$scratch/home" --app-env "PATH=$scratch/empty-path" --app-env "TMPDIR=$scratch/tmp"
          --app-env LANG=C.UTF-8 --app-env "XDG_RUNTIME_DIR=$scratch/runtime" --app-env QT_QPA_PLATFORM=offscreen)
smoke=(serve-smoke $knee_any "$knee_dcm" "$scratch/serve" "${node_env[@]}" -- "$bundle/osteo")
ip_bin=$(command -v ip || true)
if [ ${#netns[@]} -gt 0 ] && [ -n "$ip_bin" ]; then
  # A new network namespace has only a loopback interface, and it is down: bring it up, then node, PACS and
  # modality talk over it with no way out.
  summary=$("${netns[@]}" sh -c '"$1" link set lo up && shift && exec "$@"' sh "$ip_bin" \
    "$checker_py" "$repo/packaging/check_bundle_dicom.py" "${smoke[@]}") || fail "osteo serve smoke test failed"
  where="loopback of a network namespace with no way out"
else
  summary=$(dicom_check "${smoke[@]}") || fail "osteo serve smoke test failed"
  where="loopback (no network namespace here${netns[*]:+: no ip command to bring its loopback up})"
fi
step "osteo serve ok on the $where: $summary"

# --- 7: no TensorFlow in the bundle --------------------------------------------------------------------------------
if find "$bundle/_internal" -maxdepth 1 \( -iname 'tensorflow*' -o -iname 'keras*' -o -iname 'libtensorflow*' \) | grep -q .; then
  fail "TensorFlow or Keras found in the bundle"
fi
step "PASS"

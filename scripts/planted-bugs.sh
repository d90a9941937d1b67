#!/usr/bin/env bash
# Plants the bugs named in issue 15 in a scratch copy of the tree and checks that the reference tests fail on each.
# Usage: scripts/planted-bugs.sh [pytest args]   (OSTEO_SHARED_DIR must point at the shared data)
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$repo/../../main/.venv/bin/python}
[ -x "$python" ] || python=python
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
plant() {  # name, file, python expression old, new
    rm -rf "$scratch/tree" && mkdir "$scratch/tree"
    (cd "$repo" && git ls-files -z | xargs -0 cp --parents -t "$scratch/tree")
    rm -f "$scratch/tree/model_weights/"* && cp -s "$repo/model_weights/"* "$scratch/tree/model_weights/"
    "$python" - "$scratch/tree/$2" "$3" "$4" <<'PY' || { echo "PLANT FAILED: $1"; status=1; return; }
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
assert text.count(old) == 1, f"{old!r} found {text.count(old)} times"
open(path, "w").write(text.replace(old, new))
PY
    if (cd "$scratch/tree" && PYTHONPATH=$PWD "$python" -m pytest -q -p no:cacheprovider tests/test_reference_contract.py "${@:5}" >"$scratch/log" 2>&1); then
        echo "NOT CAUGHT: $1"; status=1
    else
        echo "caught: $1 ($(grep -c '^FAILED' "$scratch/log") tests fail)"
    fi
}
plant "probability and confidence swapped" osteo_desktop/core/model/runtime.py \
    "            probability=probability,
            confidence=probability if positive else 1.0 - probability," \
    "            probability=probability if positive else 1.0 - probability,
            confidence=probability," "$@"
plant "inference time not divided by the batch size" osteo_desktop/core/model/runtime.py \
    "* 1000.0 / max(1, len(inputs))" "* 1000.0" "$@"
plant "threshold shifted by 0.3" osteo_desktop/core/model/runtime.py \
    "positive = probability >= threshold" "positive = probability > threshold + 0.3" "$@"
plant "temperature ignored" osteo_desktop/core/model/runtime.py \
    "probability = float(sigmoid(np.float64(logit) / self.card.temperature))" "probability = float(sigmoid(np.float64(logit)))" "$@"
exit $status

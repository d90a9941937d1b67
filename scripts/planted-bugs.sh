#!/usr/bin/env bash
# Plants the bugs named in issue 15 in a scratch copy of the tree and checks that the reference tests fail on each
# (the contract tests with the real model, and the film, knee and pipeline tests with hand-built expectations).
# Usage: scripts/planted-bugs.sh [pytest args]   (OSTEO_SHARED_DIR must point at the shared data)
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
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
    if (cd "$scratch/tree" && PYTHONPATH=$PWD "$python" -m pytest -q -p no:cacheprovider tests/test_reference_contract.py tests/test_reference_film.py tests/test_reference_knee.py tests/test_reference_pipeline.py "${@:5}" >"$scratch/log" 2>&1); then
        echo "NOT CAUGHT: $1"; status=1
    else
        echo "caught: $1 ($(grep -c '^FAILED' "$scratch/log") tests fail)"
    fi
}
# Since model 2.0.0 a result is its knees' (core/pipeline/film.py, core/model/knee_model.py): the bugs are planted
# there (the knees' inputs and predictions are made once, in knee_model.knee_inputs / knee_predictions). The whole-film head in core/model/runtime.py no longer decides a result (it is kept for comparison).
plant "probability and confidence swapped" osteo_desktop/core/model/knee_model.py \
    "probability, probability if positive else 1.0 - probability, float(logit), geometry, own," \
    "probability if positive else 1.0 - probability, probability, float(logit), geometry, own," "$@"
plant "inference time not divided among the inputs" osteo_desktop/core/pipeline/film.py \
    "per_input = (time.perf_counter() - start) * 1000.0 / total" "per_input = (time.perf_counter() - start) * 1000.0" "$@"
plant "threshold shifted by 0.3" osteo_desktop/core/model/knee_model.py \
    "        positive = probability >= head.threshold" \
    "        positive = probability > head.threshold + 0.3" "$@"
plant "temperature ignored" osteo_desktop/core/model/knee_model.py \
    "return float(1.0 / (1.0 + np.exp(-np.float64(logit) / self.temperature)))" \
    "return float(1.0 / (1.0 + np.exp(-np.float64(logit))))" "$@"
plant "least suspicious knee decides the file" osteo_desktop/core/pipeline/film.py \
    "key=lambda i: (self.knees[i].probability, -i))" "key=lambda i: (-self.knees[i].probability, -i))" "$@"
plant "mirror image not averaged" osteo_desktop/core/model/knee_model.py \
    "            logit = (logit + mirrored_logit) / 2.0" "            logit = logit" "$@"
plant "canonical orientation ignored (every region read as cut)" osteo_desktop/core/model/knee_model.py \
    "ORIENTATION_SCORES[self.orientation](model_input) < 0.0" "ORIENTATION_SCORES[self.orientation](model_input) < -2.0" "$@"
plant "canonical orientation reversed" osteo_desktop/core/model/knee_model.py \
    "ORIENTATION_SCORES[self.orientation](model_input) < 0.0" "ORIENTATION_SCORES[self.orientation](model_input) > 0.0" "$@"
plant "heat map of a mirrored knee not flipped back" osteo_desktop/core/model/knee_model.py \
    "        cam = cam[:, ::-1]
    return" "        cam = cam
    return" "$@"
exit $status

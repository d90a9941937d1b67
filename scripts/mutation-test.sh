#!/usr/bin/env bash
# Mutation testing of the decision and contract code with mutmut 3, one module at a time, each against the fast
# tests that cover it (issue 15). Every module runs in its own scratch copy of the tree, so the repository's own
# configuration is untouched and the runs cannot see each other's mutants.
#
#   OSTEO_SHARED_DIR=/work/shared scripts/mutation-test.sh [MODULE_KEY ...]    (default: every module below)
#
# Keys: results, cli, cli-commands, pipeline, card, preprocessing, resampling, scope, reading-window, reading-dicom,
# reading-raster, reading-rest, knee, annotated, session22, session23. `reading` runs the four reading-* keys.
#
# Needs the `mutation` extra (pip install -e '.[mutation]'). Results: reports/mutation/<key>.txt (mutmut's list of
# survivors) and one summary line per module on stdout; reports/mutation.md is written from them by hand, with the
# survivors judged equivalent. Run it niced on a shared machine: nice -n 19 scripts/mutation-test.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
[ -x "$python" ] || python=$(command -v python3)
mutmut="$(dirname "$python")/mutmut"
: "${OSTEO_SHARED_DIR:=$repo/../shared}"
export OSTEO_SHARED_DIR QT_QPA_PLATFORM=offscreen
jobs=${MUTATION_JOBS:-1}

# key | files to mutate (comma-separated; a folder means every file in it) | the fast tests that cover them
# [| the mutants to run, as mutmut names them (space-separated globs: module.x_function__mutmut_*, methods
#    module.xǁClassǁmethod__mutmut_*), when only some functions of the files are wanted; default: all of them].
# mutmut never mutates a decorated function other than a static or class method (a @contextmanager, say).
# In the order to run them: the result contract and its words first, then what prints it, then what computes it.
# Tests marked slow, and those that only run `osteo` in a child process (mutmut cannot see which functions a
# child process ran, so they would cost time without killing anything), are left out.
R=osteo_desktop/core/results
R_=osteo_desktop.core.results
MODULES=(
  "results|$R/result.py,$R/columns.py,$R/knee.py,$R/text.py,$R/exports.py,$R/history.py|tests/test_reference_results.py tests/test_reference_results_words.py tests/test_result_declaration.py tests/test_result_text.py tests/test_history.py tests/test_exports.py tests/test_csv_injection.py tests/test_reference_plain_call.py"
  "cli|osteo_desktop/cli/output.py|tests/test_reference_cli_output.py tests/test_reference_plain_call.py"
  # cli-commands: the in-process tests with a stand-in model only; test_cli.py, test_cli_failures.py and
  # test_reference_cli_gaps.py load the real model (or run `osteo` in a child process), over an hour per run.
  "cli-commands|osteo_desktop/cli/batch.py,osteo_desktop/cli/common.py,osteo_desktop/cli/__init__.py|tests/test_reference_cli_commands.py tests/test_reference_cli_inprocess.py"
  "pipeline|osteo_desktop/core/pipeline/analysis.py,osteo_desktop/core/pipeline/batch.py,osteo_desktop/core/pipeline/film.py,osteo_desktop/core/pipeline/scanning.py|tests/test_reference_pipeline.py tests/test_reference_film.py"
  "card|osteo_desktop/core/model/card.py|tests/test_reference_card.py tests/test_model_card.py tests/test_model_integrity.py"
  "preprocessing|osteo_desktop/core/model/preprocessing.py|tests/test_preprocessing.py tests/test_reference_preprocess.py tests/test_reference_knee_region.py"
  "resampling|osteo_desktop/core/model/resampling.py|tests/test_resampling.py"
  "scope|osteo_desktop/core/model/scope.py|tests/test_reference_scope.py tests/test_scope_gate.py tests/test_out_of_scope.py"
  "reading-window|osteo_desktop/core/reading/window.py|tests/test_reference_window.py tests/test_reference_dicom_reader.py tests/test_imaging_raster.py tests/test_imaging_dicom.py tests/test_imaging_errors.py tests/test_reader_limits.py tests/test_reference_dicom.py"
  "reading-dicom|osteo_desktop/core/reading/dicom.py|tests/test_reference_dicom_reader.py tests/test_dicom_rescale_range.py tests/test_imaging_raster.py tests/test_imaging_dicom.py tests/test_imaging_errors.py tests/test_reader_limits.py tests/test_reference_dicom.py tests/test_planar_configuration.py"
  "reading-raster|osteo_desktop/core/reading/raster.py|tests/test_reference_raster.py tests/test_reference_reading.py tests/test_imaging_raster.py tests/test_imaging_errors.py tests/test_reader_limits.py"
  "reading-rest|osteo_desktop/core/reading/colour.py,osteo_desktop/core/reading/limits.py,osteo_desktop/core/reading/radiograph.py,osteo_desktop/core/reading/reader.py,osteo_desktop/core/reading/sniffing.py|tests/test_reference_reading.py tests/test_reference_raster.py tests/test_imaging_raster.py tests/test_imaging_dicom.py tests/test_imaging_errors.py tests/test_reader_limits.py tests/test_reference_dicom.py"
  "knee|osteo_desktop/core/model/knee_model.py,osteo_desktop/core/model/knee_sides.py|tests/test_knee_sides.py tests/test_reference_knee.py"
  "annotated|$R/annotated_image.py|tests/test_annotate_layout.py tests/test_dicom_objects.py"
  # session22: the functions added or changed in session 22 (since 2c7d4d6) that no key had checked yet.
  "session22|$R/knee.py,$R/columns.py,$R/result.py,$R/history.py,$R/text.py,osteo_desktop/core/pipeline/file_faults.py,osteo_desktop/core/model/native_stderr.py,osteo_desktop/core/atomic.py|tests/test_knee_call.py tests/test_history.py tests/test_exports.py tests/test_result_text.py tests/test_result_declaration.py tests/test_result_call.py tests/test_reference_results.py tests/test_reference_results_words.py tests/test_reference_plain_call.py tests/test_output_targets.py tests/test_full_disk.py tests/test_reference_pipeline.py tests/test_native_stderr.py tests/test_file_faults.py tests/test_atomic_bytes.py|$R_.knee.xǁKneeResultǁcalled__mutmut_* $R_.knee.xǁKneeResultǁfrom_dict__mutmut_* $R_.knee.x_knee_cells__mutmut_* $R_.columns.x_csv_columns__mutmut_* $R_.columns.x_to_csv__mutmut_* $R_.result.xǁFileResultǁ__post_init____mutmut_* $R_.result.xǁFileResultǁ_set_call__mutmut_* $R_.result.xǁFileResultǁapply_knees__mutmut_* $R_.history.x_stored_path__mutmut_* $R_.history.xǁHistoryǁfind__mutmut_* $R_.history.x__has_current_key__mutmut_* $R_.history.x__rekey__mutmut_* $R_.text.x_borderline_headline__mutmut_* $R_.text.x_headline__mutmut_* $R_.text.x_verdict_headline__mutmut_* $R_.text.x_result_headline__mutmut_* $R_.text.x_knee_percent__mutmut_* $R_.text.x_knee_mark__mutmut_* $R_.text.x_call_key__mutmut_* osteo_desktop.core.pipeline.file_faults.* osteo_desktop.core.model.native_stderr.* osteo_desktop.core.atomic.x_atomic_write_bytes__mutmut_*"
  # session23: the functions added or changed in stop 23 (since 84930f0) that no key had checked yet (node.py's
  # temporary files and reading/luma.py have keys of their own helpers: reports/mutation/tidy23.md, colour23.md).
  # test_scan_backends.py is left out: one of its tests runs `osteo` in a child process, where mutmut's copy fails.
  "session23|$R/text.py,osteo_desktop/gui/worklist.py,$R/history.py,$R/dicom_objects.py,$R/dicom_adapter.py,osteo_desktop/cli/arguments.py,osteo_desktop/core/pipeline/backends.py|tests/test_result_text.py tests/test_threshold_distance_words.py tests/test_reference_plain_call.py tests/test_reference_results_words.py tests/gui/test_worklist_fetched.py tests/gui/test_gui_worklist.py tests/test_history_damage.py tests/test_history.py tests/test_reference_results.py tests/test_dicom_objects.py tests/test_file_names.py tests/test_reference_pipeline.py tests/test_session23_mutants.py|$R_.text.x__distance__mutmut_* $R_.text.x_threshold_distance__mutmut_* $R_.text.x_knee_summary__mutmut_* $R_.text.x_knee_summaries__mutmut_* $R_.text.x_report_lines__mutmut_* $R_.text.x_agreement_words__mutmut_* $R_.text.x_reading_line__mutmut_* osteo_desktop.gui.worklist.x_position__mutmut_* osteo_desktop.gui.worklist.x_position_words__mutmut_* osteo_desktop.gui.worklist.x__name_part__mutmut_* osteo_desktop.gui.worklist.x_readable_name__mutmut_* osteo_desktop.gui.worklist.x_shown_name__mutmut_* $R_.history.x__move_aside__mutmut_* $R_.history.xǁHistoryǁ_open_after_setting_aside__mutmut_* $R_.dicom_objects.x__with_study_defaults__mutmut_* $R_.dicom_objects.x__default_repertoire_named__mutmut_* $R_.dicom_objects.x_build_secondary_capture__mutmut_* $R_.dicom_adapter.x_source_for__mutmut_* osteo_desktop.cli.arguments.xǁTerminalFormatterǁ* osteo_desktop.core.pipeline.backends.xǁDaemonThreadPoolǁ* osteo_desktop.core.pipeline.backends.xǁThreadBackendǁexecutor__mutmut_*"
)
wanted=()
for w in "$@"; do
    if [ "$w" = reading ]; then wanted+=(reading-window reading-dicom reading-raster reading-rest); else wanted+=("$w"); fi
done
mkdir -p "$repo/reports/mutation"
for entry in "${MODULES[@]}"; do
    IFS='|' read -r key paths tests globs <<<"$entry"
    if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " =~ " $key " ]]; then continue; fi
    existing=()
    for p in ${paths//,/ }; do [ -e "$repo/$p" ] && existing+=("$p"); done
    selected=()
    for t in $tests; do [ -e "$repo/$t" ] && selected+=("$t"); done
    [ ${#existing[@]} -gt 0 ] || { echo "$key: nothing to mutate (moved?)"; continue; }
    scratch=$(mktemp -d)
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$scratch" 2>/dev/null || true)
    rm -rf "$scratch/model_weights" && cp -rs "$repo/model_weights" "$scratch/model_weights"
    {
        echo "[mutmut]"
        # The whole package is copied and instrumented (the mutated module needs its neighbours); only the
        # module's own mutants are run, selected by name below.
        echo "source_paths = osteo_desktop/"
        # Only the module's own files are mutated; the rest of the package is copied as it is.
        echo "only_mutate ="; for p in "${existing[@]}"; do case $p in */) echo "    $p*";; *) echo "    $p";; esac; done
        echo "also_copy ="; printf '    %s\n' model_weights/ resources/ tests/ README.md pyproject.toml docs/
        echo "pytest_add_cli_args ="; printf '    %s\n' -p no:cacheprovider -m "not slow"
        echo "pytest_add_cli_args_test_selection ="; printf '    %s\n' "${selected[@]}"
    } >"$scratch/setup.cfg"
    started=$(date +%s)
    names=()
    for p in "${existing[@]}"; do
        # A package's __init__.py is the package's own module (osteo_desktop.cli, not osteo_desktop.cli.__init__):
        # mutmut names its mutants osteo_desktop.cli.x_main__mutmut_1, so that is the pattern to run and list.
        module=${p%.py}; module=${module%/}; module=${module%/__init__}; names+=("${module//\//.}.*")
    done
    if [ -n "${globs:-}" ]; then read -r -a names <<<"$globs"; fi
    (cd "$scratch" && PYTHONPATH=. "$mutmut" run --max-children "$jobs" "${names[@]}" >"$scratch/run.log" 2>&1) || true
    prefixes=$(printf '%s\n' "${names[@]}" | sed 's/\*$//; s/\./\\./g; s/\*/.*/g' | paste -sd'|')
    (cd "$scratch" && PYTHONPATH=. "$mutmut" results --all true 2>&1) | grep -E "^\s*($prefixes)" >"$repo/reports/mutation/$key.txt" || true
    killed=$(grep -c ': killed' "$repo/reports/mutation/$key.txt" || true)
    survived=$(grep -c ': survived' "$repo/reports/mutation/$key.txt" || true)
    other=$(grep -vc -e ': killed' -e ': survived' "$repo/reports/mutation/$key.txt" || true)
    total=$((killed + survived))
    echo "$key: $killed killed, $survived survived, $other other (timeout/no tests/suspicious), $((total ? 100 * killed / total : 0))% killed, $(( $(date +%s) - started )) s"
    tail -3 "$scratch/run.log" | sed "s/^/  $key: /"
    [ -n "${MUTATION_KEEP:-}" ] && echo "  kept $scratch" || rm -rf "$scratch"
done

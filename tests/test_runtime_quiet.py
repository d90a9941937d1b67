"""LiteRT's native "INFO: Created TensorFlow Lite XNNPACK delegate" line must not reach stderr unless -v is given."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _predict(image: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "osteo_desktop", *extra, "predict", "--json", str(image)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_predict_json_writes_nothing_native_to_stderr(knee_png):
    result = _predict(knee_png)
    assert result.returncode == 0, result.stderr
    # The only stderr line is the CLI's own research-tool notice (deliberate, on stderr so stdout stays pure JSON).
    assert "XNNPACK" not in result.stderr
    assert [line for line in result.stderr.splitlines() if not line.startswith("osteo: ")] == []
    assert json.loads(result.stdout)  # the answer itself still comes out


def test_verbose_predict_still_shows_the_native_message(knee_png):
    result = _predict(knee_png, "-v")
    assert result.returncode == 0, result.stderr
    assert "XNNPACK" in result.stderr


LOUD_LOAD = """
import os
import ai_edge_litert.interpreter as litert

class Loud(litert.Interpreter):
    def __init__(self, *args, **kwargs):
        os.write(2, b"native: a warning the user must see\\n")  # inside the window, as a library's own warning
        super().__init__(*args, **kwargs)
        os.write(2, b"native: and another after the delegate line\\n")

litert.Interpreter = Loud
from osteo_desktop.core.model.runtime import Classifier
Classifier.load()
print("loaded")
"""


def test_other_stderr_lines_written_while_the_model_loads_still_come_out():
    """Only the delegate line is held back: lines written to fd 2 around it, in the same window, reach stderr in
    their order."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", LOUD_LOAD], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "loaded"
    assert "XNNPACK" not in result.stderr
    assert result.stderr.splitlines() == ["native: a warning the user must see",
                                          "native: and another after the delegate line"]


FAILED_LOAD = """
import os
from osteo_desktop.core.model.native_stderr import without_native_noise

try:
    with without_native_noise():
        os.write(2, b"ERROR: Didn't find op for builtin opcode\\n")  # LiteRT's own words, then the load fails
        raise RuntimeError("the model did not load")
except RuntimeError:
    print("raised")
"""


def test_what_native_code_says_before_a_failed_load_still_comes_out():
    """A model that fails to load: the native ERROR line written in the window is the reason, and must reach stderr
    although the block raised."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-c", FAILED_LOAD], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "raised"
    assert result.stderr.splitlines() == ["ERROR: Didn't find op for builtin opcode"]

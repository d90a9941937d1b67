"""``osteo scan --backend ray`` on a local Ray cluster that this test starts (``ray start --head``, 2 CPUs) and stops.

The rows must be those of the local pool for the same folder: same files, order, labels, errors and warnings, and
probabilities within float noise (the same model, run on each actor).
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'osteo-desktop[cluster]')")

from osteo_desktop.core.pipeline.backends import get_backend  # noqa: E402
from osteo_desktop.core.pipeline.scanning import scan_files  # noqa: E402

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    """A one-node Ray cluster with 2 CPUs in its own short temp dir; ``ray start --block`` is our child, so
    stopping it stops exactly the processes it started (never ``ray stop``, which would stop any Ray on the machine)."""
    ray_cli = Path(sys.executable).with_name("ray")
    if not ray_cli.exists():
        pytest.skip("the ray command is not installed beside this Python")
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "RAY_USAGE_STATS_ENABLED": "0",
           # Ray 2.60 turns token authentication on for a new head unless told otherwise, while a driver without a
           # token file connects with it off ("InvalidAuthToken"); a throwaway local cluster needs no token.
           "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", f"--port={port}", "--num-cpus=2", f"--temp-dir={temp}",
         "--include-dashboard=false", "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if head.poll() is not None:
                pytest.fail(f"ray start failed: {head.stderr.read().decode(errors='replace')[-2000:]}")
            try:
                ray.init(address=address, logging_level="WARNING", log_to_driver=False)
                break
            except Exception:  # noqa: BLE001 - the head is still starting
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
        yield address
    finally:
        ray.shutdown()
        head.terminate()  # --block: the head stops the raylet, GCS and workers it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, 9)  # its own session: only the processes this fixture started
            head.wait(timeout=30)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, knee_manifest) -> Path:
    from shared_paths import KNEE_DIR

    root = tmp_path_factory.mktemp("ray-scan")
    for row in knee_manifest[:9]:
        (root / Path(row["file"]).name).symlink_to(KNEE_DIR / row["file"])
    (root / "notes.png").write_text("not a picture")  # an error row
    (root / "dangling.jpg").symlink_to(root / "gone.jpg")  # another: a broken link
    return root


def _comparable(row):
    return row.path, row.label, row.error, row.model_version, row.warnings


def test_ray_backend_gives_the_rows_of_the_local_pool(ray_cluster, folder, classifier):
    paths = sorted(folder.iterdir())
    expected = list(scan_files(paths, classifier, batch_size=4))
    rows = list(scan_files(paths, classifier, batch_size=4, backend=get_backend("ray", address=ray_cluster, workers=2)))
    assert [row.path for row in rows] == [str(p) for p in paths]
    assert [_comparable(row) for row in rows] == [_comparable(row) for row in expected]
    assert sum(row.error is not None for row in rows) == 2
    for row, reference in zip(rows, expected):
        if reference.ok:
            assert row.probability == pytest.approx(reference.probability, abs=1e-6)
            # every knee comes back from the cluster as a knee (side, box), not as a plain dict
            assert [(k.side, k.box, k.label) for k in row.knees] == [(k.side, k.box, k.label) for k in reference.knees]


def test_osteo_scan_backend_ray_writes_the_same_csv(ray_cluster, folder, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OSTEO_DATA_DIR": str(tmp_path / "data")}
    outputs = {}
    for name, extra in (("local", []), ("ray", ["--backend", "ray", "--address", ray_cluster, "--workers", "2"])):
        out = tmp_path / f"{name}.csv"
        done = subprocess.run([sys.executable, "-m", "osteo_desktop", "scan", str(folder), "--csv", str(out),
                               "--no-history", *extra], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 1, done.stderr[-2000:]  # two files fail, as they should
        with open(out, newline="", encoding="utf-8") as handle:
            outputs[name] = [{k: v for k, v in row.items() if k != "timings_ms"} for row in csv.DictReader(handle)]
    assert outputs["ray"] == outputs["local"] and len(outputs["ray"]) == 11


_SIGTERM_AFTER_FIRST_ROW = """
import os, signal, sys
from osteo_desktop.cli import main
from osteo_desktop.core.results import exports

real_write = exports.CsvRowWriter.write

def write(self, row):
    real_write(self, row)
    if self.count == 1:
        os.kill(os.getpid(), signal.SIGTERM)

exports.CsvRowWriter.write = write
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_during_a_ray_scan_writes_the_rows_done_so_far_and_exits_143(ray_cluster, folder, tmp_path):
    """README: SIGTERM stops a scan, the rows done so far are written, exit status 143; with Ray 'the exit status
    [is] that of the local scan'. ray.init replaced the program's SIGTERM handler with its own sys.exit(15): the
    scan ended with status 15 and no CSV at all."""
    out = tmp_path / "out.csv"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OSTEO_DATA_DIR": str(tmp_path / "data"), "RAY_AUTH_MODE": "disabled"}
    done = subprocess.run([sys.executable, "-c", _SIGTERM_AFTER_FIRST_ROW, "scan", str(folder), "--csv", str(out),
                           "--no-history", "--backend", "ray", "--address", ray_cluster, "--workers", "1",
                           "--batch-size", "2"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 143, done.stderr[-2000:]
    assert "terminated: stopped after 1 of 11 files" in done.stderr
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["path"] for row in rows] == [str(sorted(folder.iterdir())[0])]

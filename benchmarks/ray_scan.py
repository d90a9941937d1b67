#!/usr/bin/env python3
"""``osteo scan --backend ray`` throughput with 1 and 2 actors on a local Ray cluster, against the local pool.

Starts a one-node Ray cluster (``ray start --head --block``, ``--cpus`` CPUs, its own temp dir; stopped by its
PID at the end), then scans the same folder of links to ../shared/data/knee-xray-fullsize (``--files``, cycled)
with the local thread pool and with the Ray backend at 1 and 2 actors. Each rate takes the start-up out (actors
starting and loading the model): files/s from the first row after the first batch to the last row.

    .venv/bin/python benchmarks/ray_scan.py [--files 166] [--cpus 2]

Writes benchmarks/results/ray_scan.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, write_result  # noqa: E402
from fullsize import films, link_folder  # noqa: E402


def start_head(cpus: int) -> tuple[subprocess.Popen, str, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "disabled"}  # Ray 2.60+: no token for a throwaway local cluster (see tests/test_ray_backend.py)
    head = subprocess.Popen([str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", f"--port={port}",
                             f"--num-cpus={cpus}", f"--temp-dir={temp}", "--include-dashboard=false", "--disable-usage-stats"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return head, f"127.0.0.1:{port}", temp


def rate(paths: list[Path], classifier, backend, batch_size: int = 16) -> dict:
    """Steady-state files/s: rows after the first batch over the time from the first row to the last, so the
    start-up (actors starting and loading the model: 8-15 s here, and very variable) is left out."""
    from osteo_desktop.core.pipeline.scanning import scan_files

    start = time.perf_counter()
    stamps = [time.perf_counter() for _ in scan_files(paths, classifier, batch_size=batch_size, backend=backend)]
    assert len(stamps) == len(paths)
    steady = stamps[batch_size:]
    return {"files": len(paths), "seconds": round(stamps[-1] - start, 2), "first_row_s": round(stamps[0] - start, 2),
            "files_per_s": round((len(steady) - 1) / max(steady[-1] - steady[0], 1e-6), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=166)
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args()
    import ray

    from osteo_desktop.core.model.runtime import Classifier
    from osteo_desktop.core.pipeline.backends import get_backend

    classifier = Classifier.load()
    head, address, temp = start_head(args.cpus)
    result: dict = {"cluster": f"one node, {args.cpus} CPUs (ray start --head)", "ray": ray.__version__}
    try:
        for _ in range(120):
            try:
                ray.init(address=address, logging_level="WARNING", log_to_driver=False)
                break
            except Exception:  # noqa: BLE001 - still starting
                time.sleep(1.0)
        with tempfile.TemporaryDirectory(prefix="osteo-bench-ray-") as scratch:
            sources = films()
            paths = sorted(link_folder(Path(scratch), "scan", sources, args.files).iterdir())
            result["local_pool"] = rate(paths, classifier, None)
            print(f"local pool (threads): {result['local_pool']['files_per_s']} files/s")
            for workers in (1, 2):
                run = rate(paths, classifier, get_backend("ray", address=address, workers=workers))
                result[f"ray_{workers}_actors"] = run
                print(f"ray, {workers} actor(s): {run['files_per_s']} files/s steady (first row after {run['first_row_s']} s: "
                      f"actors starting, model loading)")
    finally:
        ray.shutdown()
        head.terminate()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, 9)
        shutil.rmtree(temp, ignore_errors=True)
    result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    write_result("ray_scan", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

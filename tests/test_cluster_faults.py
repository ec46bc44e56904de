"""A cluster that fails under a fit (issue 25, bad input): the scheduler vanishes, or a worker runs out of memory.

The cluster runs in a process group of its own (a scheduler and two worker processes, started by a small script), and the
fit is the command a user types, in a subprocess: one error line, exit code 2, no traceback, the half-written model gone,
and the model that was at ``--out`` before the run as it was."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import assert_one_line_error

pytest.importorskip("distributed", reason="the Dask engine needs the dask extra: pip install -e '.[test]' installs it")

CLUSTER = """
import logging, sys, time
import dask
from distributed import LocalCluster
if __name__ == "__main__":
    dask.config.set({"distributed.scheduler.allowed-failures": 1})  # a task that kills two workers is given up
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.CRITICAL, local_directory=sys.argv[1], memory_limit=sys.argv[2],
                           preload=[sys.argv[3]])
    print(cluster.scheduler_address, flush=True)
    time.sleep(600)
"""

# Loaded by every worker (and every worker the nanny restarts): writing shard 0 of order 2 waits (the test kills the
# scheduler meanwhile), or takes memory far past the worker's limit, as a range too large for its worker would.
PRELOAD = """
import time
import numpy as np
import lmstats.ngram.shards as shards
written = shards.__dict__.setdefault("unpatched_write_shard", shards.write_shard)  # a preload may run twice in a process
def write_shard(folder, k, r, *args):
    lengths = written(folder, k, r, *args)
    if (k, r) == (2, 0):
        if {fault!r} == "memory":
            hog = [np.ones(1 << 24) for _ in range(200)]  # 128 MB at a time, up to 25 GB: the nanny ends it first
        time.sleep(60)
    return lengths
shards.write_shard = write_shard
"""


STAGE = re.compile(r"fitting on the Dask cluster |read [\d,]+ tokens |counted order \d |smoothed ")


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for file in sorted(folder.iterdir()):
        h.update(file.name.encode() + file.read_bytes())
    return h.hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "message"), [("scheduler", "the dask scheduler tcp://"),
                                                ("memory", "a worker died, most often for want of memory")])
def test_a_cluster_failing_mid_write_is_one_error_and_the_old_model_stays(tmp_path, fault, message):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rng = np.random.default_rng(0)
    for name, n in (("train", 20000), ("valid", 50), ("test", 50)):
        lines = (" ".join(f"w{j % 500}" for j in rng.zipf(1.3, size=10)) + "\n" for _ in range(n))
        (corpus / f"{name}.txt").write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "model"
    fit = [sys.executable, "-m", "lmstats", "ngram", str(corpus), "--n", "3", "--eval", "none", "--out", str(out)]
    assert subprocess.run(fit, capture_output=True, text=True, timeout=300).returncode == 0  # the model there before
    before = digest(out)
    (tmp_path / "cluster.py").write_text(textwrap.dedent(CLUSTER))
    (tmp_path / "preload.py").write_text(PRELOAD.format(fault=fault))
    (tmp_path / "dask").mkdir()
    cluster = subprocess.Popen([sys.executable, str(tmp_path / "cluster.py"), str(tmp_path / "dask"), "1GB",
                                str(tmp_path / "preload.py")], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        address = cluster.stdout.readline().strip()
        assert address.startswith("tcp://"), address
        err = open(tmp_path / "stderr.txt", "w+")  # a file, not a pipe: nothing blocks on a full pipe while we wait
        run = subprocess.Popen([*fit, "--engine", "dask", "--scheduler", address], stdout=subprocess.DEVNULL, stderr=err)
        if fault == "scheduler":
            deadline = time.monotonic() + 120
            while not list(tmp_path.glob(".model.*/prob2.part00000.npy")):  # the workers are writing the new model
                assert run.poll() is None and time.monotonic() < deadline, (tmp_path / "stderr.txt").read_text()
                time.sleep(0.05)
            os.killpg(cluster.pid, signal.SIGKILL)  # the scheduler and its workers, at once
        run.wait(timeout=180)
        err.close()
    finally:
        if cluster.poll() is None:
            os.killpg(cluster.pid, signal.SIGKILL)
        cluster.wait()
    stderr = (tmp_path / "stderr.txt").read_text()
    stages = [line for line in stderr.splitlines() if STAGE.match(line)]  # the run's progress lines, then its error
    assert stages[0].startswith("fitting on the Dask cluster")
    assert_one_line_error(subprocess.CompletedProcess(run.args, run.returncode, "", stderr.replace("\n".join(stages), "")), message)
    assert digest(out) == before  # the model that was there, as it was
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".model")] == []  # nothing half-written left

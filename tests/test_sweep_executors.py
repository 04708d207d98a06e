"""Where sweep points run (issue 16): every local core by default, and a Dask cluster started as
separate processes (``dask scheduler``, ``dask worker``) that loses a worker mid-sweep."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from pkpd.analysis.sweep_design import design_matrix
from pkpd.cli.main import main
from pkpd.scenario.load import load_scenario
from pkpd.workflows.executors import local_cores, run_batches
from pkpd.workflows.sweep import evaluate_points, run_sweep

ROOT = Path(__file__).resolve().parent.parent
DASK = Path(sys.executable).parent / "dask"


def _scenario(tmp_path: Path, points: int, n: int, batch: int = 1) -> Path:
    text = (ROOT / "scenarios" / "sweep.toml").read_text()
    text = (text.replace('design = "saltelli"', 'design = "lhs"').replace("points = 64", f"points = {points}")
            .replace("n = 200\nsensitivity", f"n = {n}\nbatch = {batch}\nsensitivity")
            .replace('directory = "results/sweep"', f'directory = "{tmp_path / "out"}"'))
    p = tmp_path / "sweep.toml"
    p.write_text(text)
    return p


def test_local_executor_runs_one_thread_per_core_with_the_one_thread_result(tmp_path):
    """The default executor spreads batches over threads (one per core, one numba thread each);
    the values equal those of a single thread, point by point."""
    sc = load_scenario(_scenario(tmp_path, points=12, n=80, batch=2))
    X = design_matrix(sc.sweep)
    names = tuple(p.name for p in sc.sweep.params)
    fn = partial(evaluate_points, str(sc.path), names, n=sc.sweep.n)
    batches = [[(i, tuple(X[i])) for i in range(k, min(k + 2, len(X)))] for k in range(0, len(X), 2)]
    got = {}
    one = {}
    assert run_batches(fn, batches, got.__setitem__, cores=3) == "local, 3 threads"
    assert run_batches(fn, batches, one.__setitem__, cores=1) == "local, 1 thread"
    assert sorted(got) == list(range(len(X)))
    for i in one:
        np.testing.assert_array_equal(got[i], one[i])
    ds = run_sweep(sc, sc.sweep, progress=False, store_dir=tmp_path / "store")
    expect = f"local, {local_cores()} threads" if local_cores() > 1 else "local, 1 thread"
    assert ds.attrs["executor"] == expect
    np.testing.assert_array_equal(ds.value.values, np.stack([one[i] for i in range(len(X))]))


def test_large_local_sweeps_run_on_processes_with_the_same_result(tmp_path, monkeypatch):
    """Above PROCESS_MIN_WORK subject-runs the local executor starts one process per core (spawn);
    the values equal a single thread's."""
    import pkpd.workflows.executors as ex
    sc = load_scenario(_scenario(tmp_path, points=6, n=60, batch=2))
    X = design_matrix(sc.sweep)
    names = tuple(p.name for p in sc.sweep.params)
    fn = partial(evaluate_points, str(sc.path), names, n=sc.sweep.n)
    batches = [[(i, tuple(X[i])) for i in range(k, min(k + 2, len(X)))] for k in range(0, len(X), 2)]
    monkeypatch.setattr(ex, "_spawn_safe", lambda: True)
    got, one = {}, {}
    assert run_batches(fn, batches, got.__setitem__, cores=2, work=ex.PROCESS_MIN_WORK) == "local, 2 processes"
    run_batches(fn, batches, one.__setitem__, cores=1)
    assert sorted(got) == sorted(one) == list(range(len(X)))
    for i in one:
        np.testing.assert_array_equal(got[i], one[i])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not DASK.exists(), reason=f"the dask command line ({DASK}) is not installed: "
                                              "pip install 'dask[distributed]'")
def test_sweep_on_separate_dask_processes_survives_a_killed_worker(tmp_path):
    """The documented recipe on localhost: ``dask scheduler`` and two ``dask worker`` processes,
    then ``pkpd sweep --scheduler tcp://127.0.0.1:PORT``; one worker is killed (SIGKILL) once some
    points are saved; Dask reruns its work on the other and the result equals a local run."""
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    ref_dir.mkdir()
    run_dir.mkdir()
    points, n = 24, 150
    assert main(["sweep", str(_scenario(ref_dir, points, n)), "-q"]) == 0
    ref = xr.open_dataset(ref_dir / "out" / "sweep_sweep.nc")

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    logs = [open(tmp_path / f"log{k}.txt", "w") for k in range(3)]
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=logs[0], stderr=subprocess.STDOUT)]
    try:
        procs += [subprocess.Popen([str(DASK), "worker", address, "--nthreads", "1", "--no-nanny", "--host",
                                    "127.0.0.1", "--no-dashboard", "--name", f"w{k}"], env=env, stdout=logs[k + 1],
                                   stderr=subprocess.STDOUT) for k in range(2)]
        from distributed import Client
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        p = _scenario(run_dir, points, n)
        sweep = subprocess.Popen([sys.executable, "-m", "pkpd.cli", "sweep", str(p), "-q", "--scheduler", address],
                                 cwd=run_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        pts = run_dir / "out" / "sweep_sweep" / "points"
        deadline = time.time() + 180
        while time.time() < deadline and sweep.poll() is None and (
                not pts.exists() or len(list(pts.glob("p*.npy"))) < 4):
            time.sleep(0.05)
        n_at_kill = len(list(pts.glob("p*.npy"))) if pts.exists() else 0
        procs[1].send_signal(signal.SIGKILL)  # worker w0, mid-sweep
        procs[1].wait(timeout=30)
        out, err = sweep.communicate(timeout=240)
        assert sweep.returncode == 0, err.decode()[-2000:]
        assert 0 < n_at_kill < points, "the kill should land mid-sweep"
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.send_signal(signal.SIGTERM)
        for pr in procs:
            try:
                pr.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pr.kill()
        for f in logs:
            f.close()
    got = xr.open_dataset(run_dir / "out" / "sweep_sweep.nc")
    assert got.attrs["executor"] == f"dask scheduler {address}"
    np.testing.assert_array_equal(got.value.values, ref.value.values)


def test_spawn_safety_of_the_main_module(tmp_path, monkeypatch):
    """Processes only when the main module can be re-imported: ``-m`` or a guarded script."""
    import types
    import pkpd.workflows.executors as ex
    guarded, bare = tmp_path / "guarded.py", tmp_path / "bare.py"
    guarded.write_text("import sys\nif __name__ == '__main__':\n    print('run')\n")
    bare.write_text("print('run')\n")
    for path, want in ((guarded, True), (bare, False)):
        main = types.ModuleType("__main__")
        main.__file__ = str(path)
        main.__spec__ = None
        monkeypatch.setitem(sys.modules, "__main__", main)
        assert ex._spawn_safe() is want

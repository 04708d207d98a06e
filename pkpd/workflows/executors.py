"""Where the points of a sweep run: every core of this machine, a local Dask cluster, or an existing
Dask scheduler (other machines).

A sweep's work is a list of *batches* of design points and one function ``fn(rows, threads=…)``
that evaluates a batch and returns ``[(index, array)]`` (:func:`pkpd.workflows.sweep.evaluate_points`
with the scenario path, names and population size bound).  :func:`run_batches` calls it for every
batch and hands each result to ``save`` as soon as it arrives, so an interrupted sweep keeps what
finished.  A point's result does not depend on where or with how many threads it ran.

* **local** (default): every core (:func:`local_cores`), each running numba kernels on one thread —
  threads for most sweeps, processes for large ones, whichever measured faster.  Measured on 2
  cores (1,000 subjects per point, 24 h at 5 min): one process with 2 numba threads 47,600
  subject-runs/s; 2 threads × 1 numba thread 58,000/s (the kernels and numpy release the GIL, the
  rest of a point holds it); 2 spawned processes 67,900/s once started, but starting them takes
  ~1.5 s.  So a sweep of at least :data:`PROCESS_MIN_WORK` subject-runs starts one process per
  core (when the main module can be re-imported safely: ``python -m …`` or the ``pkpd`` command),
  smaller ones use threads.  The first batch runs in the calling thread (it loads the scenario and
  the kernels); with numba's ``workqueue`` threading layer, which cannot run kernels from several
  threads at once, the rest runs there too.  A process pool that breaks (a worker cannot start)
  hands the unfinished batches to threads.
* ``workers=N``: a Dask ``LocalCluster`` of N single-threaded worker processes.
* ``scheduler="tcp://host:8786"``: an existing Dask scheduler; its workers (``dask worker``, any
  machine) need pkpd installed and the scenario and model files at the same path.  Dask reruns the
  batches of a worker that dies.
"""
from __future__ import annotations

import ast
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

import numba

#: Subject-runs (points × subjects per point) from which the local executor starts processes:
#: break-even of the measured start-up (~1.5 s) against the 17 % higher throughput is ~0.6 M.
PROCESS_MIN_WORK = 1_000_000


def local_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def run_batches(fn, batches: list, save, *, workers: int | None = None, scheduler: str | None = None,
                cores: int | None = None, work: int = 0) -> str:
    """Evaluate every batch with ``fn`` and ``save(index, array)`` each result as it comes; returns a
    description of the executor.  ``cores``: local workers (default :func:`local_cores`);
    ``work``: subject-runs in the batches (decides threads or processes)."""
    if not batches:
        return "local"
    if workers or scheduler:
        return _dask(fn, batches, save, workers, scheduler)
    return _local(fn, batches, save, cores or local_cores(), work)


def _local(fn, batches: list, save, cores: int, work: int) -> str:
    for i, arr in fn(batches[0]):
        save(i, arr)
    rest = batches[1:]
    if cores < 2 or not rest or _layer() == "workqueue":
        for b in rest:
            for i, arr in fn(b):
                save(i, arr)
        return "local, 1 thread"
    if work >= PROCESS_MIN_WORK and _spawn_safe():
        done = set()

        def keep(i, arr):
            done.add(i)
            save(i, arr)
        try:
            _pool(ProcessPoolExecutor(max_workers=cores, mp_context=multiprocessing.get_context("spawn")), fn,
                  rest, keep)
            return f"local, {cores} processes"
        except BrokenProcessPool:  # a worker could not start: threads take the unfinished batches
            rest = [[r for r in b if r[0] not in done] for b in rest]
            rest = [b for b in rest if b]
    _pool(ThreadPoolExecutor(max_workers=cores, thread_name_prefix="pkpd-sweep"), fn, rest, save)
    return f"local, {cores} threads"


def _pool(pool, fn, batches: list, save) -> None:
    """Every batch on ``pool`` (one numba thread each); results saved in the calling thread."""
    futs = [pool.submit(fn, b, threads=1) for b in batches]
    try:
        for fut in as_completed(futs):
            for i, arr in fut.result():
                save(i, arr)
    except BaseException:  # an interrupt or a failed point: start nothing new
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _spawn_safe() -> bool:
    """A spawned worker re-imports the main module: safe when it was run with ``python -m`` (by
    name, as ``__mp_main__``) or when its file guards its work with ``if __name__ ==
    "__main__":`` (the ``pkpd`` command, the benchmark scripts) — not for an unguarded script."""
    main = sys.modules.get("__main__")
    if getattr(main, "__spec__", None) is not None:
        return True
    path = getattr(main, "__file__", None)
    if not path:
        return False
    try:
        tree = ast.parse(open(path, encoding="utf-8").read())
    except (OSError, SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            names = [n for n in ast.walk(node.test) if isinstance(n, ast.Name)]
            consts = [n.value for n in ast.walk(node.test) if isinstance(n, ast.Constant)]
            if any(n.id == "__name__" for n in names) and "__main__" in consts:
                return True
    return False


def _layer() -> str:
    """numba's threading layer (known once a parallel kernel has run)."""
    try:
        return numba.threading_layer()
    except ValueError:
        return "workqueue"


def _dask(fn, batches: list, save, workers: int | None, scheduler: str | None) -> str:
    from distributed import Client, LocalCluster, as_completed as dask_completed
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        threads = 1 if cluster is not None else None
        futs = [client.submit(fn, b, threads=threads, pure=False) for b in batches]
        for fut in dask_completed(futs):
            for i, arr in fut.result():
                save(i, arr)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return f"dask scheduler {scheduler}" if scheduler else f"dask LocalCluster, {workers} workers"

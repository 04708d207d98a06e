"""Independent work items spread over threads: a nogil numba function on contiguous ranges.

numba's ``parallel=True`` compiles a gufunc around every ``prange`` body, which for the large
fused kernels costs more compile time than the body itself.  Their drivers are instead plain
``nogil`` functions ``fn(lo, hi, *args)`` over items ``lo … hi − 1`` (blocks of rows, matrices),
run here on as many threads as numba would use (``numba.get_num_threads()``, which is per thread:
a sweep's worker threads set 1 and run inline).  Items are independent, so the results do not
depend on the number of threads or on how the items are split.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numba

_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()  # population runs call run_ranges from two threads at once


def run_ranges(fn, n: int, *args) -> None:
    """``fn(lo, hi, *args)`` over ``0 … n`` split in contiguous ranges, on numba's thread count."""
    threads = min(numba.get_num_threads(), n)
    if threads <= 1:
        fn(0, n, *args)
        return
    with _POOLS_LOCK:
        pool = _POOLS.get(threads)
        if pool is None:
            pool = _POOLS[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pkpd-kernel")
    parts = min(n, 4 * threads)  # a few ranges per thread: uneven blocks even out
    edges = [n * k // parts for k in range(parts + 1)]
    futures = [pool.submit(fn, lo, hi, *args) for lo, hi in zip(edges[:-1], edges[1:]) if hi > lo]
    for f in futures:
        f.result()

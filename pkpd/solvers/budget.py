"""Adaptive kernels in bounded slices: a step budget per call, re-entered from Python.

A nonlinear solve can run for a long time (a stiff system on an explicit method, a state that
blows up in finite time, tight tolerances).  Inside a numba kernel Python cannot run its signal
handlers, so SIGINT/SIGTERM would wait for the kernel to end.  The adaptive kernels therefore take a
*step budget*: each row (subject × regimen) advances by at most ``budget`` steps, saves everything
its loop carries (time, step size, state, running inputs, event and output positions, counters) in
``cf``/``ci`` and returns; :func:`run_budgeted` calls the kernel again until every row is done,
checking for interrupts in between and adapting the budget so that a call lasts about
:data:`SLICE_SECONDS`.  Resuming restores exactly the state the loop had, so results are identical
to an uninterrupted run (and do not depend on the budget, the chunk size or the thread count).

Each row also ends when it has taken ``max_steps`` steps (accepted + rejected: the ``solver_steps``
limit of :mod:`pkpd.limits`) or its state stops being finite; the row's status, time and the state
to blame are returned for a clear error (:mod:`pkpd.solvers.dispatch`).
"""
from __future__ import annotations

import time

import numpy as np

from pkpd.interrupts import check_interrupt

#: Row status: still running, finished, too many steps, non-finite state.
RUNNING, DONE, TOO_MANY_STEPS, NONFINITE = 0, 1, 2, 3

#: Integer carry columns: initialised, next event, next output, steps, rejected, status, state to
#: blame, two kernel flags; the running-input counters follow from ``C_VEC``.
C_INIT, C_E, C_J, C_STEPS, C_REJ, C_STATUS, C_FAIL, C_FLAG1, C_FLAG2, C_VEC = range(10)
#: Float carry columns: time, step size; the kernel's vectors follow from ``F_VEC``.
F_T, F_H, F_VEC = 0, 1, 2

#: Target duration of one kernel call (s): an interrupt waits at most about this long.
SLICE_SECONDS = 0.2
#: First budget: this many steps shared by all rows (then adapted to the measured speed).
FIRST_WORK = 20_000
#: Bounds of the per-row budget.
MIN_BUDGET, MAX_BUDGET = 8, 50_000_000


def run_budgeted(kernel, rows: int, n_float: int, n_int: int, stats: np.ndarray) -> tuple[np.ndarray, ...]:
    """Call ``kernel(cf, ci, budget)`` until every row is done; returns ``(status, t, state)`` per row.

    ``stats[:, 0:2]`` receives (steps, rejected) per row.  An interrupt (SIGINT/SIGTERM) is raised
    between two calls, within about :data:`SLICE_SECONDS`.
    """
    cf = np.zeros((rows, n_float))
    ci = np.zeros((rows, n_int), dtype=np.int64)
    budget = max(MIN_BUDGET, FIRST_WORK // max(rows, 1))
    while True:
        t0 = time.perf_counter()
        kernel(cf, ci, budget)
        stats[:, 0] = ci[:, C_STEPS]
        stats[:, 1] = ci[:, C_REJ]
        if np.all(ci[:, C_STATUS] != RUNNING):
            break
        check_interrupt()  # the handler has run by now; this catches a swallowed one
        elapsed = max(time.perf_counter() - t0, 1e-4)
        budget = int(np.clip(budget * SLICE_SECONDS / elapsed, max(MIN_BUDGET, budget // 4), budget * 4))
        budget = min(budget, MAX_BUDGET)
    return ci[:, C_STATUS].copy(), cf[:, F_T].copy(), ci[:, C_FAIL].copy()

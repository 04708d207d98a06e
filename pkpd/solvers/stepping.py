"""Step control every adaptive kernel shares (numba): outputs due now, the end of the next step,
step-size growth and shrinkage, and the row counters a budgeted slice saves and resumes.

Times are h; the error norm ``en`` is dimensionless (≤ 1 accepts a step); ``p`` is the exponent of
the step-size controller, ``1/(order + 1)`` of the lower-order solution of the embedded pair.
"""
from __future__ import annotations

from numba import njit

from pkpd.solvers.budget import C_E, C_FAIL, C_J, C_REJ, C_STATUS, C_STEPS

#: The largest factor one accepted step may grow by, and the smallest one rejection may shrink by.
GROW_MAX = 5.0
SHRINK_MIN = 0.1
#: Safety factor on the step the error estimate predicts.
SAFETY = 0.9


@njit(cache=True)
def write_outputs(W, x, out, j):
    """``out[o, j] = W[o] · x`` (``W`` (n_out, n), ``out`` (n_out, T))."""
    for o in range(W.shape[0]):
        acc = 0.0
        for i in range(x.shape[0]):
            acc += W[o, i] * x[i]
        out[o, j] = acc


@njit(cache=True)
def record_due(times, j, limit, W, x, out):
    """Write the outputs of every time from index ``j`` up to ``limit`` (h) from the state ``x``;
    returns the next unwritten index."""
    while j < times.shape[0] and times[j] <= limit:
        write_outputs(W, x, out, j)
        j += 1
    return j


@njit(cache=True)
def step_stop(end, ev_t, e):
    """Where the next step must stop: ``end`` (h) or the next event ``ev_t[e]``, whichever comes
    first (steps never cross a dose)."""
    if e < ev_t.shape[0] and ev_t[e] < end:
        return ev_t[e]
    return end


@njit(cache=True)
def grown_step(h, hh, en, p):
    """The next step after an accepted step ``hh`` with error norm ``en`` (at most ×5); a step cut
    short by an event or output (``hh < h``) does not shrink the proposed ``h``."""
    fac = GROW_MAX if en == 0.0 else min(GROW_MAX, SAFETY * en ** -p)
    return max(h, hh * fac) if hh < h else hh * fac


@njit(cache=True)
def shrunk_step(hh, en, p):
    """The retry after a rejected step ``hh`` with error norm ``en`` (at least ×0.1)."""
    return hh * max(SHRINK_MIN, SAFETY * en ** -p)


@njit(cache=True)
def load_counters(ci):
    """``(e, j, steps, rejected)`` of a resumed row (``ci`` is the row's integer state)."""
    return ci[C_E], ci[C_J], ci[C_STEPS], ci[C_REJ]


@njit(cache=True)
def save_counters(ci, e, j, steps, rejected, status, fail):
    """Store a row's event and output indices, step counts, status and failing state in ``ci``."""
    ci[C_E] = e
    ci[C_J] = j
    ci[C_STEPS] = steps
    ci[C_REJ] = rejected
    ci[C_STATUS] = status
    ci[C_FAIL] = fail

"""Per-row metrics accumulated lane by lane, one time step at a time (numba helpers of the fused
pass, :mod:`pkpd.solvers.fused`).

For each row (an output or derived row of the solver) and lane (a kernel row): peak, time of
peak, AUC0–t by linear-up/log-down, time at or above a threshold and an upper threshold with
linearly interpolated crossings, and onset (the first time the threshold is reached, NaN if
never) — :data:`METRICS`, in that order.  The operations and their order are those of the former
two-pass reduction over stored trajectories, so the results are bit-for-bit the same, except the
log of the log-down AUC (:func:`log_down_factor`: within about 1 ulp of exact, where the former
``log(a/v)`` lost up to ~1e-16/log(a/v) relative to the rounding of a/v).  Every branch is a
select between values computed on all lanes, so that the lane loops vectorise.  Times in h.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: Per-row metrics, in this order: peak, time of peak, AUC0–t, time at or above the threshold,
#: first time the threshold is reached (NaN if never), time at or above the upper threshold.
METRICS = ("cmax", "tmax", "auc", "time_above", "onset", "time_above_hi")


@njit(cache=True, inline="always", error_model="numpy")
def metrics_start(y, ms, prev, th, t0, L):
    """Metric state ``ms`` (6, rows, L) at the first time ``t0`` (before :func:`metrics_step`)."""
    for o in range(ms.shape[1]):
        th0 = th[o, 0]
        for lane in range(L):
            ms[0, o, lane] = -np.inf
            ms[1, o, lane] = t0
            ms[2, o, lane] = 0.0
            ms[3, o, lane] = 0.0
            ms[4, o, lane] = t0 if y[o, lane] >= th0 else np.nan
            ms[5, o, lane] = 0.0
            prev[o, lane] = y[o, lane]


@njit(cache=True, inline="always", error_model="numpy")
def metrics_step(y, ms, prev, th, tj, tp, first, L):
    """Add time ``tj`` (previous time ``tp``) to the metric state ``ms`` and move ``y`` to ``prev``.

    The operations of the former two-pass reduction (:mod:`pkpd.simulation.streaming`), in the same
    order, except the log of the log-down AUC (:func:`log_down_factor`).  Branches are selects
    between values computed on all lanes (``&``, not ``and``), so that the lane loops vectorise.
    """
    dtj = tj - tp
    for o in range(ms.shape[1]):
        steep = 0
        brisk = 0
        for lane in range(L):
            v = y[o, lane]
            c = ms[0, o, lane]
            t_old = ms[1, o, lane]
            big = v > c
            ms[0, o, lane] = v if big else c
            ms[1, o, lane] = tj if big else t_old
            a = prev[o, lane]
            down = (v < a) & (v > 0.0) & (a > 0.0)
            steep += down & (v * STEEP_V < a * STEEP_A)
            brisk += down & (v * MILD_V < a * MILD_A)
        if first:
            continue
        th0 = th[o, 0]
        th1 = th[o, 1]
        if th0 < np.inf:
            for lane in range(L):
                a = prev[o, lane]
                v = y[o, lane]
                ms[3, o, lane] += _time_above(a, v, th0, dtj)
                on = ms[4, o, lane]
                t_hit = tp + dtj * (th0 - a) / (v - a)
                hit = (on != on) & (a < th0) & (th0 <= v)
                ms[4, o, lane] = t_hit if hit else on
        if th1 < np.inf:
            for lane in range(L):
                ms[5, o, lane] += _time_above(prev[o, lane], y[o, lane], th1, dtj)
        if brisk == 0:  # the usual case: every fall within the step is below ~2 %: a short series
            for lane in range(L):
                a = prev[o, lane]
                v = y[o, lane]
                down = (v < a) & (v > 0.0) & (a > 0.0)
                sr = (a - v) / (a + v)
                trapezoid = 0.5 * (a + v) * dtj
                ms[2, o, lane] += trapezoid * log_down_factor_mild(sr * sr) if down else trapezoid
                prev[o, lane] = v
        elif steep == 0:  # every fall within the step is gentle (≤ 18 %)
            for lane in range(L):
                a = prev[o, lane]
                v = y[o, lane]
                down = (v < a) & (v > 0.0) & (a > 0.0)
                sr = (a - v) / (a + v)
                trapezoid = 0.5 * (a + v) * dtj
                ms[2, o, lane] += trapezoid * _series(sr * sr, v, a) if down else trapezoid
                prev[o, lane] = v
        else:  # some lane falls steeply (rare): the library log there
            for lane in range(L):
                a = prev[o, lane]
                v = y[o, lane]
                if v < a and v > 0.0 and a > 0.0:
                    if v * STEEP_V < a * STEEP_A:
                        ms[2, o, lane] += (a - v) * dtj / np.log(a / v)
                    else:
                        sr = (a - v) / (a + v)
                        ms[2, o, lane] += 0.5 * (a + v) * dtj * _series(sr * sr, v, a)
                else:
                    ms[2, o, lane] += 0.5 * (a + v) * dtj
                prev[o, lane] = v


#: Log-down AUC of a step from ``a`` down to ``v``: ``(a − v)·dt / log(a/v)``.  With
#: ``s = (a − v)/(a + v)``, ``log(a/v) = 2 atanh s = 2s·P(s²)``, ``P(x) = Σ xᵏ/(2k+1)``, so the step's
#: area is the trapezoid ``(a + v)·dt/2`` times ``1/P(s²)``, a power series with the coefficients
#: below (exact rationals 1, −1/3, −4/45, −44/945, …).  For ``s ≤ 0.1`` (a fall of at
#: most 18 % in one step: ``1.1·v ≥ 0.9·a``) the first omitted term is below 1e-18 relative, so
#: the factor is good to about 1 ulp and needs no call (the lanes vectorise); steeper falls take
#: the library log.  The former formula lost ~1e-16/log(a/v) relative to the rounding of a/v.
STEEP_V, STEEP_A = 1.1, 0.9
#: For ``s ≤ 0.01`` (a fall of at most ~2 % in one step: ``1.01·v ≥ 0.99·a``, the common case on a
#: fine grid) the series to ``x³`` is enough: the first omitted term is below 3.1e-18 relative.
MILD_V, MILD_A = 1.01, 0.99
_R = (1.0, -1 / 3, -4 / 45, -44 / 945, -428 / 14175, -10196 / 467775, -10719068 / 638512875,
      -25865068 / 1915538625, -5472607916 / 488462349375)


@njit(cache=True, inline="always", error_model="numpy")
def log_down_factor(x):
    """``1/P(x)`` for ``0 ≤ x ≤ 0.01``, ``P(s²) = atanh(s)/s`` (see :data:`STEEP_V`)."""
    return ((((((((_R[8] * x + _R[7]) * x + _R[6]) * x + _R[5]) * x + _R[4]) * x + _R[3]) * x + _R[2]) * x
             + _R[1]) * x + _R[0])


@njit(cache=True, inline="always", error_model="numpy")
def log_down_factor_mild(x):
    """``1/P(x)`` for ``0 ≤ x ≤ 1e-4`` (see :data:`MILD_V`): four terms instead of nine."""
    return ((_R[3] * x + _R[2]) * x + _R[1]) * x + _R[0]


@njit(cache=True, inline="always", error_model="numpy")
def _series(x, v, a):
    """The factor of a lane's gentle fall ``a`` → ``v`` (``x = s²``): the four-term series where the
    fall itself is below ~2 %, whatever the other lanes do, so that a lane's AUC never depends on
    the lanes beside it (the two series differ in the last bit for ~0.3 % of such falls)."""
    return log_down_factor(x) if v * MILD_V < a * MILD_A else log_down_factor_mild(x)


@njit(cache=True, inline="always", error_model="numpy")
def _time_above(a, v, th, dt):
    """Time within a step of length ``dt`` (values ``a`` → ``v``, linear) spent at or above ``th``."""
    ua = a >= th
    uv = v >= th
    f = (th - a) / (v - a)  # the crossing, used only when exactly one end is above
    part_up = dt * (1.0 - f)
    part_down = dt * f
    part = part_up if uv else part_down
    one = part if (ua | uv) else 0.0
    return dt if (ua & uv) else one


@njit(cache=True, inline="always", error_model="numpy")
def metrics_finish(ms, rows, metrics, L):
    for lane in range(L):
        r = rows[lane]
        for o in range(ms.shape[1]):
            for m in range(6):
                metrics[r, o, m] = ms[m, o, lane]

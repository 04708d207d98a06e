"""Work done in the same pass as a linear kernel's outputs: derived rows, per-row metrics, samples
at chosen times and storage in the caller's array (numba helpers on *lanes* of rows).

A population run needs more than ``y = W x``.  :class:`Fused` describes, as arrays only:

* **derived rows** after the ``n_out`` output rows: sigmoid Emax ``e0 + emax·c^γ/(k^γ + c^γ)``
  on one output row ``c`` (clipped at 0; ``k = c50·(1 + max(a, 0)/c100)`` when an antagonist row
  ``a`` is given) or linear ``e0 + Σ coef·y[src]``, each optionally negated; parameters per
  subject (the PD readouts of :mod:`pkpd.simulation.readouts`, in the output rows' units);
* **metrics** per row (:data:`METRICS`): peak, time of peak, AUC0–t by linear-up/log-down, time at
  or above a threshold and an upper threshold (crossings linearly interpolated), onset (first time
  the threshold is reached, NaN if never);
* **samples**: the values at chosen time indices, laid out ``(row, time, kernel row)`` so that a
  histogram pass reads subjects contiguously (streaming percentiles);
* **storage** of every row into a 4-D destination ``dest[a, b, col, time]`` (float32 or float64)
  through maps ``kernel row → (a, b)`` and ``row → col`` (``col < 0``: not stored).

The batched kernel (:mod:`pkpd.solvers.batched`) calls the helpers below once per time step on its
lanes, so nothing is read back from memory; other kernels write a float64 buffer that
:func:`fused_pass` then reduces with the same helpers.  Either way every number is computed by the
same operations in the same order, so the results are bit-for-bit the same.  Units are the output
rows' (the dispatcher never converts); times in h.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

#: Per-row metrics, in this order: peak, time of peak, AUC0–t, time at or above the threshold,
#: first time the threshold is reached (NaN if never), time at or above the upper threshold.
METRICS = ("cmax", "tmax", "auc", "time_above", "onset", "time_above_hi")

#: Derived-row kinds and the per-subject parameter slots of :attr:`Fused.par`.
EMAX, LINEAR = 0, 1
P_E0, P_EMAX, P_C50, P_GAMMA, P_C100 = range(5)


@dataclass
class Fused:
    """Arrays describing the fused work of one solve call (``rows`` = kernel rows, ``S`` =
    subjects, ``D`` derived rows, ``n_all = n_out + D``).  Build it with :func:`fused_work`."""

    kind: np.ndarray  # (D,) EMAX or LINEAR
    src: np.ndarray  # (D, L) source output rows (EMAX: src[d, 0]; LINEAR: entries ≥ 0)
    ant: np.ndarray  # (D,) antagonist output row or −1
    sign: np.ndarray  # (D,) +1.0, or −1.0 to negate
    par: np.ndarray  # (D, 5, S) e0, emax, c50, gamma, c100 per subject
    coef: np.ndarray  # (D, L, S) linear coefficients per subject
    thresholds: np.ndarray  # (n_all, 2) threshold and upper threshold (inf: none)
    metrics: np.ndarray  # (rows, n_all, len(METRICS)) written, or an empty (0, 0, 0) array
    sample_at: np.ndarray  # (Tp,) increasing time indices
    samples: np.ndarray  # (n_all, Tp, rows) written
    dest: np.ndarray  # (A, B, C, T) written where dest_col ≥ 0
    dest_row: np.ndarray  # (rows, 2) int64: kernel row → (a, b)
    dest_col: np.ndarray  # (n_all,) int64

    @property
    def n_derived(self) -> int:
        return int(self.kind.shape[0])


def fused_work(n_out: int, rows: int, *, derived: dict | None = None, thresholds: np.ndarray | None = None,
               metrics: bool = False, sample_at: np.ndarray | None = None, dest: np.ndarray | None = None,
               dest_row: np.ndarray | None = None, dest_col: np.ndarray | None = None) -> Fused:
    """A :class:`Fused` with empty arrays for the work not asked for.

    ``derived``: dict of the arrays ``kind, src, ant, sign, par, coef`` (none: no derived rows).
    ``dest`` without maps: a plain ``(rows, n_all, T)`` output array.
    """
    f64, i64 = np.float64, np.int64
    d = derived or {"kind": np.zeros(0, i64), "src": np.zeros((0, 1), i64), "ant": np.zeros(0, i64),
                    "sign": np.zeros(0), "par": np.zeros((0, 5, 1)), "coef": np.zeros((0, 1, 1))}
    n_all = n_out + d["kind"].shape[0]
    th = np.full((n_all, 2), np.inf) if thresholds is None else np.ascontiguousarray(thresholds, dtype=f64)
    at = np.zeros(0, i64) if sample_at is None else np.ascontiguousarray(sample_at, dtype=i64)
    if dest is None:
        dest, dest_row, dest_col = np.zeros((1, 1, 1, 1)), np.zeros((rows, 2), i64), np.full(n_all, -1, i64)
    elif dest.ndim == 3:
        dest = dest.reshape((1,) + dest.shape)
        dest_row = np.stack([np.zeros(rows, i64), np.arange(rows)], axis=1)
        dest_col = np.arange(n_all, dtype=i64)
    return Fused(np.ascontiguousarray(d["kind"], i64), np.ascontiguousarray(d["src"], i64),
                 np.ascontiguousarray(d["ant"], i64), np.ascontiguousarray(d["sign"], f64),
                 np.ascontiguousarray(d["par"], f64), np.ascontiguousarray(d["coef"], f64), th,
                 np.empty((rows, n_all, len(METRICS)) if metrics else (0, 0, 0)), at,
                 np.empty((n_all, at.shape[0], rows)), dest, np.ascontiguousarray(dest_row, i64),
                 np.ascontiguousarray(dest_col, i64))


# ---------------------------------------------------------------------------------------------
# lane helpers: arrays (rows, L) hold one time step of L kernel rows (the lane index innermost)

@njit(cache=True, error_model="numpy")
def lane_parameters(par, coef, sub, rows, L):
    """Per-lane copies of the derived rows' per-subject parameters: (D, 5, L) and (D, K, L)."""
    D = par.shape[0]
    lp = np.empty((D, 5, L))
    lc = np.empty((D, coef.shape[1], L))
    for d in range(D):
        for lane in range(L):
            s = sub[rows[lane]]
            for p in range(5):
                lp[d, p, lane] = par[d, p, s]
            for k in range(coef.shape[1]):
                lc[d, k, lane] = coef[d, k, s]
    return lp, lc


@njit(cache=True, inline="always", error_model="numpy")
def derive(y, n_out, kind, src, ant, sign, lp, lc, kg, L):
    """Derived rows ``n_out + d`` of the lane array ``y`` from its output rows.

    ``kg[d, lane]`` holds ``c50^γ`` (no antagonist: constant), NaN when it must be recomputed.
    The operations and their order are those of :func:`pkpd.simulation.readouts.readout_rows`.
    """
    for d in range(kind.shape[0]):
        r = n_out + d
        if kind[d] == LINEAR:
            for lane in range(L):
                y[r, lane] = lp[d, P_E0, lane]
            for k in range(src.shape[1]):
                q = src[d, k]
                if q >= 0:
                    for lane in range(L):
                        y[r, lane] += lc[d, k, lane] * y[q, lane]
        else:
            q = src[d, 0]
            a_row = ant[d]
            square = True
            for lane in range(L):
                if lp[d, P_GAMMA, lane] != 2.0:
                    square = False
            if square and a_row < 0:  # the common case: vectorises over lanes
                for lane in range(L):
                    c = y[q, lane]
                    c = c if c >= 0.0 else 0.0
                    cg = c * c
                    y[r, lane] = lp[d, P_E0, lane] + lp[d, P_EMAX, lane] * cg / (kg[d, lane] + cg)
            else:
                for lane in range(L):
                    c = y[q, lane]
                    if c < 0.0:
                        c = 0.0
                    k50 = lp[d, P_C50, lane]
                    if a_row >= 0:
                        a = y[a_row, lane]
                        k50 = k50 * (1.0 + (a if a > 0.0 else 0.0) / lp[d, P_C100, lane])
                    g = lp[d, P_GAMMA, lane]
                    if g == 2.0:
                        cg = c * c
                        kgl = k50 * k50
                    else:
                        cg = c ** g
                        kgl = kg[d, lane] if a_row < 0 else k50 ** g
                    y[r, lane] = lp[d, P_E0, lane] + lp[d, P_EMAX, lane] * cg / (kgl + cg)
        if sign[d] < 0.0:
            for lane in range(L):
                y[r, lane] *= -1.0


@njit(cache=True, error_model="numpy")
def c50_powers(lp, L):
    """``c50^γ`` per derived row and lane (used when no antagonist scales C50)."""
    D = lp.shape[0]
    kg = np.empty((D, L))
    for d in range(D):
        for lane in range(L):
            k50 = lp[d, P_C50, lane]
            g = lp[d, P_GAMMA, lane]
            kg[d, lane] = k50 * k50 if g == 2.0 else k50 ** g
    return kg


@njit(cache=True, inline="always", error_model="numpy")
def metrics_start(y, ms, prev, th, t0, L):
    """Metric state ``ms`` (7, rows, L; the last is scratch) at the first time ``t0`` (before :func:`metrics_step`)."""
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
    """Add time ``tj`` (previous time ``tp``) to the metric state ``ms``.

    The operations of the former two-pass reduction (:mod:`pkpd.simulation.streaming`), in the same
    order, except the log of the log-down AUC (:func:`log_ratio`).  Every branch is a select
    between values computed on all lanes (``&``, not ``and``), so that the lane loops vectorise.
    """
    dtj = tj - tp
    for o in range(ms.shape[1]):
        for lane in range(L):
            v = y[o, lane]
            c = ms[0, o, lane]
            big = v > c
            ms[0, o, lane] = v if big else c
            ms[1, o, lane] = tj if big else ms[1, o, lane]
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
        n_fix = 0
        for lane in range(L):  # the log by a series while a/v ≤ LOG_SERIES_MAX
            a = prev[o, lane]
            v = y[o, lane]
            down = (v < a) & (v > 0.0) & (a > 0.0)
            q = a / v
            log_down = (a - v) * dtj / log_ratio(q)
            linear = 0.5 * (a + v) * dtj
            n_fix += down & (q > LOG_SERIES_MAX)
            ms[6, o, lane] = log_down if down else linear
        if n_fix > 0:  # a steep fall within one step (rare): those lanes take the library log
            for lane in range(L):
                a = prev[o, lane]
                v = y[o, lane]
                if v < a and v > 0.0 and a > 0.0 and a / v > LOG_SERIES_MAX:
                    ms[6, o, lane] = (a - v) * dtj / np.log(a / v)
        for lane in range(L):
            ms[2, o, lane] += ms[6, o, lane]
    for o in range(ms.shape[1]):
        for lane in range(L):
            prev[o, lane] = y[o, lane]


#: Largest ratio a/v whose log :func:`log_ratio` takes from its series (beyond: the library log).
LOG_SERIES_MAX = 1.5
#: 1/(2k+1), k = 0..11: log q = 2 atanh s = 2 Σ s^(2k+1)/(2k+1), s = (q−1)/(q+1) ≤ 0.2 for q ≤ 1.5,
#: so the first omitted term is below 0.04^12/25 ≈ 7e-19 of the sum.
_A = (1.0, 1 / 3, 1 / 5, 1 / 7, 1 / 9, 1 / 11, 1 / 13, 1 / 15, 1 / 17, 1 / 19, 1 / 21, 1 / 23)


@njit(cache=True, inline="always", error_model="numpy")
def log_ratio(q):
    """``log q`` for 1 < q ≤ :data:`LOG_SERIES_MAX` with only arithmetic (so lanes vectorise):
    within 2 ulp of the library log (``q − 1`` is exact there; tested against ``np.log``)."""
    s = (q - 1.0) / (q + 1.0)
    s2 = s * s
    acc = ((((((((((_A[11] * s2 + _A[10]) * s2 + _A[9]) * s2 + _A[8]) * s2 + _A[7]) * s2 + _A[6]) * s2 + _A[5])
               * s2 + _A[4]) * s2 + _A[3]) * s2 + _A[2]) * s2 + _A[1]) * s2
    return 2.0 * (s + s * acc)


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
def store_step(y, j, rows, dest, dest_row, dest_col, L):
    """Copy the lanes' rows into ``dest`` at time index ``j`` (cast to its dtype)."""
    for o in range(dest_col.shape[0]):
        col = dest_col[o]
        if col < 0:
            continue
        for lane in range(L):
            r = rows[lane]
            dest[dest_row[r, 0], dest_row[r, 1], col, j] = y[o, lane]


@njit(cache=True, inline="always", error_model="numpy")
def sample_step(y, p, rows, samples, L):
    """Copy the lanes' rows into sample slot ``p``."""
    for o in range(samples.shape[0]):
        for lane in range(L):
            samples[o, p, rows[lane]] = y[o, lane]


@njit(cache=True, inline="always", error_model="numpy")
def metrics_finish(ms, rows, metrics, L):
    for lane in range(L):
        r = rows[lane]
        for o in range(ms.shape[1]):
            for m in range(6):
                metrics[r, o, m] = ms[m, o, lane]


LANES_PASS = 16  # rows per lane block in fused_pass


@njit(parallel=True, cache=True, error_model="numpy")
def fused_pass(buf, rows_of, sub, times, kind, src, ant, sign, par, coef, thresholds, metrics, sample_at,
               samples, dest, dest_row, dest_col):
    """The fused work for kernel rows ``rows_of[i]`` whose outputs a kernel wrote into
    ``buf[i, :n_out, :]`` (float64; ``n_out = buf.shape[1]``), with the helpers the batched kernel
    uses, so that the results are the same as if it had run.  ``sub[row]`` is the row's subject."""
    N, n_out, T = buf.shape
    n_all = n_out + kind.shape[0]
    n_blocks = (N + LANES_PASS - 1) // LANES_PASS
    want_metrics = metrics.shape[0] > 0
    Tp = sample_at.shape[0]
    for bi in prange(n_blocks):
        i0 = bi * LANES_PASS
        L = min(LANES_PASS, N - i0)
        rows = rows_of[i0:i0 + L]
        lp, lc = lane_parameters(par, coef, sub, rows, L)
        kg = c50_powers(lp, L)
        y = np.empty((n_all, L))
        ms = np.empty((7, n_all, L))
        prev = np.empty((n_all, L))
        p = 0
        for j in range(T):
            for o in range(n_out):
                for lane in range(L):
                    y[o, lane] = buf[i0 + lane, o, j]
            derive(y, n_out, kind, src, ant, sign, lp, lc, kg, L)
            store_step(y, j, rows, dest, dest_row, dest_col, L)
            if p < Tp and sample_at[p] == j:
                sample_step(y, p, rows, samples, L)
                p += 1
            if want_metrics:
                if j == 0:
                    metrics_start(y, ms, prev, thresholds, times[0], L)
                metrics_step(y, ms, prev, thresholds, times[j], times[j - 1] if j > 0 else times[0], j == 0, L)
        if want_metrics:
            metrics_finish(ms, rows, metrics, L)

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
* **storage** of every row into a destination ``dest[a, b, col, time]`` (float32 or float64)
  through maps ``kernel row → (a, b)`` and ``row → col`` (``col < 0``: not stored), kept as a
  flat array and offsets so that a store is one add per lane.

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
    dest: np.ndarray  # flat view of the destination (time stride 1), float32 or float64
    dest_base: np.ndarray  # (rows,) int64: offset of each kernel row's first value in ``dest``
    dest_col: np.ndarray  # (n_all,) int64: offset of each row (−1: not stored)

    @property
    def n_derived(self) -> int:
        return int(self.kind.shape[0])


def fused_work(n_out: int, rows: int, *, derived: dict | None = None, thresholds: np.ndarray | None = None,
               metrics: bool = False, sample_at: np.ndarray | None = None, dest: np.ndarray | None = None,
               dest_row: np.ndarray | None = None, dest_col: np.ndarray | None = None,
               metrics_out: np.ndarray | None = None, samples_out: np.ndarray | None = None) -> Fused:
    """A :class:`Fused` with empty arrays for the work not asked for.

    ``derived``: dict of the arrays ``kind, src, ant, sign, par, coef`` (none: no derived rows).
    ``dest``: a C-contiguous ``(A, B, C, T)`` array with ``dest_row`` (rows, 2) and ``dest_col``
    (n_all,) maps, or a plain ``(rows, n_all, T)`` output array without maps.
    ``metrics_out`` ((≥ rows, n_all, len(METRICS))) and ``samples_out`` ((n_all, Tp, ≥ rows)):
    arrays to reuse instead of allocating (a population run keeps one of each for all chunks).
    """
    f64, i64 = np.float64, np.int64
    d = derived or {"kind": np.zeros(0, i64), "src": np.zeros((0, 1), i64), "ant": np.zeros(0, i64),
                    "sign": np.zeros(0), "par": np.zeros((0, 5, 1)), "coef": np.zeros((0, 1, 1))}
    n_all = n_out + d["kind"].shape[0]
    th = np.full((n_all, 2), np.inf) if thresholds is None else np.ascontiguousarray(thresholds, dtype=f64)
    at = np.zeros(0, i64) if sample_at is None else np.ascontiguousarray(sample_at, dtype=i64)
    if dest is None:  # float32, so that a streaming run shares the full (float32) run's kernel
        flat, base, col = np.zeros(1, np.float32), np.zeros(rows, i64), np.full(n_all, -1, i64)
    else:
        if dest.ndim == 3:
            dest = dest.reshape((1,) + dest.shape)
            dest_row = np.stack([np.zeros(rows, i64), np.arange(rows)], axis=1)
            dest_col = np.arange(n_all, dtype=i64)
        if not dest.flags.c_contiguous:
            raise ValueError("the destination of fused storage must be C-contiguous")
        st = np.asarray(dest.strides, dtype=i64) // dest.itemsize
        flat = dest.reshape(-1)
        base = np.ascontiguousarray(dest_row[:, 0] * st[0] + dest_row[:, 1] * st[1], dtype=i64)
        col = np.where(np.asarray(dest_col) >= 0, np.asarray(dest_col) * st[2], -1).astype(i64)
    return Fused(np.ascontiguousarray(d["kind"], i64), np.ascontiguousarray(d["src"], i64),
                 np.ascontiguousarray(d["ant"], i64), np.ascontiguousarray(d["sign"], f64),
                 np.ascontiguousarray(d["par"], f64), np.ascontiguousarray(d["coef"], f64), th,
                 _buffer(metrics_out, (rows, n_all, len(METRICS)), 0) if metrics else np.empty((0, 0, 0)), at,
                 _buffer(samples_out, (n_all, at.shape[0], rows), 2), flat, base, col)


def _buffer(given: np.ndarray | None, shape: tuple, axis: int) -> np.ndarray:
    """``given`` if it is a C-contiguous float64 array of ``shape`` with at least as many rows
    along ``axis`` (the extra rows are left alone), else a new array."""
    if given is None:
        return np.empty(shape)
    same = all(g == s for i, (g, s) in enumerate(zip(given.shape, shape)) if i != axis)
    if not (given.dtype == np.float64 and given.ndim == len(shape) and given.flags.c_contiguous and same
            and given.shape[axis] >= shape[axis]):
        raise ValueError(f"a reused fused buffer has shape {given.shape}; {shape} (rows at least) is needed")
    return given


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
                    c = 0.0 if c < 0.0 else c
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
        for lane in range(L):
            v = y[o, lane]
            c = ms[0, o, lane]
            t_old = ms[1, o, lane]
            big = v > c
            ms[0, o, lane] = v if big else c
            ms[1, o, lane] = tj if big else t_old
            a = prev[o, lane]
            steep += (v < a) & (v > 0.0) & (a > 0.0) & (v * STEEP_V < a * STEEP_A)
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
        if steep == 0:  # the usual case: every fall within a step is gentle
            for lane in range(L):
                a = prev[o, lane]
                v = y[o, lane]
                down = (v < a) & (v > 0.0) & (a > 0.0)
                sr = (a - v) / (a + v)
                trapezoid = 0.5 * (a + v) * dtj
                ms[2, o, lane] += trapezoid * log_down_factor(sr * sr) if down else trapezoid
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
                        ms[2, o, lane] += 0.5 * (a + v) * dtj * log_down_factor(sr * sr)
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
_R = (1.0, -1 / 3, -4 / 45, -44 / 945, -428 / 14175, -10196 / 467775, -10719068 / 638512875,
      -25865068 / 1915538625, -5472607916 / 488462349375)


@njit(cache=True, inline="always", error_model="numpy")
def log_down_factor(x):
    """``1/P(x)`` for ``0 ≤ x ≤ 0.01``, ``P(s²) = atanh(s)/s`` (see :data:`STEEP_V`)."""
    return ((((((((_R[8] * x + _R[7]) * x + _R[6]) * x + _R[5]) * x + _R[4]) * x + _R[3]) * x + _R[2]) * x
             + _R[1]) * x + _R[0])


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
def store_step(y, j, base, dest, dest_col, L):
    """Copy the lanes' rows into the flat ``dest`` at time index ``j`` (cast to its dtype);
    ``base[lane]`` is the lane's offset, ``dest_col[o]`` the row's (−1: not stored)."""
    for o in range(dest_col.shape[0]):
        col = dest_col[o]
        if col < 0:
            continue
        for lane in range(L):
            dest[base[lane] + col + j] = y[o, lane]


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
               samples, dest, dest_base, dest_col):
    """The fused work for kernel rows ``rows_of[i]`` whose outputs a kernel wrote into
    ``buf[i, :n_out, :]`` (float64; ``n_out = buf.shape[1]``), with the helpers the batched kernel
    uses, so that the results are the same as if it had run.  ``sub[row]`` is the row's subject."""
    N = buf.shape[0]
    for bi in prange((N + LANES_PASS - 1) // LANES_PASS):
        i0 = bi * LANES_PASS
        _pass_block(buf, i0, min(LANES_PASS, N - i0), rows_of, sub, times, kind, src, ant, sign, par, coef,
                    thresholds, metrics, sample_at, samples, dest, dest_base, dest_col)


@njit(cache=True, error_model="numpy")
def _pass_block(buf, i0, L, rows_of, sub, times, kind, src, ant, sign, par, coef, thresholds, metrics, sample_at,
                samples, dest, dest_base, dest_col):
    """Buffer rows ``i0 … i0 + L`` as one block of lanes."""
    n_out, T = buf.shape[1], buf.shape[2]
    n_all = n_out + kind.shape[0]
    want_metrics = metrics.shape[0] > 0
    Tp = sample_at.shape[0]
    rows = rows_of[i0:i0 + L]
    lp, lc = lane_parameters(par, coef, sub, rows, L)
    kg = c50_powers(lp, L)
    base = np.empty(L, dtype=np.int64)
    for lane in range(L):
        base[lane] = dest_base[rows[lane]]
    y = np.empty((n_all, L))
    ms = np.empty((6, n_all, L))
    prev = np.empty((n_all, L))
    p = 0
    for j in range(T):
        for o in range(n_out):
            for lane in range(L):
                y[o, lane] = buf[i0 + lane, o, j]
        derive(y, n_out, kind, src, ant, sign, lp, lc, kg, L)
        store_step(y, j, base, dest, dest_col, L)
        if p < Tp and sample_at[p] == j:
            sample_step(y, p, rows, samples, L)
            p += 1
        if want_metrics:
            if j == 0:
                metrics_start(y, ms, prev, thresholds, times[0], L)
            metrics_step(y, ms, prev, thresholds, times[j], times[j - 1] if j > 0 else times[0], j == 0, L)
    if want_metrics:
        metrics_finish(ms, rows, metrics, L)

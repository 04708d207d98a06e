"""Work done in the same pass as a linear kernel's outputs: derived rows, per-row metrics, histogram
bins at chosen times and storage in the caller's array (numba helpers on *lanes* of rows).

A population run needs more than ``y = W x``.  :class:`Fused` describes, as arrays only:

* **derived rows** after the ``n_out`` output rows: sigmoid Emax ``e0 + emax·c^γ/(k^γ + c^γ)``
  on one output row ``c`` (clipped at 0; ``k = c50·(1 + max(a, 0)/c100)`` when an antagonist row
  ``a`` is given) or linear ``e0 + Σ coef·y[src]``, each optionally negated; parameters per
  subject (the PD readouts of :mod:`pkpd.simulation.readouts`, in the output rows' units);
* **metrics** per row (:data:`pkpd.solvers.lane_metrics.METRICS`, :mod:`pkpd.solvers.lane_metrics`):
  peak, time of peak, AUC0–t by linear-up/log-down, time at or above a threshold and an upper
  threshold (crossings linearly interpolated), onset (first time the threshold is reached, NaN if
  never);
* **bins**: at chosen time indices, each value's bin in a fixed histogram (log10-spaced or linear
  per row; range per row and group of kernel rows, e.g. per regimen), as ``uint16`` laid out
  ``(row, time, kernel row)`` so that a counting pass reads subjects contiguously (streaming
  percentiles: :mod:`pkpd.simulation.streaming`).  Bin 0 is underflow (and zero, negative or
  subnormal values of a log row), ``nbins + 1`` overflow, :data:`NO_BIN` a NaN.  The log10 comes
  from the exponent bits and a degree-7 polynomial in the mantissa (:data:`LOG2_POLY`), within
  8.2e-7 of log2 — far inside a bin, and no table lookup, so the lanes vectorise;
* **kept values**: every row at chosen time indices (``keep_at``, always including the last output
  time when ``n_times`` is given: the solver's finite check reads it), into ``kept`` (rows, n_all,
  Tk) float64 — e.g. sampled observations, which need values at a few times only;
* **storage** of every row into a destination ``dest[a, b, col, time]`` (float32 or float64)
  through maps ``kernel row → (a, b)`` and ``row → col`` (``col < 0``: not stored), kept as a
  flat array and offsets so that a store is one add per lane.

The batched kernel (:mod:`pkpd.solvers.batched`) calls the helpers below once per time step on its
lanes, so nothing is read back from memory; other kernels write a float64 buffer that
:func:`pkpd.solvers.batched.fused_pass` then reduces with the same kernel, reading its lanes' outputs
from the buffer instead of advancing modes.  Either way every number is computed by the
same operations in the same order, so the results are bit-for-bit the same.  Units are the output
rows' (the dispatcher never converts); times in h.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from pkpd.solvers.lane_metrics import METRICS

#: Bin of a NaN value (not counted).
NO_BIN = 65535
#: log2(1 + f) on [0, 1) (Chebyshev fit, max error 8.2e-7, slope ≥ 0.72 so bins stay ordered).
LOG2_POLY = (8.121997527865688e-07, 1.4426336758487976, -0.7202025573490787, 0.47172133139530587,
             -0.32148241827380747, 0.18865151503229557, -0.07592024726488643, 0.014598474757207611)
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
    sample_at: np.ndarray  # (Tp,) increasing time indices at which values are binned
    bins: np.ndarray  # (n_all, Tp, ≥ rows) uint16 written
    bin_group: np.ndarray  # (rows,) int64: the histogram range group of each kernel row
    bin_lo: np.ndarray  # (G, n_all) lower edge (log10 units for log rows)
    bin_iw: np.ndarray  # (G, n_all) 1 / bin width
    bin_log: np.ndarray  # (n_all,) int64: 1 for log10 bins
    nbins: int
    dest: np.ndarray  # flat view of the destination (time stride 1), float32 or float64
    dest_base: np.ndarray  # (rows,) int64: offset of each kernel row's first value in ``dest``
    dest_col: np.ndarray  # (n_all,) int64: offset of each row (−1: not stored)
    clip: np.ndarray  # (D, 2) lower and upper bound of each derived row before its sign (±inf: none)
    keep_at: np.ndarray  # (Tk,) increasing time indices whose values are kept
    kept: np.ndarray  # (≥ rows, n_all, Tk) float64 written

    @property
    def n_derived(self) -> int:
        return int(self.kind.shape[0])

    def args(self) -> tuple:
        """The arrays in the order the kernels take them (after their own arguments)."""
        return (self.kind, self.src, self.ant, self.sign, self.par, self.coef, self.thresholds, self.metrics,
                self.sample_at, self.bins, self.bin_group, self.bin_lo, self.bin_iw, self.bin_log, self.nbins,
                self.dest, self.dest_base, self.dest_col, self.clip, self.keep_at, self.kept)

    def last_kept(self, n_times: int) -> np.ndarray | None:
        """Every row's values at the last output time ``(rows, n_all)``, or None if not kept."""
        if n_times == 0 or self.keep_at.shape[0] == 0 or self.keep_at[-1] != n_times - 1:
            return None
        return self.kept[:, :, -1]


def fused_work(n_out: int, rows: int, *, derived: dict | None = None, thresholds: np.ndarray | None = None,
               metrics: bool = False, sample_at: np.ndarray | None = None, bins: dict | None = None,
               dest: np.ndarray | None = None, dest_row: np.ndarray | None = None, dest_col: np.ndarray | None = None,
               metrics_out: np.ndarray | None = None, bins_out: np.ndarray | None = None,
               keep_at: np.ndarray | None = None, n_times: int = 0, kept_out: np.ndarray | None = None) -> Fused:
    """A :class:`Fused` with empty arrays for the work not asked for.

    ``derived``: dict of the arrays ``kind, src, ant, sign, par, coef`` (none: no derived rows).
    ``bins``: dict ``group`` (rows,), ``lo`` and ``iw`` (G, n_all), ``log`` (n_all,), ``nbins``
    for the values at the time indices ``sample_at``.
    ``dest``: a C-contiguous ``(A, B, C, T)`` array with ``dest_row`` (rows, 2) and ``dest_col``
    (n_all,) maps, or a plain ``(rows, n_all, T)`` output array without maps.
    ``keep_at``: time indices whose values are kept (plus the last, ``n_times − 1``, when
    ``n_times`` is given).
    ``metrics_out`` ((≥ rows, n_all, len(METRICS))), ``bins_out`` ((n_all, Tp, ≥ rows) uint16) and
    ``kept_out`` ((≥ rows, n_all, Tk)): arrays to reuse instead of allocating (a population run
    keeps one of each for all chunks).
    """
    f64, i64 = np.float64, np.int64
    d = derived or {"kind": np.zeros(0, i64), "src": np.zeros((0, 1), i64), "ant": np.zeros(0, i64),
                    "sign": np.zeros(0), "par": np.zeros((0, 5, 1)), "coef": np.zeros((0, 1, 1))}
    clip = d.get("clip", np.tile([-np.inf, np.inf], (d["kind"].shape[0], 1)))
    keep = np.zeros(0, i64) if keep_at is None else np.asarray(keep_at, dtype=i64)
    keep = np.unique(np.concatenate([keep, [n_times - 1]]) if n_times > 0 else keep).astype(i64)
    n_all = n_out + d["kind"].shape[0]
    th = np.full((n_all, 2), np.inf) if thresholds is None else np.ascontiguousarray(thresholds, dtype=f64)
    at = np.zeros(0, i64) if sample_at is None or bins is None else np.ascontiguousarray(sample_at, dtype=i64)
    hb = bins or {"group": np.zeros(rows, i64), "lo": np.zeros((1, n_all)), "iw": np.ones((1, n_all)),
                  "log": np.zeros(n_all, i64), "nbins": 1}
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
                 _buffer(metrics_out, (rows, n_all, len(METRICS)), 0, f64) if metrics else np.empty((0, 0, 0)), at,
                 _buffer(bins_out, (n_all, at.shape[0], rows), 2, np.uint16), np.ascontiguousarray(hb["group"], i64),
                 np.ascontiguousarray(hb["lo"], f64), np.ascontiguousarray(hb["iw"], f64),
                 np.ascontiguousarray(hb["log"], i64), int(hb["nbins"]), flat, base, col,
                 np.ascontiguousarray(clip, f64).reshape(-1, 2), keep, _buffer(kept_out, (rows, n_all, keep.size), 0, f64))


def _buffer(given: np.ndarray | None, shape: tuple, axis: int, dtype) -> np.ndarray:
    """``given`` if it is a C-contiguous ``dtype`` array of ``shape`` with at least as many rows
    along ``axis`` (the extra rows are left alone), else a new array."""
    if given is None:
        return np.empty(shape, dtype)
    same = all(g == s for i, (g, s) in enumerate(zip(given.shape, shape)) if i != axis)
    if not (given.dtype == dtype and given.ndim == len(shape) and given.flags.c_contiguous and same
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
def derive(y, n_out, kind, src, ant, sign, clip, lp, lc, kg, sq, L):
    """Derived rows ``n_out + d`` of the lane array ``y`` from its output rows.

    ``kg[d, lane]`` holds ``c50^γ`` (no antagonist: constant), NaN when it must be recomputed;
    ``sq[d]`` is True when every lane's γ is 2 (:func:`square_hills`, once per block, not per step).
    The operations and their order are those of :func:`pkpd.simulation.readouts.readout_rows`,
    then ``np.clip`` to ``clip[d]`` (NaN stays NaN), then the sign.
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
            if sq[d] and a_row < 0:  # the common case: vectorises over lanes
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
        lo, hi = clip[d, 0], clip[d, 1]
        if lo > -np.inf or hi < np.inf:
            for lane in range(L):
                v = y[r, lane]
                v = lo if v < lo else v
                y[r, lane] = hi if v > hi else v
        if sign[d] < 0.0:
            for lane in range(L):
                y[r, lane] *= -1.0


@njit(cache=True, inline="always", error_model="numpy")
def keep_step(y, q, rows, kept, L):
    """The lanes' rows into ``kept[row, :, q]`` (a kept time index)."""
    for o in range(kept.shape[1]):
        for lane in range(L):
            kept[rows[lane], o, q] = y[o, lane]


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


@njit(cache=True, error_model="numpy")
def square_hills(lp, L):
    """Per derived row: every lane's Hill exponent is exactly 2 (the vectorised branch of
    :func:`derive`; a lane block's parameters do not change between steps)."""
    D = lp.shape[0]
    sq = np.ones(D, dtype=np.bool_)
    for d in range(D):
        for lane in range(L):
            if lp[d, P_GAMMA, lane] != 2.0:
                sq[d] = False
    return sq


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


@njit(cache=True, error_model="numpy")
def lane_bins(bin_group, bin_lo, bin_iw, rows, n_all, L):
    """Per-lane copies of the histogram lower edges and inverse widths: two (n_all, L) arrays."""
    lo = np.empty((n_all, L))
    iw = np.empty((n_all, L))
    for lane in range(L):
        g = bin_group[rows[lane]]
        for o in range(n_all):
            lo[o, lane] = bin_lo[g, o]
            iw[o, lane] = bin_iw[g, o]
    return lo, iw


@njit(cache=True, error_model="numpy")
def lane_block(par, coef, sub, rows, dest_base, bin_group, bin_lo, bin_iw, n_all, L):
    """What a block of ``L`` lanes needs before its first step: per-lane PD parameters, C50
    powers and square-Hill flags, storage offsets, histogram edges, and the work arrays ``y`` (n_all, L), ``bl`` (L),
    ``ms`` (6, n_all, L) and ``prev`` (n_all, L)."""
    lp, lc = lane_parameters(par, coef, sub, rows, L)
    kg = c50_powers(lp, L)
    base = np.empty(L, dtype=np.int64)
    for lane in range(L):
        base[lane] = dest_base[rows[lane]]
    blo, biw = lane_bins(bin_group, bin_lo, bin_iw, rows, n_all, L)
    return (lp, lc, kg, square_hills(lp, L), base, blo, biw, np.empty((n_all, L)), np.empty(L),
            np.empty((6, n_all, L)), np.empty((n_all, L)))


@njit(cache=True, inline="always", error_model="numpy")
def bin_step(y, yb, p, rows, bins, lo, iw, bin_log, nbins, bl, L):
    """The lanes' bins at sample slot ``p`` (``yb``: ``y`` viewed as int64, for the exponent;
    ``bl``: scratch of L doubles).  The first loop is branch-free and vectorises; the second
    scatters the bins to the lanes' rows."""
    top = float(nbins)
    for o in range(bins.shape[0]):
        lg = bin_log[o] != 0
        for lane in range(L):
            v = y[o, lane]
            bits = yb[o, lane]
            ex = float(((bits >> 52) & 0x7FF) - 1023)
            f = float(bits & 0xFFFFFFFFFFFFF) * (1.0 / 4503599627370496.0)
            l2 = ex + (((((((LOG2_POLY[7] * f + LOG2_POLY[6]) * f + LOG2_POLY[5]) * f + LOG2_POLY[4]) * f
                          + LOG2_POLY[3]) * f + LOG2_POLY[2]) * f + LOG2_POLY[1]) * f + LOG2_POLY[0])
            x_log = (l2 * 0.30102999566398120 - lo[o, lane]) * iw[o, lane]
            x_lin = (v - lo[o, lane]) * iw[o, lane]
            x = x_log if lg else x_lin
            inside = (x >= 0.0) & (x < top)
            b = float(np.int64(x if inside else 0.0)) + 1.0
            b = b if inside else (top + 1.0 if x >= top else 0.0)
            b = 0.0 if lg & (v < 2.2250738585072014e-308) else b  # zero, negative, subnormal
            bl[lane] = NO_BIN if v != v else b
        for lane in range(L):
            bins[o, p, rows[lane]] = np.uint16(bl[lane])

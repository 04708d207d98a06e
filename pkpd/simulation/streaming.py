"""Streaming reductions: per-subject metrics and per-time histograms, chunk by chunk.

A chunk of trajectories ``y`` (subjects × outputs × times) is reduced to

* per-subject metrics (Cmax, Tmax, AUC0–t by linear-up/log-down, time above a
  threshold with linearly interpolated crossings) — exact, identical to what the
  full-trajectory mode computes from the same trajectories;
* counts in fixed per-time histograms, merged across chunks by addition.

Percentiles from the histograms are approximate.  Concentrations use
log-spaced bins (``BINS_PER_DECADE`` per decade over a fixed range set by the
typical subject: 1e-6 to 1e3 × its peak), so a percentile inside the range is
off by less than one bin: relative error ≤ 10^(1/200) − 1 ≈ 1.16 %.  Values
below the range (including 0) are reported as 0, above it as the upper edge.
Readouts use linear bins over a fixed range: absolute error ≤ range/LINEAR_BINS.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


BINS_PER_DECADE = 200


LOG_DECADES_BELOW = 6.0


LOG_DECADES_ABOVE = 3.0


LINEAR_BINS = 4000


#: Per-subject metrics: peak, time of peak, AUC0–t, time at or above the threshold, first time the
#: threshold is reached (NaN if never), time at or above the upper threshold (for windows).
METRICS = ("cmax", "tmax", "auc", "time_above", "onset", "time_above_hi")


#: Relative error bound of a streaming percentile of a concentration inside the bin range.
LOG_REL_ERROR = 10 ** (1 / BINS_PER_DECADE) - 1


#: log2(1 + i/4096), i = 0..4096: with the IEEE exponent, a table lookup and one linear
#: interpolation give log2 of a positive double to ~1e-8 (far below the 0.0166 log2-unit
#: bin width) several times faster than a libm log.
_LOG2_TABLE = np.log2(1.0 + np.arange(4097) / 4096.0)


_LOG10_2 = float(np.log10(2.0))


@njit(cache=True, inline="always")
def _fast_log10(bits, table):
    """log10 of the positive, finite, normal double whose bit pattern is ``bits``."""
    e = ((bits >> 52) & 0x7FF) - 1023
    m = bits & 0xFFFFFFFFFFFFF
    i = m >> 40
    f = (m & 0xFFFFFFFFFF) * (1.0 / 1099511627776.0)
    return (e + table[i] + (table[i + 1] - table[i]) * f) * 0.30102999566398120


@njit(parallel=True, cache=True)
def reduce_chunk(y, times, lo, width, logbin, nbins, thresh, counts, metrics, table, histogram):
    """Add chunk ``y`` (S, n_out, T) to ``counts`` (n_out, T, nbins+2) and write ``metrics``
    (S, n_out, len(METRICS)); ``thresh`` is (n_out, 2): the threshold and an upper threshold.

    Bin ``0`` is underflow, ``nbins + 1`` overflow.  For log bins, ``lo`` and
    ``width`` are in log10 units.  NaN outputs are not counted.  Each parallel
    task owns a block of time points (no shared counters) and reads ``y`` in
    memory order.
    """
    S, n_out, T = y.shape
    bits = y.view(np.int64)
    n_tasks = min(T, 64) if histogram else 0
    tile = 64  # subjects per tile: a histogram row is reused across the tile while in cache
    for task in prange(n_tasks):
        j0 = task * T // n_tasks
        j1 = (task + 1) * T // n_tasks
        for s0 in range(0, S, tile):
            s1 = min(S, s0 + tile)
            for o in range(n_out):
                lo_o = lo[o]
                inv_w = 1.0 / width[o]
                is_log = logbin[o]
                for j in range(j0, j1):
                    for s in range(s0, s1):
                        v = y[s, o, j]
                        if v != v:
                            continue
                        if is_log:
                            if v < 2.2250738585072014e-308:  # zero, negative or subnormal: underflow
                                counts[o, j, 0] += 1
                                continue
                            if v > 1.7976931348623157e308:
                                counts[o, j, nbins + 1] += 1
                                continue
                            x = (_fast_log10(bits[s, o, j], table) - lo_o) * inv_w
                        else:
                            x = (v - lo_o) * inv_w
                        if x < 0.0:
                            b = 0
                        elif x >= nbins:
                            b = nbins + 1
                        else:
                            b = int(x) + 1
                        counts[o, j, b] += 1
    for s in prange(S):
        for o in range(n_out):
            cmax = -np.inf
            tmax = times[0]
            area = 0.0
            above = 0.0
            above_hi = 0.0
            th, th_hi = thresh[o, 0], thresh[o, 1]
            onset = times[0] if y[s, o, 0] >= th else np.nan
            for j in range(T):
                v = y[s, o, j]
                if v > cmax:
                    cmax = v
                    tmax = times[j]
                if j > 0:
                    a = y[s, o, j - 1]
                    dt = times[j] - times[j - 1]
                    if v < a and v > 0.0 and a > 0.0:
                        area += (a - v) * dt / np.log(a / v)
                    else:
                        area += 0.5 * (a + v) * dt
                    above += _time_above(a, v, th, dt)
                    above_hi += _time_above(a, v, th_hi, dt)
                    if onset != onset and a < th <= v:
                        onset = times[j - 1] + dt * (th - a) / (v - a)
            metrics[s, o, 0] = cmax
            metrics[s, o, 1] = tmax
            metrics[s, o, 2] = area
            metrics[s, o, 3] = above
            metrics[s, o, 4] = onset
            metrics[s, o, 5] = above_hi


@njit(cache=True, inline="always")
def _time_above(a, v, th, dt):
    """Time within a step of length ``dt`` (values ``a`` → ``v``, linear) spent at or above ``th``."""
    if a >= th and v >= th:
        return dt
    if a >= th or v >= th:
        f = (th - a) / (v - a)  # crossing within the step
        return dt * (1.0 - f) if v >= th else dt * f
    return 0.0


class Histograms:
    """Per-time histograms of several outputs, mergeable across chunks."""

    def __init__(self, n_times: int, ranges: list[tuple[str, float, float]]):
        """``ranges``: per output, (``"log"`` with the typical peak, or ``"linear"`` with (low, high))."""
        n_out = len(ranges)
        self.logbin = np.array([r[0] == "log" for r in ranges])
        self.lo = np.zeros(n_out)
        self.width = np.ones(n_out)
        nb = []
        for i, (kind, a, b) in enumerate(ranges):
            if kind == "log":
                peak = a if a > 0 and np.isfinite(a) else 1.0
                self.lo[i] = np.log10(peak) - LOG_DECADES_BELOW
                self.width[i] = 1.0 / BINS_PER_DECADE
                nb.append(int(round((LOG_DECADES_BELOW + LOG_DECADES_ABOVE) * BINS_PER_DECADE)))
            else:
                lo, hi = (a, b) if b > a else (a - 1.0, a + 1.0)
                self.lo[i] = lo
                self.width[i] = (hi - lo) / LINEAR_BINS
                nb.append(LINEAR_BINS)
        self.nbins = max(nb)
        for i in range(n_out):
            if self.logbin[i]:
                continue
            # linear outputs share nbins: stretch their width so the range is unchanged
            self.width[i] = self.width[i] * LINEAR_BINS / self.nbins
        # int32: half the cache footprint of the hot rows; a count cannot exceed the population size
        self.counts = np.zeros((n_out, n_times, self.nbins + 2), dtype=np.int32)

    def add(self, y: np.ndarray, times: np.ndarray, thresholds: np.ndarray, histogram: bool = True) -> np.ndarray:
        """Count chunk ``y`` (S, n_out, T) (unless ``histogram`` is False); return its per-subject
        metrics (S, n_out, len(METRICS)).  ``thresholds``: (n_out, 2), lower and upper."""
        metrics = np.empty((y.shape[0], y.shape[1], len(METRICS)))
        reduce_chunk(np.ascontiguousarray(y, dtype=np.float64), times, self.lo, self.width, self.logbin,
                     self.nbins, thresholds, self.counts, metrics, _LOG2_TABLE, histogram)
        return metrics

    def edges(self, o: int) -> np.ndarray:
        e = self.lo[o] + self.width[o] * np.arange(self.nbins + 1)
        return 10.0 ** e if self.logbin[o] else e

    def percentiles(self, q) -> np.ndarray:
        """Percentiles ``q`` (0–100) per output and time: array (n_out, len(q), T).

        Interpolates linearly (in log10 for log bins) inside the bin holding the rank.
        """
        q = np.asarray(q, dtype=float) / 100.0
        out = np.full((self.counts.shape[0], len(q), self.counts.shape[1]), np.nan)
        _percentiles(self.counts, q, self.lo, self.width, self.logbin, self.nbins, out)
        return out


@njit(parallel=True, cache=True)
def _percentiles(counts, q, lo, width, logbin, nbins, out):
    n_out, T, nb2 = counts.shape
    for j in prange(T):
        cum = np.empty(nb2, dtype=np.int64)
        for o in range(n_out):
            acc = 0
            for b in range(nb2):
                acc += counts[o, j, b]
                cum[b] = acc
            N = cum[nb2 - 1]
            if N == 0:
                continue
            for qi in range(q.shape[0]):
                target = q[qi] * N
                b = np.searchsorted(cum, target)  # first bin with cum >= target
                if b == 0:
                    val = 0.0 if logbin[o] else lo[o]
                elif b >= nb2 - 1:
                    x = lo[o] + width[o] * nbins
                    val = 10.0 ** x if logbin[o] else x
                else:
                    below = cum[b - 1]
                    inbin = counts[o, j, b]
                    frac = (target - below) / inbin if inbin > 0 else 0.5
                    frac = min(max(frac, 0.0), 1.0)
                    x = lo[o] + width[o] * (b - 1 + frac)
                    val = 10.0 ** x if logbin[o] else x
                out[o, qi, j] = val

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
METRICS = ("cmax", "tmax", "auc", "time_above")

#: Relative error bound of a streaming percentile of a concentration inside the bin range.
LOG_REL_ERROR = 10 ** (1 / BINS_PER_DECADE) - 1


@njit(parallel=True, cache=True)
def reduce_chunk(y, times, lo, width, logbin, nbins, thresh, counts, metrics):
    """Add chunk ``y`` (S, n_out, T) to ``counts`` (n_out, T, nbins+2) and write ``metrics`` (S, n_out, 4).

    Bin ``0`` is underflow, ``nbins + 1`` overflow.  For log bins, ``lo`` and
    ``width`` are in log10 units.  NaN outputs are not counted.
    """
    S, n_out, T = y.shape
    for j in prange(T):
        for o in range(n_out):
            for s in range(S):
                v = y[s, o, j]
                if v != v:
                    continue
                if logbin[o]:
                    if v <= 0.0:
                        b = 0
                    else:
                        x = (np.log10(v) - lo[o]) / width[o]
                        b = 0 if x < 0 else (nbins + 1 if x >= nbins else int(x) + 1)
                else:
                    x = (v - lo[o]) / width[o]
                    b = 0 if x < 0 else (nbins + 1 if x >= nbins else int(x) + 1)
                counts[o, j, b] += 1
    for s in prange(S):
        for o in range(n_out):
            cmax = -np.inf
            tmax = times[0]
            area = 0.0
            above = 0.0
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
                    th = thresh[o]
                    if a >= th and v >= th:
                        above += dt
                    elif a >= th or v >= th:
                        f = (th - a) / (v - a)  # crossing within the step
                        above += dt * (1.0 - f) if v >= th else dt * f
            metrics[s, o, 0] = cmax
            metrics[s, o, 1] = tmax
            metrics[s, o, 2] = area
            metrics[s, o, 3] = above


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
        self.counts = np.zeros((n_out, n_times, self.nbins + 2), dtype=np.int64)

    def add(self, y: np.ndarray, times: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
        """Count chunk ``y`` (S, n_out, T); return its per-subject metrics (S, n_out, 4)."""
        metrics = np.empty((y.shape[0], y.shape[1], len(METRICS)))
        reduce_chunk(np.ascontiguousarray(y, dtype=np.float64), times, self.lo, self.width, self.logbin,
                     self.nbins, thresholds, self.counts, metrics)
        return metrics

    def edges(self, o: int) -> np.ndarray:
        e = self.lo[o] + self.width[o] * np.arange(self.nbins + 1)
        return 10.0 ** e if self.logbin[o] else e

    def percentiles(self, q) -> np.ndarray:
        """Percentiles ``q`` (0–100) per output and time: array (n_out, len(q), T).

        Interpolates linearly (in log10 for log bins) inside the bin holding the rank.
        """
        q = np.asarray(q, dtype=float) / 100.0
        n_out, T, nb2 = self.counts.shape
        out = np.full((n_out, len(q), T), np.nan)
        tt = np.arange(T)
        for o in range(n_out):
            cum = np.cumsum(self.counts[o], axis=1)  # (T, nbins + 2)
            N = cum[:, -1].astype(float)
            for qi, qq in enumerate(q):
                target = qq * N
                b = np.argmax(cum >= target[:, None], axis=1)  # first bin reaching the rank
                below = np.where(b > 0, cum[tt, np.maximum(b - 1, 0)], 0)
                inbin = self.counts[o, tt, b]
                with np.errstate(invalid="ignore", divide="ignore"):
                    frac = np.clip(np.where(inbin > 0, (target - below) / inbin, 0.5), 0.0, 1.0)
                x = self.lo[o] + self.width[o] * (b - 1 + frac)
                val = 10.0 ** x if self.logbin[o] else x
                low_edge = 0.0 if self.logbin[o] else self.lo[o]
                high_edge = self.lo[o] + self.width[o] * self.nbins
                high_edge = 10.0 ** high_edge if self.logbin[o] else high_edge
                val = np.where(b == 0, low_edge, np.where(b == nb2 - 1, high_edge, val))
                out[o, qi] = np.where(N > 0, val, np.nan)
        return out

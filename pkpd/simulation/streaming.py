"""Streaming reductions: per-time histograms merged across chunks, and percentiles with a bound.

The per-subject metrics (Cmax, Tmax, AUC0–t by linear-up/log-down, time above thresholds, onset)
are computed by the solver in the pass that produces the trajectories (:mod:`pkpd.solvers.fused`;
exact, identical in full and streaming mode).  What streaming mode adds is a histogram per output
and *percentile time*: the solver bins each subject's values at those times in the same pass
(:func:`pkpd.solvers.fused.bin_step`, into a ``uint16`` buffer laid out (output, time, subject)),
and :func:`count_bins` adds a chunk's bins to the counts — one contiguous run of subjects per
(output, time), so a histogram row stays in cache.  Histograms merge across chunks by addition (integer counts: the result does not
depend on the chunk size or the thread count).

Percentile times (:func:`percentile_indices`): every output time when ``percentile_step`` equals
the output step; by default, the output times on a grid of at most :data:`MAX_PERCENTILE_TIMES`
points (24 h at 1 min → every 5 min, 289 times), which is what a percentile band is drawn with
and keeps the histogram cost below the cost of solving.  Nothing is claimed between those times.

Percentiles from the histograms are approximate.  Concentrations use log-spaced bins
(``BINS_PER_DECADE`` per decade over a fixed range set by the typical subject: 1e-6 to 1e3 × its
peak), so a percentile inside the range lies within one bin of the order statistics around its
rank: relative error ≤ 10^(1/200) − 1 ≈ 1.16 % (plus 6e-7: the solver's log10 is within 2.5e-7
decades, so a value that close to an edge may fall in the neighbouring bin).  Values below the range (including 0) are
reported as 0, above it as the upper edge.  Readouts use linear bins over a fixed range: absolute
error ≤ range/LINEAR_BINS.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from pkpd.solvers.batched import fused_pass
from pkpd.solvers.fused import METRICS, NO_BIN, fused_work  # noqa: F401  (METRICS: re-exported)
from pkpd.solvers.threads import run_ranges


BINS_PER_DECADE = 200


LOG_DECADES_BELOW = 6.0


LOG_DECADES_ABOVE = 3.0


LINEAR_BINS = 4000


#: Default percentile grid: at most this many times (a sub-grid of the output times).
MAX_PERCENTILE_TIMES = 300


#: Relative error bound of a streaming percentile of a concentration inside the bin range (one
#: bin, and the solver's log10 error of 2.5e-7 decades at the bin edges).
LOG_REL_ERROR = 10 ** (1 / BINS_PER_DECADE + 2.5e-7) - 1


def percentile_indices(times: np.ndarray, step: float, percentile_step: float | None = None) -> np.ndarray:
    """Indices of the percentile times among the output ``times`` (h; uniform ``step`` plus any
    event times merged in).

    ``percentile_step`` (h) is rounded to a whole number ``k`` of output steps; ``k = 1`` keeps
    every output time (event times included), ``k > 1`` keeps the grid times that are multiples of
    ``k·step`` and the last time.  Default: the smallest ``k`` giving at most
    :data:`MAX_PERCENTILE_TIMES` grid times.
    """
    T = times.shape[0]
    if T == 0 or step <= 0:
        return np.arange(T, dtype=np.int64)
    n_steps = times[-1] / step
    if percentile_step is None:
        k = max(1, int(np.ceil(n_steps / (MAX_PERCENTILE_TIMES - 1) - 1e-9)))
    else:
        k = max(1, int(round(percentile_step / step)))
    if k == 1:
        return np.arange(T, dtype=np.int64)
    x = times / (k * step)
    on = np.abs(x - np.round(x)) <= 1e-9 * np.maximum(1.0, x)
    on[-1] = True
    return np.flatnonzero(on).astype(np.int64)


def count_bins(bins, r0, S, counts):
    """Add the bins of kernel rows ``r0 … r0 + S`` (``bins``: (n_out, Tp, rows) uint16, from the
    solver) to ``counts`` (n_out, Tp, nbins + 2); :data:`NO_BIN` (a NaN) is not counted.  Each
    task owns one (output, time) pair (no shared counters) and reads its subjects contiguously."""
    run_ranges(_count_tasks, counts.shape[0] * counts.shape[1], bins, r0, S, counts)


@njit(cache=True, nogil=True)
def _count_tasks(k0, k1, bins, r0, S, counts):
    Tp = counts.shape[1]
    for task in range(k0, k1):
        o = task // Tp
        p = task - o * Tp
        for s in range(r0, r0 + S):
            b = bins[o, p, s]
            if b != NO_BIN:
                counts[o, p, b] += 1


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
        self._cached = None  # (q, percentiles) of the counts as they are

    def bin_ranges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The solver's view of the bins: lower edges, inverse widths, log flags, ``nbins``."""
        return self.lo, 1.0 / self.width, self.logbin.astype(np.int64), self.nbins

    def count(self, bins: np.ndarray, r0: int, S: int) -> None:
        """Add the bins of kernel rows ``r0 … r0 + S`` ((n_out, n_times, rows) uint16)."""
        count_bins(bins, r0, S, self.counts)
        self._cached = None

    def add(self, y: np.ndarray, times: np.ndarray, thresholds: np.ndarray, histogram: bool = True) -> np.ndarray:
        """Count trajectories ``y`` (S, n_out, T) at every time (unless ``histogram`` is False) and
        return their per-subject metrics (S, n_out, len(METRICS)), computed as in a population run.
        ``thresholds``: (n_out, 2), lower and upper."""
        S, n_out, T = y.shape
        lo, iw, lg, nb = self.bin_ranges()
        f = fused_work(n_out, S, thresholds=thresholds, metrics=True, sample_at=np.arange(T) if histogram else None,
                       bins={"group": np.zeros(S, np.int64), "lo": lo[None], "iw": iw[None], "log": lg, "nbins": nb})
        rows = np.arange(S, dtype=np.int64)
        fused_pass(np.ascontiguousarray(y, dtype=np.float64), rows, rows, np.asarray(times, float), *f.args())
        if histogram:
            self.count(f.bins, 0, S)
        return f.metrics

    def edges(self, o: int) -> np.ndarray:
        e = self.lo[o] + self.width[o] * np.arange(self.nbins + 1)
        return 10.0 ** e if self.logbin[o] else e

    def percentiles(self, q) -> np.ndarray:
        """Percentiles ``q`` (0–100) per output and time: array (n_out, len(q), T).

        Interpolates linearly (in log10 for log bins) inside the bin holding the rank.  The last
        result is kept until more values are counted (a dataset asks once per output).
        """
        q = np.asarray(q, dtype=float) / 100.0
        if self._cached is not None and np.array_equal(self._cached[0], q):
            return self._cached[1]
        out = np.full((self.counts.shape[0], len(q), self.counts.shape[1]), np.nan)
        run_ranges(_percentiles, self.counts.shape[1], self.counts, q, self.lo, self.width, self.logbin, self.nbins,
                   out)
        self._cached = (q, out)
        return out


@njit(cache=True, nogil=True)
def _percentiles(j0, j1, counts, q, lo, width, logbin, nbins, out):
    n_out, T, nb2 = counts.shape
    for j in range(j0, j1):
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

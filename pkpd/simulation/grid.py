"""The output time grid (uniform, event times merged in) and padded event arrays for the kernels."""
from __future__ import annotations

import numpy as np
from pkpd.dosing.events import Events


_MERGE_TOL = 1e-9  # event times within this (h, relative to max(1, t)) of a grid time are merged into it


def output_times(horizon: float, step: float, extra=()) -> np.ndarray:
    """Uniform grid 0..horizon (h) plus the ``extra`` event times inside it, sorted, unique."""
    n = int(np.floor(horizon / step + 1e-9)) + 1
    grid = np.arange(n) * step
    ex = np.asarray([t for t in extra if 0.0 <= t <= horizon and np.isfinite(t)], dtype=float)
    if ex.size:
        tol = _MERGE_TOL * np.maximum(1.0, np.abs(ex))
        # the nearest grid point is one of the two around each event time (no events × grid matrix)
        i = np.searchsorted(grid, ex)
        dist = np.minimum(np.abs(ex - grid[np.clip(i - 1, 0, n - 1)]), np.abs(ex - grid[np.clip(i, 0, n - 1)]))
        near = dist <= tol
        grid = np.union1d(grid, ex[~near])
        keep = np.concatenate([[True], np.diff(grid) > _MERGE_TOL * np.maximum(1.0, grid[1:])])
        grid = grid[keep]
    return grid


def pad_events(evs: list[Events]) -> tuple[np.ndarray, ...]:
    """Stack per-regimen event arrays (1 subject each or n each) padding with events at +inf."""
    E = max((e.n_events for e in evs), default=0)
    n = sum(e.time.shape[0] for e in evs)
    t = np.full((n, E), np.inf)
    k = np.zeros((n, E), np.int64)
    c = np.zeros((n, E), np.int64)
    v = np.zeros((n, E))
    r = 0
    for e in evs:
        m, ne = e.time.shape
        t[r:r + m, :ne], k[r:r + m, :ne], c[r:r + m, :ne], v[r:r + m, :ne] = e.time, e.kind, e.cmt, e.value
        r += m
    return t, k, c, v

"""The batched modal kernel: rows that share event times advance together, lane by lane.

In a population chunk most rows share their event *times* (same regimen; only amounts scale with
weight), so their steps are the same: the loop over a block of up to :data:`LANES` such rows
("lanes") can be the innermost one and numba vectorises it (one multiply per mode and lane per
step, as :func:`pkpd.solvers.modal.solve_modal` does per row).  In the same pass over the times
the kernel evaluates the derived rows, accumulates the per-row metrics, bins the values at the
percentile times and stores every row in the caller's array (float32 or float64): the fused work of
:mod:`pkpd.solvers.fused`, so the trajectories are never read back from memory.

Every lane performs exactly the operations of :func:`~pkpd.solvers.modal.solve_modal` for its
row, in the same order (numba does not contract a multiply and an add into an FMA), so the
results are bit-for-bit those of the per-row kernel, whatever the block a row lands in, the
chunk size or the thread count.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from pkpd.solvers.events import SNAP
from pkpd.solvers.fused import bin_step, derive, keep_step, lane_block, store_step
from pkpd.solvers.lane_metrics import metrics_finish, metrics_start, metrics_step
from pkpd.solvers.modal import _phi
from pkpd.solvers.options import BOLUS, RATE_ON
from pkpd.solvers.threads import run_ranges

#: Rows advanced together (the vector lanes: 32 doubles, four AVX-512 or eight AVX2 registers;
#: measured faster than 8 or 16, as fast as 64, and a chunk of 1,024 subjects still gives 32 blocks).
LANES = 32


def event_blocks(ev_t: np.ndarray, ev_k: np.ndarray, ev_c: np.ndarray, lanes: int = LANES,
                 modes: np.ndarray | None = None):
    """Blocks of rows with identical event times, kinds and compartments (and, given ``modes``
    (rows, n) bool from :func:`excited_mode_masks`, identical excited modes: a block advances the
    union of its rows' modes, so rows whose bases order the modes differently — a subject left to
    ``dgeev`` among block-decomposed ones — would make it advance them all).

    Returns ``(order, starts, counts)``: block ``b`` is rows ``order[starts[b]:starts[b] +
    counts[b]]`` (at most ``lanes``, increasing row order within a group of equal events).
    """
    rows = ev_t.shape[0]
    if rows == 0:
        z = np.zeros(0, np.int64)
        return z, z, z
    extra = [] if modes is None else [np.asarray(modes, dtype=np.int64).reshape(rows, -1)]
    key = np.ascontiguousarray(np.concatenate([np.ascontiguousarray(ev_t).view(np.int64), ev_k, ev_c] + extra,
                                              axis=1))
    rows_as_bytes = key.view(np.dtype((np.void, key.dtype.itemsize * key.shape[1]))).reshape(-1)
    _, group = np.unique(rows_as_bytes, return_inverse=True)  # exact: equal bytes, equal events
    group = group.reshape(-1)
    order = np.argsort(group, kind="stable").astype(np.int64)
    sizes = np.bincount(group)
    starts, counts = [], []
    pos = 0
    for size in sizes:
        for k in range(0, size, lanes):
            starts.append(pos + k)
            counts.append(min(lanes, size - k))
        pos += size
    return order, np.asarray(starts, np.int64), np.asarray(counts, np.int64)


def excited_mode_masks(Vinv: np.ndarray, sub: np.ndarray, ev_t: np.ndarray, ev_c: np.ndarray,
                       z0: np.ndarray) -> np.ndarray:
    """(rows, n) bool: the modes row ``r``'s own events reach (``V⁻¹[sub[r], q, c] ≠ 0`` for a
    compartment ``c`` it doses at a finite time) or its initial modal state ``z0[r]`` holds — the
    row's share of :func:`_excited_modes`."""
    hit = np.asarray(z0) != 0
    for e in range(ev_t.shape[1]):
        finite = np.isfinite(ev_t[:, e])
        hit |= finite[:, None] & (Vinv[sub, :, np.where(finite, ev_c[:, e], 0)] != 0)
    return hit


def solve_batched(lam, Vinv, WV, sub, times, dt, ev_t, ev_k, ev_c, ev_v, z0, order, starts, counts,
                  kind, src, ant, sign, par, coef, thresholds, metrics, sample_at, bins, bin_group, bin_lo, bin_iw,
                  bin_log, nbins, dest, dest_base, dest_col, clip, keep_at, kept):
    """Solve blocks of rows with shared event times in modal coordinates, with the fused work.

    Parameters
    ----------
    lam, Vinv, WV : ndarray
        Per *subject*: eigenvalues (S, n) 1/h, ``V⁻¹`` (S, n, n) and ``W V`` (S, n_out, n)
        (:func:`pkpd.solvers.modal.modal_decomposition`).
    sub : ndarray, shape (rows,)
        The subject of each kernel row.
    times, dt, ev_t, ev_k, ev_c, ev_v
        As :func:`pkpd.solvers.modal.solve_modal` (event arrays per row).
    z0 : ndarray, shape (rows, n)
        Initial modal state per row.
    order, starts, counts
        The blocks (:func:`event_blocks`).
    kind … kept
        The fused work (:class:`pkpd.solvers.fused.Fused`); ``metrics`` of shape (0, 0, 0)
        when not wanted.
    """
    run_ranges(_blocks, starts.shape[0], lam, Vinv, WV, sub, times, dt, ev_t, ev_k, ev_c, ev_v, z0, order, starts,
               counts, _NO_BUFFER, kind, src, ant, sign, par, coef, thresholds, metrics, sample_at, bins, bin_group,
               bin_lo, bin_iw, bin_log, nbins, dest, dest_base, dest_col, clip, keep_at, kept)


def blocks_of_call(args) -> list:
    """The blocks of one :func:`_blocks` call, from its arguments after the range (as
    :func:`pkpd.solvers.threads.run_ranges` receives them): per block its rows, the modes it
    advances (:func:`_excited_modes`) and its rows' own :func:`excited_mode_masks`; none for a fused
    pass over a buffer.  For the tests and benchmarks that watch the kernel."""
    _, Vinv, _, sub, _, _, ev_t, _, ev_c, _, z0, order, starts, counts, buf = args[:15]
    if buf.shape[0]:
        return []
    blocks = [order[s:s + c] for s, c in zip(starts, counts)]
    return [(rows, _excited_modes(rows, sub, Vinv, z0, ev_t, ev_c, rows[0]),
             excited_mode_masks(Vinv, sub[rows], ev_t[rows], ev_c[rows], z0[rows])) for rows in blocks]


#: The modal arguments of :func:`_blocks` when it reads a buffer (no modes, no events, no initial
#: state; the same types as a modal call's, so that both share one compiled kernel).
_NO_MODES = (np.zeros((0, 0)), np.zeros((0, 0, 0)), np.zeros((0, 0, 0)))
_NO_EVENTS = (np.zeros((0, 0)), np.zeros((0, 0), np.int64), np.zeros((0, 0), np.int64), np.zeros((0, 0)))
_NO_Z0 = np.zeros((0, 0))
_NO_BUFFER = np.zeros((0, 0, 0))


def fused_pass(buf, rows_of, sub, times, kind, src, ant, sign, par, coef, thresholds, metrics, sample_at,
               bins, bin_group, bin_lo, bin_iw, bin_log, nbins, dest, dest_base, dest_col, clip, keep_at, kept):
    """The fused work for kernel rows ``rows_of[i]`` whose outputs another kernel wrote into
    ``buf[i, :n_out, :]`` (float64; ``n_out = buf.shape[1]``): :func:`_blocks` on lanes of
    :data:`LANES` consecutive buffer rows, reading their outputs instead of advancing modes, so the
    results are those of the batched kernel.  ``sub[row]`` is the row's subject (PD parameters)."""
    buf = np.ascontiguousarray(buf, dtype=np.float64)
    times = np.require(times, np.float64, ["C", "W"])  # a read-only grid would compile another signature
    N = buf.shape[0]
    blocks = np.arange(0, N, LANES, dtype=np.int64)
    counts = np.minimum(LANES, N - blocks)
    run_ranges(_blocks, blocks.shape[0], *_NO_MODES, sub, times, 0.0, *_NO_EVENTS, _NO_Z0,
               np.asarray(rows_of, dtype=np.int64), blocks, counts, buf, kind, src, ant, sign, par, coef, thresholds,
               metrics, sample_at, bins, bin_group, bin_lo, bin_iw, bin_log, nbins, dest, dest_base, dest_col, clip,
               keep_at, kept)


@njit(cache=True, nogil=True, error_model="numpy")
def _blocks(b0, b1, lam, Vinv, WV, sub, times, dt, ev_t, ev_k, ev_c, ev_v, z0, order, starts, counts, buf, kind, src,
            ant, sign, par, coef, thresholds, metrics, sample_at, bins, bin_group, bin_lo, bin_iw, bin_log, nbins, dest,
            dest_base, dest_col, clip, keep_at, kept):
    """Blocks ``b0 … b1 − 1`` (one thread's share); the rows of a block share their event times.
    With a non-empty ``buf`` (:func:`fused_pass`) a block's outputs are read from its buffer rows
    ``starts[bi] …`` instead (the kernel rows are ``order[those]``; no modes, no events): one
    compiled kernel for both, so an empty numba cache compiles the fused work once.
    (One function: a separate block function would be compiled twice, once inlined.)"""
    from_buf = buf.shape[0] > 0
    for bi in range(b0, b1):
        i0 = starts[bi]
        rows = order[i0:i0 + counts[bi]]
        n = lam.shape[1]
        n_out = buf.shape[1] if from_buf else WV.shape[1]
        n_all = n_out + kind.shape[0]
        T = times.shape[0]
        E = ev_t.shape[1]
        Tp = sample_at.shape[0]
        want_metrics = metrics.shape[0] > 0
        L = rows.shape[0]
        r0 = rows[0]
        # modes that no event of the block and no initial state excites stay exactly 0 (e.g. the
        # depot modes under IV dosing: V⁻¹ is exactly 0 there); they are left out, in order
        act = np.zeros(0, np.int64) if from_buf else _excited_modes(rows, sub, Vinv, z0, ev_t, ev_c, r0)
        na = act.shape[0]
        lamb = np.empty((na, L))
        edt = np.empty((na, L))
        gdt = np.empty((na, L))
        Vb = np.empty((na, n, L))
        Wb = np.empty((n_out, na, L))
        z = np.empty((na, L))
        u = np.zeros((na, L))
        bb = np.zeros((n, L))
        val = np.empty(L)
        active = np.zeros(n, dtype=np.int64)
        for lane in range(L):
            s = sub[rows[lane]]
            for ka in range(na):
                k = act[ka]
                lamb[ka, lane] = lam[s, k]
                edt[ka, lane] = np.exp(lam[s, k] * dt)
                gdt[ka, lane] = _phi(lam[s, k], dt)
                z[ka, lane] = z0[rows[lane], k]
                for q in range(n):
                    Vb[ka, q, lane] = Vinv[s, k, q]
            for o in range(n_out):
                for ka in range(na):
                    Wb[o, ka, lane] = WV[s, o, act[ka]]
        lp, lc, kg, sq, base, blo, biw, y, bl, ms, prev = lane_block(par, coef, sub, rows, dest_base, bin_group,
                                                                     bin_lo, bin_iw, n_all, L)
        yb = y.view(np.int64)
        has_input = False
        t = times[0]
        e = 0
        p = 0
        kq = 0  # next kept time index
        for j in range(T):
            tj = times[j]
            tj_snap = tj + SNAP * max(1.0, abs(tj))
            if from_buf:
                for o in range(n_out):
                    for lane in range(L):
                        y[o, lane] = buf[i0 + lane, o, j]
            while not from_buf:
                here = e < E and ev_t[r0, e] <= tj_snap
                stop = min(ev_t[r0, e], tj) if here else tj
                h = stop - t
                if h > 0.0:
                    if dt > 0.0 and abs(h - dt) <= 1e-9 * dt:
                        if has_input:
                            for k in range(na):
                                for lane in range(L):
                                    z[k, lane] = edt[k, lane] * z[k, lane] + gdt[k, lane] * u[k, lane]
                        else:
                            for k in range(na):
                                for lane in range(L):
                                    z[k, lane] *= edt[k, lane]
                    else:
                        for k in range(na):
                            for lane in range(L):
                                lk = lamb[k, lane]
                                z[k, lane] = np.exp(lk * h) * z[k, lane] + (_phi(lk, h) * u[k, lane]
                                                                            if has_input else 0.0)
                    t = stop
                if not here:
                    break
                # one event for every lane: same time, kind and compartment; own value
                kd = ev_k[r0, e]
                c = ev_c[r0, e]
                for lane in range(L):
                    val[lane] = ev_v[rows[lane], e]
                if kd == BOLUS:
                    for q in range(na):
                        for lane in range(L):
                            z[q, lane] += Vb[q, c, lane] * val[lane]
                else:
                    if kd == RATE_ON:
                        active[c] += 1
                        for lane in range(L):
                            bb[c, lane] += val[lane]
                    else:
                        active[c] -= 1
                        for lane in range(L):
                            bb[c, lane] = 0.0 if active[c] == 0 else bb[c, lane] - val[lane]
                    has_input = False
                    for i in range(n):
                        if active[i] > 0:
                            has_input = True
                    for q in range(na):
                        for lane in range(L):
                            u[q, lane] = 0.0
                        for r in range(n):
                            if active[r] > 0:
                                for lane in range(L):
                                    u[q, lane] += Vb[q, r, lane] * bb[r, lane]
                e += 1
            if not from_buf:
                for o in range(n_out):
                    for lane in range(L):
                        y[o, lane] = 0.0
                for k in range(na):  # modes outer: the outputs' sums are independent chains in flight
                    for o in range(n_out):
                        for lane in range(L):
                            y[o, lane] += Wb[o, k, lane] * z[k, lane]
            derive(y, n_out, kind, src, ant, sign, clip, lp, lc, kg, sq, L)
            store_step(y, j, base, dest, dest_col, L)
            if p < Tp and sample_at[p] == j:
                bin_step(y, yb, p, rows, bins, blo, biw, bin_log, nbins, bl, L)
                p += 1
            if kq < keep_at.shape[0] and keep_at[kq] == j:
                keep_step(y, kq, rows, kept, L)
                kq += 1
            if want_metrics:
                if j == 0:
                    metrics_start(y, ms, prev, thresholds, times[0], L)
                metrics_step(y, ms, prev, thresholds, tj, times[j - 1] if j > 0 else tj, j == 0, L)
        if want_metrics:
            metrics_finish(ms, rows, metrics, L)


@njit(cache=True, error_model="numpy")
def _excited_modes(rows, sub, Vinv, z0, ev_t, ev_c, r0):
    """Modes (ascending) that an event compartment of the block or an initial state reaches in
    some lane: ``V⁻¹[q, c] ≠ 0`` or ``z0[row, q] ≠ 0``.  Every other mode is exactly 0 at every
    step, so leaving it out changes no output (``y += w·0`` adds an exact zero)."""
    n = Vinv.shape[1]
    hit = np.zeros(n, dtype=np.bool_)
    for lane in range(rows.shape[0]):
        s = sub[rows[lane]]
        for q in range(n):
            if z0[rows[lane], q] != 0.0:
                hit[q] = True
            for e in range(ev_t.shape[1]):
                if ev_t[r0, e] < np.inf and Vinv[s, q, ev_c[r0, e]] != 0.0:
                    hit[q] = True
    return np.flatnonzero(hit)

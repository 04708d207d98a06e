"""Eigen-decomposition of compartment matrices through their block-triangular structure.

A compartment matrix ``K`` (1/h; ``K[i, j] ≠ 0`` is a flow j → i) is block lower triangular once
its states are ordered by the strongly connected components of the flow graph, upstream first:
the parent drug's compartments (with the liver), each metabolite's, the effect sites, the depots.
:func:`block_structure` finds that order once per chunk and flow pattern (a subject with another
pattern — a rate exactly 0 — gets its own).  :func:`block_eigen` then, per subject, on every core:

* decomposes each diagonal block ``A_bb`` on its own — a 1×1 block is its own eigenvalue; a
  larger one is diagonally similar to a symmetric matrix when its flows are two-way (mammillary,
  catenary: :func:`pkpd.solvers.small_eigen._symmetrise`), and cyclic Jacobi rotations give its
  eigenvalues and ``A_bb = U Λ U⁻¹`` with ``U = D⁻¹Q``, ``U⁻¹ = QᵀD``, no inverse needed — on
  :data:`LANES` subjects at once, the loops running over the subjects (they vectorise, and the
  rotations' chains of square roots and divisions overlap: 3× faster than one at a time);
* completes each eigenvector downstream by block forward substitution, ``(A_cc − λ) x_c =
  −Σ_d A_cd x_d``, solved in ``A_cc``'s own eigenbasis (a division per mode), and each left
  eigenvector (row of ``V⁻¹``) upstream the same way; the two are biorthogonal by construction,
  so ``V⁻¹`` needs no factorisation;
* scales every eigenvector to unit 2-norm (as LAPACK's ``dgeev``) and runs the condition-number
  and reconstruction checks of :func:`basis_ok` (the ones :mod:`pkpd.solvers.modal` runs on the
  ``dgeev`` basis).

A subject whose blocks are not all symmetrisable, whose eigenvalues of different blocks (nearly)
coincide, or whose basis fails a check or is less well conditioned than :data:`BLOCK_COND_MAX` is left to the caller (``done[s]`` False), which then takes
the ``dgeev`` path: the result is then exactly the former one.  Where it is done, the basis agrees
with ``dgeev``'s up to the order of the modes and their signs, to rounding (tested: trajectories
within 1e-12 of their range on every library model and route).  Rounding grows with the condition
number and with ``max|K|·t`` (the slow eigenvalues' absolute error): on stiff systems (rates to
1e4/h over 24 h) the two differ by ~1e-11 of the propagator's largest entry, the block basis being
the closer to the exact ``exp(K t)`` (tested against long double on hard cases).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from pkpd.solvers.small_eigen import COND_MAX, _symmetrise, basis_ok
from pkpd.solvers.threads import run_ranges

#: Above this condition number a subject is left to ``dgeev`` even though its block basis is safe:
#: the two bases then differ by more than 1e-12 (rounding amplified by the condition number; both
#: are as far from the exact propagator), and ``dgeev``'s is the former result.  (Below it they can
#: differ by more too, on stiff systems: see the module's docstring.)
BLOCK_COND_MAX = 1e3
LANES = 32  # subjects whose diagonal blocks are rotated together (the loops vectorise over them)
MAX_BLOCK = 12  # larger strongly connected blocks: LAPACK (Jacobi's sweeps grow as n³)


def block_structure(pattern: np.ndarray):
    """``(perm, starts)`` for a flow pattern (n, n) (``pattern[i, j]``: a flow j → i in some
    subject): ``K[perm][:, perm]`` is block lower triangular with diagonal blocks ``starts[b] …
    starts[b + 1] − 1``; None if a block is larger than :data:`MAX_BLOCK`."""
    n = pattern.shape[0]
    reach = pattern.astype(bool) | np.eye(n, dtype=bool)  # reach[i, j]: j reaches i
    while True:  # transitive closure by squaring
        grown = reach | ((reach.astype(np.int64) @ reach.astype(np.int64)) > 0)
        if (grown == reach).all():
            break
        reach = grown
    comp = np.argmax(reach & reach.T, axis=1)  # the lowest state of each state's component
    upstream = reach.sum(axis=1)  # states reaching it: strictly more downstream, equal inside a component
    perm = np.lexsort((np.arange(n), comp, upstream))
    cut = np.flatnonzero(np.diff(comp[perm]) != 0) + 1
    starts = np.concatenate(([0], cut, [n])).astype(np.int64)
    if np.diff(starts).max() > MAX_BLOCK:
        return None
    return perm.astype(np.int64), starts


def block_eigen(K: np.ndarray):
    """Decompose every subject's ``K`` (S, n, n; finite) along the blocks of
    :func:`block_structure` of its own flow pattern (subjects with one pattern together: a
    subject's numbers never depend on the others in its chunk); returns ``(lam, V, Vinv, done)``
    (1/h, real), ``done[s]`` False where the subject needs the general path (its other entries are
    then meaningless)."""
    S, n = K.shape[0], K.shape[1]
    K = np.ascontiguousarray(K, dtype=np.float64)
    lam, V, Vinv = np.zeros((S, n)), np.zeros((S, n, n)), np.zeros((S, n, n))
    done = np.zeros(S, dtype=np.bool_)
    nz = K != 0
    union = nz.any(axis=0)
    if (nz == union).all():  # the usual case: one pattern
        plan = block_structure(union)
        if plan is not None:
            run_ranges(_block_rows, S, K, *plan, lam, V, Vinv, done)
        return lam, V, Vinv, done
    _, group = np.unique(np.packbits(nz.reshape(S, -1), axis=1), axis=0, return_inverse=True)
    group = group.ravel()
    for g in range(group.max() + 1):
        idx = np.flatnonzero(group == g)
        plan = block_structure(nz[idx[0]])
        if plan is not None:
            out = (np.zeros((idx.size, n)), np.zeros((idx.size, n, n)), np.zeros((idx.size, n, n)),
                   np.zeros(idx.size, dtype=np.bool_))
            run_ranges(_block_rows, idx.size, np.ascontiguousarray(K[idx]), *plan, *out)
            lam[idx], V[idx], Vinv[idx], done[idx] = out
    return lam, V, Vinv, done


@njit(cache=True, nogil=True, error_model="numpy")
def _jacobi_lanes(S, Q, conv):
    """Cyclic Jacobi rotations (:func:`pkpd.solvers.small_eigen._jacobi`: same rotations, same
    stopping rule) on ``L`` symmetric matrices at once, ``S`` (m, m, L) → diagonal, ``Q`` (m, m, L)
    orthogonal with ``S₀ = Q S Qᵀ`` per lane; the loops run over the lanes, so they vectorise and
    the rotations' dependent square roots and divisions overlap.  ``conv[l]``: lane l converged.
    Each lane's numbers are those it would get alone (its rotations stop when it converges)."""
    m, L = S.shape[0], S.shape[2]
    norm, off, c, sn = np.zeros(L), np.empty(L), np.empty(L), np.empty(L)
    act = np.zeros(L, dtype=np.bool_)
    for i in range(m):
        for j in range(m):
            for l in range(L):
                Q[i, j, l] = 1.0 if i == j else 0.0
                norm[l] += S[i, j, l] * S[i, j, l]
    for sweep in range(31):
        for l in range(L):
            off[l] = 0.0
        for i in range(m):
            for j in range(i + 1, m):
                for l in range(L):
                    off[l] += S[i, j, l] * S[i, j, l]
        n_open = 0
        for l in range(L):
            conv[l] = off[l] <= 1e-32 * norm[l]
            n_open += 0 if conv[l] else 1
        if n_open == 0 or sweep == 30:
            return
        for p in range(m - 1):
            for q in range(p + 1, m):
                for l in range(L):
                    apq = S[p, q, l]
                    tau = (S[q, q, l] - S[p, p, l]) / (2.0 * apq)
                    t = (1.0 if tau >= 0.0 else -1.0) / (abs(tau) + np.sqrt(1.0 + tau * tau))
                    cl = 1.0 / np.sqrt(1.0 + t * t)
                    c[l] = cl
                    sn[l] = t * cl
                    # a converged lane is left exactly as it is (as _jacobi returns), and so is a
                    # zero pair (as _jacobi skips it): no lane depends on the others in its group
                    act[l] = apq != 0.0 and not conv[l]
                for k in range(m):
                    for l in range(L):
                        a, b = S[k, p, l], S[k, q, l]
                        na, nb = c[l] * a - sn[l] * b, sn[l] * a + c[l] * b
                        S[k, p, l] = na if act[l] else a
                        S[k, q, l] = nb if act[l] else b
                for k in range(m):
                    for l in range(L):
                        a, b = S[p, k, l], S[q, k, l]
                        na, nb = c[l] * a - sn[l] * b, sn[l] * a + c[l] * b
                        S[p, k, l] = na if act[l] else a
                        S[q, k, l] = nb if act[l] else b
                for k in range(m):
                    for l in range(L):
                        a, b = Q[k, p, l], Q[k, q, l]
                        na, nb = c[l] * a - sn[l] * b, sn[l] * a + c[l] * b
                        Q[k, p, l] = na if act[l] else a
                        Q[k, q, l] = nb if act[l] else b


@njit(cache=True, nogil=True, error_model="numpy")
def _block_lanes(Ag, a, e, ok, lp, U, Ui, d, seen, conv):
    """Eigen-decompose the diagonal block ``a … e − 1`` of the lanes' permuted matrices ``Ag``
    (L, n, n) into ``lp``, ``U``, ``Ui`` (L, …: eigenvalues, eigenvectors and their inverse on the
    block's rows/columns); clear ``ok`` where it is not symmetrisable by a well-conditioned
    diagonal scaling (``D A D⁻¹`` symmetric, ``A = D⁻¹Q Λ QᵀD``) or Jacobi does not converge."""
    L, m = Ag.shape[0], e - a
    if m == 1:
        for l in range(L):
            lp[l, a] = Ag[l, a, a]
            U[l, a, a] = 1.0
            Ui[l, a, a] = 1.0
        return
    S, Q = np.empty((m, m, L)), np.empty((m, m, L))
    for l in range(L):
        db = d[l, :m]
        Ab = Ag[l, a:e, a:e]
        if ok[l] and _symmetrise(Ab, db, seen[:m]):
            dmin, dmax = db[0], db[0]
            for i in range(m):
                dmin, dmax = min(dmin, db[i]), max(dmax, db[i])
            ok[l] = dmax < COND_MAX * dmin
        else:
            ok[l] = False
        for i in range(m):
            for j in range(m):
                S[i, j, l] = db[i] * Ab[i, j] / db[j] if ok[l] else 0.0
            for j in range(i):  # exactly symmetric
                S[i, j, l] = S[j, i, l] = 0.5 * (S[i, j, l] + S[j, i, l])
    _jacobi_lanes(S, Q, conv)
    for l in range(L):
        ok[l] = ok[l] and conv[l]
        if ok[l]:
            for q in range(m):
                lp[l, a + q] = S[q, q, l]
                for i in range(m):
                    U[l, a + i, a + q] = Q[i, q, l] / d[l, i]
                    Ui[l, a + q, a + i] = Q[i, q, l] * d[l, i]


@njit(cache=True, nogil=True, error_model="numpy")
def _complete(A, starts, blk, lp, U, Ui, Vp, Wp, r, y):
    """Right eigenvectors (columns of ``Vp``) by forward substitution over the downstream blocks
    and left ones (rows of ``Wp``) by backward substitution over the upstream blocks, each block's
    system ``(A_cc − λ)`` solved in its eigenbasis; a zero right-hand side gives an exact zero
    (uncoupled blocks with equal eigenvalues), a zero divisor otherwise an inf (refused later)."""
    n = A.shape[0]
    nb = starts.shape[0] - 1
    for k in range(n):
        b = blk[k]
        lk = lp[k]
        b0, b1 = starts[b], starts[b + 1]
        for i in range(n):
            Vp[i, k] = 0.0
            Wp[k, i] = 0.0
        for i in range(b0, b1):
            Vp[i, k] = U[i, k]
            Wp[k, i] = Ui[k, i]
        for c in range(b + 1, nb):  # downstream: x_c = U_c (Λ_c − λ)⁻¹ U_c⁻¹ (−Σ A_cd x_d)
            c0, c1 = starts[c], starts[c + 1]
            for i in range(c0, c1):
                acc = 0.0
                for j in range(b0, c0):
                    acc -= A[i, j] * Vp[j, k]
                r[i] = acc
            for q in range(c0, c1):
                acc = 0.0
                for i in range(c0, c1):
                    acc += Ui[q, i] * r[i]
                y[q] = acc / (lp[q] - lk) if acc != 0.0 else 0.0
            for i in range(c0, c1):
                acc = 0.0
                for q in range(c0, c1):
                    acc += U[i, q] * y[q]
                Vp[i, k] = acc
        for c in range(b - 1, -1, -1):  # upstream: w_cᵀ = (−Σ w_dᵀ A_dc) U_c (Λ_c − λ)⁻¹ U_c⁻¹
            c0, c1 = starts[c], starts[c + 1]
            for j in range(c0, c1):
                acc = 0.0
                for i in range(c1, b1):
                    acc -= Wp[k, i] * A[i, j]
                r[j] = acc
            for q in range(c0, c1):
                acc = 0.0
                for j in range(c0, c1):
                    acc += r[j] * U[j, q]
                y[q] = acc / (lp[q] - lk) if acc != 0.0 else 0.0
            for j in range(c0, c1):
                acc = 0.0
                for q in range(c0, c1):
                    acc += y[q] * Ui[q, j]
                Wp[k, j] = acc


@njit(cache=True, nogil=True, error_model="numpy")
def _block_rows(s0, s1, K, perm, starts, lam, V, Vinv, done):
    """Subjects ``s0 … s1 − 1``, :data:`LANES` at a time: see :func:`block_eigen`."""
    n, L = K.shape[1], LANES
    nb = starts.shape[0] - 1
    Ag, U, Ui = np.zeros((L, n, n)), np.zeros((L, n, n)), np.zeros((L, n, n))
    lp, d, ok, conv = np.zeros((L, n)), np.ones((L, n)), np.zeros(L, dtype=np.bool_), np.zeros(L, dtype=np.bool_)
    Vp, Wp = np.empty((n, n)), np.empty((n, n))
    seen, r, y = np.empty(n), np.empty(n), np.empty(n)
    blk = np.empty(n, dtype=np.int64)
    for b in range(nb):
        for i in range(starts[b], starts[b + 1]):
            blk[i] = b
    for g0 in range(s0, s1, L):
        g = min(L, s1 - g0)
        for l in range(L):
            ok[l] = l < g
            for i in range(n):
                for j in range(n):
                    Ag[l, i, j] = K[g0 + l, perm[i], perm[j]] if l < g else 0.0
        for b in range(nb):
            _block_lanes(Ag, starts[b], starts[b + 1], ok, lp, U, Ui, d, seen, conv)
        for l in range(g):
            s = g0 + l
            done[s] = False
            if not ok[l]:
                continue
            _complete(Ag[l], starts, blk, lp[l], U[l], Ui[l], Vp, Wp, r, y)
            for k in range(n):  # unit columns, as dgeev's; back to the states' order
                nrm = 0.0
                for i in range(n):
                    nrm += Vp[i, k] * Vp[i, k]
                nrm = np.sqrt(nrm)
                lam[s, k] = lp[l, k]
                for i in range(n):
                    V[s, perm[i], k] = Vp[i, k] / nrm
                    Vinv[s, k, perm[i]] = Wp[k, i] * nrm
            done[s] = basis_ok(K[s], V[s], lam[s], Vinv[s], BLOCK_COND_MAX)

"""Real eigen-decomposition of small matrices inside numba kernels, without exceptions.

:func:`decompose` serves :mod:`pkpd.solvers.relinearised`, which re-decomposes ``K + J_N(x)``
(1/h) many times per subject: a compartment matrix of two-way flows is similar to a symmetric one
by a diagonal scaling (:func:`_symmetrise`), so cyclic Jacobi rotations (:func:`_jacobi`) give its
eigenvalues and a well-conditioned basis with no allocation and no inverse; anything else goes to
LAPACK (complex ``eig``, real results checked).  A decomposition that is not safe (complex or
nearly coincident eigenvalues, an ill-conditioned or inaccurate basis) is refused, never raised.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: Eigenvector condition number (max-row-sum norm) above which a new basis is refused.
COND_MAX = 1e6


@njit(cache=True)
def _invert(V, Vi, M):
    """``Vi = V⁻¹`` by Gauss–Jordan with partial pivoting (``M`` scratch n×2n); False if singular."""
    n = V.shape[0]
    for i in range(n):
        for j in range(n):
            M[i, j] = V[i, j]
            M[i, n + j] = 1.0 if i == j else 0.0
    for c in range(n):
        p = c
        for r in range(c + 1, n):
            if abs(M[r, c]) > abs(M[p, c]):
                p = r
        if not abs(M[p, c]) > 1e-300:
            return False
        if p != c:
            for j in range(2 * n):
                M[c, j], M[p, j] = M[p, j], M[c, j]
        piv = M[c, c]
        for j in range(2 * n):
            M[c, j] /= piv
        for r in range(n):
            if r != c and M[r, c] != 0.0:
                f = M[r, c]
                for j in range(2 * n):
                    M[r, j] -= f * M[c, j]
    for i in range(n):
        for j in range(n):
            Vi[i, j] = M[i, n + j]
    return True


@njit(cache=True, inline="always")
def _symmetrise(A, d, seen):
    """Positive ``d`` with ``D A D⁻¹`` symmetric (``D = diag(d)``) if one exists — compartment
    matrices of two-way flows without cycles (mammillary, catenary) always have one, and then real
    eigenvalues; False otherwise (one-way flows, sign changes, inconsistent cycles)."""
    n = A.shape[0]
    for i in range(n):
        seen[i] = 0
    for root in range(n):
        if seen[root]:
            continue
        seen[root] = 1
        d[root] = 1.0
        grown = True
        while grown:  # propagate d_j = d_i·sqrt(A_ij/A_ji) along two-way pairs until nothing new
            grown = False
            for i in range(n):
                if not seen[i]:
                    continue
                for j in range(n):
                    if not seen[j] and A[i, j] != 0.0:
                        if not A[i, j] * A[j, i] > 0.0:
                            return False
                        d[j] = d[i] * np.sqrt(A[i, j] / A[j, i])
                        seen[j] = 1
                        grown = True
    for i in range(n):  # every pair (cycles included) must agree
        for j in range(i + 1, n):
            a = d[i] * A[i, j] / d[j]
            c = d[j] * A[j, i] / d[i]
            if not abs(a - c) <= 1e-12 * (abs(a) + abs(c)):
                return False
    return True


@njit(cache=True, inline="always")
def _jacobi(S, Q):
    """Eigen-decompose the symmetric ``S`` in place by cyclic Jacobi rotations (Golub & Van Loan,
    *Matrix Computations* §8.5): ``S`` ends diagonal, ``Q`` orthogonal with ``S₀ = Q S Qᵀ``.
    Returns False if it does not converge."""
    n = S.shape[0]
    norm = 0.0
    for i in range(n):
        for j in range(n):
            Q[i, j] = 1.0 if i == j else 0.0
            norm += S[i, j] * S[i, j]
    for sweep in range(30):
        off = 0.0
        for i in range(n):
            for j in range(i + 1, n):
                off += S[i, j] * S[i, j]
        if off <= 1e-32 * norm:
            return True
        for p in range(n - 1):
            for q in range(p + 1, n):
                if S[p, q] == 0.0:
                    continue
                tau = (S[q, q] - S[p, p]) / (2.0 * S[p, q])
                t = (1.0 if tau >= 0.0 else -1.0) / (abs(tau) + np.sqrt(1.0 + tau * tau))
                c = 1.0 / np.sqrt(1.0 + t * t)
                sn = t * c
                for k in range(n):
                    a, b = S[k, p], S[k, q]
                    S[k, p] = c * a - sn * b
                    S[k, q] = sn * a + c * b
                for k in range(n):
                    a, b = S[p, k], S[q, k]
                    S[p, k] = c * a - sn * b
                    S[q, k] = sn * a + c * b
                for k in range(n):
                    a, b = Q[k, p], Q[k, q]
                    Q[k, p] = c * a - sn * b
                    Q[k, q] = sn * a + c * b
    return False


@njit(cache=True, nogil=True, error_model="numpy")
def basis_ok(K, V, lam, Vinv, cond_max):
    """One subject's basis is safe: condition number of ``V`` in the max-row-sum norm (cheap, same
    order as the 2-norm one) finite and below ``cond_max``, and ``V Λ V⁻¹`` within 1e-9 of
    ``K``'s largest entry (a NaN there is not refused here, as before; it fails the first test)."""
    n = K.shape[0]
    cv = 0.0
    ci = 0.0
    for i in range(n):
        a = 0.0
        b = 0.0
        for j in range(n):
            a += abs(V[i, j])
            b += abs(Vinv[i, j])
        cv = a if (a > cv or a != a) else cv
        ci = b if (b > ci or b != b) else ci
    cond = cv * ci
    if not (np.isfinite(cond) and cond < cond_max):
        return False
    scale = 0.0
    err = 0.0
    for i in range(n):
        for k in range(n):
            scale = max(scale, abs(K[i, k]))
            r = 0.0
            for j in range(n):
                r += V[i, j] * lam[j] * Vinv[j, k]
            d = abs(r - K[i, k])
            err = d if (d > err or d != d) else err
    return not err > 1e-9 * (scale + 1e-300)


@njit(cache=True)
def decompose(K, Jnew, lam, V, Vinv, Vt, Vit, M):
    """Eigen-decompose ``K + Jnew`` into ``lam``, ``V``, ``Vinv`` when it is safe (real, well
    separated eigenvalues, a well-conditioned and accurate basis); else leave them and return False.
    The Jacobi rotations are inlined into it and the LAPACK branch is a separate call.  Inlining this
    into the relinearised kernel too was measured twice: ~20 % faster at rtol 1e-6 for ~30 s more
    cold compile before the per-step changes of issue 16's last session, slower for ~9 s more after
    them (benchmarks/README.md)."""
    n = K.shape[0]
    # symmetrisable (the usual compartment matrix): Jacobi on D A D⁻¹, no allocation, no inverse
    for i in range(n):
        for q in range(n):
            Vit[i, q] = K[i, q] + Jnew[i, q]
            if not np.isfinite(Vit[i, q]):
                return False
    dg = M[:, 0]
    seen = M[:, 1]
    if _symmetrise(Vit, dg, seen):
        dmin, dmax = dg.min(), dg.max()
        if dmax < COND_MAX * dmin:
            for i in range(n):
                for q in range(n):
                    Vit[i, q] = dg[i] * Vit[i, q] / dg[q]
                for q in range(i):  # exactly symmetric
                    Vit[i, q] = Vit[q, i] = 0.5 * (Vit[i, q] + Vit[q, i])
            if _jacobi(Vit, Vt):
                for q in range(n):
                    lam[q] = Vit[q, q]
                    for i in range(n):
                        V[i, q] = Vt[i, q] / dg[i]
                        Vinv[q, i] = Vt[i, q] * dg[i]
                return True
    return _decompose_lapack(K, Jnew, lam, V, Vinv, Vt, Vit, M)


@njit(cache=True)
def _decompose_lapack(K, Jnew, lam, V, Vinv, Vt, Vit, M):
    """:func:`decompose` for matrices that are not symmetrisable: LAPACK ``eig``, real results checked."""
    n = K.shape[0]
    A = np.empty((n, n), dtype=np.complex128)
    for i in range(n):
        for q in range(n):
            a = K[i, q] + Jnew[i, q]
            if not np.isfinite(a):
                return False
            A[i, q] = a
    w, Vc = np.linalg.eig(A)
    for q in range(n):
        if abs(w[q].imag) > 1e-12 * (1.0 + abs(w[q].real)):
            return False
        for i in range(n):
            Vt[i, q] = Vc[i, q].real
    if not _invert(Vt, Vit, M):
        return False
    for i in range(n):  # M is free scratch now: A and its eigenvalues, real, for the checks
        for k in range(n):
            M[i, k] = A[i, k].real
        M[i, n] = w[i].real
    if not basis_ok(M[:, :n], Vt, M[:, n], Vit, COND_MAX):
        return False
    for q in range(n):
        lam[q] = w[q].real
        for i in range(n):
            V[i, q] = Vt[i, q]
            Vinv[q, i] = Vit[q, i]
    return True

"""Exact solution of linear systems in modal coordinates.

:func:`eigenbasis` / :func:`modal_decomposition` eigen-decompose each subject's ``K`` (1/h) and
flag the subjects where that is unsafe (complex or nearly coincident eigenvalues, an
ill-conditioned or inaccurate basis: they take the dense path of :mod:`pkpd.solvers.dense`; the
checks run on every core); :func:`solve_modal` then advances every mode exactly, one multiply per
mode and output step (``exp(λ·h)`` with the input terms of rate events), time h, amounts mg.  The
batched kernel of :mod:`pkpd.solvers.batched` does the same per lane.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange
from pkpd.solvers.block_eigen import block_eigen
from pkpd.solvers.small_eigen import COND_MAX, basis_ok
from pkpd.solvers.events import SNAP, modal_event
from pkpd.solvers.lapack import eig_stack, inv_stack
from pkpd.solvers.threads import run_ranges


_COND_MAX = COND_MAX  # eigenvector condition number above which a subject takes the dense path


def eigenbasis(K: np.ndarray, blocks: bool = False):
    """Eigen-decompose each subject's ``K`` (S, n, n); returns ``(lam, V, Vinv, ok)``, real.

    ``ok[s]`` is False where the decomposition is unsafe (complex or nearly coincident
    eigenvalues, an ill-conditioned or inaccurate basis): those subjects need another method.
    LAPACK's ``dgeev`` for every subject (:func:`lapack_basis`, np.linalg.eig's numbers), or with
    ``blocks`` the block structure of :mod:`pkpd.solvers.block_eigen` where it takes a subject
    (symmetrisable blocks, a well-conditioned basis; same checks) and ``dgeev`` for the others.
    The linear kernels use ``blocks`` (:func:`modal_decomposition`); the hybrid and exponential
    kernels, whose adaptive steps would move with the basis's rounding, keep ``dgeev``'s numbers.
    """
    K = np.ascontiguousarray(K, dtype=np.float64)
    if not (blocks and K.shape[0] and np.isfinite(K).all()):
        return lapack_basis(K)
    lam, V, Vinv, ok = block_eigen(K)
    if not ok.all():
        rest = np.flatnonzero(~ok)
        lam[rest], V[rest], Vinv[rest], ok[rest] = lapack_basis(K[rest])
    return lam, V, Vinv, ok


def lapack_basis(K: np.ndarray):
    """:func:`eigenbasis` by ``dgeev`` for every subject (np.linalg.eig's numbers), the inverse by
    ``dgesv``, then the checks of :func:`pkpd.solvers.small_eigen.basis_ok`."""
    lam_r, lam_i, Vr = eig_stack(K)  # np.linalg.eig's numbers, on every core
    ok = np.all(np.abs(lam_i) <= 1e-12 * (1.0 + np.abs(lam_r)), axis=1)
    Vinv = np.zeros_like(Vr)
    if ok.any():
        with np.errstate(all="ignore"):
            try:
                Vinv[ok] = inv_stack(Vr[ok])  # np.linalg.inv's numbers, on every core
            except np.linalg.LinAlgError:  # a singular V somewhere: decide subject by subject
                for i in np.flatnonzero(ok):
                    try:
                        Vinv[i] = np.linalg.inv(Vr[i])
                    except np.linalg.LinAlgError:
                        ok[i] = False
        Vinv = np.ascontiguousarray(Vinv)
        run_ranges(_check_basis, K.shape[0], np.ascontiguousarray(K), np.ascontiguousarray(Vr),
                   np.ascontiguousarray(lam_r), Vinv, ok)
    return lam_r, Vr, np.ascontiguousarray(Vinv), ok


@njit(cache=True, nogil=True, error_model="numpy")
def _check_basis(s0, s1, K, V, lam, Vinv, ok):
    """Subjects ``s0 … s1 − 1``: clear ``ok`` where :func:`basis_ok` refuses the basis.  On every
    core (:mod:`pkpd.solvers.threads`): in numpy, on one core, this cost as much as the kernel's
    set-up."""
    for s in range(s0, s1):
        if ok[s] and not basis_ok(K[s], V[s], lam[s], Vinv[s], COND_MAX):
            ok[s] = False


def modal_decomposition(K: np.ndarray, W: np.ndarray):
    """Eigen-decompose each subject's ``K``; returns ``(lam, Vinv, WV, ok)``.

    ``ok[s]`` is False where the decomposition is unsafe (complex or nearly
    coincident eigenvalues): those subjects must use :func:`solve_dense`.
    """
    lam, V, Vinv, ok = eigenbasis(K, blocks=True)
    WV = np.ascontiguousarray(np.matmul(W, V))
    return lam, Vinv, WV, ok


@njit(cache=True)
def _phi(lam, h):
    x = lam * h
    if abs(x) < 1e-8:
        return h * (1.0 + 0.5 * x)
    return np.expm1(x) / lam


@njit(parallel=True, cache=True)
def solve_modal(lam, Vinv, WV, times, dt, ev_t, ev_k, ev_c, ev_v, z0, out):
    """Like :func:`solve_dense`, in modal coordinates (see :func:`modal_decomposition`).

    Parameters
    ----------
    lam : ndarray, shape (n_subjects, n)
        Real eigenvalues, 1/h.
    Vinv : ndarray, shape (n_subjects, n, n)
    WV : ndarray, shape (n_subjects, n_out, n)
        Output rows times eigenvectors.
    z0 : ndarray, shape (n_subjects, n)
        Initial state in modal coordinates (``V⁻¹ x0``).
    """
    S, n = lam.shape
    T = times.shape[0]
    E = ev_t.shape[1]
    n_out = WV.shape[1]
    for s in prange(S):
        z = z0[s].copy()
        u = np.zeros(n)
        b = np.zeros(n)
        active = np.zeros(n, dtype=np.int64)
        edt = np.empty(n)
        gdt = np.empty(n)
        for k in range(n):
            edt[k] = np.exp(lam[s, k] * dt)
            gdt[k] = _phi(lam[s, k], dt)
        has_input = False
        t = times[0]
        e = 0
        for j in range(T):
            tj = times[j]
            tj_snap = tj + SNAP * max(1.0, abs(tj))
            while True:
                if e < E and ev_t[s, e] <= tj_snap:
                    stop = min(ev_t[s, e], tj)
                else:
                    stop = tj
                h = stop - t
                if h > 0.0:
                    if dt > 0.0 and abs(h - dt) <= 1e-9 * dt:
                        if has_input:
                            for k in range(n):
                                z[k] = edt[k] * z[k] + gdt[k] * u[k]
                        else:
                            for k in range(n):
                                z[k] *= edt[k]
                    else:
                        for k in range(n):
                            lk = lam[s, k]
                            z[k] = np.exp(lk * h) * z[k] + (_phi(lk, h) * u[k] if has_input else 0.0)
                    t = stop
                if e < E and ev_t[s, e] <= tj_snap:
                    has_input = modal_event(ev_k[s, e], ev_c[s, e], ev_v[s, e], Vinv[s], z, b, active, u,
                                            has_input)
                    e += 1
                else:
                    break
            for o in range(n_out):
                acc = 0.0
                for k in range(n):
                    acc += WV[s, o, k] * z[k]
                out[s, o, j] = acc

"""Modal solution of linear systems: per-subject eigen-decomposition with safety checks
(:func:`eigenbasis`, :func:`modal_decomposition`) and the per-row kernel :func:`solve_modal` (one
multiply per mode and step; the batched kernel of :mod:`pkpd.solvers.batched` does the same per
lane).  Eigenvalues in 1/h."""
from __future__ import annotations

import numpy as np
from numba import njit, prange
from pkpd.solvers.events import SNAP, modal_event
from pkpd.solvers.lapack import eig_stack, inv_stack


_COND_MAX = 1e6  # eigenvector condition number above which a subject takes the dense path


def eigenbasis(K: np.ndarray):
    """Eigen-decompose each subject's ``K`` (S, n, n); returns ``(lam, V, Vinv, ok)``, real.

    ``ok[s]`` is False where the decomposition is unsafe (complex or nearly coincident
    eigenvalues, an ill-conditioned or inaccurate basis): those subjects need another method.
    """
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
            # condition number in the max-row-sum norm (cheap; same order as the 2-norm one)
            cond = np.abs(Vr).sum(axis=2).max(axis=1) * np.abs(Vinv).sum(axis=2).max(axis=1)
        ok &= np.isfinite(cond) & (cond < _COND_MAX)
        recon = np.einsum("sij,sj,sjk->sik", Vr[ok], lam_r[ok], Vinv[ok])
        scale = np.abs(K[ok]).max(axis=(1, 2)) + 1e-300
        bad = np.abs(recon - K[ok]).max(axis=(1, 2)) > 1e-9 * scale
        idx = np.flatnonzero(ok)
        ok[idx[bad]] = False
    return lam_r, Vr, np.ascontiguousarray(Vinv), ok


def modal_decomposition(K: np.ndarray, W: np.ndarray):
    """Eigen-decompose each subject's ``K``; returns ``(lam, Vinv, WV, ok)``.

    ``ok[s]`` is False where the decomposition is unsafe (complex or nearly
    coincident eigenvalues): those subjects must use :func:`solve_dense`.
    """
    lam, V, Vinv, ok = eigenbasis(K)
    WV = np.ascontiguousarray(np.einsum("soi,sik->sok", W, V))
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

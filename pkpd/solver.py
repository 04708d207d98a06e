"""Exact solution of linear compartment systems between events (numba kernels).

The state ``x`` (amounts, mg; effect-site concentrations, mg/L) obeys
``dx/dt = K x + b`` where ``b`` (mg/h) is constant between events.  Over a step
of length ``h``::

    x(t + h) = Φ(h) x(t) + Γ(h) b,   Φ(h) = exp(K h),   Γ(h) = ∫₀ʰ exp(K s) ds

Φ and Γ come together from one Taylor series on a scaled step followed by
squaring (Φ(2h) = Φ(h)², Γ(2h) = Γ(h) + Φ(h) Γ(h)), which needs no
eigen-decomposition and so is safe for repeated or complex eigenvalues (transit
chains, catenary models).  On a uniform output grid the propagators of the grid
step are computed once per subject; only steps cut by an event need new ones.

Outputs are linear in the state: ``y = W x`` with a per-subject ``W``
(concentration rows hold 1/V).  A bolus at an output time is applied before the
value is recorded (outputs are right-continuous: the value just after the dose).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

_TAYLOR_TERMS = 18
_SNAP = 1e-9  # h, relative to max(1, t)


@njit(cache=True)
def _propagators(K, h, Phi, Gam, tmp, term):
    """Write exp(K h) into Phi and ∫₀ʰ exp(K s) ds into Gam (all n×n, preallocated)."""
    n = K.shape[0]
    norm = 0.0
    for j in range(n):
        c = 0.0
        for i in range(n):
            c += abs(K[i, j])
        if c > norm:
            norm = c
    norm *= h
    s = 0
    while norm > 0.5:
        norm *= 0.5
        s += 1
    hs = h / (2.0 ** s)
    # Taylor series: Phi = Σ M^k/k!, Gam = hs Σ M^k/(k+1)!, M = K hs
    for i in range(n):
        for j in range(n):
            v = 1.0 if i == j else 0.0
            Phi[i, j] = v
            Gam[i, j] = v
            term[i, j] = v
    for k in range(1, _TAYLOR_TERMS + 1):
        for i in range(n):
            for j in range(n):
                acc = 0.0
                for m in range(n):
                    acc += term[i, m] * K[m, j]
                tmp[i, j] = acc * hs / k
        for i in range(n):
            for j in range(n):
                term[i, j] = tmp[i, j]
                Phi[i, j] += tmp[i, j]
                Gam[i, j] += tmp[i, j] / (k + 1)
    for i in range(n):
        for j in range(n):
            Gam[i, j] *= hs
    for _ in range(s):
        # Gam <- Gam + Phi Gam ; Phi <- Phi Phi
        for i in range(n):
            for j in range(n):
                acc = 0.0
                for m in range(n):
                    acc += Phi[i, m] * Gam[m, j]
                tmp[i, j] = Gam[i, j] + acc
        for i in range(n):
            for j in range(n):
                Gam[i, j] = tmp[i, j]
        for i in range(n):
            for j in range(n):
                acc = 0.0
                for m in range(n):
                    acc += Phi[i, m] * Phi[m, j]
                tmp[i, j] = acc
        for i in range(n):
            for j in range(n):
                Phi[i, j] = tmp[i, j]


@njit(cache=True)
def _advance(x, b, Phi, Gam, has_input, y):
    """x <- Phi x + Gam b (y is scratch)."""
    n = x.shape[0]
    for i in range(n):
        acc = 0.0
        for m in range(n):
            acc += Phi[i, m] * x[m]
        if has_input:
            for m in range(n):
                acc += Gam[i, m] * b[m]
        y[i] = acc
    for i in range(n):
        x[i] = y[i]


@njit(cache=True, inline="always")
def _rate_event(kind, c, v, b, active):
    """Zero-order input switching on (kind 1) or off (kind 2) in compartment ``c``; returns whether
    any input is still running.  A compartment's rate returns to exactly 0 when its last input ends."""
    if kind == 1:
        b[c] += v
        active[c] += 1
    else:
        active[c] -= 1
        b[c] = 0.0 if active[c] == 0 else b[c] - v
    for i in range(b.shape[0]):
        if active[i] > 0:
            return True
    return False


@njit(parallel=True, cache=True)
def solve_dense(K, times, dt, ev_t, ev_k, ev_c, ev_v, W, x0, out):
    """Solve every subject's system on the output times.

    Parameters
    ----------
    K : ndarray, shape (n_subjects, n, n)
        System matrices, 1/h.
    times : ndarray, shape (n_times,)
        Output times, h, increasing, ``times[0]`` ≤ first event.
    dt : float
        The uniform grid step, h (0 if none): steps of this length reuse one
        pair of propagators per subject.
    ev_t, ev_k, ev_c, ev_v : ndarray, shape (n_subjects, n_events)
        Event times (h, sorted per subject), kinds (0 bolus, 1 input on, 2 input off),
        compartments and values (mg or mg/h); see :class:`pkpd.dosing.Events`.
    W : ndarray, shape (n_subjects, n_out, n)
        Output rows: ``y = W x``.
    x0 : ndarray, shape (n_subjects, n)
        State at ``times[0]`` before any event there (zeros, or a steady state).
    out : ndarray, shape (n_subjects, n_out, n_times)
        Written in place (float32 or float64).
    """
    S, n, _ = K.shape
    T = times.shape[0]
    E = ev_t.shape[1]
    n_out = W.shape[1]
    for s in prange(S):
        Kt = K[s]
        x = x0[s].copy()
        b = np.zeros(n)
        active = np.zeros(n, dtype=np.int64)
        y = np.zeros(n)
        Phi = np.empty((n, n))
        Gam = np.empty((n, n))
        Ph = np.empty((n, n))
        Gh = np.empty((n, n))
        tmp = np.empty((n, n))
        term = np.empty((n, n))
        if dt > 0.0:
            _propagators(Kt, dt, Phi, Gam, tmp, term)
        has_input = False
        t = times[0]
        e = 0
        for j in range(T):
            tj = times[j]
            # events within _SNAP of an output time happen at that time (rounding in
            # 'start + k * every' must not move a dose past the grid point it is on)
            tj_snap = tj + _SNAP * max(1.0, abs(tj))
            while True:
                # next stop: the next event if it comes no later than tj, else tj
                if e < E and ev_t[s, e] <= tj_snap:
                    stop = min(ev_t[s, e], tj)
                else:
                    stop = tj
                h = stop - t
                if h > 0.0:
                    if dt > 0.0 and abs(h - dt) <= 1e-9 * dt:
                        _advance(x, b, Phi, Gam, has_input, y)
                    else:
                        _propagators(Kt, h, Ph, Gh, tmp, term)
                        _advance(x, b, Ph, Gh, has_input, y)
                    t = stop
                if e < E and ev_t[s, e] <= tj_snap:
                    c = ev_c[s, e]
                    k = ev_k[s, e]
                    if k == 0:
                        x[c] += ev_v[s, e]
                    else:
                        has_input = _rate_event(k, c, ev_v[s, e], b, active)
                    e += 1
                else:
                    break
            for o in range(n_out):
                acc = 0.0
                for m in range(n):
                    acc += W[s, o, m] * x[m]
                out[s, o, j] = acc


# ---------------------------------------------------------------------------------------------
# Modal path: K = V Λ V⁻¹.  In modal coordinates z = V⁻¹ x every mode advances by one multiply
# per step, z_k ← e^{λ_k h} z_k + φ(λ_k, h) u_k with u = V⁻¹ b and φ = (e^{λh} − 1)/λ, and only
# the reported outputs y = (W V) z are formed.  Used where the eigenvectors are well conditioned;
# the dense path above serves the rest (repeated eigenvalues of transit chains, complex modes).
# ---------------------------------------------------------------------------------------------

_COND_MAX = 1e6  # eigenvector condition number above which a subject takes the dense path


def eigenbasis(K: np.ndarray):
    """Eigen-decompose each subject's ``K`` (S, n, n); returns ``(lam, V, Vinv, ok)``, real.

    ``ok[s]`` is False where the decomposition is unsafe (complex or nearly coincident
    eigenvalues, an ill-conditioned or inaccurate basis): those subjects need another method.
    """
    lam, V = np.linalg.eig(K)
    ok = np.all(np.abs(lam.imag) <= 1e-12 * (1.0 + np.abs(lam.real)), axis=1)
    Vr = np.ascontiguousarray(V.real)
    lam_r = np.ascontiguousarray(lam.real)
    Vinv = np.zeros_like(Vr)
    if ok.any():
        with np.errstate(all="ignore"):
            try:
                Vinv[ok] = np.linalg.inv(Vr[ok])
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
            tj_snap = tj + _SNAP * max(1.0, abs(tj))
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
                    c = ev_c[s, e]
                    kind = ev_k[s, e]
                    v = ev_v[s, e]
                    if kind == 0:
                        for k in range(n):
                            z[k] += Vinv[s, k, c] * v
                    else:
                        has_input = _rate_event(kind, c, v, b, active)
                        for k in range(n):  # modal input rates u = V⁻¹ b, from the exact b
                            acc = 0.0
                            for m in range(n):
                                if active[m] > 0:
                                    acc += Vinv[s, k, m] * b[m]
                            u[k] = acc
                    e += 1
                else:
                    break
            for o in range(n_out):
                acc = 0.0
                for k in range(n):
                    acc += WV[s, o, k] * z[k]
                out[s, o, j] = acc


def solve(K, W, times, dt, ev_t, ev_k, ev_c, ev_v, out, method: str = "auto", repeats: int = 1,
          x0: np.ndarray | None = None) -> np.ndarray:
    """Solve a batch of subjects, modal where safe and dense elsewhere; returns the dense mask.

    ``K`` and ``W`` hold ``S`` distinct subjects; the event arrays, ``x0`` (initial states,
    default zeros) and ``out`` hold ``repeats × S`` rows (regimen-major: row ``r·S + s`` is
    subject ``s`` under regimen ``r``), so each subject's system is decomposed once whatever the
    number of regimens.  ``method``: ``auto`` (modal with dense fallback) or ``dense``.
    """
    S, n = K.shape[0], K.shape[1]
    if x0 is None:
        x0 = np.zeros((S * repeats, n))
    dense = np.ones(S, dtype=bool)
    if method == "auto":
        lam, Vinv, WV, ok = modal_decomposition(K, W)
        dense = ~ok
        rows = np.tile(ok, repeats)
        if ok.any():
            tile = lambda a: np.ascontiguousarray(np.tile(a[ok], (repeats,) + (1,) * (a.ndim - 1)))
            Vi = tile(Vinv)
            z0 = np.ascontiguousarray(np.einsum("sij,sj->si", Vi, x0[rows]))
            if rows.all():
                solve_modal(tile(lam), Vi, tile(WV), times, dt, ev_t, ev_k, ev_c, ev_v, z0, out)
            else:
                sub = np.empty((int(rows.sum()),) + out.shape[1:], dtype=out.dtype)
                solve_modal(tile(lam), Vi, tile(WV), times, dt, ev_t[rows], ev_k[rows], ev_c[rows],
                            ev_v[rows], z0, sub)
                out[rows] = sub
    elif method != "dense":
        raise ValueError(f"unknown method {method!r}")
    if dense.any():
        rows = np.tile(dense, repeats)
        Kd = np.ascontiguousarray(np.tile(K[dense], (repeats, 1, 1)))
        Wd = np.ascontiguousarray(np.tile(W[dense], (repeats, 1, 1)))
        xd = np.ascontiguousarray(x0[rows])
        if rows.all():
            solve_dense(Kd, times, dt, ev_t, ev_k, ev_c, ev_v, Wd, xd, out)
        else:
            sub = np.empty((int(rows.sum()),) + out.shape[1:], dtype=out.dtype)
            solve_dense(Kd, times, dt, ev_t[rows], ev_k[rows], ev_c[rows], ev_v[rows], Wd, xd, sub)
            out[rows] = sub
    return np.tile(dense, repeats)

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
from numba import njit

from pkpd.solvers.events import SNAP, state_event
from pkpd.solvers.threads import run_ranges


_TAYLOR_TERMS = 18



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
        Event times (h, sorted per subject), kinds (``BOLUS``, ``RATE_ON``, ``RATE_OFF`` of :mod:`pkpd.solvers.options`),
        compartments and values (mg or mg/h); see :class:`pkpd.dosing.events.Events`.
    W : ndarray, shape (n_subjects, n_out, n)
        Output rows: ``y = W x``.
    x0 : ndarray, shape (n_subjects, n)
        State at ``times[0]`` before any event there (zeros, or a steady state).
    out : ndarray, shape (n_subjects, n_out, n_times)
        Written in place (float32 or float64).
    """
    run_ranges(_dense_rows, K.shape[0], K, times, dt, ev_t, ev_k, ev_c, ev_v, W, x0, out)


@njit(cache=True, nogil=True)
def _dense_rows(s0, s1, K, times, dt, ev_t, ev_k, ev_c, ev_v, W, x0, out):
    """Rows ``s0 … s1 − 1`` (one thread's share; a plain loop compiles far faster than a prange)."""
    n = K.shape[1]
    T = times.shape[0]
    E = ev_t.shape[1]
    n_out = W.shape[1]
    for s in range(s0, s1):
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
            # events within SNAP of an output time happen at that time (rounding in
            # 'start + k * every' must not move a dose past the grid point it is on)
            tj_snap = tj + SNAP * max(1.0, abs(tj))
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
                    has_input = state_event(ev_k[s, e], ev_c[s, e], ev_v[s, e], x, b, active, has_input)
                    e += 1
                else:
                    break
            for o in range(n_out):
                acc = 0.0
                for m in range(n):
                    acc += W[s, o, m] * x[m]
                out[s, o, j] = acc

"""Hybrid nonlinear path: linear part exact (modal), extra states by Dormand–Prince 5(4).

When the nonlinear terms only read the linear states (turnover, tolerance and other extra states
driven by concentrations — no Michaelis–Menten flow writing back), the linear states at any time
come from the modal solution ``y = V (e^{Λτ} z + φ(Λ,τ) u)`` and only the extra states are
integrated, so stiff linear distribution no longer limits the step.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange
from pkpd.solvers.bytecode import STACK, run_program
from pkpd.solvers.adaptive import _A, _C, _dense, _dp5_error, _dp5_finish, _err_norm
from pkpd.solvers.events import modal_event


@njit(cache=True)
def _lin_at(lam, V, z, u, has_u, tau, ylin, zt):
    nl = lam.shape[0]
    for k in range(nl):
        x = lam[k] * tau
        e = np.exp(x)
        zt[k] = e * z[k]
        if has_u:
            ph = tau * (1.0 + 0.5 * x) if abs(x) < 1e-8 else np.expm1(x) / lam[k]
            zt[k] += ph * u[k]
    for i in range(nl):
        acc = 0.0
        for k in range(nl):
            acc += V[i, k] * zt[k]
        ylin[i] = acc


@njit(cache=True)
def _write_out(Ws, ylin, x, out_s, j):
    """Outputs at time index ``j``: ``Ws · [linear states, extra states]``."""
    nl = ylin.shape[0]
    for o in range(Ws.shape[0]):
        acc = 0.0
        for i in range(nl):
            acc += Ws[o, i] * ylin[i]
        for i in range(x.shape[0]):
            acc += Ws[o, nl + i] * x[i]
        out_s[o, j] = acc


@njit(cache=True)
def _rhs_extra(x, t, ylin, pars, n_par, n_lin, tgt, coef, ops, off, consts, v, stack, dx):
    for i in range(n_par):
        v[i] = pars[i]
    for i in range(n_lin):
        v[n_par + i] = ylin[i]
    m = x.shape[0]
    for i in range(m):
        v[n_par + n_lin + i] = x[i]
        dx[i] = 0.0
    v[n_par + n_lin + m] = t
    for k in range(tgt.shape[0]):
        dx[tgt[k] - n_lin] += coef[k] * run_program(ops, off, consts, k, v, stack)


@njit(parallel=True, cache=True)
def solve_hybrid(lam, V, Vinv, pars, tgt, coef, ops, off, consts, x0, times, ev_t, ev_k, ev_c, ev_v, W, rtol, atol,
                 out, stats):
    """Linear part exact (modal: ``lam`` (S, nl), ``V``/``Vinv`` (S, nl, nl)), extra states
    (``x0`` (S, m), targets ≥ nl) by Dormand–Prince 5(4); outputs ``W`` (S, n_out, nl + m)."""
    S, nl = lam.shape
    m = x0.shape[1]
    T = times.shape[0]
    E = ev_t.shape[1]
    n_par = pars.shape[1]
    for s in prange(S):
        z = np.zeros(nl)
        u = np.zeros(nl)
        b = np.zeros(nl)
        active = np.zeros(nl, dtype=np.int64)
        x = x0[s].copy()
        k = np.zeros((7, m))
        tmp = np.zeros(m)
        xnew = np.zeros(m)
        err = np.zeros(m)
        ylin = np.zeros(nl)
        zt = np.zeros(nl)
        v = np.zeros(n_par + nl + m + 1)
        stack = np.zeros(STACK)
        has_u = False
        t = times[0]
        e = 0
        h = 1e-3
        steps = 0
        rejected = 0
        j = 0
        # outputs on a uniform grid reuse one propagator: the modal state at the previous output
        # time advances by e^{Λ dt} (and φ(Λ, dt) u) instead of recomputing exponentials
        dt = times[1] - times[0] if T > 1 else 0.0
        edt = np.empty(nl)
        gdt = np.empty(nl)
        for q in range(nl):
            xq = lam[s, q] * dt
            edt[q] = np.exp(xq)
            gdt[q] = dt * (1.0 + 0.5 * xq) if abs(xq) < 1e-8 else np.expm1(xq) / lam[s, q]
        zo = np.zeros(nl)
        zo_ok = False
        while j < T:
            eps = 1e-12 * max(1.0, abs(t))
            while e < E and ev_t[s, e] <= t + eps:
                has_u = modal_event(ev_k[s, e], ev_c[s, e], ev_v[s, e], Vinv[s], z, b, active, u, has_u)
                e += 1
                zo_ok = False
                h = min(h, 1e-3)
            while j < T and times[j] <= t + eps:
                _lin_at(lam[s], V[s], z, u, has_u, 0.0, ylin, zt)
                for q in range(nl):
                    zo[q] = zt[q]
                zo_ok = True
                _write_out(W[s], ylin, x, out[s], j)
                j += 1
            if j >= T:
                break
            stop = times[T - 1]
            if e < E and ev_t[s, e] < stop:
                stop = ev_t[s, e]
            hh = min(h, stop - t)
            if hh <= 0.0:
                t = stop
                continue
            # Dormand–Prince on the extra states; linear states exact at each stage time
            _lin_at(lam[s], V[s], z, u, has_u, 0.0, ylin, zt)
            _rhs_extra(x, t, ylin, pars[s], n_par, nl, tgt, coef[s], ops, off, consts, v, stack, k[0])
            for st in range(1, 6):
                for i in range(m):
                    acc = 0.0
                    for q in range(st):
                        acc += _A[st, q] * k[q, i]
                    tmp[i] = x[i] + hh * acc
                _lin_at(lam[s], V[s], z, u, has_u, _C[st] * hh, ylin, zt)
                _rhs_extra(tmp, t + _C[st] * hh, ylin, pars[s], n_par, nl, tgt, coef[s], ops, off, consts, v, stack,
                           k[st])
            _dp5_finish(k, x, hh, xnew, err, m)
            _lin_at(lam[s], V[s], z, u, has_u, hh, ylin, zt)
            _rhs_extra(xnew, t + hh, ylin, pars[s], n_par, nl, tgt, coef[s], ops, off, consts, v, stack, k[6])
            _dp5_error(k, hh, err, m)
            en = _err_norm(err, x, xnew, rtol, atol)
            if en <= 1.0 or hh < 1e-14:
                while j < T and times[j] < t + hh - 1e-12 * max(1.0, abs(t + hh)):
                    _dense(k, x, hh, (times[j] - t) / hh, tmp, m)
                    if zo_ok and j > 0 and abs(times[j] - times[j - 1] - dt) <= 1e-9 * dt:
                        for q in range(nl):
                            zo[q] = edt[q] * zo[q] + (gdt[q] * u[q] if has_u else 0.0)
                        for i in range(nl):
                            acc = 0.0
                            for q in range(nl):
                                acc += V[s, i, q] * zo[q]
                            ylin[i] = acc
                    else:
                        _lin_at(lam[s], V[s], z, u, has_u, times[j] - t, ylin, zt)
                        for q in range(nl):
                            zo[q] = zt[q]
                        zo_ok = True
                    _write_out(W[s], ylin, tmp, out[s], j)
                    j += 1
                # advance the linear part exactly to the end of the step
                _lin_at(lam[s], V[s], z, u, has_u, hh, ylin, zt)
                for q in range(nl):
                    z[q] = zt[q]
                t = t + hh if hh < stop - t else stop
                for i in range(m):
                    x[i] = xnew[i]
                steps += 1
                fac = 5.0 if en == 0.0 else min(5.0, 0.9 * en ** (-1.0 / 6.0))
                h = max(h, hh * fac) if hh < h else hh * fac
            else:
                rejected += 1
                h = hh * max(0.1, 0.9 * en ** (-1.0 / 6.0))
        stats[s, 0] = steps
        stats[s, 1] = rejected

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
from pkpd.solvers.adaptive import _A, _C, _dense, _dp5_error, _dp5_finish, _err_norm, _first_nonfinite, _worst
from pkpd.solvers.budget import (C_FLAG1, C_FLAG2, C_INIT, C_STATUS, C_VEC, DONE, F_H, F_T, F_VEC, NONFINITE, RUNNING,
                                 TOO_MANY_STEPS, run_budgeted)
from pkpd.solvers.events import due_modal_events
from pkpd.solvers.stepping import grown_step, load_counters, save_counters, shrunk_step, step_stop


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
        dx[tgt[k] - n_lin] += coef[k] * run_program(ops, off, consts, k, v, stack)  # inlined interpreter


@njit(parallel=True, cache=True)
def _kernel(lam, V, Vinv, pars, tgt, coef, ops, off, consts, x0, times, ev_t, ev_k, ev_c, ev_v, W, rtol, atol,
            out, cf, ci, budget, max_steps):
    """Linear part exact (modal: ``lam`` (S, nl), ``V``/``Vinv`` (S, nl, nl)), extra states
    (``x0`` (S, m), targets ≥ nl) by Dormand–Prince 5(4); outputs ``W`` (S, n_out, nl + m).  At most
    ``budget`` steps per row and call, resuming from ``cf``/``ci`` (:mod:`pkpd.solvers.budget`)."""
    S, nl = lam.shape
    m = x0.shape[1]
    T = times.shape[0]
    n_par = pars.shape[1]
    for s in prange(S):
        if ci[s, C_STATUS] != RUNNING:
            continue
        z = np.zeros(nl)
        u = np.zeros(nl)
        b = np.zeros(nl)
        zo = np.zeros(nl)
        active = np.zeros(nl, dtype=np.int64)
        x = x0[s].copy()
        if ci[s, C_INIT] == 0:
            has_u = False
            zo_ok = False
            t = times[0]
            e = 0
            h = 1e-3
            steps = 0
            rejected = 0
            j = 0
            ci[s, C_INIT] = 1
        else:
            for q in range(nl):
                z[q] = cf[s, F_VEC + q]
                u[q] = cf[s, F_VEC + nl + q]
                b[q] = cf[s, F_VEC + 2 * nl + q]
                zo[q] = cf[s, F_VEC + 3 * nl + q]
                active[q] = ci[s, C_VEC + q]
            for i in range(m):
                x[i] = cf[s, F_VEC + 4 * nl + i]
            has_u = ci[s, C_FLAG1] == 1
            zo_ok = ci[s, C_FLAG2] == 1
            t = cf[s, F_T]
            h = cf[s, F_H]
            e, j, steps, rejected = load_counters(ci[s])
        k = np.zeros((7, m))
        tmp = np.zeros(m)
        xnew = np.zeros(m)
        err = np.zeros(m)
        ylin = np.zeros(nl)
        zt = np.zeros(nl)
        v = np.zeros(n_par + nl + m + 1)
        stack = np.zeros(STACK)
        status = RUNNING
        fail = -1
        work = 0
        # outputs on a uniform grid reuse one propagator: the modal state at the previous output
        # time advances by e^{Λ dt} (and φ(Λ, dt) u) instead of recomputing exponentials
        dt = times[1] - times[0] if T > 1 else 0.0
        edt = np.empty(nl)
        gdt = np.empty(nl)
        for q in range(nl):
            xq = lam[s, q] * dt
            edt[q] = np.exp(xq)
            gdt[q] = dt * (1.0 + 0.5 * xq) if abs(xq) < 1e-8 else np.expm1(xq) / lam[s, q]
        while j < T:
            if work >= budget:  # hand back to Python (interrupts); the state is saved below
                break
            eps = 1e-12 * max(1.0, abs(t))
            e_now = e
            e, has_u = due_modal_events(t + eps, ev_t[s], ev_k[s], ev_c[s], ev_v[s], e, Vinv[s], z, b, active, u, has_u)
            if e > e_now:
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
            stop = step_stop(times[T - 1], ev_t[s], e)
            hh = min(h, stop - t)
            if hh <= 0.0:
                t = stop
                continue
            work += 1
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
            if en <= 1.0 or (hh < 1e-14 and en == en):
                if _first_nonfinite(xnew) >= 0:  # an extra state blew up: stop here, naming it
                    status = NONFINITE
                    fail = nl + _first_nonfinite(xnew)
                    break
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
                h = grown_step(h, hh, en, 1.0 / 6.0)
            else:
                rejected += 1
                if en != en and hh < 1e-10 * max(1.0, abs(t)):  # NaN error on ever smaller steps
                    status = NONFINITE
                    fail = nl + (_first_nonfinite(xnew) if _first_nonfinite(xnew) >= 0 else
                                 _worst(err, x, xnew, rtol, atol))
                    break
                h = shrunk_step(hh, en, 1.0 / 6.0)
            if steps + rejected >= max_steps:
                status = TOO_MANY_STEPS
                fail = nl + _worst(err, x, xnew, rtol, atol)
                break
        if status == RUNNING and j >= T:
            status = DONE
        cf[s, F_T] = t
        cf[s, F_H] = h
        for q in range(nl):
            cf[s, F_VEC + q] = z[q]
            cf[s, F_VEC + nl + q] = u[q]
            cf[s, F_VEC + 2 * nl + q] = b[q]
            cf[s, F_VEC + 3 * nl + q] = zo[q]
            ci[s, C_VEC + q] = active[q]
        for i in range(m):
            cf[s, F_VEC + 4 * nl + i] = x[i]
        ci[s, C_FLAG1] = 1 if has_u else 0
        ci[s, C_FLAG2] = 1 if zo_ok else 0
        save_counters(ci[s], e, j, steps, rejected, status, fail)


def solve_hybrid(lam, V, Vinv, pars, tgt, coef, ops, off, consts, x0, times, ev_t, ev_k, ev_c, ev_v, W, rtol, atol,
                 out, stats, max_steps: int = 1_000_000):
    """Linear part exact (modal), extra states by Dormand–Prince 5(4), in budgeted slices
    (:func:`pkpd.solvers.budget.run_budgeted`); returns ``(status, t, state)`` per row (the state
    index counts the linear states first)."""
    S, nl = lam.shape
    m = x0.shape[1]

    def call(cf, ci, budget):
        _kernel(lam, V, Vinv, pars, tgt, coef, ops, off, consts, x0, times, ev_t, ev_k, ev_c, ev_v, W, rtol, atol,
                out, cf, ci, budget, max_steps)
    return run_budgeted(call, S, F_VEC + 4 * nl + m, C_VEC + nl, stats)

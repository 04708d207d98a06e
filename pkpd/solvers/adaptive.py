"""Nonlinear systems: ``dy/dt = K y + b + Σ_k c_k · g_k(v)`` with adaptive integration.

``K y + b`` is the linear compartment part (as in :mod:`pkpd.solvers.dense`); each nonlinear term adds
``c_k · g_k(v)`` to one state, where ``g_k`` is a compiled expression (:mod:`pkpd.solvers.bytecode`) of
``v = [parameters…, states…, t]`` — a Michaelis–Menten flow, a turnover or tolerance state.
Two methods, selectable per model: Dormand–Prince 5(4) (explicit, adaptive) and a two-stage
L-stable Rosenbrock method (ROS2, for stiff systems; its Jacobian is ``K`` plus finite
differences of the nonlinear terms).  Steps stop at every dose event and
restart after it; the explicit method takes steps as long as accuracy allows and fills the output
times inside a step from its quartic continuous extension, the stiff one steps to each output
time; tolerances ``rtol``/``atol`` per run.  One numba kernel, parallel over
subjects, serves every model (expressions are data, not code).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from pkpd.solvers.options import DOPRI
from pkpd.solvers.budget import (C_INIT, C_STATUS, C_VEC, DONE, F_H, F_T, F_VEC, NONFINITE, RUNNING, TOO_MANY_STEPS,
                                 run_budgeted)
from pkpd.solvers.bytecode import STACK, run_program
from pkpd.solvers.events import due_state_events
from pkpd.solvers.stepping import (grown_step, load_counters, record_due, save_counters, shrunk_step, step_stop,
                                   write_outputs)




_A = np.array([[0, 0, 0, 0, 0, 0],
               [1 / 5, 0, 0, 0, 0, 0],
               [3 / 40, 9 / 40, 0, 0, 0, 0],
               [44 / 45, -56 / 15, 32 / 9, 0, 0, 0],
               [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0, 0],
               [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0]])


_C = np.array([0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1])


_B = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0])


_E = np.array([71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])  # b − b̂


# quartic continuous extension (Shampine 1986, as in scipy's RK45): y(t+θh) = y + h Σ_i k_i Σ_j P_ij θ^(j+1)
_P = np.array([
    [1, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
    [0, 0, 0, 0],
    [0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
    [0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
    [0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
    [0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
    [0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423]])


@njit(cache=True)
def _rhs(K, b, y, t, pars, n_par, tgt, coef, ops, off, consts, v, stack, dy):
    n = y.shape[0]
    for i in range(n):
        acc = b[i]
        for j in range(n):
            acc += K[i, j] * y[j]
        dy[i] = acc
    _add_terms(y, t, pars, n_par, tgt, coef, ops, off, consts, v, stack, dy)


@njit(cache=True, inline="always")
def _add_terms(y, t, pars, n_par, tgt, coef, ops, off, consts, v, stack, dy):
    """``dy += Σ_k coef_k · g_k(pars, y, t)`` — the nonlinear terms alone."""
    if tgt.shape[0] == 0:
        return
    n = y.shape[0]
    for i in range(n_par):
        v[i] = pars[i]
    for i in range(n):
        v[n_par + i] = y[i]
    v[n_par + n] = t
    for k in range(tgt.shape[0]):
        dy[tgt[k]] += coef[k] * run_program(ops, off, consts, k, v, stack)


@njit(cache=True)
def _dp5_finish(k, x, hh, xnew, err, m):
    """After the six stages: the 5th-order solution into ``xnew`` (k[6] is then f(xnew)) —
    call :func:`_dp5_error` once k[6] is known."""
    for i in range(m):
        acc = 0.0
        for q in range(6):
            acc += _B[q] * k[q, i]
        xnew[i] = x[i] + hh * acc


@njit(cache=True)
def _dp5_error(k, hh, err, m):
    for i in range(m):
        acc = 0.0
        for q in range(7):
            acc += _E[q] * k[q, i]
        err[i] = hh * acc


@njit(cache=True)
def _dense(k, x, hh, th, res, m):
    """The quartic continuous extension at θ = th ∈ (0, 1) into ``res``."""
    for i in range(m):
        acc = 0.0
        for q in range(7):
            qq = 0.0
            pw = th
            for r in range(4):
                qq += _P[q, r] * pw
                pw *= th
            acc += k[q, i] * qq
        res[i] = x[i] + hh * acc


@njit(cache=True)
def _err_norm(e, y0, y1, rtol, atol):
    acc = 0.0
    n = e.shape[0]
    for i in range(n):
        sc = atol + rtol * max(abs(y0[i]), abs(y1[i]))
        acc += (e[i] / sc) ** 2
    return np.sqrt(acc / n)


@njit(cache=True)
def _err_norm2(e, w, weight, y0, y1, rtol, atol):
    """``max(‖e‖, weight · ‖w‖)``, both as :func:`_err_norm`, in one pass (one scale per state)."""
    acc = 0.0
    acc_w = 0.0
    n = e.shape[0]
    for i in range(n):
        sc = atol + rtol * max(abs(y0[i]), abs(y1[i]))
        acc += (e[i] / sc) ** 2
        acc_w += (w[i] / sc) ** 2
    return max(np.sqrt(acc / n), weight * np.sqrt(acc_w / n))


@njit(cache=True)
def _worst(e, y0, y1, rtol, atol):
    """The state with the largest scaled error (the one limiting the step size)."""
    best, k = -1.0, 0
    for i in range(e.shape[0]):
        r = abs(e[i]) / (atol + rtol * max(abs(y0[i]), abs(y1[i])))
        if not r <= best:  # NaN counts as the worst
            best, k = r, i
            if r != r:
                break
    return k


@njit(cache=True)
def _first_nonfinite(x):
    """Index of the first non-finite entry of ``x`` (-1: all finite)."""
    for i in range(x.shape[0]):
        if not np.isfinite(x[i]):
            return i
    return -1


@njit(parallel=True, cache=True)
def _kernel(K, pars, tgt, coef, ops, off, consts, y0, times, ev_t, ev_k, ev_c, ev_v, W, method, rtol, atol,
            out, cf, ci, budget, max_steps):
    """Integrate every row by at most ``budget`` steps from its saved state (``cf``/``ci``, see
    :mod:`pkpd.solvers.budget`); ``out[s, o, j] = W[s, o] · y(times[j])``.

    Parameters
    ----------
    K : (S, n, n) linear part, 1/h.  pars : (S, P) per-subject parameter values.
    tgt : (T,) state receiving each nonlinear term; coef : (S, T) its coefficient.
    ops, off, consts : packed programs (one per term).  y0 : (S, n) initial states.
    Events as in :func:`pkpd.solvers.dense.solve_dense`.  method: ``DOPRI`` (Dormand–Prince 5(4)) or
    ``ROSENBROCK`` (ROS2), codes of :mod:`pkpd.solvers.options`.
    """
    S, n, _ = K.shape
    T = times.shape[0]
    n_par = pars.shape[1]
    for s in prange(S):
        if ci[s, C_STATUS] != RUNNING:
            continue
        y = np.zeros(n)
        b = np.zeros(n)
        active = np.zeros(n, dtype=np.int64)
        if ci[s, C_INIT] == 0:
            for i in range(n):
                y[i] = y0[s, i]
            t = times[0]
            h = 1e-3
            e = 0
            j = 0
            steps = 0
            rejected = 0
            ci[s, C_INIT] = 1
        else:
            for i in range(n):
                y[i] = cf[s, F_VEC + i]
                b[i] = cf[s, F_VEC + n + i]
                active[i] = ci[s, C_VEC + i]
            t = cf[s, F_T]
            h = cf[s, F_H]
            e, j, steps, rejected = load_counters(ci[s])
        k = np.zeros((7, n))
        tmp = np.zeros(n)
        ynew = np.zeros(n)
        err = np.zeros(n)
        v = np.zeros(n_par + n + 1)
        stack = np.zeros(STACK)
        J = np.zeros((n, n))
        Wm = np.zeros((n, n))
        f0 = np.zeros(n)
        f1 = np.zeros(n)
        yp = np.zeros(n)
        status = RUNNING
        fail = -1
        work = 0
        while j < T:
            if work >= budget:  # hand back to Python (interrupts); the state is saved below
                break
            eps = 1e-12 * max(1.0, abs(t))
            # events due now (a dose at an output time is applied before recording it)
            e_now = e
            e = due_state_events(t + eps, ev_t[s], ev_k[s], ev_c[s], ev_v[s], e, y, b, active)
            if e > e_now:
                h = min(h, 1e-3)  # restart cautiously after a discontinuity
            j = record_due(times, j, t + eps, W[s], y, out[s])
            if j >= T:
                break
            # steps never cross a dose event; the explicit method interpolates outputs inside a step
            stop = step_stop(times[T - 1] if method == DOPRI else times[j], ev_t[s], e)
            hh = min(h, stop - t)
            if hh <= 0.0:
                t = stop
                continue
            work += 1
            if method == DOPRI:
                _rhs(K[s], b, y, t, pars[s], n_par, tgt, coef[s], ops, off, consts, v, stack, k[0])
                for st in range(1, 6):
                    for i in range(n):
                        acc = 0.0
                        for q in range(st):
                            acc += _A[st, q] * k[q, i]
                        tmp[i] = y[i] + hh * acc
                    _rhs(K[s], b, tmp, t + _C[st] * hh, pars[s], n_par, tgt, coef[s], ops, off, consts, v,
                         stack, k[st])
                _dp5_finish(k, y, hh, ynew, err, n)
                _rhs(K[s], b, ynew, t + hh, pars[s], n_par, tgt, coef[s], ops, off, consts, v, stack, k[6])
                _dp5_error(k, hh, err, n)
                en = _err_norm(err, y, ynew, rtol, atol)
                order = 5.0
            else:
                # ROS2 (Verwer et al. 1999): W = I − γ h J, γ = 1 + 1/√2, L-stable
                g = 1.0 + 1.0 / np.sqrt(2.0)
                _rhs(K[s], b, y, t, pars[s], n_par, tgt, coef[s], ops, off, consts, v, stack, f0)
                for i in range(n):
                    for q in range(n):
                        J[i, q] = K[s, i, q]
                if tgt.shape[0] > 0:
                    for q in range(n):
                        d = 1e-7 * max(abs(y[q]), 1e-6)
                        for i in range(n):
                            yp[i] = y[i]
                        yp[q] += d
                        _rhs(K[s], b, yp, t, pars[s], n_par, tgt, coef[s], ops, off, consts, v, stack, f1)
                        for i in range(n):
                            J[i, q] = (f1[i] - f0[i]) / d
                for i in range(n):
                    for q in range(n):
                        Wm[i, q] = -g * hh * J[i, q]
                    Wm[i, i] += 1.0
                if _first_nonfinite(Wm.ravel()) >= 0:
                    status = NONFINITE
                    fail = _first_nonfinite(f0) if _first_nonfinite(f0) >= 0 else 0
                    break
                k1 = np.linalg.solve(Wm, f0)
                for i in range(n):
                    yp[i] = y[i] + hh * k1[i]
                _rhs(K[s], b, yp, t + hh, pars[s], n_par, tgt, coef[s], ops, off, consts, v, stack, f1)
                for i in range(n):
                    f1[i] -= 2.0 * k1[i]
                k2 = np.linalg.solve(Wm, f1)
                for i in range(n):
                    ynew[i] = y[i] + 1.5 * hh * k1[i] + 0.5 * hh * k2[i]
                    err[i] = 0.5 * hh * (k1[i] + k2[i])
                en = _err_norm(err, y, ynew, rtol, atol)
                order = 2.0
            if en <= 1.0 or (hh < 1e-14 and en == en):
                if _first_nonfinite(ynew) >= 0:  # the state blew up: stop here, naming it
                    status = NONFINITE
                    fail = _first_nonfinite(ynew)
                    break
                if method == DOPRI:  # outputs strictly inside the step, by the continuous extension
                    while j < T and times[j] < t + hh - 1e-12 * max(1.0, abs(t + hh)):
                        _dense(k, y, hh, (times[j] - t) / hh, tmp, n)
                        write_outputs(W[s], tmp, out[s], j)
                        j += 1
                t = t + hh if hh < stop - t else stop
                for i in range(n):
                    y[i] = ynew[i]
                steps += 1
                h = grown_step(h, hh, en, 1.0 / (order + 1.0))
            else:
                rejected += 1
                if en != en and hh < 1e-10 * max(1.0, abs(t)):  # NaN error on ever smaller steps
                    status = NONFINITE
                    fail = _first_nonfinite(ynew) if _first_nonfinite(ynew) >= 0 else _worst(err, y, ynew, rtol,
                                                                                               atol)
                    break
                h = shrunk_step(hh, en, 1.0 / (order + 1.0))
            if steps + rejected >= max_steps:
                status = TOO_MANY_STEPS
                fail = _worst(err, y, ynew, rtol, atol)
                break
        if status == RUNNING and j >= T:
            status = DONE
        cf[s, F_T] = t
        cf[s, F_H] = h
        for i in range(n):
            cf[s, F_VEC + i] = y[i]
            cf[s, F_VEC + n + i] = b[i]
            ci[s, C_VEC + i] = active[i]
        save_counters(ci[s], e, j, steps, rejected, status, fail)


def solve_nonlinear(K, pars, tgt, coef, ops, off, consts, y0, times, ev_t, ev_k, ev_c, ev_v, W, method, rtol, atol,
                    out, stats, max_steps: int = 1_000_000):
    """Integrate every subject; ``out[s, o, j] = W[s, o] · y(times[j])``; ``stats[s] = (steps, rejected)``.

    Runs :func:`_kernel` in budgeted slices (:func:`pkpd.solvers.budget.run_budgeted`), so an
    interrupt stops it within a fraction of a second.  Returns ``(status, t, state)`` per row
    (:data:`~pkpd.solvers.budget.DONE`, or why and where the row stopped).
    """
    S, n, _ = K.shape

    def call(cf, ci, budget):
        _kernel(K, pars, tgt, coef, ops, off, consts, y0, times, ev_t, ev_k, ev_c, ev_v, W, method, rtol, atol,
                out, cf, ci, budget, max_steps)
    return run_budgeted(call, S, F_VEC + 2 * n, C_VEC + n, stats)

"""Exponential Rosenbrock-type integrator: the exponential method re-linearised about the current state.

:mod:`pkpd.solvers.exponential` splits ``dx/dt = A x + b + R(x, t)`` once, with ``A = K + J_N(x₀)``
(the Jacobian of the nonlinear terms at the initial state).  A Michaelis–Menten flow then leaves a
large remainder while the concentration is far from where it was linearised (a bolus takes the
central concentration from 0 to ≫ Km), and the step has to resolve it.  Here ``A_n = K + J_N(x_n)``
follows the solution, as in exponential Rosenbrock methods (Hochbruck, Ostermann & Schweitzer 2009,
*SIAM J. Numer. Anal.* 47:786): after every event, whenever the Jacobian has drifted
(``h·max|J_N(x_n) − J_N(x_lin)| > DRIFT``) and, if it has drifted at all, at least every
``RELIN_EVERY`` accepted steps, the kernel takes a new Jacobian (central differences of the
nonlinear terms, only the columns of states the terms read), a new small eigen-decomposition and
re-projects the modal state.  The remainder ``R_n(x) = N(x) − J_N(x_lin) x`` then has a small
derivative along the solution, so the steps grow until only the tolerance (not the nonlinearity)
limits them.

The step itself is the stiff-order-4 exponential Runge–Kutta method of Hochbruck & Ostermann (2005)
with its embedded order-3 error estimate (:mod:`pkpd.solvers.exponential`; the dense output is the
quartic Hermite one of :mod:`pkpd.solvers.hermite`, whose end slopes reuse the drift test's
Jacobians): its
order holds for *any* linear part, so a Jacobian reused over several steps, or kept when a new
decomposition is unsafe (complex or nearly coincident eigenvalues, an ill-conditioned basis),
costs step size, never accuracy.  Units: time h, amounts mg, rates 1/h.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange
from pkpd.solvers.bytecode import STACK
from pkpd.solvers.adaptive import _add_terms, _err_norm2, _first_nonfinite, _worst
from pkpd.solvers.budget import (C_FLAG2, C_INIT, C_STATUS, C_VEC, DONE, F_VEC, NONFINITE, RUNNING, TOO_MANY_STEPS,
                                 run_budgeted)
from pkpd.solvers.events import due_modal_events
from pkpd.solvers.exponential import erk4_step, resume_modal_row, save_modal_row, to_modal
from pkpd.solvers.hermite import dense_outputs, grid_coefficients, remainder_polynomial, remainder_slope
from pkpd.solvers.stepping import grown_step, load_counters, record_due, save_counters, shrunk_step, step_stop
from pkpd.solvers.small_eigen import decompose

#: Re-linearise when ``h · max|ΔJ_N|`` (dimensionless: the drift of the linear part over one step)
#: exceeds this; smaller means more eigen-decompositions (~0.5 µs each for n = 3) and fewer steps.
DRIFT = 0.1
#: ... and at least every this many accepted steps while ``J_N`` has drifted at all.  The drift test
#: alone can trap the solver: a stale linear part keeps the steps short, and short steps keep
#: ``h · max|ΔJ_N|`` under DRIFT (domino_mm at rtol 1e-8: 3,244 steps instead of 347 with DRIFT 0.1
#: alone).  With this net DRIFT 0.1 re-linearises far less often than 0.02 did at the same step
#: counts: kernel CPU −22 % at rtol 1e-6, −13 % at 1e-7, unchanged at 1e-8 (benchmarks/README.md).
RELIN_EVERY = 8
#: Weight of the dense-output error (midpoint of the quadratic remainder against stage 5) in the step
#: control: 1 makes every output as accurate as the step ends but costs ~4× the steps; 0.1 keeps the
#: maximum error over the 1-min grid below LSODA's at the same rtol (benchmarks/README.md).  That is
#: for the quadratic dense output (terms that read ``t``); the quartic Hermite one
#: (:mod:`pkpd.solvers.hermite`) takes ``HERMITE_WEIGHT``: ~20 % fewer steps on domino_mm at rtol
#: 1e-6 and 1e-8, errors still below LSODA's.  0.02 would save ~40 % (outputs still as accurate) but
#: lets the global error of a long saturated phase grow to ~50 × rtol (one-compartment bolus at
#: 20 × Km, tests/test_relinearised.py).
DENSE_WEIGHT = 0.1
HERMITE_WEIGHT = 0.05
#: Largest first step after an event, h (the error control then grows it up to 5× per step).
H_EVENT = 1e-3


@njit(cache=True, inline="always")
def _jacobian_cols(x, t, pars, n_par, tgt, coef, ops, off, consts, cols, v, stack, xp, fp, fm, J):
    """``J[:, q] = ∂N/∂x_q`` at ``x`` for the states ``q`` in ``cols`` (central differences; other
    columns are zero because no term reads those states)."""
    n = x.shape[0]
    for i in range(n):
        xp[i] = x[i]
        for q in range(n):
            J[i, q] = 0.0
    for c in range(cols.shape[0]):
        q = cols[c]
        d = 1e-6 * max(1.0, abs(x[q]))
        for i in range(n):
            fp[i] = 0.0
            fm[i] = 0.0
        for side in range(2):  # one call site: _add_terms is inlined
            xp[q] = x[q] + d if side == 0 else x[q] - d
            _add_terms(xp, t, pars, n_par, tgt, coef, ops, off, consts, v, stack, fp if side == 0 else fm)
        xp[q] = x[q]
        for i in range(n):
            J[i, q] = (fp[i] - fm[i]) / (2.0 * d)


@njit(cache=True, inline="always")
def _copy(a, b):
    """``b[:] = a`` for (n, n) arrays."""
    for i in range(a.shape[0]):
        for q in range(a.shape[1]):
            b[i, q] = a[i, q]


@njit(cache=True, inline="always")
def _drift(Jnew, Jn):
    """``max|Jnew − Jn|`` (1/h)."""
    drift = 0.0
    for i in range(Jn.shape[0]):
        for q in range(Jn.shape[1]):
            drift = max(drift, abs(Jnew[i, q] - Jn[i, q]))
    return drift


@njit(cache=True, inline="always")
def _reproject(z, b, active, V, Vinv, W, WV, bm, xw, Vold):
    """After a new basis: ``z`` ← V_new⁻¹ V_old z, ``bm`` = V⁻¹ b, ``WV`` = W V."""
    n = z.shape[0]
    for i in range(n):
        acc = 0.0
        for q in range(n):
            acc += Vold[i, q] * z[q]
        xw[i] = acc
    for q in range(n):
        acc = 0.0
        acc_b = 0.0
        for i in range(n):
            acc += Vinv[q, i] * xw[i]
            if active[i] > 0:
                acc_b += Vinv[q, i] * b[i]
        z[q] = acc
        bm[q] = acc_b
    for o in range(W.shape[0]):
        for q in range(n):
            acc = 0.0
            for i in range(n):
                acc += W[o, i] * V[i, q]
            WV[o, q] = acc


@njit(cache=True, inline="always")
def _relinearise(z, t, b, active, K, lam, V, Vinv, Jn, W, WV, bm, pars, tgt, coef, ops, off, consts, cols, v, stack,
                 force, wk, Jnew, Vold, Vt, Vit, M):
    """Take a new linear part ``K + J_N(x)`` at the current state if it differs from the current
    one and the decomposition is safe; returns whether the basis changed.  ``force``: take
    ``J_N(x)`` here (after an event or a rejection); otherwise ``Jnew`` holds it already — the
    drift test's, which decided that this re-linearisation is due.  ``Jnew`` is left holding
    ``J_N(x)``; ``wk`` is (5, n) scratch.  At most 30 arguments: CPython passes more as ``*args``,
    which numba cannot inline."""
    n = z.shape[0]
    n_par = pars.shape[0]
    if force:
        x = wk[0]
        for i in range(n):
            acc = 0.0
            for q in range(n):
                acc += V[i, q] * z[q]
            x[i] = acc
        _jacobian_cols(x, t, pars, n_par, tgt, coef, ops, off, consts, cols, v, stack, wk[1], wk[2], wk[3], Jnew)
    if not _drift(Jnew, Jn) > 0.0:
        return False
    for i in range(n):
        for q in range(n):
            Vold[i, q] = V[i, q]
    if not decompose(K, Jnew, lam, V, Vinv, Vt, Vit, M):
        return False
    for i in range(n):
        for q in range(n):
            Jn[i, q] = Jnew[i, q]
    _reproject(z, b, active, V, Vinv, W, WV, bm, wk[4], Vold)
    return True


@njit(parallel=True, cache=True)
def _kernel(K, lam, V, Vinv, Jn, W, WV, pars, tgt, coef, ops, off, consts, cols, y0, times, ev_t, ev_k, ev_c, ev_v,
            rtol, atol, out, cf, ci, budget, max_steps, hermite):
    """As :func:`pkpd.solvers.exponential._kernel`, re-linearising (see the module notes).

    ``lam`` (S, n), ``V``/``Vinv``/``Jn`` (S, n, n) and ``WV`` (S, n_out, n) hold each row's current
    linearisation and are updated in place (a resumed call continues with them); ``K`` (S, n, n)
    is the linear part, ``W`` (S, n_out, n) the output rows, ``cols`` the states the nonlinear
    terms read.  ``hermite``: quartic Hermite dense output (:mod:`pkpd.solvers.hermite`; False when
    the terms read ``t``).  The rest as in :func:`pkpd.solvers.adaptive.solve_nonlinear`.
    """
    S, n = lam.shape
    T = times.shape[0]
    n_par = pars.shape[1]
    for s in prange(S):
        if ci[s, C_STATUS] != RUNNING:
            continue
        z = np.zeros(n)
        b = np.zeros(n)
        bm = np.zeros(n)
        active = np.zeros(n, dtype=np.int64)
        G = np.zeros((6, n))  # stages 1–5 and G at the accepted end point (next step's first)
        if ci[s, C_INIT] == 0:
            to_modal(Vinv[s], y0[s], z)
            g0_ok = False
            t = times[0]
            e = 0
            h = 1e-3
            steps = 0
            rejected = 0
            j = 0
            ci[s, C_INIT] = 1
            relin = True  # a fresh row linearises at its first state (after the events there)
            drift_due = False
            since = 0  # accepted steps since the last re-linearisation (attempted)
        else:
            relin = ci[s, C_FLAG2] % 4 == 1  # asked for by a rejection just before the slice ended
            drift_due = ci[s, C_FLAG2] % 4 == 2  # or by the drift test after the last accepted step
            since = ci[s, C_FLAG2] // 4
            t, h, g0_ok = resume_modal_row(cf[s], ci[s], z, b, bm, G[0], active)
            e, j, steps, rejected = load_counters(ci[s])
        U = np.zeros(n)
        znew = np.zeros(n)
        zo = np.zeros(n)
        err = np.zeros(n)
        xe = np.zeros(n)
        x0 = np.zeros(n)
        x1 = np.zeros(n)
        xw = np.zeros(n)
        rw = np.zeros(n)
        F = np.zeros((n, 4))  # e^{hλ}, φ₁₋₃(hλ)
        Fh = np.zeros((n, 4))  # the same at hλ/2
        v = np.zeros(n_par + n + 1)
        stack = np.zeros(STACK)
        wk = np.zeros((5, n))
        Jnew = np.zeros((n, n))
        Vold = np.zeros((n, n))
        Vt = np.zeros((n, n))
        Vit = np.zeros((n, n))
        M = np.zeros((n, 2 * n))
        dt = times[1] - times[0] if T > 1 else 1.0
        Pdt = np.zeros((n, 6))
        grid_coefficients(lam[s], dt, Pdt)
        Pg = np.zeros((n, 6))
        Q = np.zeros((5, n))  # the remainder polynomial of the dense output
        Jcur = np.zeros((n, n))  # J_N at the current state (the dense output's slope at a step start)
        if ci[s, C_INIT] == 1:  # as saved (zeros for a fresh row, which takes J_N at its first state)
            for i in range(n):
                for q in range(n):
                    Jcur[i, q] = cf[s, F_VEC + (4 + i) * n + q]
        D0 = np.zeros(n)
        D1 = np.zeros(n)
        weight = HERMITE_WEIGHT if hermite else DENSE_WEIGHT
        status = RUNNING
        fail = -1
        work = 0
        while j < T:
            if work >= budget:  # hand back to Python (interrupts); the state is saved below
                break
            eps = 1e-12 * max(1.0, abs(t))
            e_now = e
            if e < ev_t.shape[1] and ev_t[s, e] <= t + eps:  # a call (~6 array views) only when one is due
                e, _ = due_modal_events(t + eps, ev_t[s], ev_k[s], ev_c[s], ev_v[s], e, Vinv[s], z, b, active, bm,
                                        True)
            if e > e_now:
                h = min(h, H_EVENT)
                g0_ok = False
                relin = True
            if (relin or drift_due) and cols.shape[0] > 0:  # one call site: _relinearise is inlined
                if not relin:  # the drift test's Jacobian (at this state, no event since)
                    _copy(Jcur, Jnew)
                if _relinearise(z, t, b, active, K[s], lam[s], V[s], Vinv[s], Jn[s], W[s], WV[s], bm, pars[s], tgt,
                                coef[s], ops, off, consts, cols, v, stack, relin, wk, Jnew, Vold, Vt, Vit, M):
                    grid_coefficients(lam[s], dt, Pdt)
                    g0_ok = False
                _copy(Jnew, Jcur)
                since = 0
            relin = False
            drift_due = False
            if times[j] <= t + eps:
                j = record_due(times, j, t + eps, WV[s], z, out[s])
            if j >= T:
                break
            stop = step_stop(times[T - 1], ev_t[s], e)
            hh = min(h, stop - t)
            if hh <= 0.0:
                t = stop
                continue
            work += 1
            erk4_step(z, t, hh, lam[s], V[s], Vinv[s], Jn[s], bm, pars[s], n_par, tgt, coef[s], ops, off, consts, v,
                      stack, xw, rw, F, Fh, G, g0_ok, U, znew, err)
            g0_ok = True
            # the dense output at the midpoint against stage 5 (the step's own value there): where the
            # remainder varies fast (a fast mode still decaying) the quadratic through G₁, G₅, G₆ is
            # the weak part, and this keeps the outputs inside a step as accurate as its end
            for q in range(n):
                p1 = -3.0 * G[0, q] + 4.0 * G[4, q] - G[5, q]
                p2 = 2.0 * G[0, q] - 4.0 * G[4, q] + 2.0 * G[5, q]
                U[q] = Fh[q, 0] * z[q] + hh * (0.5 * Fh[q, 1] * G[0, q] + 0.25 * Fh[q, 2] * p1
                                               + 0.25 * Fh[q, 3] * p2) - U[q]
            for i in range(n):  # the error is judged on the states, not on the modes
                a0 = 0.0
                a1 = 0.0
                ae = 0.0
                ad = 0.0
                for q in range(n):
                    a0 += V[s, i, q] * z[q]
                    a1 += V[s, i, q] * znew[q]
                    ae += V[s, i, q] * err[q]
                    ad += V[s, i, q] * U[q]
                x0[i] = a0
                x1[i] = a1
                xe[i] = ae
                xw[i] = ad
            en = _err_norm2(xe, xw, weight, x0, x1, rtol, atol)
            if en <= 1.0 or (hh < 1e-14 and en == en):
                if _first_nonfinite(x1) >= 0:  # a state blew up: stop here, naming it
                    status = NONFINITE
                    fail = _first_nonfinite(x1)
                    break
                # dense output: the quartic Hermite remainder (slopes from J_N at both ends; the
                # end one is the next drift test's Jacobian), integrated exactly
                if cols.shape[0] > 0:
                    _jacobian_cols(x1, t + hh, pars[s], n_par, tgt, coef[s], ops, off, consts, cols, v, stack, wk[1],
                                   wk[2], wk[3], Jnew)
                else:
                    Jnew.fill(0.0)
                if hermite:
                    remainder_slope(Jcur, Jn[s], V[s], Vinv[s], lam[s], z, G[0], wk[0], wk[4], D0)
                    remainder_slope(Jnew, Jn[s], V[s], Vinv[s], lam[s], znew, G[5], wk[0], wk[4], D1)
                remainder_polynomial(G, D0, D1, hh, hermite, Q)
                j = dense_outputs(times, j, t, hh, z, Q, lam[s], dt, Pdt, Pg, WV[s], out[s], zo)
                t = t + hh if hh < stop - t else stop
                for q in range(n):
                    z[q] = znew[q]
                    G[0, q] = G[5, q]
                steps += 1
                h = grown_step(h, hh, en, 0.25)
                _copy(Jnew, Jcur)
                # re-linearised at the top of the loop, after any event due here (which forces it anyway)
                since += 1
                if cols.shape[0] > 0:
                    drift = _drift(Jnew, Jn[s])
                    drift_due = drift * h > DRIFT or (since >= RELIN_EVERY and drift > 0.0)
            else:
                rejected += 1
                if en != en and hh < 1e-10 * max(1.0, abs(t)):  # NaN error on ever smaller steps
                    status = NONFINITE
                    fail = _first_nonfinite(x1) if _first_nonfinite(x1) >= 0 else _worst(xe, x0, x1, rtol, atol)
                    break
                h = shrunk_step(hh, en, 0.25)
                relin = True  # a stale linear part can make the remainder stiff: never let it shrink h alone
            if steps + rejected >= max_steps:
                status = TOO_MANY_STEPS
                fail = _worst(xe, x0, x1, rtol, atol)
                break
        if status == RUNNING and j >= T:
            status = DONE
        save_modal_row(cf[s], ci[s], t, h, z, b, bm, G[0], active, g0_ok)
        for i in range(n):
            for q in range(n):
                cf[s, F_VEC + (4 + i) * n + q] = Jcur[i, q]
        ci[s, C_FLAG2] = (1 if relin else (2 if drift_due else 0)) + 4 * since
        save_counters(ci[s], e, j, steps, rejected, status, fail)


def solve_relinearised(K, lam, V, Vinv, Jn, W, WV, pars, tgt, coef, ops, off, consts, cols, y0, times, ev_t, ev_k,
                       ev_c, ev_v, rtol, atol, out, stats, max_steps: int = 1_000_000, hermite: bool = True):
    """Integrate every row (:func:`_kernel`) in budgeted slices (:func:`pkpd.solvers.budget.run_budgeted`);
    ``lam``, ``V``, ``Vinv``, ``Jn`` and ``WV`` are per-row copies the kernel overwrites.
    Returns ``(status, t, state)`` per row."""
    S, n = lam.shape

    def call(cf, ci, budget):
        _kernel(K, lam, V, Vinv, Jn, W, WV, pars, tgt, coef, ops, off, consts, cols, y0, times, ev_t, ev_k, ev_c,
                ev_v, rtol, atol, out, cf, ci, budget, max_steps, hermite)
    return run_budgeted(call, S, F_VEC + 4 * n + n * n, C_VEC + n, stats)

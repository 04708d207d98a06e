"""Exponential integrator for two-way coupled nonlinear models (Michaelis–Menten flows).

The right-hand side is split as ``dx/dt = A x + b + R(x, t)`` with ``A = K + J_N(x₀)`` — the
compartment matrix plus the Jacobian of the nonlinear terms at the initial state, so a
Michaelis–Menten flow contributes its low-concentration clearance ``Vmax/Km`` — and
``R = N(x) − J_N(x₀) x`` the small remainder.  In the eigenbasis of ``A`` (``x = V z``) the
linear part, the infusion input and distribution are exact: ``e^{hλ}`` and the φ-functions are
scalars per mode.  Only ``R`` is approximated, by the stiff-order-4 exponential Runge–Kutta method
of Hochbruck & Ostermann (2005, *SIAM J. Numer. Anal.* 43:1069, five stages, nodes 0, ½, ½, 1, ½),
so fast distribution no longer limits the step — only the nonlinearity does.

Error control: the order-4 solution minus an order-3 one that replaces the last midpoint stage
by the mean of the first two (``h (4φ₂ − 8φ₃)(G₅ − (G₂ + G₃)/2)``; as ``hλ → 0`` these are the
weights 1/6, 1/3, 1/3, 1/6 — order 3 for this tableau, where ``G₃`` alone would give order 2),
measured on the states.  Dense output: the method's
weights are the exact φ-integrals of the quadratic through ``G₁, G₅, G₄`` at ``0, ½, 1``, so any
time inside the step gets the same integral up to that time — continuous at step ends; on a
uniform output grid each output advances the previous one by one precomputed set of φ(λΔ).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange
from pkpd.solvers.bytecode import STACK
from pkpd.solvers.adaptive import _add_terms, _err_norm, _first_nonfinite, _worst
from pkpd.solvers.budget import (C_FLAG1, C_INIT, C_STATUS, C_VEC, DONE, F_H, F_T, F_VEC, NONFINITE, RUNNING,
                                 TOO_MANY_STEPS, run_budgeted)
from pkpd.solvers.events import due_modal_events
from pkpd.solvers.stepping import (grown_step, load_counters, record_due, save_counters, shrunk_step, step_stop,
                                   write_outputs)


@njit(cache=True)
def _phi4(x):
    """``(e^x, φ₁(x), φ₂(x), φ₃(x))``; φ_k(x) = Σ_m x^m/(m+k)!, Taylor near 0.  Scalars in and out:
    no array argument, so a call costs no reference counting."""
    if abs(x) < 0.5:
        # Horner on the series of φ₃ up to x^13 (truncation < 1e-18), then φ_k = 1/k! + x φ_{k+1}
        c = 1.0
        for k in range(2, 17):
            c /= k
        p3 = 0.0
        for k in range(16, 2, -1):
            p3 = p3 * x + c
            c *= k
        p2 = 0.5 + x * p3
        p1 = 1.0 + x * p2
        return 1.0 + x * p1, p1, p2, p3
    p1 = np.expm1(x) / x
    p2 = (p1 - 1.0) / x
    return np.exp(x), p1, p2, (p2 - 0.5) / x


@njit(cache=True)
def _phis(x, out):
    """``out = (e^x, φ₁(x), φ₂(x), φ₃(x))`` (:func:`_phi4`)."""
    out[0], out[1], out[2], out[3] = _phi4(x)


@njit(cache=True, inline="always")
def _remainder_modal(z, t, Vs, Vinvs, Jn, bm, pars, n_par, tgt, coef, ops, off, consts, v, stack, x, r, g):
    """``g = V⁻¹ (b + R(V z, t))`` with ``bm = V⁻¹ b`` precomputed; ``x``, ``r`` are work arrays."""
    n = z.shape[0]
    for i in range(n):
        acc = 0.0
        for q in range(n):
            acc += Vs[i, q] * z[q]
        x[i] = acc
    for i in range(n):
        acc = 0.0
        for q in range(n):
            acc -= Jn[i, q] * x[q]
        r[i] = acc
    _add_terms(x, t, pars, n_par, tgt, coef, ops, off, consts, v, stack, r)
    for q in range(n):
        acc = bm[q]
        for i in range(n):
            acc += Vinvs[q, i] * r[i]
        g[q] = acc


@njit(cache=True, inline="always")
def erk4_step(z, t, hh, lam, Vs, Vinvs, Jn, bm, pars, n_par, tgt, coef, ops, off, consts, v, stack, xw, rw, F, Fh,
              G, g0_ok, U, znew, err):
    """One step ``hh`` (h) of the Hochbruck–Ostermann (2005) exponential Runge–Kutta method from the
    modal state ``z`` at ``t``: ``znew``, the stage remainders ``G[0..5]`` (``G[5]`` at the new
    point; ``G[0]`` is reused when ``g0_ok``), the order-4 minus order-3 error ``err`` (modal) and
    ``F``/``Fh`` = (e^{hλ}, φ₁₋₃(hλ)) at ``h`` and ``h/2``.  ``U`` is left holding stage 5."""
    n = z.shape[0]
    for q in range(n):
        # φ at hλ from φ at hλ/2 by the doubling formulas φ_k(2y) = 2^-k (e^y φ_k(y) + Σ_{j≤k} φ_j(y)/(k-j)!)
        # (Skaflestad & Wright 2009): all terms positive, so no cancellation (within 1e-15 of the
        # direct values, closer to the exact ones near |hλ| = 0.5), and one exp/expm1 pair per mode
        e, p1, p2, p3 = _phi4(0.5 * lam[q] * hh)
        Fh[q, 0], Fh[q, 1], Fh[q, 2], Fh[q, 3] = e, p1, p2, p3
        F[q, 0] = e * e
        F[q, 1] = 0.5 * (e * p1 + p1)
        F[q, 2] = 0.25 * (e * p2 + p1 + p2)
        F[q, 3] = 0.125 * (e * p3 + 0.5 * p1 + p2 + p3)
    # stage 1 at t; then U_i = e^{c_i hλ} z + h Σ a_ij G_j (Hochbruck & Ostermann 2005); then G at
    # the new point: the next step's first stage, the end node of the dense output and part of the
    # error estimate (in stiff modes the step leans on G₄, see the module notes).  One call site for
    # the six remainders (``_remainder_modal`` is inlined); ``err`` holds z, then znew, meanwhile.
    for k in range(6):
        src = U
        if k == 0:
            if g0_ok:
                continue
            for q in range(n):
                err[q] = z[q]
            src = err
            tk = t
        elif k == 1:
            for q in range(n):
                U[q] = Fh[q, 0] * z[q] + hh * 0.5 * Fh[q, 1] * G[0, q]
            tk = t + 0.5 * hh
        elif k == 2:
            for q in range(n):
                U[q] = Fh[q, 0] * z[q] + hh * ((0.5 * Fh[q, 1] - Fh[q, 2]) * G[0, q] + Fh[q, 2] * G[1, q])
            tk = t + 0.5 * hh
        elif k == 3:
            for q in range(n):
                U[q] = F[q, 0] * z[q] + hh * ((F[q, 1] - 2.0 * F[q, 2]) * G[0, q] + F[q, 2] * (G[1, q] + G[2, q]))
            tk = t + hh
        elif k == 4:
            for q in range(n):
                a52 = 0.5 * Fh[q, 2] - F[q, 3] + 0.25 * F[q, 2] - 0.5 * Fh[q, 3]
                a54 = 0.25 * Fh[q, 2] - a52
                a51 = 0.5 * Fh[q, 1] - 2.0 * a52 - a54
                U[q] = Fh[q, 0] * z[q] + hh * (a51 * G[0, q] + a52 * (G[1, q] + G[2, q]) + a54 * G[3, q])
            tk = t + 0.5 * hh
        else:
            for q in range(n):
                p1, p2, p3 = F[q, 1], F[q, 2], F[q, 3]
                znew[q] = F[q, 0] * z[q] + hh * ((p1 - 3.0 * p2 + 4.0 * p3) * G[0, q] + (4.0 * p3 - p2) * G[3, q]
                                                 + (4.0 * p2 - 8.0 * p3) * G[4, q])
                err[q] = znew[q]
            src = err
            tk = t + hh
        _remainder_modal(src, tk, Vs, Vinvs, Jn, bm, pars, n_par, tgt, coef, ops, off, consts, v, stack, xw, rw, G[k])
    for q in range(n):
        p2, p3 = F[q, 2], F[q, 3]
        err[q] = hh * ((4.0 * p2 - 8.0 * p3) * (G[4, q] - 0.5 * (G[1, q] + G[2, q]))
                       + (4.0 * p3 - p2) * (G[5, q] - G[3, q]))


@njit(cache=True)
def to_modal(Vinv, y, z):
    """``z = V⁻¹ y``: a state (mg) in modal coordinates."""
    n = z.shape[0]
    for q in range(n):
        acc = 0.0
        for i in range(n):
            acc += Vinv[q, i] * y[i]
        z[q] = acc


@njit(cache=True)
def resume_modal_row(cf, ci, z, b, bm, g0, active):
    """A resumed row of the exponential kernels (``cf``/``ci`` its saved state, :mod:`pkpd.solvers.budget`):
    fills the modal state ``z``, the rates ``b`` (mg/h) and ``bm = V⁻¹ b``, the first stage ``g0``
    and the running-input counts; returns ``(t, h, whether g0 is valid)``."""
    n = z.shape[0]
    for q in range(n):
        z[q] = cf[F_VEC + q]
        b[q] = cf[F_VEC + n + q]
        bm[q] = cf[F_VEC + 2 * n + q]
        g0[q] = cf[F_VEC + 3 * n + q]
        active[q] = ci[C_VEC + q]
    return cf[F_T], cf[F_H], ci[C_FLAG1] == 1


@njit(cache=True)
def save_modal_row(cf, ci, t, h, z, b, bm, g0, active, g0_ok):
    """The inverse of :func:`resume_modal_row`: store a row's state at the end of a slice."""
    n = z.shape[0]
    cf[F_T] = t
    cf[F_H] = h
    for q in range(n):
        cf[F_VEC + q] = z[q]
        cf[F_VEC + n + q] = b[q]
        cf[F_VEC + 2 * n + q] = bm[q]
        cf[F_VEC + 3 * n + q] = g0[q]
        ci[C_VEC + q] = active[q]
    ci[C_FLAG1] = 1 if g0_ok else 0


@njit(cache=True)
def _advance(lam, G1, G4, G5, h, tau0, tau, zo, ph, dt, Pdt):
    """``zo`` ← the dense solution at ``tau`` (> tau0, both from the step start) from ``zo`` at
    ``tau0``; ``Pdt[q]`` holds ``_phis(λ_q dt)`` for the usual output spacing ``dt``."""
    d = tau - tau0
    th = tau0 / h
    r = d / h
    cached = abs(d - dt) <= 1e-9 * dt
    for q in range(lam.shape[0]):
        P1 = -3.0 * G1[q] + 4.0 * G5[q] - G4[q]
        P2 = 2.0 * G1[q] - 4.0 * G5[q] + 2.0 * G4[q]
        Q0 = G1[q] + P1 * th + P2 * th * th
        Q1 = P1 + 2.0 * P2 * th
        if cached:
            zo[q] = Pdt[q, 0] * zo[q] + d * (Q0 * Pdt[q, 1] + Q1 * r * Pdt[q, 2] + 2.0 * P2 * r * r * Pdt[q, 3])
        else:
            _phis(lam[q] * d, ph)
            zo[q] = ph[0] * zo[q] + d * (Q0 * ph[1] + Q1 * r * ph[2] + 2.0 * P2 * r * r * ph[3])


@njit(parallel=True, cache=True)
def _kernel(lam, V, Vinv, Jn, WV, pars, tgt, coef, ops, off, consts, y0, times, ev_t, ev_k, ev_c, ev_v,
            rtol, atol, out, cf, ci, budget, max_steps):
    """Integrate every subject in the eigenbasis of ``A = K + J_N``, at most ``budget`` steps per row
    and call, resuming from ``cf``/``ci`` (:mod:`pkpd.solvers.budget`).

    Parameters
    ----------
    lam : (S, n) eigenvalues of A, 1/h.  V, Vinv : (S, n, n) eigenvectors and inverse.
    Jn : (S, n, n) the part of A that came from the nonlinear terms (subtracted from them).
    WV : (S, n_out, n) outputs in modal coordinates (``W V``).
    Nonlinear terms, events, times, tolerances and ``out``/``stats`` as in
    :func:`pkpd.solvers.adaptive.solve_nonlinear`.
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
        else:
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
        ph = np.zeros(4)
        F = np.zeros((n, 4))  # e^{hλ}, φ₁₋₃(hλ)
        Fh = np.zeros((n, 4))  # the same at hλ/2
        v = np.zeros(n_par + n + 1)
        stack = np.zeros(STACK)
        dt = times[1] - times[0] if T > 1 else 1.0
        Pdt = np.zeros((n, 4))
        for q in range(n):
            _phis(lam[s, q] * dt, Pdt[q])
        status = RUNNING
        fail = -1
        work = 0
        while j < T:
            if work >= budget:  # hand back to Python (interrupts); the state is saved below
                break
            eps = 1e-12 * max(1.0, abs(t))
            e_now = e
            e, _ = due_modal_events(t + eps, ev_t[s], ev_k[s], ev_c[s], ev_v[s], e, Vinv[s], z, b, active, bm, True)
            if e > e_now:
                h = min(h, 1e-3)
                g0_ok = False
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
            # the error is judged on the states, not on the modes
            for i in range(n):
                a0 = 0.0
                a1 = 0.0
                ae = 0.0
                for q in range(n):
                    a0 += V[s, i, q] * z[q]
                    a1 += V[s, i, q] * znew[q]
                    ae += V[s, i, q] * err[q]
                x0[i] = a0
                x1[i] = a1
                xe[i] = ae
            en = _err_norm(xe, x0, x1, rtol, atol)
            if en <= 1.0 or (hh < 1e-14 and en == en):
                if _first_nonfinite(x1) >= 0:  # a state blew up: stop here, naming it
                    status = NONFINITE
                    fail = _first_nonfinite(x1)
                    break
                tau0 = 0.0
                for q in range(n):
                    zo[q] = z[q]
                while j < T and times[j] < t + hh - 1e-12 * max(1.0, abs(t + hh)):
                    tau = times[j] - t
                    _advance(lam[s], G[0], G[5], G[4], hh, tau0, tau, zo, ph, dt, Pdt)
                    tau0 = tau
                    write_outputs(WV[s], zo, out[s], j)
                    j += 1
                t = t + hh if hh < stop - t else stop
                for q in range(n):
                    z[q] = znew[q]
                    G[0, q] = G[5, q]
                steps += 1
                h = grown_step(h, hh, en, 0.25)
            else:
                rejected += 1
                if en != en and hh < 1e-10 * max(1.0, abs(t)):  # NaN error on ever smaller steps
                    status = NONFINITE
                    fail = _first_nonfinite(x1) if _first_nonfinite(x1) >= 0 else _worst(xe, x0, x1, rtol, atol)
                    break
                h = shrunk_step(hh, en, 0.25)
            if steps + rejected >= max_steps:
                status = TOO_MANY_STEPS
                fail = _worst(xe, x0, x1, rtol, atol)
                break
        if status == RUNNING and j >= T:
            status = DONE
        save_modal_row(cf[s], ci[s], t, h, z, b, bm, G[0], active, g0_ok)
        save_counters(ci[s], e, j, steps, rejected, status, fail)


def solve_exponential(lam, V, Vinv, Jn, WV, pars, tgt, coef, ops, off, consts, y0, times, ev_t, ev_k, ev_c, ev_v,
                      rtol, atol, out, stats, max_steps: int = 1_000_000):
    """Integrate every subject in the eigenbasis of ``A = K + J_N`` (:func:`_kernel`) in budgeted
    slices (:func:`pkpd.solvers.budget.run_budgeted`); returns ``(status, t, state)`` per row."""
    S, n = lam.shape

    def call(cf, ci, budget):
        _kernel(lam, V, Vinv, Jn, WV, pars, tgt, coef, ops, off, consts, y0, times, ev_t, ev_k, ev_c, ev_v,
                rtol, atol, out, cf, ci, budget, max_steps)
    return run_budgeted(call, S, F_VEC + 4 * n, C_VEC + n, stats)


@njit(parallel=True, cache=True)
def nonlinear_jacobian(pars, tgt, coef, ops, off, consts, y0, t0, J):
    """``J[s] = ∂N/∂x`` at ``y0[s]`` by central differences (only used to split off the linear
    part: its accuracy affects the step size, never the solution)."""
    S, n = y0.shape
    n_par = pars.shape[1]
    for s in prange(S):
        v = np.zeros(n_par + n + 1)
        stack = np.zeros(STACK)
        yp = y0[s].copy()
        fp = np.zeros(n)
        fm = np.zeros(n)
        for q in range(n):
            d = 1e-6 * max(1.0, abs(y0[s, q]))
            for i in range(n):
                fp[i] = 0.0
                fm[i] = 0.0
            yp[q] = y0[s, q] + d
            _add_terms(yp, t0, pars[s], n_par, tgt, coef[s], ops, off, consts, v, stack, fp)
            yp[q] = y0[s, q] - d
            _add_terms(yp, t0, pars[s], n_par, tgt, coef[s], ops, off, consts, v, stack, fm)
            yp[q] = y0[s, q]
            for i in range(n):
                J[s, i, q] = (fp[i] - fm[i]) / (2.0 * d)

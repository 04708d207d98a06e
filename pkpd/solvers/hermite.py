"""Dense output of the re-linearised exponential step (:mod:`pkpd.solvers.relinearised`): a quartic
Hermite interpolant of the modal remainder, integrated exactly against the linear part.

Inside a step of length ``h`` from ``z₀`` the solution is ``z(τ) = e^{τλ} z₀ + ∫₀^τ e^{(τ−σ)λ} g(σ) dσ``
with ``g = V⁻¹ (b + R(x))`` the modal remainder.  The step's own weights integrate the quadratic
through ``g(0)``, stage 5 (``g(½)``) and ``g(h)``; between the step ends that quadratic is the weak
part (it needs ~4× the steps for outputs as accurate as the step ends).  Here ``g`` is the quartic
that also matches the slopes at both ends, ``g' = V⁻¹ (J_N(x) − J_lin) ẋ`` with ``ẋ = V (λ z + g)``:
the Jacobians ``J_N`` at both ends are the ones the kernel takes anyway for its drift test, so the
slopes cost a few 3×3 products.  Terms that read ``t`` have a ``∂N/∂t`` the slopes miss: those
rows keep the quadratic (``hermite=False``).  A polynomial ``Σ_k a_k σ^k`` integrates to
``Σ_k k! τ^{k+1} φ_{k+1}(τλ) a_k``; each output re-centres it at its time, so a uniform grid reuses
one set of coefficients.  The per-step helpers are inlined into the kernel (a call with array
arguments costs more than their arithmetic).  Units: time h, rates 1/h, amounts mg.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def phis5(x, out):
    """``out = (e^x, φ₁(x), …, φ₅(x))``, φ_k(x) = Σ_m x^m/(m+k)!; a Taylor series for |x| < 1
    (the upward recurrence φ_{k+1} = (φ_k − 1/k!)/x cancels there)."""
    if abs(x) < 1.0:
        c = 1.0
        for k in range(2, 26):
            c /= k
        p5 = 0.0
        for k in range(25, 4, -1):  # φ₅ to x^20, truncation < 1e-25
            p5 = p5 * x + c
            c *= k
        out[5] = p5
        out[4] = 1.0 / 24.0 + x * p5
        out[3] = 1.0 / 6.0 + x * out[4]
        out[2] = 0.5 + x * out[3]
        out[1] = 1.0 + x * out[2]
        out[0] = 1.0 + x * out[1]
    else:
        out[0] = np.exp(x)
        out[1] = np.expm1(x) / x
        out[2] = (out[1] - 1.0) / x
        out[3] = (out[2] - 0.5) / x
        out[4] = (out[3] - 1.0 / 6.0) / x
        out[5] = (out[4] - 1.0 / 24.0) / x


@njit(cache=True)
def grid_coefficients(lam, d, P):
    """``P[q] = (e^{λd}, d φ₁, d² φ₂, 2 d³ φ₃, 6 d⁴ φ₄, 24 d⁵ φ₅)`` at ``λ_q d``: one output step of
    length ``d`` (h) of ``dz/dt = λ z + Σ_k a_k s^k`` is ``z ← P₀ z + Σ_k P_{k+1} a_k``."""
    for q in range(lam.shape[0]):
        phis5(lam[q] * d, P[q])
        d2 = d * d
        P[q, 1] *= d
        P[q, 2] *= d2
        P[q, 3] *= 2.0 * d2 * d
        P[q, 4] *= 6.0 * d2 * d2
        P[q, 5] *= 24.0 * d2 * d2 * d


@njit(cache=True, inline="always")
def remainder_slope(J, Jn, V, Vinv, lam, z, g, xd, r, D):
    """``D = V⁻¹ (J − Jn) V (λ z + g)`` (modal, per h): d/dt of the modal remainder along the
    solution at a point where ``J_N = J``; ``xd``, ``r`` are work arrays."""
    n = z.shape[0]
    for i in range(n):
        acc = 0.0
        for q in range(n):
            acc += V[i, q] * (lam[q] * z[q] + g[q])
        xd[i] = acc
    for i in range(n):
        acc = 0.0
        for q in range(n):
            acc += (J[i, q] - Jn[i, q]) * xd[q]
        r[i] = acc
    for q in range(n):
        acc = 0.0
        for i in range(n):
            acc += Vinv[q, i] * r[i]
        D[q] = acc


@njit(cache=True, inline="always")
def remainder_polynomial(G, D0, D1, hh, hermite, Q):
    """``Q[k]``: coefficients of ``σ^k`` (σ in h from the step start) of the modal remainder over a
    step ``hh``: the quartic through ``G[0]``, ``G[4]`` (midpoint), ``G[5]`` (end) with slopes ``D0``,
    ``D1`` at the ends, or (``hermite`` False) the quadratic through the three values."""
    n = G.shape[1]
    h2 = hh * hh
    for q in range(n):
        Q[0, q] = G[0, q]
        if hermite:
            p = hh * D0[q]
            u = G[5, q] - G[0, q] - p
            w = hh * D1[q] - p
            y = 16.0 * (G[4, q] - G[0, q] - 0.5 * p)
            Q[1, q] = D0[q]
            Q[2, q] = (w + y - 5.0 * u) / h2
            Q[3, q] = (14.0 * u - 3.0 * w - 2.0 * y) / (h2 * hh)
            Q[4, q] = (2.0 * w + y - 8.0 * u) / (h2 * h2)
        else:
            Q[1, q] = (-3.0 * G[0, q] + 4.0 * G[4, q] - G[5, q]) / hh
            Q[2, q] = (2.0 * G[0, q] - 4.0 * G[4, q] + 2.0 * G[5, q]) / h2
            Q[3, q] = 0.0
            Q[4, q] = 0.0


@njit(cache=True, inline="always")
def dense_outputs(times, j, t, hh, z, Q, lam, dt, Pdt, Pg, WV, out, zo):
    """Write the outputs at every time in ``[t, t + hh)`` from index ``j`` (returns the next index):
    ``zo`` advances from ``z`` output to output by :func:`grid_coefficients` (``Pdt`` for the grid
    step ``dt``, ``Pg`` scratch otherwise) while ``Q`` is re-centred at each output time."""
    n = z.shape[0]
    T = times.shape[0]
    for q in range(n):
        zo[q] = z[q]
    tau0 = 0.0
    end = t + hh - 1e-12 * max(1.0, abs(t + hh))
    while j < T and times[j] < end:
        d = times[j] - t - tau0
        if abs(d - dt) <= 1e-9 * dt:
            P = Pdt
        else:
            grid_coefficients(lam, d, Pg)
            P = Pg
        for q in range(n):
            a0, a1, a2, a3, a4 = Q[0, q], Q[1, q], Q[2, q], Q[3, q], Q[4, q]
            zo[q] = P[q, 0] * zo[q] + P[q, 1] * a0 + P[q, 2] * a1 + P[q, 3] * a2 + P[q, 4] * a3 + P[q, 5] * a4
            Q[0, q] = a0 + d * (a1 + d * (a2 + d * (a3 + d * a4)))
            Q[1, q] = a1 + d * (2.0 * a2 + d * (3.0 * a3 + d * 4.0 * a4))
            Q[2, q] = a2 + d * (3.0 * a3 + d * 6.0 * a4)
            Q[3, q] = a3 + 4.0 * d * a4
        tau0 += d
        for o in range(WV.shape[0]):  # write_outputs, inlined: one call per output time costs more
            acc = 0.0
            for q in range(n):
                acc += WV[o, q] * zo[q]
            out[o, j] = acc
        j += 1
    return j

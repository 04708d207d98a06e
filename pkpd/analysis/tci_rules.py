"""The rate rules of target-controlled infusion, on a model's exact propagators.

With a pump update interval Δ, Φ = exp(KΔ) and Γ = ∫₀^Δ exp(Ks) ds (one augmented matrix
exponential, :func:`propagators`), the state after one interval at rate r is ``Φx + r·Γe``, so every
concentration at the end of the interval is ``free + r·unit`` — linear in r.  The rules:

* :func:`plasma_rate` — Jacobs (1990), as in STANPUMP and the R package ``tci`` (``tci_plasma``):
  the rate that brings the plasma concentration exactly to its target at the end of the interval;
* :func:`peak_rate` — Shafer & Gregg (1992): the rate, infused for Δ and then stopped, whose
  effect-site *peak* equals the target.  The peak of ``free(t) + r·unit(t)`` rises with r, so r is
  found by bisection over the effect-site curve sampled every Δ up to the look-ahead horizon;
* :func:`tracking_rate` — plasma targeting on a moving plasma target ``C_T + g·(C_T − Ce)``: the
  effect site then obeys dCe/dt = (1 + g)·ke0·(C_T − Ce), an exponential approach without overshoot,
  and the rate is smooth because it follows a smooth curve.  g = 0 is plain plasma targeting at the
  effect-site target, the switch used by R ``tci`` (``tci_effect``) and PyTCI once the effect site is
  near its target.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg

#: Longest look-ahead for the effect-site peak, h.
MAX_LOOKAHEAD_H = 24.0


def propagators(K: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Φ = exp(K·dt) and Γ = ∫₀^dt exp(K·s) ds (dt in h) from one matrix exponential."""
    n = K.shape[0]
    A = np.zeros((2 * n, 2 * n))
    A[:n, :n] = K * dt
    A[:n, n:] = np.eye(n) * dt
    E = scipy.linalg.expm(A)
    return E[:n, :n], E[:n, n:]


def effect_responses(Phi: np.ndarray, Gam: np.ndarray, e_in: np.ndarray, c_ce: np.ndarray,
                     lookahead_steps: int, max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Effect site at j·Δ, j = 1..J: per unit rate infused for Δ and then stopped (``unit``, (J,)), and
    the rows mapping the present state to it without more drug (``rows``, (J, n)).  J starts at
    ``lookahead_steps`` and doubles (up to ``max_steps``) until the unit response has
    peaked inside the window, as in R ``tci``'s ``tci_effect_only``."""
    J = max(2, lookahead_steps)
    while True:
        unit = np.empty(J)
        rows = np.empty((J, Phi.shape[0]))
        x = Gam @ e_in
        row = c_ce @ Phi
        for j in range(J):
            unit[j] = c_ce @ x
            rows[j] = row
            x = Phi @ x
            row = row @ Phi
        if np.argmax(unit) < J - 1 or J * 2 > max_steps:
            return unit, rows
        J *= 2


def plasma_rate(free_pl: float, unit_pl: float, target: float) -> float:
    """Jacobs: the rate (mg/h) that puts plasma at ``target`` at the end of the interval (unclipped)."""
    return (target - free_pl) / unit_pl


def peak_rate(free: np.ndarray, unit: np.ndarray, target: float, max_rate: float) -> float:
    """Shafer & Gregg: the rate in [0, ``max_rate``] whose effect-site peak (``free + r·unit``) equals
    ``target`` (0 when the drug already there reaches it, ``max_rate`` when even that falls short)."""
    if free.max() >= target:
        return 0.0
    lo, hi = 0.0, max_rate
    if (free + hi * unit).max() <= target:
        return hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if (free + mid * unit).max() > target:
            hi = mid
        else:
            lo = mid
    return lo


def tracking_rate(free_pl: float, unit_pl: float, free_ce: float, unit_ce: float, target: float,
                  gain: float) -> float:
    """The rate (mg/h, unclipped) that puts plasma at ``target + gain·(target − Ce)`` at the end of the
    interval, Ce being the effect site then (itself linear in the rate)."""
    return (target * (1 + gain) - gain * free_ce - free_pl) / (unit_pl + gain * unit_ce)

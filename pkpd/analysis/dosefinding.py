"""Dose finding: regimen variants (dose, infusion duration, sprays, spray interval), Pareto
frontiers of analgesia against psychotomimetic exposure, and the constrained optimum.

Builds on the outcome definitions in :mod:`pkpd.analysis.tradeoff`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
import numpy as np
import xarray as xr
from pkpd import units
from pkpd.dosing.regimen import Regimen
from pkpd.limits import check_count
from pkpd.analysis.tradeoff import TradeoffSpec, evaluate, pairs_for, thresholds_for
from pkpd.simulation.population import simulate_population


SWEEPABLE = ("dose", "duration", "sprays", "interval")


def _scaled(q: units.Quantity, f: float) -> units.Quantity:
    return units.Quantity(q.value * f, q.kind, q.per_kg, f"{q.text} × {f:g}")


def vary(reg: Regimen, param: str, value) -> Regimen | None:
    """``reg`` with one parameter changed (None when it does not apply to this regimen).

    dose: multiple of every dose; duration: IV infusion duration, h (same amount);
    sprays: intranasal sprays per administration; interval: time between sprays, h.
    """
    doses = []
    hit = False
    for d in reg.doses:
        if param == "dose":
            d = replace(d, amount=_scaled(d.amount, value) if d.amount else None,
                        rate=_scaled(d.rate, value) if d.rate else None)
            hit = True
        elif param == "duration" and d.duration is not None:
            if d.rate is not None:
                d = replace(d, rate=_scaled(d.rate, d.duration / value), duration=value)
            else:
                d = replace(d, duration=value)
            hit = True
        elif param == "sprays" and d.route == "intranasal":
            d = replace(d, sprays=int(value))
            hit = True
        elif param == "interval" and d.route == "intranasal":
            d = replace(d, spray_interval=value)
            hit = True
        doses.append(d)
    return Regimen(reg.name, tuple(doses)) if hit else None


def _label(param, v):
    return {"dose": f"×{v:g}", "duration": f"{v * 60:g} min", "sprays": f"{int(v)} sprays",
            "interval": f"{v * 60:g} min apart"}[param]


def sweep_regimens(regimens, sweep: dict) -> tuple[list[Regimen], list[dict]]:
    """Every base regimen × the grid of sweep values that apply to it (at most the
    ``tradeoff_points`` limit of variants, checked before any is built)."""
    import itertools
    variants, meta, seen = [], [], set()
    params = list(sweep)
    check_count("tradeoff_points", len(regimens) * math.prod(len(sweep[p]) for p in params),
                "regimen variants of the trade-off sweep (regimens × sweep values)", "sweep fewer values")
    for base in regimens:
        for combo in itertools.product(*(sweep[p] for p in params)):
            r, labels, applied = base, [], {}
            for p, v in zip(params, combo):
                nr = vary(r, p, v)
                if nr is not None:
                    r = nr
                    labels.append(_label(p, v))
                    applied[p] = v
            name = f"{base.name} [{', '.join(labels)}]" if labels else base.name
            if name in seen:
                continue
            seen.add(name)
            variants.append(Regimen(name, r.doses))
            meta.append({"base": base.name, **applied})
    return variants, meta


def pareto_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-dominated points when lower ``x`` (harm) and higher ``y`` (benefit) are better."""
    n = len(x)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        if np.isnan(x[i]) or np.isnan(y[i]):
            keep[i] = False
            continue
        dom = (x <= x[i]) & (y >= y[i]) & ((x < x[i]) | (y > y[i]))
        if dom.any():
            keep[i] = False
    return keep


@dataclass(frozen=True)
class Optimum:
    regimen: str
    pair: str
    model: str
    multiple: float  # dose multiple of the base regimen
    dose_text: str
    p_adequate: float
    p_exceed: float
    binding: str
    sensitivity: str


def optimize(models, regimens, pds, population, spec: TradeoffSpec, *, horizon: float, step: float,
             progress: bool = False) -> list[Optimum]:
    """Per base regimen, PD pair and PK model: the largest dose multiple with
    P(unacceptable psychotomimetic effect) ≤ cap, which maximises P(adequate analgesia) because
    both rise with dose in these models (linear PK, monotone readouts; the same simulated subjects
    at every dose).  The boundary is found with :func:`scipy.optimize.brentq`."""
    from scipy.optimize import brentq
    pairs = pairs_for(tuple(pds), spec)
    th = thresholds_for(pairs, spec)
    results = []
    lo_b, hi_b = spec.dose_bounds
    for base in regimens:
        for mi, m in enumerate(models):
            if not all(m.supports(rt) for rt in base.routes):
                continue
            cache: dict[float, xr.Dataset] = {}

            def at(mult):
                key = round(float(mult), 10)
                if key not in cache:
                    ds = simulate_population(m, [vary(base, "dose", mult)], population, horizon=horizon, step=step,
                                             pd=pds, mode="streaming", thresholds=th, progress=False)
                    cache[key] = evaluate(ds, pairs, spec)
                return cache[key]

            for pi, pair in enumerate(pairs):
                def excess(mult, cap=spec.cap):
                    return float(at(mult).p_exceed.values[pi, 0, 0]) - cap

                def solve_cap(cap):
                    if excess(lo_b, cap) > 0:
                        return lo_b, "infeasible: even the lowest dose multiple exceeds the cap"
                    if excess(hi_b, cap) <= 0:
                        return hi_b, "upper dose bound (the cap is never reached)"
                    x = brentq(lambda v: excess(v, cap) - 1e-12, lo_b, hi_b, xtol=1e-3 * lo_b, rtol=1e-3)
                    # brentq returns a point near the jump; step to its feasible side
                    while excess(x, cap) > 0 and x > lo_b:
                        x *= 1 - 1e-3
                    return x, f"psychotomimetic cap ({cap:.0%} of subjects)"

                x, binding = solve_cap(spec.cap)
                tr = at(x)
                sens = []
                for dc in (-0.05, 0.05):
                    c2 = spec.cap + dc
                    if 0 <= c2 <= 1:
                        x2, _ = solve_cap(c2)
                        sens.append(f"cap {c2:.0%}: ×{x2:.3g}, P(adequate) {float(at(x2).p_adequate.values[pi, 0, 0]):.0%}")
                results.append(Optimum(
                    regimen=base.name, pair=pair.label, model=m.name, multiple=x,
                    dose_text=_dose_text(base, x),
                    p_adequate=float(tr.p_adequate.values[pi, 0, 0]), p_exceed=float(tr.p_exceed.values[pi, 0, 0]),
                    binding=binding, sensitivity="; ".join(sens)))
    return results


def _dose_text(reg: Regimen, mult: float) -> str:
    """Doses of ``reg`` times ``mult``, as written (``0.25 mg/kg`` × 1.6 → ``0.4 mg/kg (×1.6)``)."""
    parts = []
    for d in reg.doses:
        q = d.amount or d.rate
        num, _, unit = (q.text or "").partition(" ")
        try:
            parts.append(f"{float(num) * mult:.3g} {unit}")
        except ValueError:
            parts.append(f"{q.text} × {mult:.3g}")
    return " + ".join(parts) + f" (×{mult:.3g})"

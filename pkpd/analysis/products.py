"""Regimens in the units people give: 28-mg nasal-spray devices, oral doses in measurable steps,
IV doses in mg/kg steps — the candidate ladder ``pkpd optimize`` searches, and the choice it makes.

An answer is always one of the candidates simulated (never extrapolated beyond them); when no
candidate meets both the analgesia target and the psychotomimetic cap, the answer says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from pkpd import units
from pkpd.dosing.regimen import Regimen


@dataclass(frozen=True)
class ProductSpec:
    """What can be given.

    Attributes
    ----------
    device_mg : float
        Esketamine nasal spray: mg per device (Spravato: 28 mg, 2 sprays, one per nostril).
    max_devices : int
        Most devices per session (label: 56 or 84 mg, i.e. 2 or 3 devices).
    device_interval : float
        Time between devices, h (label: 5 min).
    oral_step_mg : float
        Oral and sublingual doses are measured in steps of this many mg (a tablet or lozenge
        strength, or a syringe of oral solution).
    iv_step_mg_per_kg : float
        IV doses (bolus amount mg/kg, or infusion rate mg/kg/h) in steps of this size.
    """

    device_mg: float = 28.0
    max_devices: int = 3
    device_interval: float = 5 / 60
    oral_step_mg: float = 5.0
    iv_step_mg_per_kg: float = 0.05


@dataclass(frozen=True)
class Candidate:
    """One regimen of the ladder: the regimen, how it is said, and its total dose per session."""

    regimen: Regimen
    label: str  # e.g. "3 devices (84 mg)", "0.35 mg/kg over 40 min", "45 mg"
    dose_mg: float  # at the typical weight
    dose_mg_per_kg: float


def ladder(base: Regimen, products: ProductSpec, bounds: tuple[float, float], weight: float,
           most: int = 12) -> list[Candidate]:
    """The candidates for ``base`` (one route): for intranasal 1…``max_devices`` devices; for oral,
    sublingual and IV the base dose × multiples within ``bounds``, rounded to the product step
    (at most ``most`` distinct candidates, spread evenly in log dose), increasing."""
    routes = set(base.routes)
    if routes == {"intranasal"}:
        return [_devices(base, k, products, weight) for k in range(1, products.max_devices + 1)]
    mults = np.geomspace(bounds[0], bounds[1], 4 * most)
    out: dict[float, Candidate] = {}
    for m in mults:
        c = _stepped(base, float(m), products, weight)
        if c is not None and c.dose_mg > 0:
            out.setdefault(round(c.dose_mg, 9), c)
    cands = sorted(out.values(), key=lambda c: c.dose_mg)
    if len(cands) > most:
        idx = np.unique(np.round(np.linspace(0, len(cands) - 1, most)).astype(int))
        cands = [cands[i] for i in idx]
    return cands


def _devices(base: Regimen, k: int, p: ProductSpec, weight: float) -> Candidate:
    q = units.Quantity(p.device_mg, "amount", False, f"{p.device_mg:g} mg")
    doses = tuple(replace(d, amount=q, rate=None, sprays=k, spray_interval=p.device_interval)
                  for d in base.doses)
    mg = k * p.device_mg * len(doses)
    word = "device" if k == 1 else "devices"
    return Candidate(Regimen(f"{base.name} [{k} {word}]", doses), f"{k} {word} ({mg:g} mg)", mg, mg / weight)


def _stepped(base: Regimen, mult: float, p: ProductSpec, weight: float) -> Candidate | None:
    """``base`` × ``mult``, each dose rounded to its route's step (None if a dose rounds to 0)."""
    doses, parts, total = [], [], 0.0
    for d in base.doses:
        q = d.amount if d.amount is not None else d.rate
        per_kg = q.value if q.per_kg else q.value / weight  # mg/kg (or mg/kg/h)
        if d.route == "iv":
            v = round(per_kg * mult / p.iv_step_mg_per_kg) * p.iv_step_mg_per_kg
            new = units.Quantity(v, q.kind, True, f"{v:.3g} mg/kg" + ("/h" if d.rate is not None else ""))
            mg_each = v * weight * (d.duration if d.rate is not None else 1.0)
        else:
            v = round(per_kg * weight * mult / p.oral_step_mg) * p.oral_step_mg
            new = units.Quantity(v, q.kind, False, f"{v:g} mg")
            mg_each = v * max(d.sprays, 1)
        if v <= 0:
            return None
        doses.append(replace(d, amount=new) if d.amount is not None else replace(d, rate=new))
        parts.append(new.text + (f" for {d.duration * 60:g} min" if d.rate is not None else
                                 f" over {d.duration * 60:g} min" if d.duration else ""))
        total += mg_each * d.times
    label = " + ".join(parts)
    return Candidate(Regimen(f"{base.name} [{label}]", tuple(doses)), label, total, total / weight)


@dataclass(frozen=True)
class Choice:
    """The chosen candidate (or None) and the sentence that explains the choice."""

    index: int | None
    reason: str


def choose(p_adequate: np.ndarray, p_exceed: np.ndarray, cap: float, min_adequate: float,
           words: tuple[str, str, str] = ("adequate analgesia", "psychotomimetic", "psychotomimetic effect"),
           tie: float = 0.0) -> Choice:
    """Among candidates in increasing dose: those with P(psychotomimetic) ≤ ``cap`` and
    P(adequate) ≥ ``min_adequate``; of these the one with the highest P(adequate), the lowest
    dose on ties.  Infeasible (index None) when none qualifies — or when the best of them gives
    adequate analgesia to nobody — with the reason in words (``words``: what the benefit, the cap
    and the cost are called, e.g. the clinical endpoints'); ``tie``: benefits within this of the best
    are ties (the lowest dose of them is taken)."""
    good, cap_name, bad = words
    a, x = np.asarray(p_adequate, float), np.asarray(p_exceed, float)
    ok = (x <= cap + 1e-12) & (a >= min_adequate - 1e-12)
    if not ok.any():
        under_cap = x <= cap + 1e-12
        best = float(np.nanmax(np.where(under_cap, a, np.nan))) if under_cap.any() else math.nan
        why = f"infeasible: no candidate reaches ≥ {min_adequate:.0%} {good} with ≤ {cap:.0%} {bad}"
        why += (f" (best under the cap: {best:.0%} {good})" if not math.isnan(best) else
                " (even the smallest candidate exceeds the cap)")
        return Choice(None, why)
    cand = np.flatnonzero(ok)
    # ties: within ``tie`` of the best count as equal, and the lowest dose of them is taken
    i = int(cand[np.flatnonzero(a[cand] >= np.max(a[cand]) - tie)[0]])
    if not a[i] > 0:  # a dose that helps nobody is no optimum
        return Choice(None, f"infeasible: no candidate under the {cap:.0%} {cap_name} cap gives {good} to any "
                            "simulated subject")
    top = i == len(a) - 1
    why = (f"largest {good} under the {cap:.0%} {cap_name} cap"
           + (" — the largest candidate: the cap is not binding within the products searched" if top else ""))
    return Choice(i, why)

"""The explorer's numbers: :class:`State` (every control) and :func:`compute` (every array the panels
draw), plain Python so the app, the PNG export and the tests share them.

Besides model, PD model, route, dose, infusion duration, sprays and weight, a state holds
repeated dosing (number of doses and interval, or a whole regimen in the compact notation of
:func:`pkpd.dosing.notation.parse_regimen`), the concentration axis (linear or log) and the
parameter knobs of :mod:`pkpd.models.roles` (clearance, central volume, absorption, ke0, C50),
each a factor on the typical values behind it, applied as typical-value overrides
(:mod:`pkpd.models.overrides`) before simulating.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache
import numpy as np
from pkpd import units
from pkpd.dosing.notation import format_regimen, parse_regimen
from pkpd.dosing.regimen import Dose, Regimen
from pkpd.errors import PkpdError
from pkpd.models.load import load_model
from pkpd.models.overrides import with_overrides
from pkpd.models.pd import PDModel
from pkpd.models.pk import Model
from pkpd.models.roles import describe, knobs, scaled_overrides
from pkpd.simulation.disposition import systemic_clearance
from pkpd.simulation.sampling import CovariateDist, Population
from pkpd.simulation.population import simulate_population
from pkpd.simulation.typical import simulate
from pkpd.analysis.tradeoff import TradeoffSpec, pairs_for

BAND_SUBJECTS = 200
#: The range of a knob's factor (the sliders move over log2 −2 … 2).
FACTOR_RANGE = (0.25, 4.0)
#: Most doses the repeated-dosing controls take.
MAX_DOSES = 20


@dataclass(frozen=True)
class State:
    """Every control of the explorer.

    ``dose_mg`` is per administration (per spray for intranasal), ``duration_min`` the IV
    infusion duration (0 = bolus); ``doses`` administrations ``interval_h`` hours apart;
    ``regimen``, when not empty, is compact notation that replaces dose, duration, sprays, doses
    and interval; ``horizon_h`` is the time shown after the last administration; ``scales`` are
    ``(knob key, factor)`` pairs (keys of :func:`pkpd.models.roles.knobs`); ``log_axis`` draws
    concentrations on a log axis.
    """

    model: str = "perez_ruixo_2021"
    pd: str = "olofsen_2022"
    route: str = "intranasal"
    dose_mg: float = 28.0
    duration_min: float = 40.0
    sprays: int = 2
    weight: float = 70.0
    horizon_h: float = 8.0
    band: bool = True
    doses: int = 1
    interval_h: float = 12.0
    regimen: str = ""
    scales: tuple[tuple[str, float], ...] = ()
    log_axis: bool = False


def regimen_for(s: State) -> Regimen:
    """The regimen the controls describe (the notation text when given)."""
    if s.regimen.strip():
        return parse_regimen(s.regimen, "explorer", field="regimen")
    if not 1 <= int(s.doses) <= MAX_DOSES or int(s.doses) != s.doses:
        raise PkpdError(f"must be a whole number from 1 to {MAX_DOSES}, got {s.doses!r}", field="doses")
    if s.doses > 1 and not (isinstance(s.interval_h, (int, float)) and math.isfinite(s.interval_h)
                            and s.interval_h > 0):
        raise PkpdError(f"the dosing interval must be a number of hours > 0, got {s.interval_h!r}",
                        field="interval_h")
    q = units.Quantity(s.dose_mg, "amount", False, f"{s.dose_mg:g} mg")
    rep = dict(times=int(s.doses), every=float(s.interval_h)) if s.doses > 1 else {}
    if s.route == "iv":
        d = Dose("iv", amount=q, duration=s.duration_min / 60 if s.duration_min > 0 else None, **rep)
    elif s.route == "intranasal":
        d = Dose("intranasal", amount=q, sprays=max(1, int(s.sprays)), spray_interval=5 / 60, **rep)
    else:
        d = Dose(s.route, amount=q, **rep)
    return Regimen("explorer", (d,))


def last_administration(reg: Regimen) -> float:
    """Start of the last administration of ``reg``, h."""
    return max(d.start + (d.times - 1) * (d.every or 0.0) for d in reg.doses)


@lru_cache(maxsize=32)
def load_cached(name: str):
    """A model by library name or path, loaded once (the selectors switch back and forth)."""
    return load_model(name)


def _models(s: State):
    m = load_cached(s.model)
    if not isinstance(m, Model):
        raise PkpdError(f"{s.model!r} is not a PK model")
    p = load_cached(s.pd) if s.pd else None
    if p is not None and not isinstance(p, PDModel):
        raise PkpdError(f"{s.pd!r} is not a PD model")
    if not m.supports(s.route):
        raise PkpdError(f"{m.name} has no {s.route} route (it has {', '.join(m.routes)})")
    return m, p


def _factors(s: State, ks) -> dict[str, float]:
    """The state's knob factors, checked: known keys, finite, within :data:`FACTOR_RANGE`."""
    known = {k.key for k in ks}
    out = {}
    for key, f in s.scales:
        if key not in known:
            raise PkpdError(f"no knob {key!r} for {s.model} {s.route}" + (f" + {s.pd}" if s.pd else "")
                            + f" (knobs: {', '.join(sorted(known)) or 'none'})", field="scales")
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not math.isfinite(f) \
                or not FACTOR_RANGE[0] <= f <= FACTOR_RANGE[1]:
            raise PkpdError(f"factor of {key!r} must be a number from {FACTOR_RANGE[0]:g} to "
                            f"{FACTOR_RANGE[1]:g}, got {f!r}", field="scales")
        out[key] = float(f)
    return out


def scaled_models(s: State):
    """The PK and PD models of ``s`` with its knob factors applied, the knobs (as shown: label,
    factor, values, note) and the notes for the roles a model lacks."""
    m, p = _models(s)
    ks, absent = knobs(m, p, s.route)
    factors = _factors(s, ks)
    base = (m,) + ((p,) if p is not None else ())
    changed = with_overrides(base, scaled_overrides(ks, factors, base), where="explorer")
    by_name = {x.name: x for x in base}
    shown = [dict(key=k.key, label=k.label, factor=factors.get(k.key, 1.0), note=k.note,
                  text=describe(k, factors.get(k.key, 1.0), by_name[k.model])) for k in ks]
    cl0, cl1 = (systemic_clearance(x, {"WT": s.weight}) for x in (m, changed[0]))
    for k in shown:  # what the knobs do to the clearance the model implies (not always ∝ a parameter)
        if k["key"] in ("clearance", "volume") and cl0 is not None and cl1 is not None:
            k["text"] += f"; systemic CL {cl0:.3g} → {cl1:.3g} L/h at {s.weight:g} kg"
    return changed[0], (changed[1] if p is not None else None), shown, absent


def compute(s: State) -> dict:
    """Everything the panels show, as plain arrays (concentrations ng/mL, time h), with the knobs
    (``knobs``: label, factor, values; ``absent``: roles a model lacks) and the regimen in notation."""
    t0 = time.perf_counter()
    m, p, shown, absent = scaled_models(s)
    reg = regimen_for(s)
    pds = [p] if p is not None else []
    horizon = last_administration(reg) + s.horizon_h
    step = max(horizon / 480, 1 / 60)
    ds = simulate(m, reg, horizon=horizon, step=step, subject={"WT": s.weight}, pd=pds)
    out = {"time": ds.time.values, "elapsed_ms": 0.0, "knobs": shown, "absent": absent,
           "regimen": format_regimen(reg), "log_axis": s.log_axis}
    for v in ("ketamine_plasma", "norketamine_plasma"):
        out[v] = ds[v].values[0, 0] if v in ds else np.full(ds.sizes["time"], np.nan)
    ce = [v for v in ds.data_vars if v.startswith("ce_") and not v.endswith("_molar")]
    out["effect_site"] = ds[ce[0]].values[0, 0] if ce else np.full(ds.sizes["time"], np.nan)
    out["analgesia"] = out["psychotomimetic"] = np.full(ds.sizes["time"], np.nan)
    out["window"] = None
    out["analgesia_name"] = out["psychotomimetic_name"] = ""
    if p is not None:
        for r in p.readouts:
            key = "analgesia" if r.category == "analgesia" else "psychotomimetic"
            if f"{key}_name" in out and not out[f"{key}_name"]:
                out[key] = ds[f"{r.name}_{p.name}"].values[0, 0]
                out[f"{key}_name"] = r.name.replace("_", " ")
        try:
            pair = pairs_for((p,), TradeoffSpec(analgesia_level=0.3, psychotomimetic_level=0.5))[0]
            out["window"] = pair.window
        except PkpdError:
            pass
    if s.band:
        pop = Population(n=BAND_SUBJECTS, seed=1, covariates={"WT": CovariateDist("constant", s.weight)})
        pds_ = simulate_population(m, reg, pop, horizon=horizon, step=step, pd=pds, mode="streaming",
                                   progress=False, chunk=256)
        pc = pds_.ketamine_plasma_percentiles.values[0, 0]
        q = list(pds_["quantile"].values)
        out["band_lo"], out["band_hi"] = pc[q.index(5.0)], pc[q.index(95.0)]
        out["band_time"] = pds_.time.values
    out["elapsed_ms"] = (time.perf_counter() - t0) * 1000
    return out


def log_floor(y: np.ndarray, peak: float, decades: float = 4.0) -> np.ndarray:
    """``y`` for a log axis: NaN where not above ``peak``·10^−decades (zero and the tail that would
    stretch the axis over many empty decades)."""
    y = np.asarray(y, dtype=float)
    floor = peak * 10 ** -decades if np.isfinite(peak) and peak > 0 else np.inf
    return np.where(y > floor, y, np.nan)

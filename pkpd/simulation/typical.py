"""The one entry point: models × regimens → an xarray Dataset.

``simulate`` evaluates each model's individual parameters, turns every regimen
into event arrays, builds the linear system (PK compartments + PD effect
sites), solves all regimens of a model in one numba call, and labels the
result.  Dims are ``model × regimen × time`` (the population solver adds
``subject``); every variable carries ``units`` and ``long_name``.
"""
from __future__ import annotations

import numpy as np
import xarray as xr
from pkpd import units
from pkpd.dosing.drug_doses import dose_notes, drug_label
from pkpd.dosing.events import regimen_events
from pkpd.dosing.regimen import Regimen
from pkpd.models.pk import Model
from pkpd.models.enantiomers import conversion_note
from pkpd.models.overrides import with_overrides
from pkpd.simulation.system import build_system
from pkpd.simulation.grid import output_times, pad_events
from pkpd.solvers.dispatch import solve
from pkpd.simulation.steady_state import steady_state_x0
from pkpd.simulation.arguments import checked_call, checked_states_call
from pkpd.simulation.resources import check_estimate, typical_estimate


class _Collector:
    """Variables of the typical-subject Dataset, filled per (model, regimen): NaN where a model
    lacks a route or an output."""

    def __init__(self, n_models: int, n_regimens: int, n_times: int, dtype):
        self.shape, self.dtype = (n_models, n_regimens, n_times), dtype
        self.data: dict[str, np.ndarray] = {}
        self.attrs: dict[str, dict] = {}

    def put(self, name, mi, ri, arr, unit, long_name, **attrs):
        if name not in self.data:
            self.data[name] = np.full(self.shape, np.nan, dtype=self.dtype)
            self.attrs[name] = {"units": unit, "long_name": long_name, **attrs}
        self.data[name][mi, ri] = arr

    def variables(self) -> dict:
        return {n: (("model", "regimen", "time"), a, self.attrs[n]) for n, a in self.data.items()}


def simulate(models, regimens, *, horizon: float = 24.0, step: float = 1 / 60,
             subject: dict | None = None, pd=(), dtype=np.float64, solver=None, extra_times=(),
             overrides: dict | None = None) -> xr.Dataset:
    """Simulate the typical subject of each model under each regimen.

    Parameters
    ----------
    models : Model or sequence of Model
        PK models (from :func:`pkpd.load_model`).
    regimens : Regimen or sequence of Regimen
    horizon, step : float
        Output grid, h (event times inside it are added).
    subject : dict, optional
        Covariates: WT (kg), AGE (years), FEMALE (0/1) and model-specific ones.
    pd : sequence of PDModel
        Effect compartments and readouts to attach.
    solver : pkpd.solvers.options.SolverOptions, optional
        Method and tolerances for models with nonlinear parts (default: each model's own).
    extra_times : sequence of float, optional
        Times (h) to add to the output grid, like the event times (e.g. sampling times).
    overrides : dict, optional
        Typical values to change for this run, ``{model name: {parameter: value}}`` with values
        as text with a unit (``{"perez_ruixo_2021": {"Vc": "250 L"}}``) or numbers in internal
        units (mg, L, h); see :mod:`pkpd.models.overrides`.  An unknown model or parameter is a
        :class:`~pkpd.errors.PkpdError` naming it.

    Returns
    -------
    xarray.Dataset
        dims ``model × regimen × time``; concentrations in ng/mL and nmol/mL,
        amounts in mg, readouts as the PD file says.
    """
    models, regimens, pd, horizon, step, subject, solver = checked_call(models, regimens, pd, horizon, step,
                                                                        subject, solver)
    if overrides:
        changed = with_overrides(models + pd, overrides)
        models, pd = changed[:len(models)], changed[len(models):]
    check_estimate(typical_estimate(models, regimens, pd, horizon, step))
    wt = np.array([subject.get("WT", 70.0)])
    prepared = [_prepare(m, regimens, pd, subject, wt) for m in models]
    times = output_times(horizon, step, [t for pr in prepared for ev in pr[4] if ev is not None
                                         for t in ev.time.ravel()] + list(extra_times))
    col = _Collector(len(models), len(regimens), times.size, dtype)
    for mi, (m, vals, pdvals, sysm, evs) in enumerate(prepared):
        ok = [i for i, e in enumerate(evs) if e is not None]
        if not ok:
            continue
        out = np.zeros((len(ok), sysm.W.shape[1], times.size))
        x0 = None if sysm.nonlinear is not None else np.stack(
            [steady_state_x0(sysm.K[0], m, regimens[i], vals, wt) for i in ok])
        # the typical subject takes the dense kernel: robust for every system, and one subject
        # gains nothing from an eigen-decomposition
        solve(sysm.K, sysm.W, times, step, pad_events([evs[i] for i in ok]), out, repeats=len(ok), x0=x0,
              nonlinear=sysm.nonlinear, options=solver, linear="dense")
        _put_states(col, mi, ok, sysm, out)
        _put_readouts(col, mi, ok, sysm, out, pd, pdvals)
    ds = xr.Dataset(col.variables(), coords={
        "model": ("model", [m.name for m in models], {"long_name": "PK model"}),
        "regimen": ("regimen", [r.name for r in regimens], {"long_name": "dosing regimen"}),
        "time": ("time", times, {"units": "h", "long_name": "time since first dose"}),
        "route": ("regimen", ["+".join(r.routes) for r in regimens], {"long_name": "route(s)"}),
        "dose": ("regimen", [r.total(float(wt[0])) for r in regimens],
                 {"units": "mg", "long_name": "total dose (typical weight)"}),
        "drug": ("regimen", [drug_label(r) for r in regimens], {"long_name": "what is given"}),
    })
    notes = run_notes(models, regimens, pd)
    if notes:
        ds.attrs["dose_drugs"] = "\n".join(notes)
    ds.attrs["subject"] = ", ".join(f"{k}={v:g}" for k, v in {"WT": 70.0, **subject}.items())
    for m in models:
        ds.attrs[f"model_{m.name}_citation"] = m.meta.get("citation", "")
    for p in pd:
        ds.attrs[f"pd_{p.name}_citation"] = p.meta.get("citation", "")
    return ds


def run_notes(models, regimens, pd) -> list[str]:
    """Every drug conversion of a run, in words: doses into each PK model (racemic → S half, no
    drug stated → the model's form) and PK concentrations into each PD model of another form."""
    out = [n for m in models for n in dose_notes(m, regimens)]
    return out + [n for m in models for p in pd if (n := conversion_note(m, p))]


def _prepare(m: Model, regimens, pd, subject: dict, wt: np.ndarray) -> tuple:
    """One model's typical values, PD values, system and events per regimen (None where the
    model lacks one of the regimen's routes)."""
    vals = m.params.individual(covariates=subject)
    pdvals = [p.params.individual(covariates=subject) for p in pd]
    links = [lk for p, pv in zip(pd, pdvals) for lk in p.links(pv, m.species, m)]
    sysm = build_system(m, vals, links, list(zip(pd, pdvals)))
    evs = [regimen_events(m, r, vals, wt) if all(m.supports(rt) for rt in r.routes) else None for r in regimens]
    return m, vals, pdvals, sysm, evs


def _put_states(col: _Collector, mi: int, ok: list, sysm, out: np.ndarray) -> None:
    """Amounts (mg), concentrations (ng/mL and nmol/mL), effect sites and PD states."""
    for oi, o in enumerate(sysm.outputs):
        for j, ri in enumerate(ok):
            y = out[j, oi]
            if o.quantity == "amount":
                col.put(o.name, mi, ri, y, "mg", o.long_name, species=o.species)
            elif o.quantity == "state":
                col.put(o.name, mi, ri, y, "1", o.long_name, quantity="state")
            else:
                ng = y * 1000.0  # mg/L → ng/mL
                pd = {"pd_model": o.pd_model} if o.pd_model else {}
                col.put(o.name, mi, ri, ng, "ng/mL", o.long_name, species=o.species, quantity=o.quantity, **pd)
                col.put(o.name + "_molar", mi, ri, ng / units.MOLAR_MASS[o.species], "nmol/mL",
                        o.long_name + " (molar)", species=o.species, quantity=o.quantity, **pd)


def _put_readouts(col: _Collector, mi: int, ok: list, sysm, out: np.ndarray, pd, pdvals) -> None:
    """PD readouts on the effect-site concentrations (mg/L) and PD states."""
    ce_by_effect = {o.name: out[:, oi] for oi, o in enumerate(sysm.outputs) if o.quantity == "effect"}
    state_rows = {o.name: out[:, oi] for oi, o in enumerate(sysm.outputs) if o.quantity == "state"}
    for p, pv in zip(pd, pdvals):
        ce = {e.name: ce_by_effect[p.effect_name(e.name)] for e in p.effects if p.effect_name(e.name) in ce_by_effect}
        pst = {s.name: state_rows[f"{p.name}_{s.name}"] for s in p.states if f"{p.name}_{s.name}" in state_rows}
        for rd in p.readouts:
            if not all(e in ce for e in rd.inputs):
                continue
            y = p.evaluate(rd, {kk: np.repeat(vv, len(ok)) for kk, vv in pv.items()}, ce, pst)
            for j, ri in enumerate(ok):
                col.put(f"{rd.name}_{p.name}", mi, ri, y[j], rd.unit, f"{rd.name.replace('_', ' ')} ({p.name})",
                        category=rd.category, pd_model=p.name, direction=rd.direction, readout=rd.name.replace('_', ' '))


def solve_states(model: Model, regimen: Regimen, times: np.ndarray, *, subject: dict | None = None,
                 values: dict | None = None, pd=(), step: float = 0.0, solver=None):
    """All states (amounts mg; effect sites mg/L) of one subject at ``times`` (h).

    Useful for checks (mass balance, references) and for custom analyses.

    Parameters
    ----------
    model : Model
        A PK model.
    regimen : Regimen
    times : ndarray
        Output times, h, increasing.
    subject : dict, optional
        Covariates (WT kg, AGE years, ...); typical values when omitted.
    values : dict, optional
        Individual parameter values (internal units) instead of the model's typical ones.
    pd : PDModel or sequence of PDModel
        Effect sites (and PD states) to add to the system.
    step : float
        Uniform grid step, h, for propagator reuse (0: none).
    solver : SolverOptions, optional
        Method and tolerances for models with nonlinear parts.

    Returns
    -------
    x : ndarray, shape (n_states, n_times)
        States in the order of ``system.states``.
    system : pkpd.simulation.system.System
    events : pkpd.dosing.events.Events
    """
    model, regimen, times, subject, pd, solver = checked_states_call(model, regimen, times, subject, pd, solver)
    vals = values if values is not None else model.params.individual(covariates=subject)
    pdvals = [p.params.individual(covariates=subject) for p in pd]
    links = [lk for p, pv in zip(pd, pdvals) for lk in p.links(pv, model.species, model)]
    sysm = build_system(model, vals, links, list(zip(pd, pdvals)))
    ev = regimen_events(model, regimen, vals, np.array([subject.get("WT", 70.0)]))
    n = sysm.K.shape[1]
    W = np.eye(n)[None]
    out = np.zeros((1, n, times.size))
    x0 = None if sysm.nonlinear is not None else \
        steady_state_x0(sysm.K[0], model, regimen, vals, np.array([subject.get("WT", 70.0)]))[None]
    solve(sysm.K, W, times, float(step), pad_events([ev]), out, x0=x0, nonlinear=sysm.nonlinear, options=solver,
          linear="dense")
    return out[0], sysm, ev

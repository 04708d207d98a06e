"""The one entry point: models × regimens → an xarray Dataset.

``simulate`` evaluates each model's individual parameters, turns every regimen
into event arrays, builds the linear system (PK compartments + PD effect
sites), solves all regimens of a model in one numba call, and labels the
result.  Dims are ``model × regimen × time`` (the population solver adds
``subject``); every variable carries ``units`` and ``long_name``.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import xarray as xr
from pkpd import units
from pkpd.dosing.events import regimen_events
from pkpd.dosing.regimen import Regimen
from pkpd.errors import PkpdError
from pkpd.models.pk import Model
from pkpd.models.pd import PDModel
from pkpd.solvers.dense import solve_dense
from pkpd.simulation.system import build_system
from pkpd.simulation.grid import output_times, pad_events
from pkpd.solvers.dispatch import run_nonlinear
from pkpd.simulation.steady_state import steady_state_x0


@dataclass(frozen=True)
class _Var:
    name: str
    units: str
    long_name: str
    attrs: dict


def simulate(models, regimens, *, horizon: float = 24.0, step: float = 1 / 60,
             subject: dict | None = None, pd=(), dtype=np.float64, solver=None) -> xr.Dataset:
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
    solver : pkpd.nlmodel.SolverOptions, optional
        Method and tolerances for models with nonlinear parts (default: each model's own).

    Returns
    -------
    xarray.Dataset
        dims ``model × regimen × time``; concentrations in ng/mL and nmol/mL,
        amounts in mg, readouts as the PD file says.
    """
    models = (models,) if isinstance(models, Model) else tuple(models)
    regimens = (regimens,) if isinstance(regimens, Regimen) else tuple(regimens)
    pd = (pd,) if isinstance(pd, PDModel) else tuple(pd)
    if not models or not regimens:
        raise PkpdError("need at least one model and one regimen")
    subject = dict(subject or {})
    wt = np.array([subject.get("WT", 70.0)])
    prepared = []
    extra_t = []
    for m in models:
        vals = m.params.individual(covariates=subject)
        pdvals = [p.params.individual(covariates=subject) for p in pd]
        links = [lk for p, pv in zip(pd, pdvals) for lk in p.links(pv, m.species)]
        sysm = build_system(m, vals, links, list(zip(pd, pdvals)))
        evs = []
        for r in regimens:
            if all(m.supports(rt) for rt in r.routes):
                ev = regimen_events(m, r, vals, wt)
                extra_t += list(ev.time.ravel())
                evs.append(ev)
            else:
                evs.append(None)
        prepared.append((m, vals, pdvals, sysm, evs))
    times = output_times(horizon, step, extra_t)
    T = times.size
    data: dict[str, np.ndarray] = {}
    meta: dict[str, _Var] = {}

    def put(name, mi, ri, arr, unit, long_name, **attrs):
        if name not in data:
            data[name] = np.full((len(models), len(regimens), T), np.nan, dtype=dtype)
            meta[name] = _Var(name, unit, long_name, attrs)
        data[name][mi, ri] = arr

    for mi, (m, vals, pdvals, sysm, evs) in enumerate(prepared):
        ok = [i for i, e in enumerate(evs) if e is not None]
        if not ok:
            continue
        t, k, c, v = pad_events([evs[i] for i in ok])
        R = len(ok)
        K = np.repeat(sysm.K, R, axis=0)
        W = np.repeat(sysm.W, R, axis=0)
        out = np.zeros((R, W.shape[1], T))
        if sysm.nonlinear is not None:
            run_nonlinear(sysm, R, times, (t, k, c, v), W, out, solver)
        else:
            x0 = np.stack([steady_state_x0(sysm.K[0], m, regimens[i], vals, wt) for i in ok])
            solve_dense(K, times, step, t, k, c, v, W, x0, out)
        ce_by_effect: dict[str, np.ndarray] = {}
        for oi, o in enumerate(sysm.outputs):
            for j, ri in enumerate(ok):
                y = out[j, oi]
                if o.quantity == "amount":
                    put(o.name, mi, ri, y, "mg", o.long_name, species=o.species)
                elif o.quantity == "state":
                    put(o.name, mi, ri, y, "1", o.long_name, quantity="state")
                else:
                    ng = y * 1000.0  # mg/L → ng/mL
                    put(o.name, mi, ri, ng, "ng/mL", o.long_name, species=o.species, quantity=o.quantity)
                    put(o.name + "_molar", mi, ri, ng / units.MOLAR_MASS[o.species], "nmol/mL",
                        o.long_name + " (molar)", species=o.species, quantity=o.quantity)
            if o.quantity == "effect":
                ce_by_effect[o.name] = out[:, oi]
        state_rows = {o.name: out[:, oi] for oi, o in enumerate(sysm.outputs) if o.quantity == "state"}
        for p, pv in zip(pd, pdvals):
            ce = {e.name: ce_by_effect[p.effect_name(e.name)] for e in p.effects
                  if p.effect_name(e.name) in ce_by_effect}
            pst = {s.name: state_rows[f"{p.name}_{s.name}"] for s in p.states if f"{p.name}_{s.name}" in state_rows}
            for rd in p.readouts:
                if not all(e in ce for e in rd.inputs):
                    continue
                pv1 = {kk: np.repeat(vv, R) for kk, vv in pv.items()}
                y = p.evaluate(rd, pv1, ce, pst)
                for j, ri in enumerate(ok):
                    put(f"{rd.name}_{p.name}", mi, ri, y[j], rd.unit,
                        f"{rd.name.replace('_', ' ')} ({p.name})", category=rd.category, pd_model=p.name,
                        direction=rd.direction)
    ds = xr.Dataset(
        {n: (("model", "regimen", "time"), a, {"units": meta[n].units, "long_name": meta[n].long_name,
                                                 **meta[n].attrs})
         for n, a in data.items()},
        coords={
            "model": ("model", [m.name for m in models], {"long_name": "PK model"}),
            "regimen": ("regimen", [r.name for r in regimens], {"long_name": "dosing regimen"}),
            "time": ("time", times, {"units": "h", "long_name": "time since first dose"}),
            "route": ("regimen", ["+".join(r.routes) for r in regimens], {"long_name": "route(s)"}),
            "dose": ("regimen", [r.total(float(wt[0])) for r in regimens],
                     {"units": "mg", "long_name": "total dose (typical weight)"}),
        },
    )
    ds.attrs["subject"] = ", ".join(f"{k}={v:g}" for k, v in {"WT": 70.0, **subject}.items())
    for m in models:
        ds.attrs[f"model_{m.name}_citation"] = m.meta.get("citation", "")
    for p in pd:
        ds.attrs[f"pd_{p.name}_citation"] = p.meta.get("citation", "")
    return ds


def solve_states(model: Model, regimen: Regimen, times: np.ndarray, *, subject: dict | None = None,
                 values: dict | None = None, pd=(), step: float = 0.0, solver=None):
    """All states (amounts mg; effect sites mg/L) of one subject at ``times`` (h).

    Returns ``(x, system, events)`` with ``x`` of shape ``(n_states, n_times)``.
    Useful for checks (mass balance, references) and for custom analyses.
    """
    subject = dict(subject or {})
    vals = values if values is not None else model.params.individual(covariates=subject)
    pd = (pd,) if isinstance(pd, PDModel) else tuple(pd)
    pdvals = [p.params.individual(covariates=subject) for p in pd]
    links = [lk for p, pv in zip(pd, pdvals) for lk in p.links(pv, model.species)]
    sysm = build_system(model, vals, links, list(zip(pd, pdvals)))
    ev = regimen_events(model, regimen, vals, np.array([subject.get("WT", 70.0)]))
    n = sysm.K.shape[1]
    W = np.eye(n)[None]
    times = np.asarray(times, dtype=float)
    out = np.zeros((1, n, times.size))
    t, k, c, v = pad_events([ev])
    if sysm.nonlinear is not None:
        run_nonlinear(sysm, 1, times, (t, k, c, v), W, out, solver)
    else:
        x0 = steady_state_x0(sysm.K[0], model, regimen, vals, np.array([subject.get("WT", 70.0)]))[None]
        solve_dense(sysm.K, times, float(step), t, k, c, v, W, x0, out)
    return out[0], sysm, ev

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

from . import units
from .dosing import Events, Regimen, regimen_events
from .errors import PkpdError
from .model import Model
from .pd import PDModel
from .solver import solve_dense
from .system import build_system

_MERGE_TOL = 1e-9  # event times within this (h, relative to max(1, t)) of a grid time are merged into it
# (the solver snaps such events onto the grid time with the same tolerance)


def output_times(horizon: float, step: float, extra=()) -> np.ndarray:
    """Uniform grid 0..horizon (h) plus the ``extra`` event times inside it, sorted, unique."""
    n = int(np.floor(horizon / step + 1e-9)) + 1
    grid = np.arange(n) * step
    ex = np.asarray([t for t in extra if 0.0 <= t <= horizon and np.isfinite(t)], dtype=float)
    if ex.size:
        tol = _MERGE_TOL * np.maximum(1.0, np.abs(ex))
        near = np.abs(ex[:, None] - grid[None, :]).min(axis=1) <= tol
        grid = np.union1d(grid, ex[~near])
        keep = np.concatenate([[True], np.diff(grid) > _MERGE_TOL * np.maximum(1.0, grid[1:])])
        grid = grid[keep]
    return grid


def pad_events(evs: list[Events]) -> tuple[np.ndarray, ...]:
    """Stack per-regimen event arrays (1 subject each or n each) padding with events at +inf."""
    E = max((e.n_events for e in evs), default=0)
    n = sum(e.time.shape[0] for e in evs)
    t = np.full((n, E), np.inf)
    k = np.zeros((n, E), np.int64)
    c = np.zeros((n, E), np.int64)
    v = np.zeros((n, E))
    r = 0
    for e in evs:
        m, ne = e.time.shape
        t[r:r + m, :ne], k[r:r + m, :ne], c[r:r + m, :ne], v[r:r + m, :ne] = e.time, e.kind, e.cmt, e.value
        r += m
    return t, k, c, v


def run_nonlinear(sysm, repeats: int, times, events, W, out, solver=None) -> np.ndarray:
    """Solve a system with nonlinear terms for ``repeats`` regimens (regimen-major rows);
    returns per-row (steps, rejected steps).

    ``solver`` (a :class:`pkpd.nlmodel.SolverOptions`, e.g. from a scenario's ``[solver]``)
    overrides the model's method and tolerances.  Which kernel runs:

    * nonlinear terms only feeding extra states (tolerance, turnover) and method auto/dopri: the
      hybrid path — linear part exact (modal), only the extra states integrated;
    * terms writing back into the compartments (Michaelis–Menten) and method auto/exponential:
      the exponential integrator of :mod:`pkpd.exponential` in the eigenbasis of ``K + J_N``;
    * otherwise (or where an eigen-decomposition is unsafe): Dormand–Prince or ROS2 on everything.
    """
    from .hybrid import solve_hybrid
    from .nlmodel import AUTO, DOPRI, EXPONENTIAL, ROSENBROCK
    from .nonlinear import solve_nonlinear
    from .solver import eigenbasis
    nl = sysm.nonlinear
    method = nl.method if solver is None or solver.method is None else solver.method
    rtol = nl.rtol if solver is None or solver.rtol is None else solver.rtol
    atol = nl.atol if solver is None or solver.atol is None else solver.atol
    tile = lambda a: np.ascontiguousarray(np.tile(a, (repeats,) + (1,) * (a.ndim - 1)))
    t, k, c, v = events
    stats = np.zeros((out.shape[0], 2), dtype=np.int64)
    W = np.ascontiguousarray(W)
    n_lin = int(np.argmax(_extra_mask(sysm))) if _extra_mask(sysm).any() else sysm.K.shape[1]
    one_way = nl.tgt.size and np.all(nl.tgt >= n_lin) and n_lin > 0
    if method in (AUTO, DOPRI) and one_way:
        Kl = np.ascontiguousarray(sysm.K[:, :n_lin, :n_lin])
        lam, Vm, Vinv, ok = eigenbasis(Kl)
        if ok.all():
            solve_hybrid(tile(lam), tile(Vm), tile(Vinv), tile(nl.pars), nl.tgt, tile(nl.coef), nl.ops, nl.off,
                         nl.consts, tile(np.ascontiguousarray(nl.y0[:, n_lin:])), times, t, k, c, v, W, rtol, atol,
                         out, stats)
            return stats
    if method == EXPONENTIAL or (method == AUTO and not one_way):
        from .exponential import nonlinear_jacobian, solve_exponential
        Jn = np.zeros_like(sysm.K)
        nonlinear_jacobian(nl.pars, nl.tgt, nl.coef, nl.ops, nl.off, nl.consts, np.ascontiguousarray(nl.y0),
                           float(times[0]), Jn)
        Jn[~np.isfinite(Jn).all(axis=(1, 2))] = 0.0  # not differentiable there: split off K alone
        A = sysm.K + Jn
        lam, Vm, Vinv, ok = eigenbasis(A)
        if ok.all():
            WV = np.ascontiguousarray(np.einsum("soi,sik->sok", W, np.tile(Vm, (repeats, 1, 1))))
            solve_exponential(tile(lam), tile(Vm), tile(Vinv), tile(Jn), WV, tile(nl.pars), nl.tgt, tile(nl.coef),
                              nl.ops, nl.off, nl.consts, tile(np.ascontiguousarray(nl.y0)), times, t, k, c, v, rtol,
                              atol, out, stats)
            return stats
    solve_nonlinear(tile(sysm.K), tile(nl.pars), nl.tgt, tile(nl.coef), nl.ops, nl.off, nl.consts, tile(nl.y0),
                    times, t, k, c, v, W, ROSENBROCK if method == ROSENBROCK else DOPRI, rtol, atol, out, stats)
    return stats


def _extra_mask(sysm) -> np.ndarray:
    """Which states are extra (ODE) states: those with no compartment or effect-site name."""
    return np.array([any(o.name == s and o.quantity == "state" for o in sysm.outputs) for s in sysm.states])


def steady_state_x0(K: np.ndarray, model: Model, regimen: Regimen, values: dict, weight: np.ndarray) -> np.ndarray:
    """State at time 0 just before the first dose for a regimen's steady-state doses (NONMEM SS=1).

    For a dose repeated every τ, the pre-dose steady state solves ``x = Φ(τ) x + y`` where ``y`` is
    the state τ after one administration from zero and ``Φ(τ) = exp(K τ)``: exact, no washing-in.
    ``K`` is one subject's matrix (n × n); returns ``(n,)`` (zeros without steady-state doses).
    """
    from dataclasses import replace as _replace
    import scipy.linalg
    n = K.shape[0]
    x0 = np.zeros(n)
    for d in regimen.doses:
        if not d.steady_state:
            continue
        if d.start != 0.0:
            raise PkpdError(f"regimen {regimen.name!r}: a steady-state dose must start at time 0")
        if model.nonlinear is not None and model.nonlinear.active:
            raise PkpdError(f"regimen {regimen.name!r}: steady state (SS) is exact only for linear models")
        tau = float(d.every)
        single = Regimen("ss", (_replace(d, times=1, every=None, steady_state=False, start=0.0),))
        ev = regimen_events(model, single, values, weight)
        t, k, c, v = pad_events([ev])
        out = np.zeros((1, n, 2))
        solve_dense(K[None].copy(), np.array([0.0, tau]), 0.0, t, k, c, v, np.eye(n)[None], np.zeros((1, n)), out)
        A = np.eye(n) - scipy.linalg.expm(K * tau)
        y = out[0, :, 1]
        # least squares: compartments the dose never reaches (an unused depot) may have no
        # elimination, which makes A singular there; that is harmless, drug accumulating is not
        x = np.linalg.lstsq(A, y, rcond=None)[0]
        if np.linalg.norm(A @ x - y) > 1e-9 * max(np.linalg.norm(y), 1e-300):
            raise PkpdError(f"regimen {regimen.name!r}: no steady state (drug accumulates in a compartment "
                            f"without elimination)")
        x0 += x
    return x0


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

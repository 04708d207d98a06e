"""The Python API's boundary: arguments of :func:`pkpd.simulate`, :func:`pkpd.simulate_population`
and :func:`pkpd.solve_states` checked before any work, with the messages the command line prints.

A model name where a loaded model is needed, a PK model passed as PD, ``step=0``, ``horizon=-1``,
an unknown covariate or 0 kg end here in one :class:`~pkpd.errors.PkpdError` (a ``ValueError``)
or :class:`~pkpd.errors.PkpdTypeError` (a ``TypeError``), never deep inside as an
AttributeError or ZeroDivisionError.  The scenario loader uses the same checks
(:func:`check_grid`), so a scenario file and a Python call get the same words.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from pkpd.dosing.regimen import Regimen
from pkpd.errors import PkpdError, PkpdTypeError
from pkpd.limits import LIMITS, limit, out_of_range
from pkpd.models.pd import PDModel
from pkpd.models.pk import Model
from pkpd.solvers.options import SolverOptions
from pkpd.simulation.resources import check_estimate, population_estimate
from pkpd.simulation.sampling import Population
from pkpd.simulation.variables import check_variable_names


def _sequence(x, one, what: str) -> tuple:
    """``x`` as a tuple (a single ``one`` instance becomes a 1-tuple); text is never a sequence here."""
    if isinstance(x, one):
        return (x,)
    if isinstance(x, (str, bytes)) or not isinstance(x, Iterable):
        raise PkpdTypeError(_wrong(x, what))
    return tuple(x)


def _wrong(x, what: str) -> str:
    hint = {"models": f"load it first: pkpd.load_model({x!r})", "pd": f"load it first: pkpd.load_model({x!r})",
            "regimens": f"make it a regimen first: pkpd.parse_regimen({x!r})"}[what]
    if isinstance(x, str):
        return f"{what}: got the text {x!r}, not a {'regimen' if what == 'regimens' else 'loaded model'}; {hint}"
    return f"{what}: expected {'Regimen' if what == 'regimens' else 'model'} objects, got {type(x).__name__}"


def as_models(models) -> tuple[Model, ...]:
    """PK models: a :class:`Model` or a sequence of them (a PD model or a name is an error)."""
    out = _sequence(models, (Model, PDModel), "models")
    for m in out:
        if isinstance(m, PDModel):
            raise PkpdError(f"{m.name!r} is a PD model; pass it under pd=, not as a PK model", field="models")
        if not isinstance(m, Model):
            raise PkpdTypeError(_wrong(m, "models"), field="models")
    if not out:
        raise PkpdError("need at least one model and one regimen", field="models")
    return out


def as_pd(pd) -> tuple[PDModel, ...]:
    """PD models: a :class:`PDModel` or a sequence of them (a PK model or a name is an error)."""
    out = _sequence(pd, (PDModel, Model), "pd")
    for p in out:
        if isinstance(p, Model):
            raise PkpdError(f"{p.name!r} is a PK model; pass it as a model, not under pd=", field="pd")
        if not isinstance(p, PDModel):
            raise PkpdTypeError(_wrong(p, "pd"), field="pd")
    return out


def as_regimens(regimens) -> tuple[Regimen, ...]:
    """Regimens: a :class:`Regimen` or a sequence of them (results are by position; a scenario file
    also needs different names)."""
    out = _sequence(regimens, Regimen, "regimens")
    for r in out:
        if not isinstance(r, Regimen):
            raise PkpdTypeError(_wrong(r, "regimens"), field="regimens")
    if not out:
        raise PkpdError("need at least one model and one regimen", field="regimens")
    return out


def _number(v, f: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise PkpdTypeError(f"must be a number of hours, got {type(v).__name__}", field=f)
    v = float(v)
    if not math.isfinite(v):
        raise PkpdError("must be finite", field=f)
    return v


def check_grid(horizon, step, prefix: str = "") -> tuple[float, float]:
    """``(horizon, step)`` in h, checked: both > 0, step ≤ horizon, at most the ``output_times``
    limit of points.  ``prefix`` goes before the field names (``time.`` in a scenario file)."""
    hz, st = _number(horizon, f"{prefix}horizon"), _number(step, f"{prefix}step")
    if hz <= 0:
        raise PkpdError("must be > 0", field=f"{prefix}horizon")
    if st <= 0:
        raise PkpdError("must be > 0", field=f"{prefix}step")
    if st > hz:
        raise PkpdError(f"step ({st:g} h) is larger than the horizon ({hz:g} h)", field=f"{prefix}step")
    cap = limit("output_times")
    if hz / st > cap:
        raise PkpdError(f"{hz / st:.3g} time points; at most {cap:,.0f} (use a larger step, or raise the limit with "
                        f"{LIMITS['output_times'].env}=N)", field=f"{prefix}step")
    return hz, st


def check_subject(subject, models, pd) -> dict[str, float]:
    """A typical subject's covariates (WT kg, AGE years, FEMALE 0/1, model covariates): known names,
    finite numbers, weight and age inside their sanity ranges."""
    if subject is None:
        return {}
    if not isinstance(subject, dict):
        raise PkpdTypeError(f"must be a dict of covariates such as {{'WT': 70}}, got {type(subject).__name__}",
                            field="subject")
    known = {c for m in list(models) + list(pd) for c in m.params.all_covariates()}
    out = {}
    for k, v in subject.items():
        if k not in known:
            raise PkpdError(f"unknown covariate (known: {', '.join(sorted(map(str, known)))})", field=f"subject.{k}")
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            raise PkpdError("must be a finite number", field=f"subject.{k}")
        why = out_of_range({"WT": "weight", "AGE": "age"}[k], float(v)) if k in ("WT", "AGE") else None
        if why:
            raise PkpdError(why, field=f"subject.{k}")
        out[k] = float(v)
    return out


def check_solver(solver) -> SolverOptions | None:
    """``solver`` must be None or :class:`~pkpd.solvers.options.SolverOptions`."""
    if solver is not None and not isinstance(solver, SolverOptions):
        raise PkpdTypeError(f"must be pkpd.SolverOptions or None, got {type(solver).__name__}", field="solver")
    return solver


def checked_call(models, regimens, pd, horizon, step, subject, solver):
    """Every argument of :func:`pkpd.simulate`, checked and normalised:
    ``(models, regimens, pd, horizon, step, subject, solver)``; result names checked for collisions."""
    models, regimens, pd = as_models(models), as_regimens(regimens), as_pd(pd)
    horizon, step = check_grid(horizon, step)
    subject = check_subject(subject, models, pd)
    check_variable_names(models, pd)
    return models, regimens, pd, horizon, step, subject, check_solver(solver)


def checked_states_call(model, regimen, times, subject, pd, solver):
    """Arguments of :func:`pkpd.solve_states`: one PK model, one regimen, output times (h, finite,
    increasing, at most the ``output_times`` limit): ``(model, regimen, times, subject, pd, solver)``."""
    if not isinstance(model, Model):
        models = as_models(model)
        if len(models) != 1:
            raise PkpdError("solve_states takes one PK model", field="model")
        model = models[0]
    regs = as_regimens(regimen)
    if len(regs) != 1:
        raise PkpdError("solve_states takes one regimen", field="regimen")
    try:
        t = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise PkpdTypeError("must be an array of times in hours", field="times") from None
    if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0) or t[0] < 0:
        raise PkpdError("must be a non-empty 1-D array of finite times ≥ 0 h in increasing order", field="times")
    if t.size > limit("output_times"):
        raise PkpdError(f"{t.size:,} times; at most {limit('output_times'):,.0f} (raise the limit with "
                        f"{LIMITS['output_times'].env}=N)", field="times")
    pd = as_pd(pd)
    subject = check_subject(subject, (model,), pd)
    check_variable_names((model,), pd)
    return model, regs[0], t, subject, pd, check_solver(solver)


def check_population_call(models, regimens, pd, population, horizon, step, mode, dtype, chunk, thresholds,
                          quantiles, solver) -> tuple[tuple, tuple, tuple]:
    """Arguments of :func:`pkpd.simulate_population` checked, then its memory and time estimated
    (:mod:`pkpd.simulation.resources`) before anything is allocated; returns (models, regimens, pd)."""
    models, regimens, pd = as_models(models), as_regimens(regimens), as_pd(pd)
    if not isinstance(population, Population):
        raise PkpdTypeError(f"must be a pkpd.Population, got {type(population).__name__}", field="population")
    if mode not in ("streaming", "full", "metrics"):
        raise PkpdError(f"mode must be 'streaming', 'full' or 'metrics', got {mode!r}", field="mode")
    try:
        itemsize = np.dtype(dtype).itemsize
        ok = np.dtype(dtype) in (np.float32, np.float64)
    except TypeError:
        ok = False
    if not ok:
        raise PkpdError(f"must be float32 or float64, got {dtype!r}", field="dtype")
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise PkpdError(f"must be a whole number ≥ 1, got {chunk!r}", field="chunk")
    if thresholds is not None and not isinstance(thresholds, dict):
        raise PkpdTypeError("must be a dict output → threshold", field="thresholds")
    q = np.asarray(quantiles, dtype=float) if not isinstance(quantiles, str) else np.array([np.nan])
    if q.ndim != 1 or q.size == 0 or not np.all((q >= 0) & (q <= 100)):
        raise PkpdError("must be percentages from 0 to 100", field="quantiles")
    horizon, step = check_grid(horizon, step)
    check_solver(solver)
    check_variable_names(models, pd)
    check_estimate(population_estimate(models, regimens, pd, population.n, horizon, step, mode, itemsize,
                                       max(256, int(chunk))))
    return models, regimens, pd

"""Sweep designs and their analysis: what a parameter sweep varies and what it reports.

:class:`SweepSpec` (design, parameters, points, seed, subjects per point, Dask batch) is built
from a scenario's ``[sweep]`` table (:mod:`pkpd.scenario.sweep_table`) and run by
:mod:`pkpd.workflows.sweep`.  Here, with no simulation:

* :func:`design_matrix`: points × parameters in the units written in the scenario — ``grid`` (full
  factorial of each parameter's ``values``), ``lhs`` (Latin hypercube), ``sobol`` (scrambled Sobol
  sequence; both scipy.stats.qmc, scaled to [low, high]) or ``saltelli`` (SALib's Sobol-index
  design, ``points``·(D+2) rows);
* :func:`sobol_indices`: first- and total-order Sobol indices with 95 % bootstrap half-widths of
  one metric per model × regimen, from a ``saltelli`` sweep's results;
* :data:`METRICS` / :data:`METRIC_UNITS`: the scalar metrics each point reports.

SALib and scipy.stats.qmc are imported only when a design needs them.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
import numpy as np
import xarray as xr
from pkpd.limits import check_count


DESIGNS = ("grid", "lhs", "sobol", "saltelli")


REGIMEN_PARAMS = ("dose", "duration", "sprays", "interval")


@dataclass(frozen=True)
class SweepParam:
    name: str  # "model.param" or a regimen parameter
    low: float | None = None
    high: float | None = None
    values: tuple = ()


@dataclass(frozen=True)
class SweepSpec:
    design: str
    params: tuple[SweepParam, ...]
    points: int = 64
    seed: int = 0
    n: int = 300
    sensitivity: str | None = None  # metric analysed for Sobol indices
    batch: int = 4  # points per Dask task
    extra: dict = field(default_factory=dict)


def salib_problem(spec: SweepSpec) -> dict:
    return {"num_vars": len(spec.params), "names": [p.name for p in spec.params],
            "bounds": [[p.low, p.high] for p in spec.params]}


def design_size(spec: SweepSpec) -> int:
    """Points the design will have (computed without building it: a grid's product can be huge)."""
    if spec.design == "grid":
        return math.prod(len(p.values) for p in spec.params)
    if spec.design == "saltelli":
        return spec.points * (len(spec.params) + 2)
    return spec.points


def design_matrix(spec: SweepSpec) -> np.ndarray:
    """Points × parameters, in the units written in the scenario (at most the ``design_points``
    limit of points)."""
    check_count("design_points", design_size(spec), "points of the sweep design", "use fewer values or points")
    d = len(spec.params)
    if spec.design == "grid":
        return np.array(list(itertools.product(*(p.values for p in spec.params))), dtype=float)
    lo = np.array([p.low for p in spec.params])
    hi = np.array([p.high for p in spec.params])
    if spec.design == "saltelli":
        from SALib.sample import sobol as salib_sobol
        return salib_sobol.sample(salib_problem(spec), spec.points, calc_second_order=False, seed=spec.seed)
    from scipy.stats import qmc
    if spec.design == "lhs":
        u = qmc.LatinHypercube(d=d, seed=spec.seed).random(spec.points)
    else:
        u = qmc.Sobol(d=d, scramble=True, seed=spec.seed).random(spec.points)
    return qmc.scale(u, lo, hi)


def sobol_indices(ds: xr.Dataset, spec: SweepSpec) -> xr.Dataset:
    """First- and total-order Sobol indices (with 95 % bootstrap intervals) of ``spec.sensitivity``
    per model × regimen, from a ``saltelli`` design (SALib)."""
    from SALib.analyze import sobol as salib_sobol
    problem = salib_problem(spec)
    y = ds.value.sel(metric=spec.sensitivity).values  # point, model, regimen
    M, R = y.shape[1], y.shape[2]
    D = len(spec.params)
    out = {k: np.full((M, R, D), np.nan) for k in ("S1", "S1_conf", "ST", "ST_conf")}
    for mi in range(M):
        for ri in range(R):
            yy = y[:, mi, ri]
            if np.all(np.isnan(yy)) or np.nanstd(yy) == 0:
                continue
            si = salib_sobol.analyze(problem, np.nan_to_num(yy), calc_second_order=False, seed=spec.seed)
            for k in out:
                out[k][mi, ri] = si[k]
    return xr.Dataset({k: (("model", "regimen", "parameter"), v,
                           {"long_name": {"S1": "first-order Sobol index", "ST": "total-order Sobol index"}.get(
                               k, f"95 % half-width of {k[:2]}"), "metric": spec.sensitivity})
                       for k, v in out.items()})

METRICS = ("ketamine_cmax_median", "ketamine_auc_median", "norketamine_cmax_median", "p_adequate", "p_exceed",
           "p_success")


METRIC_UNITS = {"ketamine_cmax_median": "ng/mL", "ketamine_auc_median": "ng*h/mL", "norketamine_cmax_median": "ng/mL",
                "p_adequate": "1", "p_exceed": "1", "p_success": "1"}

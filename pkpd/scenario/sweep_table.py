"""The ``[sweep]`` table: a parameter sweep's design and the parameters it varies.

::

    [sweep]
    design = "saltelli"                # grid, lhs, sobol or saltelli (default lhs)
    points = 64                        # design points (saltelli: base samples)
    seed = 1
    n = 200                            # subjects per point (default: [population] n, else 300)
    sensitivity = "p_success"          # metric for Sobol indices (saltelli)
    batch = 4                          # points per Dask task

    [sweep.parameters]
    "olofsen_2022.C50" = { low = 0.38, high = 0.66 }   # model parameters: 'model.name'
    "olofsen_2022.C50.cv" = { low = 0.25, high = 0.8 } # size of a parameter's IIV: '.cv' (log-normal) or '.omega'
    dose = { low = 0.5, high = 2.0 }                   # regimen parameters (grid: values = [...])
"""
from __future__ import annotations

import numpy as np
from pkpd.errors import Collector, PkpdError
from pkpd.limits import check_count
from pkpd.analysis.sweep_design import METRICS, DESIGNS, REGIMEN_PARAMS, SweepParam, SweepSpec, design_size


KEYS = {"design", "points", "seed", "n", "sensitivity", "parameters", "batch"}
#: Keys of one ``[sweep.parameters]`` entry (``values`` for a grid, ``low``/``high`` otherwise).
PARAMETER_KEYS = {"low", "high", "values"}


def parse_sweep(tbl, col: Collector, models, pds, population_n: int | None) -> SweepSpec | None:
    """Check the ``[sweep]`` table against the scenario's models (``models``, ``pds``).

    ``population_n``: the ``[population]`` size, the default subjects per point.  Returns None
    when no parameter is valid (problems go to ``col``).
    """
    f = "sweep"
    if not isinstance(tbl, dict):
        col.add("must be a table", f)
        return None
    for k in sorted(set(tbl) - KEYS):
        col.add(f"unknown key '{k}'", f"{f}.{k}")
    design = tbl.get("design", "lhs")
    if design not in DESIGNS:
        col.add(f"must be one of {', '.join(DESIGNS)}", f"{f}.design")
    pts = tbl.get("points", 64)
    if not isinstance(pts, int) or isinstance(pts, bool) or not 1 <= pts <= 100_000:
        col.add("must be a whole number from 1 to 100000", f"{f}.points")
        pts = 1
    seed = tbl.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        col.add("must be a whole number ≥ 0", f"{f}.seed")
        seed = 0
    n = tbl.get("n", population_n or 300)
    if not isinstance(n, int) or isinstance(n, bool) or not 10 <= n <= 1_000_000:
        col.add("must be a whole number from 10 to 1000000", f"{f}.n")
        n = 300
    batch = tbl.get("batch", 4)
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= 1000:
        col.add("must be a whole number from 1 to 1000", f"{f}.batch")
        batch = 4
    sens = tbl.get("sensitivity")
    if sens is not None and sens not in METRICS:
        col.add(f"must be one of {', '.join(METRICS)}", f"{f}.sensitivity")
    ptbl = tbl.get("parameters")
    params = []
    known = {f"{m.name}.{p}": m.parameters[p] for m in list(models) + list(pds) for p in m.parameters}
    known.update(iiv_names(list(models) + list(pds)))
    if not isinstance(ptbl, dict) or not ptbl:
        col.add("needs [sweep.parameters]: name = { low, high } (or values = [...] for a grid)", f"{f}.parameters")
        return None
    for name, spec in ptbl.items():
        param = _parameter(name, spec, design, known, col)
        if param is not None:
            params.append(param)
    if design == "saltelli" and sens is None:
        sens = "p_success" if any(len(p.readouts) for p in pds) else "ketamine_cmax_median"
    if not params:
        return None
    spec = SweepSpec(design, tuple(params), pts, seed, n, sens, batch)
    try:
        check_count("design_points", design_size(spec), "points of the sweep design", "use fewer values or points")
    except PkpdError as e:
        col.catch(e, f)
        return None
    return spec


def iiv_names(models) -> dict:
    """``model.PARAM.cv`` (log-normal IIV) and ``model.PARAM.omega`` (any IIV) → the parameter."""
    out = {}
    for m in models:
        for pname, p in m.parameters.items():
            if p.iiv is not None:
                out[f"{m.name}.{pname}.omega"] = p
                if p.iiv.transform == "log":
                    out[f"{m.name}.{pname}.cv"] = p
    return out


def _parameter(name: str, spec, design: str, known: dict, col: Collector) -> SweepParam | None:
    """One entry of ``[sweep.parameters]``: a range (or, for a grid, values); None if invalid."""
    g = f"sweep.parameters.{name}"
    if name not in known and name not in REGIMEN_PARAMS:
        col.add(f"unknown parameter (model parameters are 'model.name', e.g. "
                f"{next(iter(known), 'perez_ruixo_2021.Vc')}; regimen parameters: {', '.join(REGIMEN_PARAMS)})", g)
        return None
    if not isinstance(spec, dict):
        col.add("must be { low = …, high = … } or { values = [...] }", g)
        return None
    for k in sorted(set(spec) - PARAMETER_KEYS):
        col.add(f"unknown key '{k}' (known: {', '.join(sorted(PARAMETER_KEYS))})", f"{g}.{k}")
    if design == "grid":
        vals = spec.get("values")
        if not (isinstance(vals, list) and vals and len(vals) <= 1000 and
                all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in vals)):
            col.add("a grid needs values = [numbers]", g)
            return None
        return SweepParam(name, values=tuple(float(v) for v in vals))
    lo, hi = spec.get("low"), spec.get("high")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in (lo, hi)) \
            or not lo < hi:
        col.add("needs finite low < high", g)
        return None
    if name.count(".") == 2 and lo < 0:  # model.PARAM.cv / .omega: the size of an IIV
        col.add("IIV sizes need low ≥ 0", g)
        return None
    if name in REGIMEN_PARAMS and lo <= 0:
        col.add("regimen parameters need low > 0", g)
        return None
    return SweepParam(name, float(lo), float(hi))

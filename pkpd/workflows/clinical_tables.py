"""The calibrated clinical endpoints in ``pkpd tradeoff`` and ``pkpd optimize`` outputs: P(analgesia
responder) and P(dissociation adverse event over the course, with the tolerance model) beside the
readout-level probabilities, and the optimiser's choice per visit schedule when it targets them.

Cells read "31% [22–40%]": the point estimate and its parameter-uncertainty interval (5–95 %);
CSV files hold fractions, one number per cell.
"""
from __future__ import annotations

import math

import numpy as np
import xarray as xr

from pkpd.analysis.clinical import clinical_summaries
from pkpd.analysis.clinical_spec import BENEFIT_LABEL, COST_LABEL
from pkpd.analysis.endpoints import assessment_grid
from pkpd.analysis.products import choose
from pkpd.models.endpoints import load_endpoints
from pkpd.simulation.population import simulate_population

CSV_COLUMNS = ["P(analgesia responder)", "responder p5", "responder p95", "P(dissociation AE over course)",
               "dissociation AE p5", "dissociation AE p95"]
_TIE = 0.01  # responder shares within one percentage point are ties: the lowest dose of them is chosen
_WORDS = ("analgesia responders", "dissociation-AE", "dissociation adverse events over the course")


def clinical_dataset(ds: xr.Dataset, pairs, spec, sc, variants, pop) -> xr.Dataset:
    """:func:`pkpd.analysis.clinical.clinical_summaries` with the shipped endpoint definitions, each
    endpoint read as ``pkpd validate`` calibrated it: where its :func:`assessment_grid` is not the
    session's (a responder at 15 min), the same subjects and regimens are simulated up to that time."""
    eps = load_endpoints()
    runs = {}
    for name in dict.fromkeys((spec.clinical.benefit, spec.clinical.cost)):
        horizon, step = assessment_grid(eps[name], sc.time.horizon, sc.time.step)
        if (horizon, step) != (sc.time.horizon, sc.time.step):
            runs[name] = simulate_population(sc.models, variants, pop, horizon=horizon, step=step, pd=sc.pd,
                                             mode="streaming", progress=False, solver=sc.solver)
    return clinical_summaries(ds, pairs, eps, spec.clinical, seed=pop.seed, by_endpoint=runs)


def _get(cl: xr.Dataset, var: str, pi: int, mi: int, ri: int, si: int | None) -> tuple[float, float, float]:
    at = (pi, mi, ri) if si is None else (pi, mi, ri, si)
    return tuple(float(cl[f"{var}{k}"].values[at]) for k in ("", "_unc_lo", "_unc_hi"))


def cells(cl: xr.Dataset, pi: int, mi: int, ri: int, si: int = 0) -> tuple[list[str], list[str]]:
    """(display cells, CSV cells) of P(responder) and P(dissociation AE over the course)."""
    shown, raw = [], []
    for var, s in (("p_benefit", None), ("p_cost", si)):
        v, lo, hi = _get(cl, var, pi, mi, ri, s)
        shown.append("—" if math.isnan(v) else f"{v:.0%} [{lo:.0%}–{hi:.0%}]")
        raw += ["" if math.isnan(x) else f"{x:.6g}" for x in (v, lo, hi)]
    return shown, raw


def figure_view(cl: xr.Dataset, tr: xr.Dataset, si: int = 0) -> xr.Dataset:
    """The clinical probabilities at schedule ``si`` in the layout :func:`frontier_figure` reads."""
    view = cl.drop_dims("schedule").merge(cl[[v for v in cl.data_vars if v.startswith("p_cost")]].isel(schedule=si))
    return view.assign_coords(route=("regimen", tr.route.values))


def clinical_axes(cl: xr.Dataset) -> tuple[str, str, str, str]:
    course = str(cl.schedule.values[0])
    return ("p_cost", "p_benefit", f"patients with a dissociation AE over the course, {course} (%)",
            "analgesia responders per session" + (f", at {float(cl.attrs['benefit_assessment_h']) * 60:g} min"
                                                  if "benefit_assessment_h" in cl.attrs else "") + " (%)")


def clinical_optimum(cl: xr.Dataset, sc, ladders, spec, weight: float):
    """Per base regimen, PD pair, PK model and visit schedule: the candidate with the highest
    P(analgesia responder) whose P(dissociation AE over that course) ≤ ``max_cost`` and
    P(responder) ≥ ``min_benefit`` (within one percentage point of the highest: the lowest dose) —
    or why none qualifies.  (header, display rows, CSV header, CSV rows)."""
    c = spec.clinical
    header = ["regimen", "PD", "model", "schedule", "choice", "dose mg", "mg/kg", BENEFIT_LABEL, COST_LABEL, "why"]
    rows, csv_rows, k = [], [], 0
    for base, lad in zip(sc.regimens, ladders):
        idx = list(range(k, k + len(lad)))
        k += len(lad)
        for pi, pl in enumerate(cl.pair.values):
            for mi, m in enumerate(cl.model.values):
                a = cl.p_benefit.values[pi, mi, idx]
                for si, sched in enumerate(cl.schedule.values):
                    x = cl.p_cost.values[pi, mi, idx, si]
                    if np.all(np.isnan(x)) or np.all(np.isnan(a)):
                        continue
                    ch = choose(np.nan_to_num(a, nan=-1.0), np.nan_to_num(x, nan=2.0), c.max_cost, c.min_benefit,
                                words=_WORDS, tie=_TIE)
                    key = [base.name, str(pl), str(m), str(sched)]
                    if ch.index is None:
                        rows.append(key + ["none", "", "", "", "", ch.reason])
                        csv_rows.append(key + ["none", "", ""] + [""] * 6 + [ch.reason])
                        continue
                    cand = lad[ch.index]
                    shown, raw = cells(cl, pi, mi, idx[ch.index], si)
                    rows.append(key + [cand.label, f"{cand.dose_mg:.3g}", f"{cand.dose_mg_per_kg:.3g}", *shown,
                                       ch.reason])
                    csv_rows.append(key + [cand.label, f"{cand.dose_mg:.6g}", f"{cand.dose_mg_per_kg:.6g}", *raw,
                                           ch.reason])
    csv_header = header[:7] + CSV_COLUMNS + ["why"]
    return header, rows, csv_header, csv_rows

"""One chunk of a population run: sample subjects, build their systems, solve every regimen in
one kernel call, evaluate the PD readouts in the same buffer."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pkpd.dosing.events import regimen_events
from pkpd.simulation.grid import pad_events
from pkpd.simulation.occasions import plan_occasions
from pkpd.simulation.population_layout import ModelLayout
from pkpd.simulation.readouts import apply_readout
from pkpd.simulation.sampling import individual_values, sample_covariates
from pkpd.simulation.system import build_system
from pkpd.solvers.dispatch import solve


@dataclass
class Chunk:
    """A solved chunk: ``y`` is (regimens solved, subjects, outputs, times), outputs in the
    layout's order (concentrations ng/mL, effect sites, states, then readouts)."""

    y: np.ndarray | None
    rix: list  # regimen indices solved (the model supports their routes)
    covariates: dict
    n_dense: int


def solve_chunk(lay: ModelLayout, pd, regimens, population, start: int, stop: int, cov_names, times, step,
                buf_holder: list, chunk: int, ok_routes, overrides=None, solver=None, method: str = "auto") -> Chunk:
    """Subjects ``start:stop`` of ``population`` under every supported regimen with one model."""
    m, S = lay.model, stop - start
    covs = sample_covariates(population, start, stop, cov_names)
    ov = overrides or {}
    vals = individual_values(m.params, population, start, stop, covs, purpose=2, overrides=ov.get(m.name))
    pdvals = [individual_values(p.params, population, start, stop, covs, purpose=20 + i, overrides=ov.get(p.name))
              for i, p in enumerate(pd)]
    links = [lk for p, pv in zip(pd, pdvals) for lk in p.links(pv, m.species, m)]
    plan = plan_occasions(m, regimens, population, start, stop, vals)  # inter-occasion variability
    if plan is not None:
        vals = plan.values
    sysm = build_system(plan.model if plan is not None else m, vals, links, list(zip(pd, pdvals)))
    keep = [i for i, o in enumerate(sysm.outputs) if o.quantity != "amount"]
    if [sysm.outputs[i].name for i in keep] != [o.name for o in lay.outs if o.quantity != "readout"]:
        raise AssertionError("population output layout changed between set-up and a chunk")
    scale = np.array([1.0 if sysm.outputs[i].quantity == "state" else 1000.0 for i in keep])
    W = sysm.W[:, keep] * scale[None, :, None]  # concentrations mg/L → ng/mL; states as they are
    wt = covs.get("WT", np.full(S, 70.0))
    rix = [ri for ri in range(len(regimens)) if ok_routes[ri]]
    if not rix:
        return Chunk(None, rix, covs, 0)
    events = pad_events([plan.events(regimens[ri], wt) if plan is not None else regimen_events(m, regimens[ri], vals, wt)
                         for ri in rix])
    nr, T = len(rix), times.size
    # one buffer for the whole run: concentrations from the kernel, readouts after them
    n_rows = len(keep) + len(lay.reads)
    if buf_holder[0] is None or buf_holder[0].shape[0] < S * nr or buf_holder[0].shape[1] != n_rows:
        buf_holder[0] = np.empty((chunk * max(nr, 1), n_rows, T))
    y = buf_holder[0][:S * nr]
    info = solve(sysm.K, np.ascontiguousarray(W), times, step, events, y, repeats=nr, nonlinear=sysm.nonlinear,
                 options=solver, linear=method)
    n_dense = int(info.dense_rows.sum()) if info.dense_rows is not None else 0
    y = y.reshape(nr, S, n_rows, T)
    conc_names = [sysm.outputs[i].name for i in keep]
    for j in range(nr):
        _readouts(y[j], lay, pd, pdvals, conc_names, len(keep))
    return Chunk(y, rix, covs, n_dense)


def _readouts(yr: np.ndarray, lay: ModelLayout, pd, pdvals, conc_names, n_conc: int) -> None:
    """PD readouts of one regimen's chunk into rows ``n_conc…`` of ``yr`` (subjects, rows, times)."""
    for ii, (p, rd) in enumerate(lay.reads):
        row_of = {e.name: conc_names.index(p.effect_name(e.name))
                  for e in p.effects if p.effect_name(e.name) in conc_names}
        if rd.c50_scale is not None:  # time-varying C50 (PD states): numpy path
            ce = {e: yr[:, r] / 1000.0 for e, r in row_of.items()}
            st = {s.name: yr[:, conc_names.index(f"{p.name}_{s.name}")] for s in p.states
                  if f"{p.name}_{s.name}" in conc_names}
            yr[:, n_conc + ii] = p.evaluate(rd, pdvals[pd.index(p)], ce, st)
        else:
            apply_readout(yr, n_conc + ii, p, rd, pdvals[pd.index(p)], row_of)
        if rd.direction == "decrease":  # population outputs: larger = more effect
            yr[:, n_conc + ii] *= -1.0

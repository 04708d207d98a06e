"""One chunk of a population run: sample subjects, build their systems, solve every regimen in
one :func:`~pkpd.solvers.dispatch.solve` call that also evaluates the PD readouts, the per-subject
metrics, the histogram bins at the percentile times and (full mode) stores the trajectories in the
run's array.

Linear models go through the solver's fused pass (:mod:`pkpd.solvers.fused`); a model whose
system has nonlinear terms, or a readout with a time-varying C50 (``c50_scale``, PD states), is
solved into a float64 chunk buffer first, its readouts evaluated there, and the same fused pass
run over the buffer — the same operations either way.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pkpd.dosing.events import regimen_events
from pkpd.simulation.grid import pad_events
from pkpd.simulation.occasions import plan_occasions
from pkpd.simulation.population_layout import ModelLayout
from pkpd.simulation.readouts import apply_readout, readout_arrays
from pkpd.simulation.sampling import individual_values, sample_covariates
from pkpd.simulation.system import build_system
from pkpd.solvers.dispatch import solve
from pkpd.solvers.batched import fused_pass
from pkpd.solvers.fused import METRICS, fused_work


@dataclass
class ChunkPlan:
    """What every chunk of one model in one run shares (times in h)."""

    lay: ModelLayout
    pd: tuple
    regimens: tuple
    population: object  # pkpd.simulation.sampling.Population
    cov_names: list
    times: np.ndarray
    step: float
    chunk: int
    ok_routes: list  # per regimen: the model supports its routes
    thresholds: np.ndarray  # (n_all, 2) per output of the layout (inf: none)
    sample_at: np.ndarray  # percentile time indices (empty in full mode)
    store: np.ndarray | None = None  # full mode: (regimens, subjects, outputs, times) of this model
    store_col: np.ndarray | None = None  # (n_all,) output → index in ``store``
    overrides: dict | None = None
    solver: object = None  # pkpd.solvers.options.SolverOptions
    method: str = "auto"
    bin_ranges: tuple | None = None  # streaming: per regimen lower edges and inverse widths, log flags, nbins
    keep_at: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # time indices to keep (observations)
    buffers: dict = field(default_factory=dict)  # reused across chunks

    def buffer(self, name: str, shape: tuple, dtype=np.float64) -> np.ndarray:
        """An array of ``shape`` kept for the whole run (allocated at the first chunk)."""
        if name not in self.buffers or self.buffers[name].shape != shape:
            self.buffers[name] = np.empty(shape, dtype)
        return self.buffers[name]


@dataclass
class Chunk:
    """A solved chunk: per kernel row ``j·S + s`` (regimen ``rix[j]``, subject ``s``) its metrics
    (rows, n_all, len(METRICS)); in streaming mode the bins (n_all, n_percentile_times, ≥ rows);
    the values at the time indices ``keep_at`` (the plan's and the last), ``kept`` (≥ rows, n_all, Tk)."""

    S: int
    rix: list  # regimen indices solved (the model supports their routes)
    covariates: dict
    n_dense: int
    metrics: np.ndarray | None = None
    bins: np.ndarray | None = None
    keep_at: np.ndarray | None = None
    kept: np.ndarray | None = None


def solve_chunk(plan: ChunkPlan, start: int, stop: int) -> Chunk:
    """Subjects ``start:stop`` of the plan's population under every supported regimen."""
    lay, pd, S = plan.lay, plan.pd, stop - start
    m = lay.model
    covs = sample_covariates(plan.population, start, stop, plan.cov_names)
    ov = plan.overrides or {}
    vals = individual_values(m.params, plan.population, start, stop, covs, purpose=2, overrides=ov.get(m.name))
    pdvals = [individual_values(p.params, plan.population, start, stop, covs, purpose=20 + i, overrides=ov.get(p.name))
              for i, p in enumerate(pd)]
    links = [lk for p, pv in zip(pd, pdvals) for lk in p.links(pv, m.species, m)]
    occ = plan_occasions(m, plan.regimens, plan.population, start, stop, vals)  # inter-occasion variability
    if occ is not None:
        vals = occ.values
    sysm = build_system(occ.model if occ is not None else m, vals, links, list(zip(pd, pdvals)))
    keep = [i for i, o in enumerate(sysm.outputs) if o.quantity != "amount"]
    conc_names = [sysm.outputs[i].name for i in keep]
    if conc_names != [o.name for o in lay.outs if o.quantity != "readout"]:
        raise AssertionError("population output layout changed between set-up and a chunk")
    scale = np.array([1.0 if sysm.outputs[i].quantity == "state" else 1000.0 for i in keep])
    W = np.ascontiguousarray(sysm.W[:, keep] * scale[None, :, None])  # mg/L → ng/mL; states as they are
    rix = [ri for ri in range(len(plan.regimens)) if plan.ok_routes[ri]]
    if not rix:
        return Chunk(S, rix, covs, 0)
    wt = covs.get("WT", np.full(S, 70.0))
    events = pad_events([occ.events(plan.regimens[ri], wt) if occ is not None else
                         regimen_events(m, plan.regimens[ri], vals, wt) for ri in rix])
    nr, n_all, n_out, T = len(rix), len(lay.outs), len(keep), plan.times.size
    rows = nr * S
    cap = plan.chunk * sum(plan.ok_routes)  # rows of the largest chunk: buffers are sized once
    dest_row = np.stack([np.repeat(np.asarray(rix), S), np.tile(np.arange(start, stop), nr)], axis=1)
    row_of = [{e.name: conc_names.index(p.effect_name(e.name)) for e in p.effects
               if p.effect_name(e.name) in conc_names} for p, _ in lay.reads]
    two_pass = sysm.nonlinear is not None or any(rd.c50_scale is not None for _, rd in lay.reads)
    bins = None
    if plan.bin_ranges is not None:
        lo, iw, lg, nb = plan.bin_ranges
        bins = {"group": dest_row[:, 0], "lo": lo, "iw": iw, "log": lg, "nbins": nb}
    work = dict(thresholds=plan.thresholds, metrics=True, sample_at=plan.sample_at, bins=bins, dest=plan.store,
                dest_row=dest_row, dest_col=plan.store_col,
                metrics_out=plan.buffer("metrics", (cap, n_all, len(METRICS))),
                bins_out=plan.buffer("bins", (n_all, plan.sample_at.size, cap), np.uint16),
                keep_at=plan.keep_at, n_times=T, kept_out=plan.buffer("kept", (cap, n_all, _n_kept(plan.keep_at, T))))
    if two_pass:
        y = plan.buffer("y", (cap, n_all, T))[:rows]
        info = solve(sysm.K, W, plan.times, plan.step, events, y, repeats=nr, nonlinear=sysm.nonlinear,
                     options=plan.solver, linear=plan.method)
        for j in range(nr):
            _readouts(y[j * S:(j + 1) * S], lay, pd, pdvals, conc_names, row_of, n_out)
        f = fused_work(n_all, rows, **work)
        sub = np.tile(np.arange(S, dtype=np.int64), nr)
        fused_pass(y, np.arange(rows, dtype=np.int64), sub, plan.times, *f.args())
    else:
        derived = readout_arrays(lay.reads, [pdvals[pd.index(p)] for p, _ in lay.reads], row_of, S)
        f = fused_work(n_out, rows, derived=derived, **work)
        info = solve(sysm.K, W, plan.times, plan.step, events, None, repeats=nr, options=plan.solver,
                     linear=plan.method, fused=f)
    n_dense = int(info.dense_rows.sum()) if info.dense_rows is not None else 0
    return Chunk(S, rix, covs, n_dense, f.metrics, f.bins if bins is not None else None, f.keep_at, f.kept)


def _n_kept(keep_at: np.ndarray, T: int) -> int:
    """How many time indices :func:`pkpd.solvers.fused.fused_work` keeps: ``keep_at`` and the last."""
    return np.unique(np.concatenate([keep_at, [T - 1]])).size if T else keep_at.size


def _readouts(yr: np.ndarray, lay: ModelLayout, pd, pdvals, conc_names, row_of, n_conc: int) -> None:
    """PD readouts of one regimen's chunk into rows ``n_conc…`` of ``yr`` (subjects, rows, times)."""
    for ii, (p, rd) in enumerate(lay.reads):
        if rd.c50_scale is not None:  # time-varying C50 (PD states): numpy path
            ce = {e: yr[:, r] / 1000.0 for e, r in row_of[ii].items()}
            st = {s.name: yr[:, conc_names.index(f"{p.name}_{s.name}")] for s in p.states
                  if f"{p.name}_{s.name}" in conc_names}
            yr[:, n_conc + ii] = p.evaluate(rd, pdvals[pd.index(p)], ce, st)
        else:
            apply_readout(yr, n_conc + ii, p, rd, pdvals[pd.index(p)], row_of[ii])
        if rd.direction == "decrease":  # population outputs: larger = more effect
            yr[:, n_conc + ii] *= -1.0

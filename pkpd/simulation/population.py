"""Population runs: many virtual subjects × regimens × models, chunked, in bounded memory.

Per chunk of subjects: draw covariates and etas (:mod:`pkpd.population`), build
every subject's system, turn each regimen into events, solve subjects ×
regimens in one kernel call (modal, dense fallback), then either keep the
trajectories (``mode="full"``) or reduce them on the fly (``mode="streaming"``:
per-subject metrics and per-time histograms for percentiles).  Memory in
streaming mode is one chunk of trajectories plus the histograms, whatever the
population size.
"""
from __future__ import annotations

import sys
import time as _time
from dataclasses import dataclass
import numpy as np
import xarray as xr
from pkpd.dosing.regimen import Regimen
from pkpd.dosing.events import regimen_events
from pkpd.errors import PkpdError
from pkpd.models.pk import Model
from pkpd.interrupts import check_interrupt
from pkpd.models.pd import PDModel
from pkpd.simulation.readouts import apply_readout
from pkpd.simulation.sampling import Population, individual_values, sample_covariates
from pkpd.simulation.grid import pad_events
from pkpd.simulation.typical import simulate
from pkpd.solvers.dispatch import solve
from pkpd.simulation.streaming import LOG_REL_ERROR, METRICS, Histograms
from pkpd.simulation.system import build_system
from pkpd.solvers.dispatch import run_nonlinear


QUANTILES = (5.0, 25.0, 50.0, 75.0, 95.0)


#: Full-trajectory runs larger than this are refused (bytes); use streaming.
FULL_MODE_LIMIT = 4 * 1024 ** 3


@dataclass(frozen=True)
class _Out:
    name: str
    species: str
    quantity: str  # plasma | effect | readout
    units: str
    long_name: str
    attrs: dict


def _outputs(model: Model, pd, sysm) -> list[_Out]:
    outs = []
    for o in sysm.outputs:
        if o.quantity == "amount":
            continue
        outs.append(_Out(o.name, o.species, o.quantity, "1" if o.quantity == "state" else "ng/mL", o.long_name,
                         {"species": o.species, "quantity": o.quantity}))
    return outs


def _pair(th) -> tuple[float, float]:
    """A threshold, or (lower, upper) thresholds, as a pair (upper inf when not given)."""
    if isinstance(th, (tuple, list)):
        return float(th[0]), float(th[1])
    return float(th), np.inf


def estimate_full_bytes(n: int, n_regimens: int, n_models: int, n_out: int, n_times: int, itemsize: int) -> int:
    return n * n_regimens * n_models * n_out * n_times * itemsize


def simulate_population(models, regimens, population: Population, *, horizon: float = 24.0, step: float = 1 / 60,
                        pd=(), mode: str = "streaming", dtype=np.float32, chunk: int = 1024,
                        thresholds: dict | None = None, quantiles=QUANTILES, progress: bool | None = None,
                        method: str = "auto", overrides: dict | None = None, solver=None) -> xr.Dataset:
    """Simulate a population under every regimen with every model.

    Parameters
    ----------
    models, regimens, pd : as :func:`pkpd.simulate`.
    population : Population
    horizon, step : float
        Output grid, h.
    mode : {"streaming", "full"}
        ``full`` keeps every trajectory (dims model × regimen × subject × time);
        ``streaming`` keeps per-subject metrics and per-time percentiles only.  In full mode,
        take exact percentiles from the trajectories when needed
        (:func:`percentiles` or ``ds[v].quantile(q, dim="subject")``).
    dtype : numpy dtype
        Storage of full trajectories (float32 halves memory; computation is float64).
    chunk : int
        Subjects per chunk (≥ 256); results do not depend on it.
    thresholds : dict
        Output name → threshold (ng/mL for concentrations; readout units) for the time-above
        and onset metrics, or (lower, upper) to also get the time above the upper one.
    progress : bool or None
        Show a progress bar (default: when stderr is a terminal).
    overrides : dict, optional
        Model name → {parameter: typical value in internal units} (PK or PD models).
    solver : pkpd.nlmodel.SolverOptions, optional
        Method and tolerances for nonlinear models (a scenario's ``[solver]`` table).

    Returns
    -------
    xarray.Dataset
        Per-subject metrics ``<output>_<metric>`` (model × regimen × subject), the subjects'
        covariates, and either percentiles ``<output>_percentiles`` (model × regimen × quantile ×
        time; streaming) or trajectories ``<output>`` (model × regimen × subject × time; full).
    """
    models = (models,) if isinstance(models, Model) else tuple(models)
    regimens = (regimens,) if isinstance(regimens, Regimen) else tuple(regimens)
    pd = (pd,) if isinstance(pd, PDModel) else tuple(pd)
    if mode not in ("streaming", "full"):
        raise PkpdError(f"mode must be 'streaming' or 'full', got {mode!r}")
    n = population.n
    if any(d.steady_state for r in regimens for d in r.doses):
        raise PkpdError("steady-state doses (SS=1) are supported for typical-subject runs, not populations yet")
    chunk = max(256, int(chunk))
    thresholds = dict(thresholds or {})
    dtype = np.dtype(dtype)
    R = len(regimens)
    typical = simulate(models, regimens, horizon=horizon, step=step,
                       subject={k: d.a for k, d in population.covariates.items() if d.kind != "bernoulli"},
                       pd=pd, solver=solver)
    times = typical.time.values
    T = times.size
    cov_names = sorted({c for m in models for c in m.params.all_covariates()} |
                       {c for p in pd for c in p.params.all_covariates()})

    # output layout per model (concentrations + effect sites + readouts), union over models
    per_model = []
    all_outs: dict[str, _Out] = {}
    for m in models:
        v1 = m.params.individual()
        pdv1 = [(p, p.params.individual()) for p in pd]
        links = [lk for p, pv in pdv1 for lk in p.links(pv, m.species)]
        sysm = build_system(m, v1, links, pdv1)
        outs = _outputs(m, pd, sysm)
        reads = []
        for p in pd:
            for rd in p.readouts:
                if all(p.effect_name(e) in {o.name for o in outs} for e in rd.inputs):
                    name = f"{rd.name}_{p.name}"
                    reads.append((p, rd))
                    flipped = rd.direction == "decrease"
                    outs.append(_Out(name, "", "readout", rd.unit,
                                     f"{rd.name.replace('_', ' ')} ({p.name})" + (", sign flipped" if flipped else ""),
                                     {"category": rd.category, "pd_model": p.name, "direction": "increase",
                                      "sign_flipped": int(flipped)}))
        per_model.append((m, outs, reads))
        for o in outs:
            all_outs.setdefault(o.name, o)
    names = list(all_outs)
    n_out_all = len(names)
    if mode == "full":
        need = estimate_full_bytes(n, R, len(models), n_out_all, T, dtype.itemsize)
        if need > FULL_MODE_LIMIT:
            raise PkpdError(f"full trajectories would need {need / 1024 ** 3:.1f} GiB "
                            f"({n:,} subjects × {R} regimens × {len(models)} models × {n_out_all} outputs × {T:,} "
                            f"times); the limit is {FULL_MODE_LIMIT / 1024 ** 3:.0f} GiB: use mode = \"streaming\"",
                            field="population.mode")
        # filled chunk by chunk; rows a model cannot produce are set to NaN below
        traj = {k: np.empty((len(models), R, n, T), dtype=dtype) for k in names}
    metrics = {k: np.full((len(models), R, n, len(METRICS)), np.nan) for k in names}
    hists: dict[tuple[int, int], Histograms] = {}
    covs_out = {k: np.empty(n) for k in cov_names}
    n_dense = 0

    buf = None
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm import tqdm
        bar = tqdm(total=n * len(models), unit="subj", desc="population", file=sys.stderr, dynamic_ncols=True)
    t0 = _time.perf_counter()
    for mi, (m, outs, reads) in enumerate(per_model):
        idx_out = [names.index(o.name) for o in outs]
        for ri in range(R):
            ranges = []
            for o in outs:
                if o.quantity == "state":
                    y = typical[o.name].values[mi, ri] if o.name in typical else np.array([0.0, 1.0])
                    lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
                    span = max(hi - lo, 1e-9)
                    ranges.append(("linear", lo - span, hi + span))
                elif o.quantity == "readout":
                    y = typical[o.name].values[mi, ri] if o.name in typical else np.array([0.0, 1.0])
                    if o.attrs.get("sign_flipped"):
                        y = -y
                    lo, hi = np.nanmin(y), np.nanmax(y)
                    span = max(hi - lo, 1e-9)
                    rd = next(rd for p, rd in reads if f"{rd.name}_{p.name}" == o.name)
                    if rd.type == "sigmoid_emax":
                        ranges.append(("linear", min(lo, 0.0) - 0.05 * span, max(hi * 2, 1.0)))
                    else:
                        ranges.append(("linear", lo - 3 * span, hi + 3 * span))
                else:
                    ranges.append(("log", float(np.nanmax(typical[o.name].values[mi, ri]))
                                   if o.name in typical else 1.0, 0.0))
            hists[(mi, ri)] = Histograms(T if mode == "streaming" else 1, ranges)
        th = np.array([_pair(thresholds.get(o.name, np.inf)) for o in outs]).reshape(len(outs), 2)
        ok_routes = [all(m.supports(rt) for rt in r.routes) for r in regimens]
        for start in range(0, n, chunk):
            check_interrupt()
            stop = min(n, start + chunk)
            S = stop - start
            covs = sample_covariates(population, start, stop, cov_names)
            if mi == 0:
                for k in cov_names:
                    covs_out[k][start:stop] = covs.get(k, np.full(S, m.params.all_covariates().get(k, ("", 0.0))[1]))
            ov = overrides or {}
            vals = individual_values(m.params, population, start, stop, covs, purpose=2, overrides=ov.get(m.name))
            pdvals = [individual_values(p.params, population, start, stop, covs, purpose=20 + i,
                                        overrides=ov.get(p.name))
                      for i, p in enumerate(pd)]
            links = [lk for p, pv in zip(pd, pdvals) for lk in p.links(pv, m.species)]
            sysm = build_system(m, vals, links, list(zip(pd, pdvals)))
            keep = [i for i, o in enumerate(sysm.outputs) if o.quantity != "amount"]
            if [sysm.outputs[i].name for i in keep] != [o.name for o in outs if o.quantity != "readout"]:
                raise AssertionError("population output layout changed between set-up and a chunk")
            scale = np.array([1.0 if sysm.outputs[i].quantity == "state" else 1000.0 for i in keep])
            W = sysm.W[:, keep] * scale[None, :, None]  # concentrations mg/L → ng/mL; states as they are
            wt = covs.get("WT", np.full(S, 70.0))
            evs, rix = [], []
            for ri, r in enumerate(regimens):
                if ok_routes[ri]:
                    evs.append(regimen_events(m, r, vals, wt))
                    rix.append(ri)
            if not evs:
                continue
            et, ek, ec, ev = pad_events(evs)
            nr = len(rix)
            # one buffer for the whole run: concentrations from the kernel, readouts after them
            n_rows = len(keep) + len(reads)
            if buf is None or buf.shape[0] < S * nr or buf.shape[1] != n_rows:
                buf = np.empty((chunk * max(nr, 1), n_rows, T))
            y = buf[:S * nr]
            if sysm.nonlinear is not None:
                run_nonlinear(sysm, nr, times, (et, ek, ec, ev), np.tile(W, (nr, 1, 1)), y, solver)
            else:
                dense = solve(sysm.K, np.ascontiguousarray(W), times, step, et, ek, ec, ev, y, method=method,
                              repeats=nr)
                n_dense += int(dense.sum())
            y = y.reshape(nr, S, n_rows, T)
            conc_names = [sysm.outputs[i].name for i in keep]
            for j, ri in enumerate(rix):
                yr = y[j]
                for ii, (p, rd) in enumerate(reads):
                    row_of = {e.name: conc_names.index(p.effect_name(e.name))
                              for e in p.effects if p.effect_name(e.name) in conc_names}
                    if rd.c50_scale is not None:  # time-varying C50 (PD states): numpy path
                        ce = {e: yr[:, r] / 1000.0 for e, r in row_of.items()}
                        st = {s.name: yr[:, conc_names.index(f"{p.name}_{s.name}")] for s in p.states
                              if f"{p.name}_{s.name}" in conc_names}
                        yr[:, len(keep) + ii] = p.evaluate(rd, pdvals[pd.index(p)], ce, st)
                    else:
                        apply_readout(yr, len(keep) + ii, p, rd, pdvals[pd.index(p)], row_of)
                    if rd.direction == "decrease":  # population outputs: larger = more effect
                        yr[:, len(keep) + ii] *= -1.0
                met = hists[(mi, ri)].add(yr, times, th, histogram=mode == "streaming")
                for oi, gi in enumerate(idx_out):
                    metrics[names[gi]][mi, ri, start:stop] = met[:, oi]
                    if mode == "full":
                        traj[names[gi]][mi, ri, start:stop] = yr[:, oi]
            if bar is not None:
                bar.update(S)
    if bar is not None:
        bar.close()
    if mode == "full":
        for mi, (m, outs, _) in enumerate(per_model):
            have = {o.name for o in outs}
            for ri, r in enumerate(regimens):
                supported = all(m.supports(rt) for rt in r.routes)
                for k in names:
                    if k not in have or not supported:
                        traj[k][mi, ri] = np.nan
    elapsed = _time.perf_counter() - t0

    q = np.asarray(quantiles, dtype=float)
    data = {}
    for k in names:
        o = all_outs[k]
        for ii, mt in enumerate(METRICS):
            unit = {"cmax": o.units, "tmax": "h", "auc": f"{o.units}*h", "time_above": "h", "onset": "h",
                    "time_above_hi": "h"}[mt]
            if mt in ("time_above", "onset", "time_above_hi") and k not in thresholds:
                continue
            data[f"{k}_{mt}"] = (("model", "regimen", "subject"), metrics[k][..., ii],
                                 {"units": unit, "long_name": f"{mt.replace('_', ' ')} of {o.long_name}", **o.attrs,
                                  **({"threshold": _pair(thresholds[k])[1 if mt == "time_above_hi" else 0]}
                                     if k in thresholds and mt in ("time_above", "onset", "time_above_hi") else {})})
        if mode == "streaming":
            pc = np.full((len(models), R, len(q), T), np.nan)
            for mi, (m, outs, _) in enumerate(per_model):
                if k not in [o.name for o in outs]:
                    continue
                oi = [o.name for o in outs].index(k)
                for ri in range(R):
                    if all(m.supports(rt) for rt in regimens[ri].routes):
                        pc[mi, ri] = hists[(mi, ri)].percentiles(q)[oi]
            data[f"{k}_percentiles"] = (("model", "regimen", "quantile", "time"), pc,
                                        {"units": o.units, "long_name": f"percentiles of {o.long_name}",
                                         "method": "streaming histogram estimate; relative error < "
                                                   f"{LOG_REL_ERROR:.2%} for concentrations (see pkpd.streaming)",
                                         **o.attrs})
        if mode == "full":
            data[k] = (("model", "regimen", "subject", "time"), traj[k],
                       {"units": o.units, "long_name": o.long_name, **o.attrs})
    for k in cov_names:
        desc = dict(m.params.all_covariates()).get(k, ("", 0))[0] if models else ""
        data[f"covariate_{k}"] = (("subject",), covs_out[k], {"units": "", "long_name": desc or k})
    ds = xr.Dataset(
        data,
        coords={
            "model": ("model", [m.name for m in models]),
            "regimen": ("regimen", [r.name for r in regimens]),
            "subject": ("subject", np.arange(n)),
            "quantile": ("quantile", q, {"units": "percent"}),
            "time": ("time", times, {"units": "h", "long_name": "time since first dose"}),
            "route": ("regimen", ["+".join(r.routes) for r in regimens]),
            "replicate": ("subject", population.replicate_of(0, n)),
        },
        attrs={"population_size": n, "seed": population.seed, "mode": mode, "iiv": int(population.iiv),
               "uncertainty_replicates": population.replicates, "dense_fallback_subject_regimens": n_dense,
               "elapsed_seconds": round(elapsed, 3)},
    )
    return ds


def percentiles(ds: xr.Dataset, variable: str, q=QUANTILES) -> xr.DataArray:
    """``<variable>_percentiles`` from a streaming run, or exact ones from full trajectories."""
    if f"{variable}_percentiles" in ds:
        return ds[f"{variable}_percentiles"]
    x = ds[variable]
    # exact; partitioning contiguous rows is far faster than along the subject axis
    arr = np.moveaxis(x.values, 2, -1)  # model, regimen, time, subject
    pc = np.percentile(np.ascontiguousarray(arr), q, axis=-1)  # quantile, model, regimen, time
    return xr.DataArray(np.moveaxis(pc, 0, 2), dims=("model", "regimen", "quantile", "time"),
                        coords={"model": ds.model, "regimen": ds.regimen, "quantile": np.asarray(q, float),
                                "time": ds.time},
                        attrs={**x.attrs, "long_name": f"percentiles of {x.attrs.get('long_name', variable)}",
                               "method": "exact (all trajectories)"})

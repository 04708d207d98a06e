"""Population runs: many virtual subjects × regimens × models, chunked, in bounded memory.

Per chunk of subjects (:mod:`pkpd.simulation.population_chunk`): draw covariates and etas
(:mod:`pkpd.simulation.sampling`), build every subject's system, turn each regimen into events,
solve subjects × regimens in one kernel call (:func:`pkpd.solvers.dispatch.solve`) that also
evaluates the PD readouts and the per-subject metrics and either writes the trajectories into the
run's array (``mode="full"``) or bins the values at the percentile times (``mode="streaming"``),
which per-time histograms then count (:mod:`pkpd.simulation.streaming`).  Memory in streaming
mode is the metrics, one chunk's bins and the histograms, whatever the population size.
The layout (:mod:`pkpd.simulation.population_layout`) is fixed before the first chunk and the
Dataset assembled after the last (:mod:`pkpd.simulation.population_assembly`).
"""
from __future__ import annotations

import ctypes
import sys
import time as _time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numba
import numpy as np
import xarray as xr

from pkpd.dosing.regimen import Regimen
from pkpd.errors import PkpdError
from pkpd.interrupts import check_interrupt
from pkpd.models.pd import PDModel
from pkpd.models.overrides import resolve_overrides
from pkpd.models.pk import Model
from pkpd.simulation.arguments import check_population_call
from pkpd.simulation.population_assembly import assemble
from pkpd.simulation.population_chunk import ChunkPlan, solve_chunk
from pkpd.simulation.population_layout import (FULL_MODE_LIMIT, check_full_memory, estimate_full_bytes,  # noqa: F401
                                               histogram_ranges, model_layout, pair)
from pkpd.simulation.population_observations import Observations, checked_times
from pkpd.simulation.sampling import Population
from pkpd.simulation.streaming import METRICS, Histograms, percentile_indices
from pkpd.simulation.typical import simulate

QUANTILES = (5.0, 25.0, 50.0, 75.0, 95.0)


def simulate_population(models, regimens, population: Population, *, horizon: float = 24.0, step: float = 1 / 60,
                        pd=(), mode: str = "streaming", dtype=np.float32, chunk: int = 1024,
                        thresholds: dict | None = None, quantiles=QUANTILES, progress: bool | None = None,
                        method: str = "auto", overrides: dict | None = None, solver=None,
                        observation_times=(), percentile_step: float | None = None) -> xr.Dataset:
    """Simulate a population under every regimen with every model.

    Parameters
    ----------
    models, regimens, pd : as :func:`pkpd.simulate`.
    population : Population
    horizon, step : float
        Output grid, h.
    mode : {"streaming", "full", "metrics"}
        ``full`` keeps every trajectory (model × regimen × subject × time); ``streaming`` per-subject
        metrics and per-time percentiles; ``metrics`` per-subject metrics only.  Exact percentiles of
        a full run: :func:`percentiles` or ``ds[v].quantile(q, dim="subject")``.
    dtype : numpy dtype
        Storage of full trajectories (float32 halves memory; computation is float64).
    chunk : int
        Subjects per chunk (≥ 256); results do not depend on it.
    thresholds : dict
        Output name → threshold (ng/mL for concentrations; readout units) for the time-above
        and onset metrics, or (lower, upper) to also get the time above the upper one.
    progress : bool or None
        Show a progress bar (default: when stderr is a terminal).
    method : {"auto", "batched", "modal", "dense"}
        Linear systems' kernel (:func:`pkpd.solvers.dispatch.solve`; they agree bit for bit).
    overrides : dict, optional
        Model name → {parameter: "60 L/h" or a number in internal units}, as :func:`pkpd.simulate`.
    solver : pkpd.solvers.options.SolverOptions, optional
        Method and tolerances for nonlinear models (a scenario's ``[solver]`` table).
    percentile_step : float, optional
        Streaming: percentile times every ``percentile_step`` h (``step``: every output time);
        default at most 300 times (:func:`pkpd.simulation.streaming.percentile_indices`).
    observation_times : sequence of float, optional
        Sampling times (h) of simulated observations (:mod:`pkpd.simulation.population_observations`).

    Returns
    -------
    xarray.Dataset
        Per-subject metrics ``<output>_<metric>`` (model × regimen × subject), the subjects'
        covariates, and either percentiles ``<output>_percentiles`` (model × regimen × quantile ×
        time, on the percentile times; streaming) or trajectories ``<output>`` (model × regimen ×
        subject × time; full).
    """
    models, regimens, pd, overrides = _checked_arguments(*check_population_call(models, regimens, pd, population,
        horizon, step, mode, dtype, chunk, thresholds, quantiles, solver), mode, overrides, percentile_step)  # + estimate
    n, R, dtype, chunk = population.n, len(regimens), np.dtype(dtype), max(256, int(chunk))
    thresholds = dict(thresholds or {})
    obs_t = checked_times(observation_times, horizon)
    typical = _typical(models, regimens, population, horizon, step, pd, solver, obs_t, overrides)
    times = typical.time.values
    cov_names = sorted({c for m in models for c in m.params.all_covariates()} |
                       {c for p in pd for c in p.params.all_covariates()})
    layouts = [model_layout(m, pd) for m in models]
    all_outs = _union_outputs(layouts)
    names = list(all_outs)
    at = percentile_indices(times, step, percentile_step) if mode == "streaming" else np.zeros(0, np.int64)
    store, traj = _storage(names, (len(models), R, n, times.size), dtype) if mode == "full" else (None, None)
    obs = Observations(models, layouts, R, n, obs_t, times) if obs_t.size else None
    acc = _Accumulators({k: _nan_array((len(models), R, n, len(METRICS))) for k in names}, {},
                        {k: np.empty(n) for k in cov_names}, obs=obs, seed=population.seed)
    bar = _progress_bar(n * len(models), progress)
    t0 = _time.perf_counter()
    for mi, lay in enumerate(layouts):
        plan = ChunkPlan(lay, pd, regimens, population, cov_names, times, step, chunk,
                         [all(lay.model.supports(rt) for rt in r.routes) for r in regimens],
                         np.array([pair(thresholds.get(o.name, np.inf)) for o in lay.outs]).reshape(-1, 2), at,
                         None if store is None else store[mi],
                         np.array([names.index(o.name) for o in lay.outs], dtype=np.int64), overrides, solver, method,
                         _histograms(acc.hists, typical, lay, mi, R, at.size) if mode == "streaming" else None,
                         keep_at=np.zeros(0, np.int64) if obs is None else obs.cols)
        _run_chunks(plan, acc, mi, names, bar)
    _finish(bar, traj, layouts, regimens)
    ds = assemble(models=models, regimens=regimens, population=population, layouts=layouts, all_outs=all_outs,
                  metrics=acc.metrics, traj=traj, hists=acc.hists, covs_out=acc.covs_out, cov_names=cov_names,
                  thresholds=thresholds, quantiles=quantiles, times=times if traj is not None else times[at],
                  mode=mode, n_dense=acc.n_dense, elapsed=_time.perf_counter() - t0)
    return _with_drug_notes(obs.add_to(ds, models) if obs is not None else ds, typical)


def _typical(models, regimens, population: Population, horizon, step, pd, solver, extra_times,
             overrides=None) -> xr.Dataset:
    """The typical subject (mean/median covariates): the output grid and the histogram ranges."""
    return simulate(models, regimens, horizon=horizon, step=step,
                    subject={k: d.a for k, d in population.covariates.items() if d.kind != "bernoulli"},
                    pd=pd, solver=solver, extra_times=extra_times, overrides=overrides)


def _finish(bar, traj, layouts, regimens) -> None:
    """Close the progress bar; in full mode, blank what a model cannot give."""
    if bar is not None:
        bar.close()
    if traj is not None:
        _blank_unsupported(traj, layouts, regimens)


def _histograms(hists: dict, typical, lay, mi: int, R: int, n_times: int) -> tuple:
    """Streaming: the histograms of model ``mi`` (one per regimen, ranges from the typical run) into
    ``hists``; returns their bins as the solver takes them: lower edges and inverse widths per
    regimen (rows), log flags, nbins."""
    for ri in range(R):
        hists[(mi, ri)] = Histograms(n_times, histogram_ranges(typical, lay, mi, ri))
    ranges = [hists[(mi, ri)].bin_ranges() for ri in range(R)]
    return np.stack([r[0] for r in ranges]), np.stack([r[1] for r in ranges]), ranges[0][2], ranges[0][3]


def _run_chunks(plan: ChunkPlan, acc, mi: int, names: list, bar) -> None:
    """Every chunk of model ``mi``, taken into the accumulators as it is solved, in order.

    With more than one numba thread, chunk ``k + 1`` is solved in a helper thread while chunk ``k``
    is: the serial Python part of one (sampling, building the systems, events) then runs while the
    other's kernels occupy the cores.  The two chunks in flight use two buffer sets (a copy of the
    plan with its own ``buffers``), and a chunk is taken into the accumulators before its buffer
    set is reused.  Every chunk is the same computation either way (bit-for-bit)."""
    n = plan.population.n
    ranges = [(start, min(n, start + plan.chunk)) for start in range(0, n, plan.chunk)]
    threads = numba.get_num_threads()
    if len(ranges) < 2 or threads < 2:
        for start, stop in ranges:
            check_interrupt()
            _take(acc, solve_chunk(plan, start, stop), mi, plan, names, start, stop, bar)
        return
    plans = (plan, replace(plan, buffers={}))
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="pkpd-chunk") as pool:
        pending = pool.submit(_solve_with_threads, threads, plans[0], *ranges[0])
        try:
            for k, (start, stop) in enumerate(ranges):
                check_interrupt()
                # chunk k − 1 (same buffer set as k + 1) was taken in the previous iteration
                nxt = (pool.submit(_solve_with_threads, threads, plans[(k + 1) % 2], *ranges[k + 1])
                       if k + 1 < len(ranges) else None)
                try:
                    ch = pending.result()
                finally:
                    pending = nxt
                _take(acc, ch, mi, plan, names, start, stop, bar)
        finally:
            if pending is not None:
                pending.cancel()


def _solve_with_threads(threads: int, plan: ChunkPlan, start: int, stop: int):
    """:func:`solve_chunk` in a helper thread, on the caller's numba thread count (it is per thread)."""
    numba.set_num_threads(threads)
    return solve_chunk(plan, start, stop)


def _take(acc, ch, mi: int, plan: ChunkPlan, names: list, start: int, stop: int, bar) -> None:
    acc.add(ch, mi, plan.lay, names, start, stop)
    if bar is not None:
        bar.update(stop - start)


def _with_drug_notes(ds: xr.Dataset, typical: xr.Dataset) -> xr.Dataset:
    """``ds`` with the typical run's drug conversions (``dose_drugs``): the same for every subject."""
    if "dose_drugs" in typical.attrs:
        ds.attrs["dose_drugs"] = typical.attrs["dose_drugs"]
    return ds


@dataclass
class _Accumulators:
    """What a population run keeps between chunks: per-subject metrics, streaming histograms per
    (model, regimen), covariates, sampled observations (or None) and the dense-fallback count (full
    trajectories are written by the solver straight into the run's array)."""

    metrics: dict
    hists: dict
    covs_out: dict
    n_dense: int = 0
    obs: Observations | None = None
    seed: int = 0  # the population's (residual errors of the observations)

    def add(self, ch, mi: int, lay, names, start: int, stop: int) -> None:
        """Take one solved chunk of model ``mi`` (subjects ``start:stop``) into the accumulators."""
        m = lay.model
        if self.obs is not None:
            self.obs.add(ch, mi, lay, start, stop, self.seed)
        if mi == 0:  # covariates are the same for every model
            for k in self.covs_out:
                self.covs_out[k][start:stop] = ch.covariates.get(
                    k, np.full(stop - start, m.params.all_covariates().get(k, ("", 0.0))[1]))
        self.n_dense += ch.n_dense
        idx_out = [names.index(o.name) for o in lay.outs]
        S = ch.S
        for j, ri in enumerate(ch.rix):
            if ch.bins is not None:
                self.hists[(mi, ri)].count(ch.bins, j * S, S)
            for oi, gi in enumerate(idx_out):
                self.metrics[names[gi]][mi, ri, start:stop] = ch.metrics[j * S:(j + 1) * S, oi]


def _storage(names, shape: tuple, dtype) -> np.ndarray:
    """Full mode: one (model, regimen, subject, output, time) array, refused above the memory
    limit, and each output's (model, regimen, subject, time) view of it.  The solver writes each
    chunk's rows into it (an output a model lacks, or a regimen it cannot take, is set to NaN at
    the end)."""
    check_full_memory(shape[2], shape[1], shape[0], len(names), shape[3], dtype.itemsize)
    store = np.empty(shape[:3] + (len(names), shape[3]), dtype=dtype)
    _small_pages(store)
    return store, {k: store[:, :, :, gi, :] for gi, k in enumerate(names)}


def _nan_array(shape: tuple) -> np.ndarray:
    """A float64 array of NaN on 4 KiB pages (:func:`_small_pages`): the per-subject metrics of a
    10⁶-subject run are 240 MB, filled before the first chunk on one core — 0.08 s instead of
    0.25–0.46 s with numpy's huge pages on the benchmark machine."""
    a = np.empty(shape)
    _small_pages(a)
    a.fill(np.nan)
    return a


def _small_pages(a: np.ndarray) -> None:
    """Linux: ask for 4 KiB pages for ``a`` before its first touch.  numpy asks for transparent
    huge pages; on the benchmark machine (a VM) their first touch stalled the kernel's writes
    erratically (standard case, full mode: 1.3–4.7 s with huge pages, 1.7–2.0 s without)."""
    if not sys.platform.startswith("linux") or a.nbytes < 1 << 22:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        start = a.ctypes.data & ~4095
        libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(a.nbytes + a.ctypes.data - start), 15)  # NOHUGEPAGE
    except (OSError, AttributeError):  # no libc madvise: keep numpy's choice
        pass


def _union_outputs(layouts) -> dict:
    """Every model's outputs by name, in first-seen order (the first model's description wins)."""
    all_outs = {}
    for lay in layouts:
        for o in lay.outs:
            all_outs.setdefault(o.name, o)
    return all_outs


def _checked_arguments(models, regimens, pd, mode: str, overrides=None,
                       percentile_step=None) -> tuple[tuple, tuple, tuple, dict]:
    """Single objects as 1-tuples; refuse an unknown mode, steady-state doses and a bad percentile
    step; overrides checked and in internal units (:func:`pkpd.models.overrides.resolve_overrides`)."""
    _check_percentile_step(percentile_step)
    models = (models,) if isinstance(models, Model) else tuple(models)
    regimens = (regimens,) if isinstance(regimens, Regimen) else tuple(regimens)
    pd = (pd,) if isinstance(pd, PDModel) else tuple(pd)
    if mode not in ("streaming", "full", "metrics"):
        raise PkpdError(f"mode must be 'streaming', 'full' or 'metrics', got {mode!r}")
    if any(d.steady_state for r in regimens for d in r.doses):
        raise PkpdError("steady-state doses (SS=1) are supported for typical-subject runs, not populations yet")
    return models, regimens, pd, resolve_overrides(models + pd, overrides)


def _check_percentile_step(percentile_step) -> None:
    """None, or a finite number of hours > 0."""
    ok = percentile_step is None or (isinstance(percentile_step, (int, float, np.integer, np.floating))
                                     and not isinstance(percentile_step, bool) and 0 < percentile_step < np.inf)
    if not ok:
        raise PkpdError(f"must be a number of hours > 0, got {percentile_step!r}", field="percentile_step")


def _progress_bar(total: int, progress: bool | None):
    """A tqdm bar on stderr (default: when stderr is a terminal), or None."""
    if not (sys.stderr.isatty() if progress is None else progress):
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit="subj", desc="population", file=sys.stderr, dynamic_ncols=True)


def _blank_unsupported(traj: dict, layouts, regimens) -> None:
    """Full mode: NaN where a model lacks an output or a regimen's route."""
    for mi, lay in enumerate(layouts):
        have = {o.name for o in lay.outs}
        for ri, r in enumerate(regimens):
            supported = all(lay.model.supports(rt) for rt in r.routes)
            for k, arr in traj.items():
                if k not in have or not supported:
                    arr[mi, ri] = np.nan


def percentiles(ds: xr.Dataset, variable: str, q=QUANTILES) -> xr.DataArray:
    """Percentiles over subjects of a population output.

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`simulate_population` result.
    variable : str
        Output name, e.g. ``ketamine_plasma`` (ng/mL) or a readout.
    q : sequence of float
        Percentiles (0–100); used for full-mode runs (streaming runs carry their own).

    Returns
    -------
    xarray.DataArray
        dims ``model × regimen × quantile × time``, in the output's unit: the stored
        ``<variable>_percentiles`` of a streaming run (histogram estimate, relative error
        < 1.16 % for concentrations) or exact percentiles of the trajectories of a full run.
    """
    if f"{variable}_percentiles" in ds:
        return ds[f"{variable}_percentiles"]
    if not isinstance(variable, str) or variable not in ds or "subject" not in ds[variable].dims:
        raise PkpdError(f"no population output {variable!r} in this dataset", field="variable")
    x = ds[variable]
    # exact; partitioning contiguous rows is far faster than along the subject axis
    arr = np.moveaxis(x.values, 2, -1)  # model, regimen, time, subject
    pc = np.percentile(np.ascontiguousarray(arr), q, axis=-1)  # quantile, model, regimen, time
    return xr.DataArray(np.moveaxis(pc, 0, 2), dims=("model", "regimen", "quantile", "time"),
                        coords={"model": ds.model, "regimen": ds.regimen, "quantile": np.asarray(q, float),
                                "time": ds.time},
                        attrs={**x.attrs, "long_name": f"percentiles of {x.attrs.get('long_name', variable)}",
                               "method": "exact (all trajectories)"})

"""Parameter sweeps: designs, one population run per point, resumable results, Sobol indices.

A sweep varies named parameters — model parameters (``"perez_ruixo_2021.Vc"``, in the unit the
model file uses; PD parameters likewise) and regimen parameters (``dose`` multiple, IV infusion
``duration``, intranasal ``sprays`` or ``interval``) — over a design:

* ``grid``: the full factorial product of each parameter's ``values``;
* ``lhs``: a Latin hypercube of ``points`` points in [low, high] (scipy.stats.qmc);
* ``sobol``: a scrambled Sobol sequence of ``points`` points;
(``duration`` and ``interval`` in minutes, ``dose`` as a multiple of the regimen's doses)

* ``saltelli``: SALib's Sobol-index design (``points`` base samples → points·(D+2) runs), analysed
  for first- and total-order indices with bootstrap confidence intervals.

Each point is a streaming population run reduced to scalar metrics per model × regimen: median
ketamine Cmax, AUC and norketamine Cmax, and — when the PD models give an analgesia /
psychotomimetic pair — P(adequate analgesia), P(unacceptable psychotomimetic effect) and
P(success) for the first pair.  Points are written one file each, atomically, as they finish
(``<stem>_sweep/points/``), so an interrupted sweep resumes where it stopped and never loses or
duplicates a point; the design and a fingerprint of the scenario are stored beside them and a
resume with a different design is refused.  ``workers``/``scheduler`` run the points on a Dask
distributed cluster; workers load the numba kernels from the on-disk cache once each.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import Collector, PkpdError

DESIGNS = ("grid", "lhs", "sobol", "saltelli")
REGIMEN_PARAMS = ("dose", "duration", "sprays", "interval")
METRICS = ("ketamine_cmax_median", "ketamine_auc_median", "norketamine_cmax_median", "p_adequate", "p_exceed",
           "p_success")
METRIC_UNITS = {"ketamine_cmax_median": "ng/mL", "ketamine_auc_median": "ng*h/mL", "norketamine_cmax_median": "ng/mL",
                "p_adequate": "1", "p_exceed": "1", "p_success": "1"}


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


def parse_sweep(tbl, col: Collector, models, pds, population_n: int | None) -> SweepSpec | None:
    """The ``[sweep]`` table of a scenario."""
    f = "sweep"
    if not isinstance(tbl, dict):
        col.add("must be a table", f)
        return None
    for k in sorted(set(tbl) - {"design", "points", "seed", "n", "sensitivity", "parameters", "batch"}):
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
    if not isinstance(ptbl, dict) or not ptbl:
        col.add("needs [sweep.parameters]: name = { low, high } (or values = [...] for a grid)", f"{f}.parameters")
        return None
    for name, spec in ptbl.items():
        g = f"{f}.parameters.{name}"
        if name not in known and name not in REGIMEN_PARAMS:
            col.add(f"unknown parameter (model parameters are 'model.name', e.g. "
                    f"{next(iter(known), 'perez_ruixo_2021.Vc')}; regimen parameters: {', '.join(REGIMEN_PARAMS)})", g)
            continue
        if not isinstance(spec, dict):
            col.add("must be { low = …, high = … } or { values = [...] }", g)
            continue
        if design == "grid":
            vals = spec.get("values")
            if not (isinstance(vals, list) and vals and len(vals) <= 1000 and
                    all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in vals)):
                col.add("a grid needs values = [numbers]", g)
                continue
            params.append(SweepParam(name, values=tuple(float(v) for v in vals)))
        else:
            lo, hi = spec.get("low"), spec.get("high")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in (lo, hi)) \
                    or not lo < hi:
                col.add("needs finite low < high", g)
                continue
            if name in REGIMEN_PARAMS and lo <= 0:
                col.add("regimen parameters need low > 0", g)
                continue
            params.append(SweepParam(name, float(lo), float(hi)))
    if design == "saltelli" and sens is None:
        sens = "p_success" if any(len(p.readouts) for p in pds) else "ketamine_cmax_median"
    if not params:
        return None
    return SweepSpec(design, tuple(params), pts, seed, n, sens, batch)


def salib_problem(spec: SweepSpec) -> dict:
    return {"num_vars": len(spec.params), "names": [p.name for p in spec.params],
            "bounds": [[p.low, p.high] for p in spec.params]}


def design_matrix(spec: SweepSpec) -> np.ndarray:
    """Points × parameters, in the units written in the scenario."""
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


# ---------------------------------------------------------------------------------------------
# One point (runs in this process or on a Dask worker)
# ---------------------------------------------------------------------------------------------

@lru_cache(maxsize=4)
def _scenario(path: str, mtime: float):
    from .scenario import load_scenario
    return load_scenario(path)


def evaluate_points(scenario_path: str, names: tuple[str, ...], rows: list[tuple[int, tuple]], n: int,
                    threads: int | None = None) -> list:
    """Metrics of several points: [(index, array (models, regimens, metrics))].

    ``threads``: numba threads in this process (1 on local Dask workers, which already run one
    process per core).  Results do not depend on it.
    """
    if threads is not None:
        import numba
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    sc = _scenario(scenario_path, os.path.getmtime(scenario_path))
    return [(i, evaluate_point(sc, names, np.asarray(vals, float), n)) for i, vals in rows]


def evaluate_point(sc, names, values: np.ndarray, n: int) -> np.ndarray:
    from .population import Population
    from .popsim import simulate_population
    from .run import tradeoff_setup
    from .dosefinding import vary
    from .tradeoff import evaluate, thresholds_for
    overrides: dict[str, dict] = {}
    regs = list(sc.regimens)
    by_model = {m.name: m for m in list(sc.models) + list(sc.pd)}
    for name, v in zip(names, values):
        if name in REGIMEN_PARAMS:
            # duration and interval are given in minutes; sprays are rounded to whole sprays
            x = {"duration": v / 60.0, "interval": v / 60.0, "sprays": int(round(v)), "dose": v}[name]
            regs = [vary(r, name, x) or r for r in regs]
        else:
            mname, pname = name.split(".", 1)
            p = by_model[mname].parameters[pname]
            overrides.setdefault(mname, {})[pname] = v * p.factor  # written unit → internal
    base = sc.population.population if sc.population is not None else Population(n=n, seed=0)
    pop = Population(n=n, seed=base.seed, covariates=base.covariates, table=base.table, iiv=base.iiv)
    setup = tradeoff_setup(sc)
    th = thresholds_for(setup[1], setup[0]) if setup else {}
    ds = simulate_population(sc.models, regs, pop, horizon=sc.time.horizon, step=sc.time.step, pd=sc.pd,
                             mode="streaming", thresholds=th, progress=False, overrides=overrides,
                             solver=sc.solver)
    M, R = len(sc.models), len(regs)
    out = np.full((M, R, len(METRICS)), np.nan)
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[..., 0] = np.nanmedian(ds.ketamine_plasma_cmax.values, axis=-1)
            out[..., 1] = np.nanmedian(ds.ketamine_plasma_auc.values, axis=-1)
            if "norketamine_plasma_cmax" in ds:
                out[..., 2] = np.nanmedian(ds.norketamine_plasma_cmax.values, axis=-1)
    if setup:
        tr = evaluate(ds, setup[1][:1], setup[0])
        out[..., 3] = tr.p_adequate.values[0]
        out[..., 4] = tr.p_exceed.values[0]
        out[..., 5] = tr.p_success.values[0]
    return out


# ---------------------------------------------------------------------------------------------
# The store: one file per finished point, a design file, resume
# ---------------------------------------------------------------------------------------------

def _fingerprint(sc, spec: SweepSpec, X: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(sc.source_text.encode())
    h.update(X.tobytes())
    h.update(json.dumps([spec.design, spec.points, spec.seed, spec.n]).encode())
    return h.hexdigest()[:16]


class Store:
    def __init__(self, root: Path, fingerprint: str, X: np.ndarray, names, fresh: bool = False):
        self.root = Path(root)
        self.points = self.root / "points"
        meta = self.root / "design.json"
        if fresh and self.root.exists():
            import shutil
            shutil.rmtree(self.root)
        if meta.exists():
            old = json.loads(meta.read_text())
            if old.get("fingerprint") != fingerprint:
                raise PkpdError(f"{self.root} holds a sweep of a different scenario or design; use --fresh to "
                                f"start over (or another output folder)")
        self.points.mkdir(parents=True, exist_ok=True)
        for stale in self.points.glob(".p*.tmp"):  # a point being written when the sweep was killed
            stale.unlink(missing_ok=True)
        if not meta.exists():
            from .outputs import write_text
            write_text(meta, json.dumps({"fingerprint": fingerprint, "names": list(names),
                                         "design": X.tolist()}))

    def done(self) -> set[int]:
        return {int(p.stem[1:]) for p in self.points.glob("p*.npy")}

    def save(self, i: int, arr: np.ndarray) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".p{i:07d}.", suffix=".tmp", dir=self.points)
        os.close(fd)
        try:
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
            os.replace(tmp, self.points / f"p{i:07d}.npy")
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def load(self, i: int) -> np.ndarray:
        return np.load(self.points / f"p{i:07d}.npy")


def run_sweep(sc, spec: SweepSpec, *, workers: int | None = None, scheduler: str | None = None,
              fresh: bool = False, progress: bool | None = None, store_dir: Path | None = None) -> xr.Dataset:
    """Run (or resume) a sweep; returns the results Dataset (point × model × regimen × metric)."""
    X = design_matrix(spec)
    names = tuple(p.name for p in spec.params)
    stem = Path(sc.path).stem
    root = store_dir or sc.output_dir / f"{stem}_sweep"
    store = Store(root, _fingerprint(sc, spec, X), X, names, fresh)
    todo = [i for i in range(len(X)) if i not in store.done()]
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(X), initial=len(X) - len(todo), unit="pt", desc="sweep", file=sys.stderr)
    t0 = time.perf_counter()
    batches = [todo[k:k + spec.batch] for k in range(0, len(todo), spec.batch)]
    path = str(Path(sc.path).resolve())
    if (workers or scheduler) and todo:
        from distributed import Client, LocalCluster, as_completed
        cluster = None
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        try:
            threads = 1 if cluster is not None else None
            futs = [client.submit(evaluate_points, path, names, [(i, tuple(X[i])) for i in b], spec.n, threads,
                                  pure=False) for b in batches]
            for fut in as_completed(futs):
                for i, arr in fut.result():
                    store.save(i, arr)
                    if bar is not None:
                        bar.update(1)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    else:
        for b in batches:
            for i, arr in evaluate_points(path, names, [(i, tuple(X[i])) for i in b], spec.n):
                store.save(i, arr)
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - t0
    Y = np.stack([store.load(i) for i in range(len(X))])  # point, model, regimen, metric
    regs = [r.name for r in sc.regimens]
    ds = xr.Dataset(
        {"value": (("point", "model", "regimen", "metric"), Y, {"long_name": "sweep metric"}),
         "design": (("point", "parameter"), X, {"long_name": "parameter values (units as in the scenario)"})},
        coords={"point": np.arange(len(X)), "parameter": list(names), "model": [m.name for m in sc.models],
                "regimen": regs, "metric": list(METRICS),
                "metric_units": ("metric", [METRIC_UNITS[m] for m in METRICS])},
        attrs={"design": spec.design, "subjects_per_point": spec.n, "seed": spec.seed,
               "points_run_now": len(todo), "elapsed_seconds_now": round(elapsed, 3),
               "executor": f"dask scheduler {scheduler}" if scheduler else
               (f"dask LocalCluster, {workers} workers" if workers else "local")})
    if spec.design == "saltelli" and spec.sensitivity:
        ds = ds.merge(sobol_indices(ds, spec))
    return ds


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


def tornado_figure(ds: xr.Dataset, title: str = ""):
    """Bars of first- and total-order indices with 95 % intervals, one panel per model × regimen."""
    from .plot import _style
    import matplotlib.pyplot as plt
    _style()
    M, R = ds.sizes["model"], ds.sizes["regimen"]
    params = list(ds.parameter.values)
    fig, axes = plt.subplots(M, R, figsize=(4.6 * R, 0.5 * len(params) + 2.2), squeeze=False)
    for mi in range(M):
        for ri in range(R):
            ax = axes[mi, ri]
            s1, st = ds.S1.values[mi, ri], ds.ST.values[mi, ri]
            c1, ct = ds.S1_conf.values[mi, ri], ds.ST_conf.values[mi, ri]
            order = np.argsort(np.nan_to_num(st))
            ypos = np.arange(len(params))
            ax.barh(ypos + 0.2, st[order], 0.38, xerr=ct[order], color="#2874a6", label="total order", alpha=0.85)
            ax.barh(ypos - 0.2, s1[order], 0.38, xerr=c1[order], color="#e67e22", label="first order", alpha=0.85)
            ax.set_yticks(ypos, [params[i] for i in order], fontsize=8)
            ax.axvline(0, color="#555555", lw=0.8)
            ax.set_xlim(-0.1, 1.1)
            ax.set_title(f"{ds.model.values[mi]} — {ds.regimen.values[ri]}"[:60], fontsize=8)
            ax.set_xlabel(f"Sobol index of {ds.S1.attrs.get('metric', '')}")
    axes[0, 0].legend(fontsize=7, frameon=False, loc="lower right")
    fig.suptitle(title or "Global sensitivity (Sobol indices, 95 % intervals)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig

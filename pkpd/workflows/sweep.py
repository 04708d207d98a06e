"""Parameter sweeps: designs, one population run per point, resumable results, Sobol indices.

A sweep varies named parameters — model parameters (``"perez_ruixo_2021.Vc"``, in the unit the
model file uses; PD parameters likewise), the size of a parameter's between-subject variability
(``"olofsen_2022.C50.cv"`` for log-normal IIV, ``".omega"`` for any) and regimen parameters (``dose`` multiple, IV infusion
``duration``, intranasal ``sprays`` or ``interval``) — over a design:

* ``grid``: the full factorial product of each parameter's ``values``;
* ``lhs``: a Latin hypercube of ``points`` points in [low, high] (scipy.stats.qmc);
* ``sobol``: a scrambled Sobol sequence of ``points`` points;
(``duration`` and ``interval`` in minutes, ``dose`` as a multiple of the regimen's doses)

* ``saltelli``: SALib's Sobol-index design (``points`` base samples → points·(D+2) runs), analysed
  for first- and total-order indices with bootstrap confidence intervals.

Each point is a population run (metrics only) reduced to scalar metrics per model × regimen: median
ketamine Cmax, AUC and norketamine Cmax, and — when the PD models give an analgesia /
psychotomimetic pair — P(adequate analgesia), P(unacceptable psychotomimetic effect) and
P(success) for the first pair.  Points are written one file each, atomically, as they finish
(``<stem>_sweep/points/``), so an interrupted sweep resumes where it stopped and never loses or
duplicates a point; the design and a fingerprint of the scenario are stored beside them and a
resume with a different design is refused.  ``workers``/``scheduler`` run the points on a Dask
distributed cluster; workers load the numba kernels from the on-disk cache once each.  Without
them the points run on every core of this machine (:mod:`pkpd.workflows.executors`).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import replace
from functools import lru_cache, partial
from pathlib import Path
import numba
import numpy as np
import xarray as xr
from tqdm import tqdm
from pkpd.errors import PkpdError
from pkpd.models.variability import with_iiv
from pkpd.scenario.load import load_scenario
from pkpd.simulation.sampling import Population
from pkpd.simulation.population import simulate_population
from pkpd.workflows.run import scenario_stem, tradeoff_setup
from pkpd.analysis.dosefinding import vary
from pkpd.analysis.tradeoff import evaluate, thresholds_for
from pkpd.output.files import write_text
from pkpd.analysis.sweep_design import (METRICS, METRIC_UNITS, REGIMEN_PARAMS, SweepSpec, design_matrix, design_size,
                                        sobol_indices)
from pkpd.limits import check_count
from pkpd.simulation.resources import check_estimate, population_estimate, sweep_estimate
from pkpd.workflows.executors import run_batches



@lru_cache(maxsize=4)
def _scenario(path: str, mtime: float):
    return load_scenario(path)


def evaluate_points(scenario_path: str, names: tuple[str, ...], rows: list[tuple[int, tuple]], n: int,
                    threads: int | None = None) -> list:
    """Metrics of several points: [(index, array (models, regimens, metrics))].

    ``threads``: numba threads for this call (1 in the local executor's threads and on local Dask
    workers, which already run one per core; numba's setting is per thread).  Results do not
    depend on it.
    """
    if threads is not None:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    sc = _scenario(scenario_path, os.path.getmtime(scenario_path))
    return [(i, evaluate_point(sc, names, np.asarray(vals, float), n)) for i, vals in rows]


def evaluate_point(sc, names, values: np.ndarray, n: int) -> np.ndarray:
    """Metrics (model × regimen × metric) of one design point: the parameters ``names`` set to
    ``values``, a streaming run of ``n`` subjects of the scenario's population (every other
    setting of it kept: seed, covariates, table, iiv, replicates)."""
    overrides: dict[str, dict] = {}
    regs = list(sc.regimens)
    by_model = {m.name: m for m in list(sc.models) + list(sc.pd)}
    for name, v in zip(names, values):
        if name in REGIMEN_PARAMS:
            # duration and interval are given in minutes; sprays are rounded to whole sprays
            x = {"duration": v / 60.0, "interval": v / 60.0, "sprays": int(round(v)), "dose": v}[name]
            regs = [vary(r, name, x) or r for r in regs]
        elif name.count(".") == 2:  # model.PARAM.cv / .omega: the size of that parameter's IIV
            mname, pname, key = name.split(".")
            by_model[mname] = with_iiv(by_model[mname], pname, key, float(v))
        else:
            mname, pname = name.split(".", 1)
            p = by_model[mname].parameters[pname]
            overrides.setdefault(mname, {})[pname] = v * p.factor  # written unit → internal
    models = [by_model[m.name] for m in sc.models]
    pds = [by_model[p.name] for p in sc.pd]
    base = sc.population.population if sc.population is not None else Population(n=n, seed=0)
    pop = replace(base, n=n)
    setup = tradeoff_setup(sc)
    th = thresholds_for(setup[1], setup[0]) if setup else {}
    ds = simulate_population(models, regs, pop, horizon=sc.time.horizon, step=sc.time.step, pd=pds,
                             mode="metrics", thresholds=th, progress=False, overrides=overrides,
                             solver=sc.solver)
    M, R = len(sc.models), len(regs)
    out = np.full((M, R, len(METRICS)), np.nan)
    with np.errstate(all="ignore"):
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


def _fingerprint(sc, spec: SweepSpec, X: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(sc.source_text.encode())
    h.update(X.tobytes())
    h.update(json.dumps([spec.design, spec.points, spec.seed, spec.n]).encode())
    return h.hexdigest()[:16]


_POINT = re.compile(r"^p(\d{7})\.npy$")
_TRAILER = b"\nsha256:"


def _point_bytes(arr: np.ndarray) -> bytes:
    """A point file: the ``.npy`` bytes (shape and dtype in its header) and a SHA-256 trailer."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr, dtype=np.float64))
    data = buf.getvalue()
    return data + _TRAILER + hashlib.sha256(data).hexdigest().encode() + b"\n"


def _read_point(path: Path, shape: tuple) -> np.ndarray:
    """A point file's array, verified: checksum, shape and dtype; ValueError saying what is wrong."""
    data = path.read_bytes()
    if not data:
        raise ValueError("empty file")
    cut = data.rfind(_TRAILER)
    if cut < 0:
        raise ValueError("no checksum (truncated or not a point file)")
    body, digest = data[:cut], data[cut + len(_TRAILER):].strip()
    if hashlib.sha256(body).hexdigest().encode() != digest:
        raise ValueError("checksum mismatch (damaged)")
    try:
        arr = np.load(io.BytesIO(body), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"unreadable array ({e})") from None
    if arr.shape != shape or arr.dtype != np.float64:
        raise ValueError(f"{arr.dtype} array of shape {arr.shape}, expected float64 {shape}")
    return arr


class Store:
    """A sweep's folder: ``design.json`` (fingerprint, parameter names, design) and one verified
    file per finished point in ``points/`` (``.npy`` with a SHA-256 trailer), written atomically.

    On resume every point file is checked (checksum, shape, dtype): a damaged one (truncated,
    empty, garbage, wrong shape) is deleted and recomputed with a warning (:attr:`warnings`); a
    damaged ``design.json`` is an error that says how to start over.
    """

    def __init__(self, root: Path, fingerprint: str, X: np.ndarray, names, fresh: bool = False,
                 shape: tuple = ()):
        self.root = Path(root)
        self.points = self.root / "points"
        self.shape = tuple(shape)
        self.warnings: list[str] = []
        meta = self.root / "design.json"
        if fresh and self.root.exists():
            shutil.rmtree(self.root)
        if meta.exists():
            old = self._design(meta)
            if old.get("fingerprint") != fingerprint:
                raise PkpdError(f"{self.root} holds a sweep of a different scenario or design; use --fresh to "
                                f"start over (or another output folder)")
        try:
            self.points.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PkpdError(f"cannot create the sweep store: {e.strerror or e}", file=str(self.root)) from None
        for stale in self.points.glob(".p*.tmp"):  # a point being written when the sweep was killed
            stale.unlink(missing_ok=True)
        if not meta.exists():
            write_text(meta, json.dumps({"fingerprint": fingerprint, "names": list(names),
                                         "design": X.tolist()}))
        self.n_points = len(X)

    @staticmethod
    def _design(meta: Path) -> dict:
        """The stored design, or an error naming the file and the fix."""
        try:
            old = json.loads(meta.read_text(encoding="utf-8"))
            if not isinstance(old, dict) or not isinstance(old.get("fingerprint"), str):
                raise ValueError("no fingerprint")
            return old
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise PkpdError(f"the sweep's design file is damaged ({e}); its finished points cannot be trusted: "
                            f"run again with --fresh to start over (or delete {meta.parent})", file=str(meta)) from None

    def done(self) -> set[int]:
        """Indices of the points whose files are present and verified (damaged ones are removed)."""
        ok = set()
        for p in self.points.iterdir():
            m = _POINT.match(p.name)
            if m is None or not int(m.group(1)) < self.n_points:
                continue
            i = int(m.group(1))
            try:
                _read_point(p, self.shape)
            except (ValueError, OSError) as e:
                self.warnings.append(f"sweep point {i}: its saved file was damaged ({e}); it is computed again")
                p.unlink(missing_ok=True)
                continue
            ok.add(i)
        return ok

    def save(self, i: int, arr: np.ndarray) -> None:
        data = _point_bytes(arr)
        fd, tmp = tempfile.mkstemp(prefix=f".p{i:07d}.", suffix=".tmp", dir=self.points)
        os.close(fd)
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, self.points / f"p{i:07d}.npy")
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def load(self, i: int) -> np.ndarray:
        try:
            return _read_point(self.points / f"p{i:07d}.npy", self.shape)
        except (ValueError, OSError) as e:
            raise PkpdError(f"sweep point {i}: its file changed while the sweep ran ({e}); run the sweep again to "
                            f"recompute it", file=str(self.points)) from None


def run_sweep(sc, spec: SweepSpec, *, workers: int | None = None, scheduler: str | None = None,
              fresh: bool = False, progress: bool | None = None, store_dir: Path | None = None) -> xr.Dataset:
    """Run (or resume) a sweep; returns the results Dataset (point × model × regimen × metric).

    The design's size and the whole sweep's memory and time are checked first (limits
    ``design_points``, ``memory``, ``hours``); a point file damaged since an earlier run is
    recomputed (``attrs["store_warnings"]`` says which)."""
    check_count("design_points", design_size(spec), "points of the sweep design", "use fewer values or points")
    chunk = sc.population.chunk if sc.population is not None else 1024
    point = population_estimate(sc.models, sc.regimens, sc.pd, spec.n, sc.time.horizon, sc.time.step, "streaming",
                                8, chunk)
    check_estimate(sweep_estimate(point, design_size(spec), len(spec.params)))
    X = design_matrix(spec)
    names = tuple(p.name for p in spec.params)
    root = store_dir or sc.output_dir / f"{scenario_stem(sc)}_sweep"
    shape = (len(sc.models), len(sc.regimens), len(METRICS))
    store = Store(root, _fingerprint(sc, spec, X), X, names, fresh, shape)
    todo = [i for i in range(len(X)) if i not in store.done()]
    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show and todo:
        bar = tqdm(total=len(X), initial=len(X) - len(todo), unit="pt", desc="sweep", file=sys.stderr)
    t0 = time.perf_counter()
    batches = [todo[k:k + spec.batch] for k in range(0, len(todo), spec.batch)]
    path = str(Path(sc.path).resolve())

    def save(i: int, arr: np.ndarray) -> None:
        store.save(i, arr)
        if bar is not None:
            bar.update(1)
    executor = run_batches(partial(evaluate_points, path, names, n=spec.n),
                           [[(i, tuple(X[i])) for i in b] for b in batches], save, workers=workers,
                           scheduler=scheduler, work=len(todo) * spec.n)
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
               "executor": executor, "store_warnings": "\n".join(store.warnings)})
    if spec.design == "saltelli" and spec.sensitivity:
        ds = ds.merge(sobol_indices(ds, spec))
    return ds

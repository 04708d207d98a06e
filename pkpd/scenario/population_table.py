"""The ``[population]`` table of a scenario file.

::

    [population]
    n = 1000                    # subjects (the same subjects get every regimen)
    seed = 42
    mode = "streaming"          # or "full" (every trajectory kept)
    precision = "float32"       # storage of full trajectories
    chunk = 1024                # subjects per chunk (results do not depend on it)
    percentile_step = "5 min"   # streaming: percentile times (default: at most 300 times)
    iiv = true                  # between-subject variability from the model files
    uncertainty = 0             # parameter-uncertainty replicates (0 = off)
    female = 0.5                # probability of female sex
    covariates_file = "subjects.csv"   # optional: real subjects (WT, AGE, SEX, …)
    weight = { dist = "normal", mean = "75 kg", sd = "12 kg", min = "45 kg", max = "130 kg" }
    age = { dist = "uniform", low = "18 year", high = "65 year" }
    thresholds = { ketamine_plasma = "100 ng/mL" }   # for time above threshold
    observation_times = ["30 min", "1 h", "2 h", "4 h"]  # optional: sampled observations
                                                         # (true and with residual error)
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple
from pkpd import units
from pkpd.errors import Collector, PkpdError
from pkpd.limits import RANGES, out_of_range
from pkpd.simulation.sampling import CovariateDist, Population, read_covariate_csv
from pkpd.scenario.spec import PopulationSpec


MAX_SUBJECTS = 10_000_000
#: Covariate distributions (``weight``/``age`` tables: ``dist`` and these keys).
DISTRIBUTIONS = {"normal": {"mean", "sd", "min", "max"}, "lognormal": {"median", "cv", "min", "max"},
                 "uniform": {"low", "high"}}


def _dist(spec, kind: str, f: str, col: Collector) -> CovariateDist | None:
    """A covariate distribution, checked against the sanity range of ``kind`` (weight, age)."""
    d = _dist_unchecked(spec, kind, f, col)
    if d is not None and not _in_range(d, kind, f, col):
        return None
    return d


def _in_range(d: CovariateDist, kind: str, f: str, col: Collector) -> bool:
    """Whether every number of ``d`` lies in the sanity range of ``kind`` (problems go to ``col``)."""
    if d.low > d.high:
        col.add(f"'min' ({d.low:g}) is above 'max' ({d.high:g})", f)
        return False
    if kind not in RANGES:
        return True
    named = {"constant": [("value", d.a)], "normal": [("mean", d.a)], "lognormal": [("median", d.a)],
             "uniform": [("low", d.a), ("high", d.b)]}[d.kind]
    named += [(k, v) for k, v in (("min", d.low), ("max", d.high)) if math.isfinite(v)]
    ok = True
    for key, v in named:
        why = out_of_range(kind, v)
        if why:
            col.add(why, f if d.kind == "constant" else f"{f}.{key}")
            ok = False
    return ok


def _dist_unchecked(spec, kind: str, f: str, col: Collector) -> CovariateDist | None:
    if isinstance(spec, (str, int, float)) and not isinstance(spec, bool):
        try:
            return CovariateDist("constant", units.parse(spec, kind, f).value)
        except PkpdError as e:
            col.catch(e)
            return None
    if not isinstance(spec, dict):
        col.add("must be a quantity or a table { dist = \"normal\", mean = …, sd = … }", f)
        return None
    d = spec.get("dist", "normal")
    allowed = DISTRIBUTIONS
    if not isinstance(d, str) or d not in allowed:  # a list or table here is not hashable: check first
        col.add(f"'dist' must be one of {', '.join(allowed)} (got {d!r})", f"{f}.dist")
        return None
    for k in sorted(set(spec) - allowed[d] - {"dist"}):
        col.add(f"unknown key '{k}' for a {d} distribution", f"{f}.{k}")
    try:
        q = lambda k: units.parse(spec[k], kind, f"{f}.{k}").value
        lo = q("min") if "min" in spec else -math.inf
        hi = q("max") if "max" in spec else math.inf
        if lo > hi:
            col.add(f"'min' ({spec['min']}) is above 'max' ({spec['max']})", f)
            return None
        if d == "normal":
            mean, sd = q("mean"), q("sd")
            if sd < 0:
                col.add("must be ≥ 0", f"{f}.sd")
            return CovariateDist("normal", mean, sd, lo, hi)
        if d == "lognormal":
            cv = spec.get("cv")
            if not isinstance(cv, (int, float)) or isinstance(cv, bool) or cv < 0:
                col.add("'cv' must be a number ≥ 0", f"{f}.cv")
                return None
            return CovariateDist("lognormal", q("median"), float(cv), lo, hi)
        a, b = q("low"), q("high")
        if b < a:
            col.add("'high' must be ≥ 'low'", f)
        return CovariateDist("uniform", a, b)
    except KeyError as e:
        col.add(f"missing {e.args[0]!r} for a {d} distribution", f)
    except PkpdError as e:
        col.catch(e if e.file or (e.field or "").startswith(f) else e.located(field_prefix=f))
    return None


KEYS = {"n", "seed", "mode", "precision", "chunk", "iiv", "uncertainty", "female", "covariates_file", "weight",
        "age", "thresholds", "observation_times", "percentile_step"}


class _Options(NamedTuple):
    seed: int
    mode: str
    precision: str
    chunk: int
    iiv: bool
    replicates: int


def parse_population(tbl, col: Collector, base: Path, extra_covariates: set[str]) -> PopulationSpec | None:
    """Check the ``[population]`` table; covariate files are read relative to ``base``.

    ``extra_covariates``: the models' own covariates, which may be given as probabilities.  Returns
    None when the subjects cannot be defined (problems go to ``col``).
    """
    f = "population"
    if not isinstance(tbl, dict):
        col.add("must be a table", f)
        return None
    for k in sorted(set(tbl) - (KEYS | extra_covariates)):
        col.add(f"unknown key '{k}'", f"{f}.{k}")
    n, table = _size(tbl, col, base, extra_covariates)
    opts = _options(tbl, col)
    covs = _covariates(tbl, col, extra_covariates)
    thresholds = _thresholds(tbl, col)
    obs_times = _observation_times(tbl, col)
    pstep = _percentile_step(tbl, col)
    if n is None or any(v is None for v in covs.values()):
        return None
    try:
        pop = Population(n=n, seed=opts.seed, covariates={k: v for k, v in covs.items()}, table=table,
                         iiv=opts.iiv, replicates=opts.replicates)
    except PkpdError as e:
        col.catch(e, f)
        return None
    return PopulationSpec(pop, opts.mode, opts.precision, opts.chunk, thresholds, obs_times, pstep)


def _percentile_step(tbl: dict, col: Collector) -> float | None:
    """``percentile_step`` (h) or None (the default grid of at most 300 times)."""
    if "percentile_step" not in tbl:
        return None
    f = "population.percentile_step"
    try:
        v = units.parse(tbl["percentile_step"], "time", f).value
    except PkpdError as e:
        col.catch(e)
        return None
    if not v > 0:
        col.add("must be > 0", f)
        return None
    return v


def _size(tbl: dict, col: Collector, base: Path, extra_covariates: set[str]) -> tuple[int | None, dict | None]:
    """``n`` (default: the rows of ``covariates_file``) and the covariate table read from that file."""
    f = "population"
    n = tbl.get("n")
    table = None
    if "covariates_file" in tbl:
        p = tbl["covariates_file"]
        if not isinstance(p, str):
            col.add("must be a file name", f"{f}.covariates_file")
        else:
            try:
                table = read_covariate_csv(base / p, known=extra_covariates)
            except PkpdError as e:
                col.catch(e)
        if n is None and table is not None:
            n = len(next(iter(table.values())))
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_SUBJECTS:
        col.add(f"'n' must be a whole number from 1 to {MAX_SUBJECTS:,} (got {n!r})", f"{f}.n")
        n = None
    return n, table


def _options(tbl: dict, col: Collector) -> _Options:
    """seed, mode, precision, chunk, iiv and uncertainty (replicates), with their defaults."""
    f = "population"
    seed = tbl.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        col.add("must be a whole number ≥ 0", f"{f}.seed")
        seed = 0
    mode = tbl.get("mode", "streaming")
    if mode not in ("streaming", "full"):
        col.add("must be 'streaming' or 'full'", f"{f}.mode")
    precision = tbl.get("precision", "float32")
    if precision not in ("float32", "float64"):
        col.add("must be 'float32' or 'float64'", f"{f}.precision")
    chunk = tbl.get("chunk", 1024)
    if not isinstance(chunk, int) or isinstance(chunk, bool) or not 256 <= chunk <= 1_000_000:
        col.add("must be a whole number from 256 to 1,000,000", f"{f}.chunk")
        chunk = 1024
    iiv = tbl.get("iiv", True)
    if not isinstance(iiv, bool):
        col.add("must be true or false", f"{f}.iiv")
    unc = tbl.get("uncertainty", 0)
    if not isinstance(unc, int) or isinstance(unc, bool) or not 0 <= unc <= 10_000:
        col.add("must be a number of replicates from 0 to 10000", f"{f}.uncertainty")
        unc = 0
    return _Options(seed, mode, precision, chunk, iiv, unc)


def _covariates(tbl: dict, col: Collector, extra_covariates: set[str]) -> dict[str, CovariateDist | None]:
    """Covariate distributions: weight, age, female and the models' own (None where invalid)."""
    f = "population"
    covs = {}
    if "weight" in tbl:
        covs["WT"] = _dist(tbl["weight"], "weight", f"{f}.weight", col)
    if "age" in tbl:
        covs["AGE"] = _dist(tbl["age"], "age", f"{f}.age", col)
    if "female" in tbl:
        p = tbl["female"]
        if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0 <= p <= 1:
            col.add("must be a probability from 0 to 1", f"{f}.female")
        else:
            covs["FEMALE"] = CovariateDist("bernoulli", float(p))
    for k in extra_covariates & set(tbl):
        v = tbl[k]
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1:
            covs[k] = CovariateDist("bernoulli", float(v))
        else:
            col.add("must be the probability (0–1) that this covariate is 1", f"{f}.{k}")
    if "WT" in covs and covs["WT"] is not None:
        d = covs["WT"]
        if d.kind in ("normal", "lognormal") and not (d.low > 0):
            covs["WT"] = replace(d, low=max(d.low, 1.0))  # weights stay positive
    return covs


def _thresholds(tbl: dict, col: Collector) -> dict[str, float]:
    """``thresholds``: output → threshold (concentrations in ng/mL; readouts in their own unit)."""
    f = "population"
    thresholds = {}
    th = tbl.get("thresholds", {})
    if not isinstance(th, dict):
        col.add("must be a table output = \"100 ng/mL\"", f"{f}.thresholds")
        th = {}
    for k, v in th.items():
        try:
            q = units.parse(v, "concentration", f"{f}.thresholds.{k}")
            thresholds[k] = q.value * 1000.0  # mg/L → ng/mL
        except PkpdError:
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                thresholds[k] = float(v)  # a readout threshold (its own unit)
            else:
                col.add("must be a concentration (\"100 ng/mL\") or, for a PD readout, a number",
                        f"{f}.thresholds.{k}")
    return thresholds


def _observation_times(tbl: dict, col: Collector) -> tuple[float, ...]:
    """``observation_times``: sampling times (h, increasing) of simulated observations, or ()."""
    f = "population.observation_times"
    v = tbl.get("observation_times", [])
    if not isinstance(v, list):
        col.add('must be a list of times such as ["30 min", "1 h", "4 h"]', f)
        return ()
    times = []
    for i, x in enumerate(v):
        try:
            times.append(units.parse(x, "time", f"{f}[{i}]").value)
        except PkpdError as e:
            col.catch(e)
            return ()
    if any(t < 0 for t in times) or any(b <= a for a, b in zip(times, times[1:])):
        col.add("times must be ≥ 0 and increasing", f)
        return ()
    return tuple(times)

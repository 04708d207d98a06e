"""Virtual populations: covariates, between-subject variability and parameter uncertainty.

Random numbers are drawn in Python (numpy ``Generator``) in fixed blocks of
:data:`BLOCK` subjects, block ``b`` from the stream ``(seed, b, purpose)``; so a
subject's draws depend only on the seed and its index — never on the chunk
size or the thread count — and any range of subjects can be drawn on its own.

IIV: eta ~ N(0, Ω) with the model's full omega block (correlations honoured),
applied through each parameter's transform (log-normal by default).
Parameter uncertainty (optional): each *replicate* (a group of subjects) gets
its own typical values, drawn from the published 95 % CIs (log-normal for
positive quantities, logit-normal for fractions); parameters without a CI stay
fixed.  Spread across replicates is uncertainty about the typical subject;
spread within is between-subject variability.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
import numpy as np
from scipy.special import ndtr
from pkpd.errors import PkpdError, PkpdTypeError
from pkpd.limits import out_of_range
from pkpd.models.parameters import ParameterSet
from pkpd.simulation.covariate_file import read_covariate_csv  # noqa: F401  (re-exported: its old home)


BLOCK = 4096


_KINDS = ("constant", "normal", "lognormal", "uniform", "bernoulli")


_Z975 = 1.959963984540054


@dataclass(frozen=True)
class CovariateDist:
    """A covariate distribution of a virtual population: constant, normal or log-normal
    (optionally truncated), uniform or Bernoulli.

    Attributes
    ----------
    kind : {"constant", "normal", "lognormal", "uniform", "bernoulli"}
    a : float
        The constant value; the mean (normal); the median (log-normal); the lower bound
        (uniform); P(1) (Bernoulli).  In the covariate's unit (WT kg, AGE years).
    b : float
        The SD (normal); the CV as a fraction (log-normal); the upper bound (uniform).
    low, high : float
        Truncation bounds (values are clipped to them), same unit as ``a``.

    Examples
    --------
    >>> CovariateDist("normal", 75.0, 12.0, low=45.0, high=140.0)   # weight, kg
    """

    kind: str  # "constant" | "normal" | "lognormal" | "uniform" | "bernoulli"
    a: float  # constant value / mean / (lognormal: median) / low / (bernoulli: P(1))
    b: float = 0.0  # sd / (lognormal: CV) / high
    low: float = -math.inf
    high: float = math.inf

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise PkpdError(f"kind must be one of {', '.join(_KINDS)}, got {self.kind!r}", field="kind")
        for k in ("a", "b", "low", "high"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or np.isnan(v) \
                    or (k in ("a", "b") and not np.isfinite(v)):
                raise PkpdError(f"must be a finite number, got {v!r}", field=k)
        if self.low > self.high:
            raise PkpdError(f"'low' ({self.low:g}) is above 'high' ({self.high:g})", field="low")
        if self.b < 0 and self.kind in ("normal", "lognormal"):
            raise PkpdError("the spread (sd or CV) must be ≥ 0", field="b")

    def sample(self, u: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Transform standard uniforms ``u`` / normals ``z`` into covariate values."""
        if self.kind == "constant":
            return np.full(z.shape, self.a)
        if self.kind == "uniform":
            return self.a + (self.b - self.a) * u
        if self.kind == "bernoulli":
            return (u < self.a).astype(float)
        if self.kind == "lognormal":
            s = math.sqrt(math.log1p(self.b ** 2))
            x = self.a * np.exp(s * z)
        else:
            x = self.a + self.b * z
        return np.clip(x, self.low, self.high)


@dataclass(frozen=True)
class Population:
    """How to make ``n`` virtual subjects.

    Attributes
    ----------
    n : int
        Number of subjects (per model × regimen; the same subjects get every regimen).
    seed : int
    covariates : dict
        Name (WT, AGE, FEMALE, model covariates) → :class:`CovariateDist`.
    table : dict or None
        Covariate columns read from a CSV (name → array); subjects take rows in order,
        cycling with a seeded shuffle when ``n`` exceeds the rows.
    iiv : bool
        Draw between-subject variability.
    replicates : int
        Parameter-uncertainty replicates (0: none).  Subject ``i`` is in replicate ``i % replicates``.
    """

    n: int
    seed: int = 0
    covariates: dict = field(default_factory=dict)
    table: dict | None = None
    iiv: bool = True
    replicates: int = 0

    def __post_init__(self):
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise PkpdError("population size must be a whole number ≥ 1")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise PkpdError(f"seed must be a whole number ≥ 0, got {self.seed!r}", field="seed")
        if isinstance(self.replicates, bool) or not isinstance(self.replicates, int) or self.replicates < 0:
            raise PkpdError(f"replicates must be a whole number ≥ 0, got {self.replicates!r}", field="replicates")
        if not isinstance(self.covariates, dict) or not all(isinstance(d, CovariateDist)
                                                            for d in self.covariates.values()):
            raise PkpdTypeError("covariates must be a dict of name → CovariateDist", field="covariates")
        for name, rng in (("WT", "weight"), ("AGE", "age")):
            d = self.covariates.get(name)
            for v in ([] if d is None else [d.a] + ([d.b] if d.kind == "uniform" else [])):
                why = out_of_range(rng, v)
                if why:
                    raise PkpdError(why, field=f"covariates.{name}")
        if self.table is not None:
            if not isinstance(self.table, dict) or not self.table:
                raise PkpdTypeError("table must be a non-empty dict of name → array", field="table")
            sizes = {len(np.atleast_1d(v)) for v in self.table.values()}
            if len(sizes) != 1 or 0 in sizes:
                raise PkpdError("every table column must have the same, non-zero number of rows", field="table")

    def replicate_of(self, start: int, stop: int) -> np.ndarray:
        idx = np.arange(start, stop)
        return idx % self.replicates if self.replicates else np.zeros(stop - start, dtype=np.int64)


def _block_normals(seed: int, purpose: int, start: int, stop: int, k: int) -> np.ndarray:
    """Standard normals of shape ``(stop - start, k)`` for subjects start..stop."""
    out = np.empty((stop - start, k))
    b0, b1 = start // BLOCK, (stop - 1) // BLOCK
    for b in range(b0, b1 + 1):
        g = np.random.default_rng([seed, b, purpose])
        z = g.standard_normal((BLOCK, k))
        lo, hi = max(start, b * BLOCK), min(stop, (b + 1) * BLOCK)
        out[lo - start:hi - start] = z[lo - b * BLOCK:hi - b * BLOCK]
    return out


def sample_covariates(pop: Population, start: int, stop: int, names: list[str]) -> dict[str, np.ndarray]:
    """Covariates of subjects ``start..stop`` (deterministic given the seed)."""
    out: dict[str, np.ndarray] = {}
    names = sorted(set(names) | set(pop.covariates) | (set(pop.table) if pop.table else set()))
    if pop.table:
        rows = len(next(iter(pop.table.values())))
        idx = np.arange(start, stop)
        cycle, pos = idx // rows, idx % rows
        perm_idx = pos.copy()
        for c in np.unique(cycle[cycle > 0]):
            perm = np.random.default_rng([pop.seed, int(c), 7]).permutation(rows)
            perm_idx[cycle == c] = perm[pos[cycle == c]]
        for k, v in pop.table.items():
            out[k] = np.asarray(v, dtype=float)[perm_idx]
    z = _block_normals(pop.seed, 1, start, stop, max(len(names), 1))
    for j, name in enumerate(names):
        if name in out or name not in pop.covariates:
            continue
        out[name] = pop.covariates[name].sample(ndtr(z[:, j]), z[:, j])
    return out


def sample_etas(pset: ParameterSet, pop: Population, start: int, stop: int, purpose: int = 2) -> dict[str, np.ndarray]:
    """Etas ~ N(0, Ω) of subjects ``start..stop`` (empty without IIV)."""
    names, om = pset.omega()
    if not pop.iiv or not names:
        return {}
    z = _block_normals(pop.seed, purpose, start, stop, len(names))
    # eigen square root: works for semi-definite Ω (a zero variance stays zero)
    w, v = np.linalg.eigh(om)
    L = v * np.sqrt(np.clip(w, 0.0, None))
    eta = z @ L.T
    return {k: eta[:, i] for i, k in enumerate(names)}


def uncertain_typicals(pset: ParameterSet, pop: Population, purpose: int = 3) -> dict[str, np.ndarray]:
    """Typical values per replicate (internal units), shape ``(replicates,)``, for parameters with a CI.

    Replicate 0 keeps the published typical values, so a run always contains the
    point estimate; the others are draws.
    """
    if not pop.replicates:
        return {}
    out = {}
    g = np.random.default_rng([pop.seed, 0, purpose])
    for name, p in pset.parameters.items():
        if p.ci is None:
            continue
        lo, hi = p.ci
        z = g.standard_normal(pop.replicates)
        z[0] = 0.0
        if p.kind == "fraction" and 0 < lo and hi < 1 and 0 < p.value < 1:
            lg = lambda x: math.log(x / (1 - x))
            sd = (lg(hi) - lg(lo)) / (2 * _Z975)
            out[name] = 1 / (1 + np.exp(-(lg(p.value) + sd * z)))
        elif lo > 0 and p.value > 0:
            sd = (math.log(hi) - math.log(lo)) / (2 * _Z975)
            out[name] = p.value * np.exp(sd * z)
        else:
            sd = (hi - lo) / (2 * _Z975)
            out[name] = p.value + sd * z
    return out


def individual_values(pset: ParameterSet, pop: Population, start: int, stop: int,
                      covariates: dict[str, np.ndarray], purpose: int = 2,
                      overrides: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Individual parameters of subjects ``start..stop`` (internal units).

    ``overrides``: parameter name → typical value (internal units) replacing the file's, e.g. a
    point of a parameter sweep (it also replaces that parameter's uncertainty draws).
    """
    n = stop - start
    etas = sample_etas(pset, pop, start, stop, purpose)
    typ = uncertain_typicals(pset, pop, purpose + 100)
    typical = {k: v[pop.replicate_of(start, stop)] for k, v in typ.items()} if typ else None
    if overrides:
        typical = dict(typical or {})
        for k, v in overrides.items():
            if k not in pset.parameters:
                raise PkpdError(f"unknown parameter {k!r}")
            typical[k] = np.full(n, float(v))
    return pset.individual(covariates=covariates, etas=etas or None, typical=typical, n=n)

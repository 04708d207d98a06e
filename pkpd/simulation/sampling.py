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

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np
from scipy.special import ndtr
from pkpd.errors import PkpdError
from pkpd.models.parameters import ParameterSet


BLOCK = 4096


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
        if not isinstance(self.n, int) or self.n < 1:
            raise PkpdError("population size must be a whole number ≥ 1")

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


def read_covariate_csv(path: str | Path) -> dict[str, np.ndarray]:
    """Read subjects' covariates from a CSV: columns WT (or weight), AGE (or age), SEX
    (male/female or 0/1 as FEMALE) and any model covariate by name; one row per subject."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise PkpdError("covariate file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise PkpdError(f"cannot read covariate file: {e}", file=str(path)) from None
    if not rows:
        raise PkpdError("covariate file has no rows", file=str(path))
    alias = {"weight": "WT", "wt": "WT", "age": "AGE", "female": "FEMALE"}
    out: dict[str, list[float]] = {}
    for i, r in enumerate(rows):
        for k, v in r.items():
            if k is None:
                raise PkpdError(f"row {i + 2} has more cells than the header", file=str(path))
            key = alias.get(k.strip().lower(), k.strip())
            if key.upper() == "SEX":
                s = (v or "").strip().lower()
                if s in ("f", "female", "1"):
                    val = 1.0
                elif s in ("m", "male", "0"):
                    val = 0.0
                else:
                    raise PkpdError(f"row {i + 2}: SEX must be male/female or 0/1, got {v!r}", file=str(path),
                                    field="SEX")
                key = "FEMALE"
            else:
                try:
                    val = float(v)
                except (TypeError, ValueError):
                    raise PkpdError(f"row {i + 2}: {k} must be a number, got {v!r}", file=str(path), field=k) from None
                if not math.isfinite(val):
                    raise PkpdError(f"row {i + 2}: {k} must be finite", file=str(path), field=k)
            out.setdefault(key, []).append(val)
    if "WT" in out and (min(out["WT"]) <= 0 or max(out["WT"]) > 400):
        raise PkpdError("WT must be in (0, 400] kg", file=str(path), field="WT")
    return {k: np.asarray(v) for k, v in out.items()}

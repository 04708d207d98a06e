"""The ``[validity]`` section: the subjects and concentrations a model was estimated over.

A model extrapolates outside the data it was fitted to: a paediatric PK model run in adults, a
linear readout run above the concentrations studied.  A model file states its range::

    [validity]
    population = "54 children, 8.3 ± 3.5 years, 32.5 ± 15.6 kg"
    covariates = { WT = [11, 75], AGE = [1, 14] }       # the covariates' own units (kg, years)
    concentrations = { ketamine = ["50 ng/mL", "200 ng/mL"] }
    source = "Herd & Anderson 2007 abstract"
    note = "the exact enrolment range was not seen; …"

``covariates`` name standard covariates (WT kg, AGE years, FEMALE 0/1) or the file's own;
``inf`` leaves a side open.  ``concentrations`` are per species: for a PK file the plasma
concentration, for a PD file the effect-site concentration its readouts were estimated over
(in the PD file's own drug form).  A run outside is warned once per model with the range
(:func:`message`); a scenario may refuse it instead (``[scenario] validity = "refuse"``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
import numpy as np
from pkpd import units
from pkpd.errors import Collector, PkpdError


_KEYS = {"population", "covariates", "concentrations", "source", "note"}


#: Units of the standard covariates, for messages.
COVARIATE_UNITS = {"WT": "kg", "AGE": "years", "FEMALE": "(0 = male, 1 = female)"}


@dataclass(frozen=True)
class Validity:
    """Covariate ranges (name → (low, high) in the covariate's unit) and concentration ranges
    (species → (low, high), mg/L) a model was estimated over, with where they come from."""

    covariates: dict[str, tuple[float, float]] = field(default_factory=dict)
    concentrations: dict[str, tuple[float, float]] = field(default_factory=dict)
    population: str = ""
    source: str = ""
    note: str = ""


def parse_validity(table, col: Collector, covariate_names: set[str], species: tuple[str, ...]) -> Validity | None:
    """``[validity]`` of a model file whose covariates are ``covariate_names``."""
    if table is None:
        return None
    if not isinstance(table, dict):
        col.add("must be a table (population, covariates, concentrations, source, note)", "validity")
        return None
    for k in sorted(set(table) - _KEYS):
        col.add(f"unknown key '{k}' (known: {', '.join(sorted(_KEYS))})", f"validity.{k}")
    text = {}
    for k in ("population", "source", "note"):
        v = table.get(k, "")
        if not isinstance(v, str):
            col.add("must be text", f"validity.{k}")
            v = ""
        text[k] = v
    covs = _ranges(table.get("covariates", {}), "validity.covariates", col, covariate_names, _number)
    concs = _ranges(table.get("concentrations", {}), "validity.concentrations", col, set(species), _concentration)
    if not text["source"].strip() and (covs or concs):
        col.add("say where the ranges come from (citation, table)", "validity.source")
    return Validity(covs, concs, **text)


def _number(x, f: str) -> float:
    if isinstance(x, (int, float)) and not isinstance(x, bool) and not math.isnan(x):
        return float(x)
    raise PkpdError("must be a number (inf for an open side)", field=f)


def _concentration(x, f: str) -> float:
    """A concentration such as "200 ng/mL" or "0.5 nmol/mL" (species from the key), in mg/L."""
    if isinstance(x, float) and math.isinf(x):
        return x
    species = f.rsplit(".", 1)[-1].split("[")[0]  # field validity.concentrations.SPECIES[i]
    ureg = units.registry()
    try:
        q = ureg.Quantity(x) if isinstance(x, str) else None
        if q is not None and q.dimensionality == ureg.Quantity(1, "mol/L").dimensionality:
            return float(q.to("mmol/L").magnitude * units.MOLAR_MASS[species])
    except Exception:
        pass
    return units.parse(x, "concentration", f).value


def _ranges(tbl, f: str, col: Collector, allowed: set[str], read) -> dict[str, tuple[float, float]]:
    """``{NAME = [low, high], …}`` with names from ``allowed`` and values through ``read``."""
    out: dict[str, tuple[float, float]] = {}
    if not isinstance(tbl, dict):
        col.add("must be a table { NAME = [low, high], … }", f)
        return out
    for name, v in tbl.items():
        g = f"{f}.{name}"
        if name not in allowed:
            col.add(f"unknown name {name!r} (known: {', '.join(sorted(allowed))})", g)
            continue
        if not (isinstance(v, list) and len(v) == 2):
            col.add("must be [low, high]", g)
            continue
        try:
            lo, hi = read(v[0], f"{g}[0]"), read(v[1], f"{g}[1]")
        except PkpdError as e:
            col.catch(e)
            continue
        if not lo <= hi:
            col.add("low must not exceed high", g)
            continue
        out[name] = (lo, hi)
    return out


def _interval(lo: float, hi: float, scale: float = 1.0) -> str:
    """``11–75``, ``≥ 18`` or ``≤ 200`` (open sides left out)."""
    if math.isinf(hi) and math.isinf(lo):
        return "any"
    if math.isinf(hi):
        return f"≥ {lo * scale:.4g}"
    if math.isinf(lo):
        return f"≤ {hi * scale:.4g}"
    return f"{lo * scale:.4g}–{hi * scale:.4g}"


def describe(v: Validity) -> str:
    """``WT 11–75 kg, AGE 1–14 years; ketamine 50–200 ng/mL`` (empty when nothing is stated)."""
    parts = [f"{k} {_interval(lo, hi)} {COVARIATE_UNITS.get(k, '')}".rstrip() for k, (lo, hi) in v.covariates.items()]
    conc = [f"{sp} {_interval(lo, hi, 1000.0)} ng/mL" for sp, (lo, hi) in v.concentrations.items()]
    return "; ".join(x for x in (", ".join(parts), ", ".join(conc)) if x)


def covariate_problems(v: Validity | None, covariates: dict[str, np.ndarray], who: str) -> list[str]:
    """What lies outside the covariate ranges: ``["WT 70 kg (typical subject)", …]``.

    ``covariates`` are arrays (one value for a typical subject, many for a population sample);
    ``who`` names them (``typical subject`` or ``population``).
    """
    out = []
    for k, (lo, hi) in (v.covariates.items() if v else ()):
        x = covariates.get(k)
        if x is None:
            continue
        x = np.asarray(x, dtype=float).ravel()
        bad = (x < lo) | (x > hi)
        if not bad.any():
            continue
        u = COVARIATE_UNITS.get(k, "")
        if x.size == 1:
            out.append(f"{k} {x[0]:g} {u} ({who})".replace("  ", " "))
        else:
            out.append(f"{k} of {bad.mean():.0%} of the {who} ({x.min():.3g}–{x.max():.3g} {u})".replace("  ", " "))
    return out


def concentration_problems(v: Validity | None, peaks: dict[str, float], what: str) -> list[str]:
    """Peaks (species → mg/L) above the upper end, or that never reach the lower end."""
    out = []
    for sp, (lo, hi) in (v.concentrations.items() if v else ()):
        c = peaks.get(sp)
        if c is None or not math.isfinite(c):
            continue
        if c > hi:
            out.append(f"{what} {sp} peaks at {c * 1000:.4g} ng/mL, above {hi * 1000:.4g} ng/mL")
        elif c < lo:
            out.append(f"{what} {sp} peaks at {c * 1000:.4g} ng/mL, below the {lo * 1000:.4g} ng/mL studied")
    return out


def message(model, problems: list[str]) -> str:
    """One warning per model: its stated range, its population, and what lies outside."""
    v = model.validity
    pop = f" ({v.population})" if v.population else ""
    return (f"{model.name} was estimated over {describe(v)}{pop}; this run is outside it: "
            f"{'; '.join(problems)} — results there are extrapolations")

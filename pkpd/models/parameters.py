"""Model parameters: typical values with units, variability, covariates and provenance.

Shared by PK and PD model files.  A parameter in a model file reads::

    [parameters.CL]
    value = 95.2
    unit = "L/h"
    covariate = "TV * (WT / 70) ** 0.75"   # optional; TV and covariates in the units written
    iiv = { cv = 0.13 }                    # optional; or omega / omega2; transform log|logit
    ci = [80.1, 110.3]                     # optional 95% CI of the typical value
    source = "Fanta 2015 via Otto 2021 Table 3"
    grade = "table"                        # see GRADES

Values are converted to internal units (mg, L, h) when loaded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
import numpy as np
from pkpd import expr
from pkpd import units
from pkpd.errors import Collector, PkpdError


#: How sure a number is (mirrors the grades in the literature notes).
GRADES = {
    "table": "published table value (read in public model code that cites the table)",
    "abstract": "read in the paper's abstract",
    "tci-code": "hard-coded in open-source TCI software; paper not seen",
    "secondary": "quoted by a review, label summary or secondary source",
    "derived": "derived arithmetically from published numbers",
    "assumption": "not published: an explicit modelling assumption",
}


#: Covariates every model can use: name → (description, default).
STANDARD_COVARIATES = {
    "WT": ("body weight, kg", 70.0),
    "AGE": ("age, years", 40.0),
    "FEMALE": ("1 for female, 0 for male", 0.0),
}


_MOLAR = "molar_concentration"


@dataclass(frozen=True)
class IIV:
    """Between-subject variability of one parameter.

    ``omega2`` is the variance of eta; ``transform`` says how eta enters:
    ``log`` (P = TV·exp(eta)), ``logit`` (logit P = logit TV + eta) or ``additive``.
    """

    omega2: float
    transform: str = "log"


@dataclass(frozen=True)
class Parameter:
    """One model parameter (value already in internal units; see :mod:`pkpd.units`)."""

    name: str
    value: float
    unit: str
    kind: str
    per_kg: bool = False
    factor: float = 1.0  # internal value per unit written (value = written · factor)
    covariate: expr.Expression | None = None
    iiv: IIV | None = None
    ci: tuple[float, float] | None = None  # internal units
    source: str = ""
    grade: str = ""
    note: str = ""
    suggested_range: tuple[float, float] | None = None  # as written, for assumptions
    written: float = 0.0

    @property
    def is_assumption(self) -> bool:
        return self.grade == "assumption"


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def load_parameters(table, col: Collector, section: str = "parameters",
                    covariates: dict | None = None) -> dict[str, Parameter]:
    """Validate the ``[parameters]`` table of a model file."""
    params: dict[str, Parameter] = {}
    if not isinstance(table, dict):
        col.add("must be a table of parameters", section)
        return params
    cov_names = set(STANDARD_COVARIATES) | set(covariates or {})
    for name, spec in table.items():
        f = f"{section}.{name}"
        if not name.isidentifier():
            col.add("parameter names must be identifiers (letters, digits, _)", f)
            continue
        if not isinstance(spec, dict):
            col.add("must be a table with at least 'value' and 'unit'", f)
            continue
        unknown = set(spec) - {"value", "unit", "covariate", "iiv", "ci", "source", "grade", "note",
                               "range", "species"}
        for k in sorted(unknown):
            col.add(f"unknown key '{k}'", f"{f}.{k}")
        value, unit = spec.get("value"), spec.get("unit")
        if not _num(value):
            col.add("'value' must be a finite number", f"{f}.value")
            continue
        if not isinstance(unit, str):
            col.add("'unit' must be text such as 'L/h', '1/h', 'min' or '1' for a fraction", f"{f}.unit")
            continue
        try:
            q, kind, factor = _convert(value, unit, spec.get("species"), f)
        except PkpdError as e:
            col.catch(e)
            continue
        if q.value < 0 and kind not in ("fraction", "per_concentration"):
            col.add(f"a {kind.replace('_', ' ')} cannot be negative ({value} {unit})", f"{f}.value")
        grade = spec.get("grade", "")
        if not isinstance(grade, str) or grade not in GRADES:
            col.add(f"'grade' must be one of {', '.join(GRADES)} (got {grade!r})", f"{f}.grade")
        source = spec.get("source", "")
        if not isinstance(source, str) or (not source.strip() and grade != "assumption"):
            col.add("'source' must say where the number comes from (citation, table)", f"{f}.source")
        note = spec.get("note", "")
        if not isinstance(note, str):
            col.add("'note' must be text", f"{f}.note")
            note = ""
        rng = spec.get("range")
        if grade == "assumption":
            if not note.strip():
                col.add("an assumption needs a 'note' saying why this value", f"{f}.note")
            if rng is None:
                col.add("an assumption needs a 'range' [low, high] for sensitivity analysis", f"{f}.range")
        if rng is not None:
            if not (isinstance(rng, list) and len(rng) == 2 and all(_num(r) for r in rng) and rng[0] <= rng[1]):
                col.add("'range' must be [low, high] with low ≤ high", f"{f}.range")
                rng = None
        cov = None
        if "covariate" in spec:
            try:
                cov = expr.parse(spec["covariate"], f"{f}.covariate")
                bad = sorted(cov.names - cov_names - {"TV"})
                if bad:
                    col.add(f"unknown name(s) {', '.join(bad)} in covariate model; use TV and the covariates "
                            f"{', '.join(sorted(cov_names))}", f"{f}.covariate")
            except PkpdError as e:
                col.catch(e)
        iiv = None
        if "iiv" in spec:
            try:
                iiv = _load_iiv(spec["iiv"], f"{f}.iiv")
            except PkpdError as e:
                col.catch(e)
        ci = None
        if "ci" in spec:
            c = spec["ci"]
            if not (isinstance(c, list) and len(c) == 2 and all(_num(x) for x in c) and c[0] <= value <= c[1]):
                col.add("'ci' must be [low, high] around the value", f"{f}.ci")
            else:
                ci = (c[0] * factor, c[1] * factor)
        params[name] = Parameter(
            name=name, value=q.value, unit=unit, kind=kind, per_kg=q.per_kg, factor=factor, covariate=cov,
            iiv=iiv, ci=ci, source=source if isinstance(source, str) else "", grade=grade, note=note,
            suggested_range=tuple(rng) if rng else None, written=float(value))
    return params


def _convert(value, unit, species, f):
    """Return (Quantity, kind, factor internal-per-written)."""
    ureg = units.registry()
    try:
        u = ureg.Quantity(1.0, unit) if unit.strip() not in ("", "1", "-", "fraction") else None
    except Exception:
        raise PkpdError(f"unknown unit {unit!r}", field=f"{f}.unit") from None
    if u is not None and u.dimensionality == ureg.Quantity(1, "mol/L").dimensionality:
        if not isinstance(species, str) or species not in units.MOLAR_MASS:
            raise PkpdError(f"a molar concentration needs 'species' = one of {', '.join(units.MOLAR_MASS)}",
                            field=f"{f}.species")
        factor = u.to("mmol/L").magnitude * units.MOLAR_MASS[species]  # mmol/L · g/mol = mg/L
        return units.Quantity(value * factor, "concentration"), "concentration", factor
    kind = units.kind_of(unit)
    if kind is None:
        raise PkpdError(f"unknown or unsupported unit {unit!r}", field=f"{f}.unit")
    q = units.convert(value, unit, f"{f}.unit")
    factor = q.value / value if value != 0 else units.convert(1.0, unit).value
    return q, kind, factor


def _load_iiv(spec, f) -> IIV:
    if not isinstance(spec, dict):
        raise PkpdError("must be a table such as { cv = 0.3 } or { omega2 = 0.09 }", field=f)
    unknown = set(spec) - {"cv", "omega", "omega2", "transform"}
    if unknown:
        raise PkpdError(f"unknown key(s) {', '.join(sorted(unknown))}", field=f)
    given = [k for k in ("cv", "omega", "omega2") if k in spec]
    if len(given) != 1:
        raise PkpdError("give exactly one of cv, omega, omega2", field=f)
    v = spec[given[0]]
    if not _num(v) or v < 0:
        raise PkpdError(f"'{given[0]}' must be a finite number ≥ 0", field=f"{f}.{given[0]}")
    transform = spec.get("transform", "log")
    if transform not in ("log", "logit", "additive"):
        raise PkpdError("'transform' must be log, logit or additive", field=f"{f}.transform")
    if given[0] == "cv":
        if transform != "log":
            raise PkpdError("'cv' applies to log-normal variability; give omega for logit/additive", field=f)
        omega2 = math.log1p(v * v)
    elif given[0] == "omega":
        omega2 = v * v
    else:
        omega2 = v
    return IIV(omega2, transform)


@dataclass(frozen=True)
class ParameterSet:
    """Parameters, derived expressions and covariates of one model."""

    parameters: dict[str, Parameter]
    derived: dict[str, expr.Expression]
    covariates: dict[str, tuple[str, float]] = field(default_factory=dict)
    covariances: dict[tuple[str, str], float] = field(default_factory=dict)  # off-diagonal omega

    def omega(self) -> tuple[list[str], np.ndarray]:
        """Names of parameters with IIV and their eta covariance matrix (full omega block)."""
        names = [k for k, p in self.parameters.items() if p.iiv is not None]
        om = np.diag([self.parameters[k].iiv.omega2 for k in names]) if names else np.zeros((0, 0))
        pos = {k: i for i, k in enumerate(names)}
        for (a, b), v in self.covariances.items():
            om[pos[a], pos[b]] = om[pos[b], pos[a]] = v
        return names, om

    def all_covariates(self) -> dict[str, tuple[str, float]]:
        return {**STANDARD_COVARIATES, **self.covariates}

    def individual(self, covariates: dict[str, np.ndarray] | None = None,
                   etas: dict[str, np.ndarray] | None = None,
                   typical: dict[str, np.ndarray] | None = None,
                   n: int = 1) -> dict[str, np.ndarray]:
        """Individual parameter values in internal units, arrays of shape ``(n,)``.

        Parameters
        ----------
        covariates : dict, optional
            Covariate name → array ``(n,)`` (WT in kg, AGE in years, FEMALE 0/1, …);
            missing ones take their defaults.
        etas : dict, optional
            Parameter name → eta ``(n,)``, applied by the parameter's IIV transform.
        typical : dict, optional
            Parameter name → typical value ``(n,)`` in internal units, replacing the
            file's value (parameter uncertainty).
        """
        covs = {k: np.full(n, d, dtype=float) for k, (_, d) in self.all_covariates().items()}
        for k, v in (covariates or {}).items():
            covs[k] = np.broadcast_to(np.asarray(v, dtype=float), (n,))
        out: dict[str, np.ndarray] = {}
        for name, p in self.parameters.items():
            tv = np.full(n, p.value) if typical is None or name not in typical else np.asarray(typical[name], float)
            if p.per_kg:
                tv = tv * covs["WT"]
            if p.covariate is not None:
                # the covariate model is written in the file's units: convert around it
                tv = p.covariate({**covs, "TV": tv / p.factor}) * p.factor
                tv = np.broadcast_to(np.asarray(tv, dtype=float), (n,))
            if etas is not None and name in etas and p.iiv is not None:
                eta = etas[name]
                if p.iiv.transform == "log":
                    tv = tv * np.exp(eta)
                elif p.iiv.transform == "logit":
                    with np.errstate(divide="ignore"):
                        tv = 1.0 / (1.0 + np.exp(-(np.log(tv / (1.0 - tv)) + eta)))
                else:
                    tv = tv + eta * p.factor
            out[name] = np.asarray(tv, dtype=float)
        env = expr.evaluate_all(self.derived, {**covs, **out, "spray": np.ones(n)})
        return {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in env.items()}

    def spray_dependent(self) -> dict[str, expr.Expression]:
        """Derived expressions that depend (directly or not) on the spray index."""
        dep = {"spray"}
        changed = True
        while changed:
            changed = False
            for k, e in self.derived.items():
                if k not in dep and e.names & dep:
                    dep.add(k)
                    changed = True
        return {k: e for k, e in self.derived.items() if k in dep}

    def for_spray(self, values: dict[str, np.ndarray], spray: int) -> dict[str, np.ndarray]:
        """``values`` (from :meth:`individual`) re-evaluated for spray number ``spray`` (1-based)."""
        dep = self.spray_dependent()
        if not dep:
            return values
        n = len(next(iter(values.values())))
        env = {k: v for k, v in values.items() if k not in dep}
        env["spray"] = np.full(n, float(spray))
        out = expr.evaluate_all(dep, env)
        return {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in out.items()}


def load_derived(table, col: Collector, known: set[str], section: str = "derived") -> dict[str, expr.Expression]:
    """Validate ``[derived]``: name → expression over parameters (internal units)."""
    out: dict[str, expr.Expression] = {}
    if table is None:
        return out
    if not isinstance(table, dict):
        col.add("must be a table of name = \"expression\"", section)
        return out
    for name, text in table.items():
        f = f"{section}.{name}"
        if not name.isidentifier():
            col.add("names must be identifiers", f)
            continue
        if name in known:
            col.add(f"'{name}' is already a parameter or covariate", f)
            continue
        try:
            out[name] = expr.parse(text, f)
        except PkpdError as e:
            col.catch(e)
    names = known | set(out) | {"spray"}
    for name, e in out.items():
        bad = sorted(e.names - names)
        if bad:
            col.add(f"unknown name(s) {', '.join(bad)} in {e.text!r}", f"{section}.{name}")
    return out


def load_covariances(lst, col: Collector, params: dict[str, Parameter],
                     section: str = "covariances") -> dict[tuple[str, str], float]:
    """Validate ``[[covariances]]``: ``between = [A, B]`` with ``value`` (covariance of the
    etas) or ``correlation``; the whole omega matrix must be positive semi-definite."""
    out: dict[tuple[str, str], float] = {}
    if lst is None:
        return out
    if not isinstance(lst, list):
        col.add("must be an array of tables [[covariances]]", section)
        return out
    for i, spec in enumerate(lst):
        f = f"{section}[{i}]"
        if not isinstance(spec, dict):
            col.add("must be a table", f)
            continue
        for k in sorted(set(spec) - {"between", "value", "correlation", "source", "note"}):
            col.add(f"unknown key '{k}'", f"{f}.{k}")
        pair = spec.get("between")
        if not (isinstance(pair, list) and len(pair) == 2 and pair[0] != pair[1]
                and all(isinstance(x, str) and x in params and params[x].iiv is not None for x in pair)):
            col.add("'between' must name two different parameters that have 'iiv'", f"{f}.between")
            continue
        a, b = pair
        oa, ob = params[a].iiv.omega2, params[b].iiv.omega2
        if ("value" in spec) == ("correlation" in spec):
            col.add("give exactly one of 'value' (covariance) or 'correlation'", f)
            continue
        if "value" in spec:
            v = spec["value"]
            if not _num(v):
                col.add("must be a finite number", f"{f}.value")
                continue
        else:
            r = spec["correlation"]
            if not _num(r) or not -1 <= r <= 1:
                col.add("must be a number in [-1, 1]", f"{f}.correlation")
                continue
            v = r * math.sqrt(oa * ob)
        out[(a, b)] = float(v)
    if out:
        names = [k for k, p in params.items() if p.iiv is not None]
        pos = {k: j for j, k in enumerate(names)}
        om = np.diag([params[k].iiv.omega2 for k in names])
        for (a, b), v in out.items():
            om[pos[a], pos[b]] = om[pos[b], pos[a]] = v
        if np.linalg.eigvalsh(om).min() < -1e-12:
            col.add("the omega matrix (variances with these covariances) is not positive semi-definite", section)
    return out

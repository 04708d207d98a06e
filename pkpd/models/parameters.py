"""Model parameters: typical values with units, variability, covariates and provenance.

Shared by PK and PD model files.  A parameter in a model file reads::

    [parameters.CL]
    value = 95.2
    unit = "L/h"
    covariate = "TV * (WT / 70) ** 0.75"   # optional; TV and covariates in the units written
    iiv = { cv = 0.13 }                    # optional; or omega / omega2; transform log|logit;
                                           # grade/source/note/range: see pkpd.models.variability
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
from pkpd.models.variability import PROVENANCE_KEYS, iiv_provenance


#: How sure a number is (mirrors the grades in the literature notes).
GRADES = {
    "table": "published table value (read in public model code that cites the table)",
    "abstract": "read in the paper's abstract",
    "tci-code": "hard-coded in open-source TCI software; paper not seen",
    "secondary": "quoted by a review, label summary or secondary source",
    "derived": "derived arithmetically from published numbers",
    "assumption": "not published: an explicit modelling assumption",
    "calibrated": "fitted to observed trial rates (the value's source names the trials)",
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
    ``grade``, ``source``, ``note`` and ``range`` say where its size comes from
    (:mod:`pkpd.models.variability`; an empty grade: as the parameter); ``given`` is the key the
    file used (``cv``, ``omega`` or ``omega2``), the unit of ``range``.
    """

    omega2: float
    transform: str = "log"
    grade: str = ""
    source: str = ""
    note: str = ""
    range: tuple[float, float] | None = None
    given: str = "omega2"


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


def is_finite_number(x) -> bool:
    """Whether ``x`` is an int or float (not a bool) and finite."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


_PARAMETER_KEYS = {"value", "unit", "covariate", "iiv", "ci", "source", "grade", "note", "range", "species"}


def load_parameters(table, col: Collector, section: str = "parameters",
                    covariates: dict | None = None) -> dict[str, Parameter]:
    """Validate the ``[parameters]`` table of a model file.

    ``covariates`` are the file's extra covariates (name → (description, default)) that
    covariate models may use besides :data:`STANDARD_COVARIATES`.  Returns name →
    :class:`Parameter` with values in internal units (mg, L, h); every problem is collected
    in ``col`` and its parameter left out.
    """
    params: dict[str, Parameter] = {}
    if not isinstance(table, dict):
        col.add("must be a table of parameters", section)
        return params
    cov_names = set(STANDARD_COVARIATES) | set(covariates or {})
    for name, spec in table.items():
        p = _load_parameter(name, spec, f"{section}.{name}", col, cov_names)
        if p is not None:
            params[name] = p
    return params


def _load_parameter(name: str, spec, f: str, col: Collector, cov_names: set[str]) -> Parameter | None:
    """One ``[parameters.NAME]`` table at field ``f``; None when its value or unit is unusable."""
    if not name.isidentifier():
        col.add("parameter names must be identifiers (letters, digits, _)", f)
        return None
    if not isinstance(spec, dict):
        col.add("must be a table with at least 'value' and 'unit'", f)
        return None
    for k in sorted(set(spec) - _PARAMETER_KEYS):
        col.add(f"unknown key '{k}'", f"{f}.{k}")
    value, unit = spec.get("value"), spec.get("unit")
    if not is_finite_number(value):
        col.add("'value' must be a finite number", f"{f}.value")
        return None
    if not isinstance(unit, str):
        col.add("'unit' must be text such as 'L/h', '1/h', 'min' or '1' for a fraction", f"{f}.unit")
        return None
    try:
        q, kind, factor = _convert(value, unit, spec.get("species"), f)
    except PkpdError as e:
        col.catch(e)
        return None
    if q.value < 0 and kind not in ("fraction", "per_concentration"):
        col.add(f"a {kind.replace('_', ' ')} cannot be negative ({value} {unit})", f"{f}.value")
    grade, source, note, rng = _provenance(spec, f, col)
    cov = _covariate_model(spec, f, col, cov_names)
    iiv = _parameter_iiv(spec, f, col)
    ci = _confidence_interval(spec, f, value, factor, col)
    return Parameter(
        name=name, value=q.value, unit=unit, kind=kind, per_kg=q.per_kg, factor=factor, covariate=cov,
        iiv=iiv, ci=ci, source=source, grade=grade, note=note,
        suggested_range=tuple(rng) if rng else None, written=float(value))


def _provenance(spec: dict, f: str, col: Collector) -> tuple[str, str, str, list | None]:
    """``grade``, ``source``, ``note`` and ``range`` (as written) of one parameter.

    Every number needs a grade and a source; an assumption needs a note and a range instead
    of a source.  Unusable values are reported and returned as ``""`` (note, source) or None (range).
    """
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
        if not (isinstance(rng, list) and len(rng) == 2 and all(is_finite_number(r) for r in rng)
                and rng[0] <= rng[1]):
            col.add("'range' must be [low, high] with low ≤ high", f"{f}.range")
            rng = None
    return grade, source if isinstance(source, str) else "", note, rng


def _covariate_model(spec: dict, f: str, col: Collector, cov_names: set[str]) -> expr.Expression | None:
    """The ``covariate`` expression of one parameter, over ``TV`` and the covariates (units as written)."""
    if "covariate" not in spec:
        return None
    cov = None
    try:
        cov = expr.parse(spec["covariate"], f"{f}.covariate")
        bad = sorted(cov.names - cov_names - {"TV"})
        if bad:
            col.add(f"unknown name(s) {', '.join(bad)} in covariate model; use TV and the covariates "
                    f"{', '.join(sorted(cov_names))}", f"{f}.covariate")
    except PkpdError as e:
        col.catch(e)
    return cov


def _parameter_iiv(spec: dict, f: str, col: Collector) -> IIV | None:
    """The ``iiv`` table of one parameter, or None (absent or unusable)."""
    if "iiv" not in spec:
        return None
    try:
        return _load_iiv(spec["iiv"], f"{f}.iiv")
    except PkpdError as e:
        col.catch(e)
        return None


def _confidence_interval(spec: dict, f: str, value: float, factor: float,
                         col: Collector) -> tuple[float, float] | None:
    """The ``ci`` [low, high] of one parameter (written around ``value``), in internal units."""
    if "ci" not in spec:
        return None
    c = spec["ci"]
    if not (isinstance(c, list) and len(c) == 2 and all(is_finite_number(x) for x in c) and c[0] <= value <= c[1]):
        col.add("'ci' must be [low, high] around the value", f"{f}.ci")
        return None
    return (c[0] * factor, c[1] * factor)


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
    unknown = set(spec) - {"cv", "omega", "omega2", "transform"} - PROVENANCE_KEYS
    if unknown:
        raise PkpdError(f"unknown key(s) {', '.join(sorted(unknown))}", field=f)
    given = [k for k in ("cv", "omega", "omega2") if k in spec]
    if len(given) != 1:
        raise PkpdError("give exactly one of cv, omega, omega2", field=f)
    v = spec[given[0]]
    if not is_finite_number(v) or v < 0:
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
    return IIV(omega2, transform, given=given[0], **iiv_provenance(spec, f, given[0], GRADES))


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
        n = len(next(iter(values.values())))
        if not dep:  # route fractions may still use ``spray`` itself
            return {**values, "spray": np.full(n, float(spray))}
        env = {k: v for k, v in values.items() if k not in dep}
        env["spray"] = np.full(n, float(spray))
        out = expr.evaluate_all(dep, env)
        return {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in out.items()}

"""The sections PK and PD model files share, and the checks both use.

``[model]`` metadata, ``[covariates]``, ``[parameters]`` (read by
:mod:`pkpd.models.parameters`), ``[derived]`` and ``[[covariances]]`` are assembled by
:func:`parse_common`; :func:`checked_expression` and :func:`text_field` are the checks every
section parser uses.  Each problem is collected with its file and dotted key, never raised
one at a time.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any
import math
import numpy as np
from pkpd import expr
from pkpd import units
from pkpd.errors import Collector, PkpdError
from pkpd.names import has_control
from pkpd.models.drugs import DRUGS
from pkpd.models.parameters import STANDARD_COVARIATES, Parameter, ParameterSet, is_finite_number, load_parameters


SPECIES = tuple(units.MOLAR_MASS)


def text_field(col: Collector, tbl: dict, key: str, f: str, required: bool = True,
               choices: tuple[str, ...] | None = None) -> str:
    """The text at ``tbl[key]`` (field ``f.key``), or ``""`` when missing or not text.

    A value outside ``choices`` is reported but still returned.
    """
    v = tbl.get(key)
    if v is None:
        if required:
            col.add(f"missing '{key}'", f"{f}.{key}" if f else key)
        return ""
    if not isinstance(v, str):
        col.add("must be text", f"{f}.{key}" if f else key)
        return ""
    if choices and v not in choices:  # v is a str here
        col.add(f"must be one of {', '.join(choices)} (got {v!r})", f"{f}.{key}" if f else key)
    return v


def parse_meta(data: dict, col: Collector, kind: str) -> dict[str, Any]:
    """The ``[model]`` table (name, title, drug, citation, sampling, …) of a ``kind`` file (pk/pd)."""
    meta = data.get("model")
    if not isinstance(meta, dict):
        col.add("missing [model] table (name, title, drug, citation, …)", "model")
        return {}
    for k in ("name", "title", "citation"):
        text_field(col, meta, k, "model")
    name = meta.get("name")
    if isinstance(name, str) and (has_control(name) or len(name) > 200 or not name.strip()):
        col.add("a model name must be 1–200 characters without control characters (NUL, newline, …)", "model.name")
    text_field(col, meta, "drug", "model", choices=tuple(DRUGS))
    text_field(col, meta, "sampling", "model", choices=("arterial", "venous", "unknown"))
    for k in ("population", "doi", "notes", "solver"):
        text_field(col, meta, k, "model", required=False)
    if meta.get("kind", kind) != kind:
        col.add(f"'kind' must be {kind!r}", "model.kind")
    return meta


def load_covariates(data: dict, col: Collector) -> dict[str, tuple[str, float]]:
    """``[covariates]``: the file's extra covariates, name → (description, default)."""
    covs = {}
    tbl = data.get("covariates", {})
    if not isinstance(tbl, dict):
        col.add("must be a table", "covariates")
        return covs
    for k, v in tbl.items():
        f = f"covariates.{k}"
        if k in STANDARD_COVARIATES or not k.isidentifier():
            col.add("names a standard covariate or is not an identifier", f)
        elif not isinstance(v, dict) or not isinstance(v.get("default"), (int, float)):
            col.add("must be { description = \"…\", default = number }", f)
        else:
            covs[k] = (str(v.get("description", "")), float(v["default"]))
    return covs


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
        entry = _covariance(spec, f"{section}[{i}]", col, params)
        if entry is not None:
            out[entry[0]] = entry[1]
    if out and not _positive_semidefinite(out, params):
        col.add("the omega matrix (variances with these covariances) is not positive semi-definite", section)
    return out


def _covariance(spec, f: str, col: Collector,
                params: dict[str, Parameter]) -> tuple[tuple[str, str], float] | None:
    """One ``[[covariances]]`` entry at field ``f``: ``((A, B), covariance of their etas)``."""
    if not isinstance(spec, dict):
        col.add("must be a table", f)
        return None
    for k in sorted(set(spec) - {"between", "value", "correlation", "source", "note"}):
        col.add(f"unknown key '{k}'", f"{f}.{k}")
    pair = spec.get("between")
    if not (isinstance(pair, list) and len(pair) == 2 and pair[0] != pair[1]
            and all(isinstance(x, str) and x in params and params[x].iiv is not None for x in pair)):
        col.add("'between' must name two different parameters that have 'iiv'", f"{f}.between")
        return None
    a, b = pair
    oa, ob = params[a].iiv.omega2, params[b].iiv.omega2
    if ("value" in spec) == ("correlation" in spec):
        col.add("give exactly one of 'value' (covariance) or 'correlation'", f)
        return None
    if "value" in spec:
        v = spec["value"]
        if not is_finite_number(v):
            col.add("must be a finite number", f"{f}.value")
            return None
    else:
        r = spec["correlation"]
        if not is_finite_number(r) or not -1 <= r <= 1:
            col.add("must be a number in [-1, 1]", f"{f}.correlation")
            return None
        v = r * math.sqrt(oa * ob)
    return (a, b), float(v)


def _positive_semidefinite(cov: dict[tuple[str, str], float], params: dict[str, Parameter]) -> bool:
    """Whether the omega matrix (IIV variances with the off-diagonal ``cov``) is positive semi-definite."""
    names = [k for k, p in params.items() if p.iiv is not None]
    pos = {k: j for j, k in enumerate(names)}
    om = np.diag([params[k].iiv.omega2 for k in names])
    for (a, b), v in cov.items():
        om[pos[a], pos[b]] = om[pos[b], pos[a]] = v
    return not np.linalg.eigvalsh(om).min() < -1e-12


def parse_common(data: dict, col: Collector, kind: str,
                 extra_names: Iterable[str] = ()) -> tuple[dict[str, Any], ParameterSet, set[str]]:
    """Metadata, covariates, parameters, derived values and covariances of a model file.

    Returns ``(meta, parameter set, names usable in expressions)``.
    """
    meta = parse_meta(data, col, kind)
    covs = load_covariates(data, col)
    params = load_parameters(data.get("parameters", {}), col, covariates=covs)
    known = set(params) | set(STANDARD_COVARIATES) | set(covs)
    derived = load_derived(data.get("derived"), col, known)
    pset = ParameterSet(params, derived, covs, load_covariances(data.get("covariances"), col, params))
    return meta, pset, known | set(derived) | set(extra_names)


def checked_expression(v, f: str, names: set[str], col: Collector, required: bool = True) -> expr.Expression | None:
    """Parse ``v`` at key ``f``; unknown names and forbidden constructs are collected, not raised.

    Only whitelisted expressions (:mod:`pkpd.expr`) over ``names`` pass; otherwise (or when
    ``v`` is missing) None is returned.
    """
    if v is None:
        if required:
            col.add("missing", f)
        return None
    try:
        e = expr.parse(v, f)
    except PkpdError as err:
        col.catch(err)
        return None
    bad = sorted(e.names - names)
    if bad:
        col.add(f"unknown name(s) {', '.join(bad)} in {e.text!r}", f)
        return None
    return e

"""What PK and PD model files share: reading TOML, metadata, covariates, parameters, derived
values, covariances, and checked expressions — each problem collected with its file and key."""
from __future__ import annotations

from pkpd import expr
from pkpd import units
from pkpd.errors import Collector, PkpdError
from pkpd.models.parameters import ParameterSet
from pkpd.models.parameters import STANDARD_COVARIATES, load_covariances, load_derived, load_parameters


SPECIES = tuple(units.MOLAR_MASS)


DRUGS = ("S-ketamine", "racemic ketamine")


def text_field(col: Collector, tbl: dict, key: str, f: str, required: bool = True, choices=None) -> str:
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


def parse_meta(data: dict, col: Collector, kind: str) -> dict:
    meta = data.get("model")
    if not isinstance(meta, dict):
        col.add("missing [model] table (name, title, drug, citation, …)", "model")
        return {}
    for k in ("name", "title", "citation"):
        text_field(col, meta, k, "model")
    text_field(col, meta, "drug", "model", choices=DRUGS)
    text_field(col, meta, "sampling", "model", choices=("arterial", "venous", "unknown"))
    for k in ("population", "doi", "notes", "solver"):
        text_field(col, meta, k, "model", required=False)
    if meta.get("kind", kind) != kind:
        col.add(f"'kind' must be {kind!r}", "model.kind")
    return meta


def load_covariates(data: dict, col: Collector) -> dict[str, tuple[str, float]]:
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


def parse_common(data: dict, col: Collector, kind: str, extra_names=()) -> tuple[dict, ParameterSet, set]:
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


def checked_expression(v, f: str, names: set, col: Collector, required: bool = True):
    """Parse ``v`` at key ``f``; unknown names and forbidden constructs are collected, not raised."""
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

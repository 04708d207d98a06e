"""What PK and PD model files share: reading TOML, metadata, covariates, parameters, derived
values, covariances, and checked expressions — each problem collected with its file and key."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

from . import expr
from .errors import Collector, PkpdError
from .parameters import STANDARD_COVARIATES, ParameterSet, load_covariances, load_derived, load_parameters

DRUGS = ("S-ketamine", "racemic ketamine")


def library_dirs() -> list[Path]:
    """Where model files are looked up: $PKPD_MODEL_PATH, the project's models/, ./models."""
    dirs = [Path(p) for p in os.environ.get("PKPD_MODEL_PATH", "").split(os.pathsep) if p]
    dirs.append(Path(__file__).resolve().parent.parent / "models")
    dirs.append(Path.cwd() / "models")
    seen, out = set(), []
    for d in dirs:
        r = d.resolve()
        if r not in seen and r.is_dir():
            seen.add(r)
            out.append(r)
    return out


def find_model_file(name: str, relative_to: Path | None = None) -> Path:
    """Resolve a model name (``perez_ruixo_2021``) or path to a file."""
    cand = Path(name)
    tries = []
    if cand.suffix == ".toml" or "/" in name or os.sep in name:
        tries += [cand] if cand.is_absolute() else ([relative_to / cand] if relative_to else []) + [cand]
    else:
        for d in library_dirs():
            tries += [d / f"{name}.toml", d / "pd" / f"{name}.toml"]
    for t in tries:
        if t.is_file():
            return t
    avail = ", ".join(sorted(available_models())) or "none"
    raise PkpdError(f"unknown model {name!r} (library models: {avail})")


def available_models() -> dict[str, Path]:
    """Library model name → file (PK models in models/, PD models in models/pd/)."""
    out: dict[str, Path] = {}
    for d in library_dirs():
        for f in sorted(list(d.glob("*.toml")) + list(d.glob("pd/*.toml"))):
            out.setdefault(f.stem, f)
    return out


def read_toml(path: Path, what: str = "file") -> tuple[dict, str]:
    """Read a TOML file; any problem becomes a :class:`PkpdError` naming the file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PkpdError(f"{what} not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise PkpdError(f"cannot read {what}: {e}", file=str(path)) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        raise PkpdError(f"not valid TOML: {e}", file=str(path)) from None


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

"""The ``[scenario]`` table: title, description, and the PK and PD models, loaded and checked.

::

    [scenario]
    title = "IV, oral and intranasal esketamine"
    description = "…"                  # optional
    models = ["perez_ruixo_2021"]      # PK models, run side by side (library names or files)
    pd = ["olofsen_2022"]              # optional PD models (effect sites, readouts)
    validity = "warn"                  # or "refuse": a run outside a model's [validity] ranges

Model files are looked up beside the scenario file first (:func:`pkpd.models.load.load_model`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from pkpd.errors import Collector, PkpdError
from pkpd.models.load import load_model
from pkpd.models.pd import PDModel
from pkpd.models.pk import Model
from pkpd.scenario.fields import text


KEYS = {"title", "description", "models", "model", "pd", "validity"}


#: What ``[scenario] validity`` may say: warn about a run outside a model's ranges, or refuse it.
VALIDITY = ("warn", "refuse")


@dataclass(frozen=True)
class ScenarioTable:
    """What the ``[scenario]`` table gives: title and description, loaded PK and PD models."""

    title: str
    description: str
    models: tuple[Model, ...]
    pd: tuple[PDModel, ...]
    validity: str = "warn"


def parse_scenario_table(tbl, col: Collector, path: str) -> ScenarioTable:
    """Check the ``[scenario]`` table (``tbl``) of the file at ``path`` and load its models.

    Problems are added to ``col``; a model that does not load is left out.  The title defaults to
    the file's stem.
    """
    if not isinstance(tbl, dict):
        col.add("missing [scenario] table (title, models)", "scenario")
        tbl = {}
    for k in sorted(set(tbl) - KEYS):
        col.add(f"unknown key '{k}'", f"scenario.{k}")
    title = text(col, tbl, "title", "scenario.title", "") or Path(path).stem
    description = text(col, tbl, "description", "scenario.description", "")
    base = Path(path).parent
    names = tbl.get("models", tbl.get("model"))
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        col.add("'models' must list one or more model names or files", "scenario.models")
        names = []
    models = _load_models(names, "models", base, col)
    pdn = tbl.get("pd", [])
    if isinstance(pdn, str):
        pdn = [pdn]
    if not isinstance(pdn, list) or not all(isinstance(n, str) for n in pdn):
        col.add("'pd' must list PD model names or files", "scenario.pd")
        pdn = []
    pds = _load_models(pdn, "pd", base, col)
    validity = tbl.get("validity", "warn")
    if validity not in VALIDITY:
        col.add(f"must be one of {', '.join(VALIDITY)} (got {validity!r})", "scenario.validity")
        validity = "warn"
    return ScenarioTable(title, description or "", tuple(models), tuple(pds), validity)


def _load_models(names: list[str], key: str, base: Path, col: Collector) -> list:
    """Load each named model for the list ``scenario.<key>`` ("models": PK, "pd": PD)."""
    want_pd = key == "pd"
    out = []
    for i, n in enumerate(names):
        f = f"scenario.{key}[{i}]"
        try:
            m = load_model(n, base)
        except PkpdError as e:
            col.catch(e if e.file else e.located(field_prefix=f))
            continue
        if isinstance(m, PDModel) != want_pd:
            col.add(f"{n!r} is a PK model; list it under 'models'" if want_pd else
                    f"{n!r} is a PD model; list it under 'pd'", f)
        else:
            out.append(m)
    return out

"""The ``[[regimens]]`` tables: what is given, each regimen in one of three ways.

::

    [[regimens]]                       # dose tables
    name = "IV 0.5 mg/kg over 40 min"
    doses = [{ route = "iv", amount = "0.5 mg/kg", duration = "40 min", drug = "racemic" }]

    [[regimens]]                       # compact notation (pkpd.dosing.notation)
    name = "Intranasal 56 mg"
    text = "28 mg IN x2 every 5 min"

    [[regimens]]                       # one ID of a NONMEM-style event file beside the scenario
    name = "Subject 3"
    events = "data/events.csv"
    id = 3                             # needed when the file has several IDs
    drug = "esketamine"                # optional: what every dose without its own 'drug' gives

Dose fields are checked by :func:`pkpd.scenario.doses.parse_dose`.  ``drug`` (esketamine,
racemic or arketamine) may be set per dose, per notation segment or, as here, per regimen.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from pkpd.dosing.notation import parse_regimen
from pkpd.dosing.records import read_events
from pkpd.dosing.regimen import Regimen
from pkpd.names import has_control
from pkpd.errors import Collector, PkpdError
from pkpd.models.drugs import resolve_drug
from pkpd.scenario.doses import parse_dose


KEYS = {"name", "doses", "text", "events", "id", "drug"}


def parse_regimens(tbls, col: Collector, base: Path) -> tuple[Regimen, ...]:
    """Check the ``[[regimens]]`` list; event files are read relative to ``base``.

    Returns the regimens that are valid; problems (missing or duplicate names, bad doses) go to
    ``col``.
    """
    if not isinstance(tbls, list) or not tbls:
        col.add("missing [[regimens]] (at least one)", "regimens")
        tbls = []
    regs = []
    seen: set[str] = set()
    for i, r in enumerate(tbls):
        f = f"regimens[{i}]"
        if not isinstance(r, dict):
            col.add("must be a table with name and doses", f)
            continue
        for k in sorted(set(r) - KEYS):
            col.add(f"unknown key '{k}'", f"{f}.{k}")
        name = r.get("name", r.get("text"))
        if not isinstance(name, str) or not name.strip():
            col.add("missing 'name'", f"{f}.name")
            continue  # a list or table here must not reach the set of names (unhashable)
        if has_control(name) or len(name) > 200:
            col.add("a regimen name must be at most 200 characters, without control characters (NUL, newline, …)",
                    f"{f}.name")
            continue
        if name in seen:
            col.add(f"duplicate regimen name {name!r}", f"{f}.name")
        seen.add(name)
        reg = _regimen(r, name, f, col, base)
        if reg is not None and "drug" in r:
            reg = _with_drug(reg, r["drug"], f, col)
        if reg is not None:
            regs.append(reg)
    return tuple(regs)


def _with_drug(reg: Regimen, drug, f: str, col: Collector) -> Regimen | None:
    """The regimen with ``drug`` given to every dose that does not name its own."""
    try:
        name = resolve_drug(drug, f"{f}.drug")
    except PkpdError as e:
        col.catch(e)
        return None
    return Regimen(reg.name, tuple(d if d.drug is not None else replace(d, drug=name) for d in reg.doses))


def _regimen(r: dict, name: str, f: str, col: Collector, base: Path) -> Regimen | None:
    """One regimen table (its name checked) from its doses, text or events; None if invalid."""
    if sum(k in r for k in ("doses", "text", "events")) != 1:
        col.add("give exactly one of 'doses' (tables), 'text' (compact notation such as "
                "\"0.5 mg/kg over 40 min\") or 'events' (a NONMEM-style CSV file)", f)
        return None
    try:
        if "text" in r:
            return parse_regimen(r["text"], name, f"{f}.text")
        if "events" in r:
            return _from_events(r, name, f, col, base)
    except PkpdError as e:
        col.catch(e)
        return None
    return _from_doses(r.get("doses"), name, f, col)


def _from_events(r: dict, name: str, f: str, col: Collector, base: Path) -> Regimen | None:
    """The regimen of one ID of an event file (``events``, ``id``)."""
    ev_path = r["events"]
    if not isinstance(ev_path, str):
        col.add("must be a file name", f"{f}.events")
        return None
    ed = read_events(base / ev_path)
    ids = sorted(ed.regimens)
    want = r.get("id", ids[0] if len(ids) == 1 else None)
    if want not in ed.regimens:
        col.add(f"the file has IDs {ids[:10]}{'…' if len(ids) > 10 else ''}: choose one with 'id'", f"{f}.id")
        return None
    return Regimen(name, ed.regimens[want].doses)


def _from_doses(dl, name: str, f: str, col: Collector) -> Regimen | None:
    """The regimen of a ``doses`` list (or single dose table); None unless every dose is valid."""
    if isinstance(dl, dict):
        dl = [dl]
    if not isinstance(dl, list) or not dl:
        col.add("missing 'doses' (one or more dose tables)", f"{f}.doses")
        return None
    doses = []
    for j, d in enumerate(dl):
        try:
            doses.append(parse_dose(d, f"{f}.doses[{j}]"))
        except PkpdError as e:
            col.catch(e)
    return Regimen(name, tuple(doses)) if len(doses) == len(dl) else None

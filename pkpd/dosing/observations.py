"""Observed concentrations, for overlays and visual predictive checks.

Two formats, told apart by their columns:

* **NONMEM-style records** (an ``AMT`` column; :mod:`pkpd.dosing.records`): dose rows give each
  ID's regimen, observation rows (``EVID`` 0, ``MDV`` not 1) with a numeric ``DV`` the
  measurements; the route of an ID is the route of its doses.
* **tidy CSV** ``ID,TIME,DV[,ROUTE]`` (plus optional ``WT``, ``AGE``, ``SEX``): measurements only;
  the regimens are given separately (``pkpd vpc --regimen``), matched by ``ROUTE`` when there are
  several.  ``ROUTE`` takes a route key or a notation word (``IV``, ``IN``, ``PO`` …).

``TIME`` is in hours and ``DV`` in ng/mL (the unit of simulated concentrations).  A ``DV`` of
``.`` or empty (below the limit of quantification, missing) is skipped.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np
from pkpd.dosing.records import parse_events
from pkpd.dosing.regimen import Regimen
from pkpd.errors import Collector, PkpdError
from pkpd.inputs import read_text
from pkpd.models.routes import ROUTE_WORDS


@dataclass(frozen=True)
class Observations:
    """Measurements, one entry per observation, in file order.

    Attributes
    ----------
    id : ndarray of int
    time : ndarray of float
        Hours since the ID's time 0.
    dv : ndarray of float
        The measured value (ng/mL for concentrations).
    route : ndarray of str
        Route key of each observation's ID (``""`` when the file does not say).
    regimens : dict of int to Regimen
        Each ID's regimen from its dose records (empty for a tidy CSV).
    covariates : dict of int to dict
        ``WT`` (kg), ``AGE`` (years), ``FEMALE`` (0/1) per ID, where given.
    path : str
    """

    id: np.ndarray
    time: np.ndarray
    dv: np.ndarray
    route: np.ndarray
    regimens: dict = field(default_factory=dict)
    covariates: dict = field(default_factory=dict)
    path: str = ""

    @property
    def ids(self) -> list[int]:
        """The IDs with observations, in order of first appearance."""
        return list(dict.fromkeys(int(i) for i in self.id))

    def with_regimens(self, regimens: dict) -> "Observations":
        """A copy whose IDs get ``regimens`` (ID → Regimen) and the routes of those regimens."""
        route = np.array(["+".join(regimens[int(i)].routes) for i in self.id])
        return Observations(self.id, self.time, self.dv, route, dict(regimens), self.covariates, self.path)


def read_observations(path) -> Observations:
    """Read observations from NONMEM-style records or a tidy CSV (see the module docstring).

    Raises
    ------
    PkpdError
        A missing file or column, a bad number (with its row), no observation at all.
    """
    path = Path(path)
    text = read_text(path, "observation file", "csv_bytes")  # regular file, size cap, BOM dropped
    try:
        header = next(csv.reader(io.StringIO(text)), [])
    except csv.Error as e:
        raise PkpdError(f"not a readable CSV file: {e}", file=str(path)) from None
    cols = {h.strip().upper() for h in header}
    obs = _from_records(text, str(path)) if "AMT" in cols else _from_tidy(text, str(path))
    if obs.id.size == 0:
        raise PkpdError("no observations (rows with a numeric DV)", file=str(path), field="DV")
    return obs


def _dv(cell, row: int, col: Collector) -> float | None:
    """A DV cell: a finite number, or None for '.'/empty (missing or below the LLOQ)."""
    if cell is None or cell.strip() in ("", "."):
        return None
    try:
        v = float(cell)
    except ValueError:
        col.add(f"row {row}: DV must be a number or '.', got {cell!r}", "DV")
        return None
    if not math.isfinite(v):
        col.add(f"row {row}: DV must be finite", "DV")
        return None
    return v


def _from_records(text: str, path: str) -> Observations:
    """Observation rows of a NONMEM-style dataset; each ID's regimen from its dose rows."""
    ed = parse_events(text, path)
    col = Collector(path)
    ids, times, dvs = [], [], []
    for r in ed.rows:
        if r["EVID"] != 0:
            continue
        raw = {k.strip().upper(): v for k, v in r["_raw"].items() if k is not None}
        if "DV" not in raw:
            col.add("no DV column: the records hold no measurements", "DV")
            break
        if (raw.get("MDV") or "").strip() == "1":
            continue
        v = _dv(raw["DV"], r["_row"], col)
        if v is None:
            continue
        if r["ID"] not in ed.regimens:
            col.add(f"row {r['_row']}: ID {r['ID']} has observations but no dose record", "ID")
            continue
        ids.append(r["ID"])
        times.append(r["TIME"])
        dvs.append(v)
    col.raise_if_any()
    route = np.array(["+".join(ed.regimens[i].routes) for i in ids], dtype=object).astype(str)
    return Observations(np.array(ids, dtype=int), np.array(times, float), np.array(dvs, float),
                        route, dict(ed.regimens), dict(ed.covariates), path)


def _from_tidy(text: str, path: str) -> Observations:
    """A tidy CSV: ID, TIME, DV and optional ROUTE, WT, AGE, SEX."""
    col = Collector(path)
    reader = csv.DictReader(io.StringIO(text))
    fields = {(f or "").strip().upper(): f for f in (reader.fieldnames or [])}
    for need in ("ID", "TIME", "DV"):
        if need not in fields:
            col.add(f"missing column {need} (a tidy observation file has ID, TIME, DV and optionally ROUTE; "
                    f"NONMEM records need AMT)", need)
    col.raise_if_any()
    ids, times, dvs, routes = [], [], [], []
    covs: dict[int, dict] = {}
    for n, r in enumerate(reader, start=2):
        if None in r:
            col.add(f"row {n}: more cells than columns", "")
            continue
        try:
            i = int(float(r[fields["ID"]]))
            t = float(r[fields["TIME"]])
        except (TypeError, ValueError):
            col.add(f"row {n}: ID and TIME must be numbers", "TIME")
            continue
        if not math.isfinite(t) or t < 0:
            col.add(f"row {n}: TIME must be ≥ 0 (h)", "TIME")
            continue
        v = _dv(r[fields["DV"]], n, col)
        if v is None:
            continue
        route = ""
        if "ROUTE" in fields:
            word = (r[fields["ROUTE"]] or "").strip().lower()
            if word not in ROUTE_WORDS:
                col.add(f"row {n}: unknown ROUTE {r[fields['ROUTE']]!r} (e.g. iv, oral, intranasal, IN, PO)", "ROUTE")
                continue
            route = ROUTE_WORDS[word]
        covs.setdefault(i, _tidy_covariates(r, fields, n, col))
        ids.append(i)
        times.append(t)
        dvs.append(v)
        routes.append(route)
    col.raise_if_any()
    by_id: dict[int, set] = {}
    for i, rt in zip(ids, routes):
        by_id.setdefault(i, set()).add(rt)
    for i, rts in by_id.items():
        if len(rts) > 1:
            col.add(f"ID {i} has observations under several routes ({', '.join(sorted(rts))}): one route per ID",
                    "ROUTE")
    col.raise_if_any()
    return Observations(np.array(ids, dtype=int), np.array(times, float), np.array(dvs, float),
                        np.array(routes, dtype=object).astype(str) if routes else np.array([], dtype=str),
                        {}, covs, path)


def _tidy_covariates(r: dict, fields: dict, n: int, col: Collector) -> dict:
    """WT, AGE and SEX of a tidy row (the ID's first), where given."""
    out = {}
    for k in ("WT", "AGE"):
        if k in fields and (r[fields[k]] or "").strip() not in ("", "."):
            try:
                out[k] = float(r[fields[k]])
            except ValueError:
                col.add(f"row {n}: {k} must be a number", k)
    if "SEX" in fields and (r[fields["SEX"]] or "").strip() not in ("", "."):
        sx = r[fields["SEX"]].strip().lower()
        if sx not in ("0", "1", "m", "f", "male", "female"):
            col.add(f"row {n}: SEX must be male/female or 0/1", "SEX")
        else:
            out["FEMALE"] = 1.0 if sx in ("1", "f", "female") else 0.0
    if "WT" in out and not 0 < out["WT"] <= 400:
        col.add(f"row {n}: WT must be in (0, 400] kg", "WT")
    return out


def assign_regimens(obs: Observations, regimens: list[Regimen]) -> Observations:
    """Give a tidy file's IDs their regimens: the only one, or the one whose route matches the ID's
    ``ROUTE``.

    Raises
    ------
    PkpdError
        No regimen; several regimens but no ROUTE column; a route no regimen has, or two
        regimens with one route.
    """
    if obs.regimens:
        return obs
    if not regimens:
        raise PkpdError("a tidy observation file (ID, TIME, DV) has no doses: give the regimen the subjects "
                        "received (--regimen \"0.5 mg/kg IV over 40 min\")", file=obs.path)
    if len(regimens) == 1:
        return obs.with_regimens({i: regimens[0] for i in obs.ids})
    by_route: dict[str, Regimen] = {}
    for r in regimens:
        key = "+".join(r.routes)
        if key in by_route:
            raise PkpdError(f"two regimens for route {key}: give one regimen per route", file=obs.path)
        by_route[key] = r
    if not np.all(obs.route != ""):
        raise PkpdError("several regimens need a ROUTE column to tell which subjects got which", file=obs.path,
                        field="ROUTE")
    missing = sorted(set(obs.route) - set(by_route))
    if missing:
        raise PkpdError(f"no regimen for route(s) {', '.join(missing)} (regimens: "
                        f"{', '.join(by_route)})", file=obs.path, field="ROUTE")
    route_of = {int(i): str(rt) for i, rt in zip(obs.id, obs.route)}
    return obs.with_regimens({i: by_route[route_of[i]] for i in obs.ids})

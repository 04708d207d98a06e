"""NONMEM-style event records: read a dosing history from CSV, write regimens and simulated
observations back in the same format.

Columns (case-insensitive): ``ID``, ``TIME`` (h), ``AMT`` (mg), ``RATE`` (mg/h; 0 = bolus),
``CMT`` (route: 1 IV, 2 oral, 3 intranasal, 4 sublingual, 5 IM, as in
:data:`pkpd.models.routes.ROUTE_TABLE` — or a ``ROUTE`` column with the name), ``EVID`` (1 dose, 0 observation, 2 other), ``MDV``, ``II`` (h), ``ADDL``, ``SS`` (1 = at
steady state before this dose, dosing every ``II``), ``SPRAY`` (spray number within an intranasal
administration; default 1), ``DV``, and covariates ``WT`` (kg), ``AGE`` (years), ``SEX``
(male/female or 0/1 with 1 female).  An optional ``DRUG`` column says what a dose is
(``racemic``, ``esketamine``/``S-ketamine``, ``arketamine``, as in :mod:`pkpd.models.drugs`; empty
or ``.``: the form each model describes); :func:`regimen_to_records` writes it for doses that state
their drug, so a racemic dose read back stays racemic.  Other columns are kept and written back
unchanged.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
import numpy as np
from pkpd import units
from pkpd.dosing.regimen import Dose, Regimen
from pkpd.errors import Collector, PkpdError
from pkpd.inputs import read_text
from pkpd.limits import limit
from pkpd.models.drugs import resolve_drug
from pkpd.models.routes import (CMT_ROUTE, ROUTE_BY_KEY, ROUTE_CMT, ROUTE_TABLE, ROUTE_WORDS, infusion_routes,
                                 or_list)


STANDARD = ["ID", "TIME", "AMT", "RATE", "CMT", "EVID", "MDV", "II", "ADDL", "SS", "SPRAY", "DV"]




#: "1 IV, 2 oral, …" and "1 (IV), 2 (oral), … or 5 (IM)", for messages.
_CMT_LIST = ", ".join(f"{r.cmt} {r.label}" for r in ROUTE_TABLE)
_CMT_CHOICES = or_list(f"{r.cmt} ({r.label})" for r in ROUTE_TABLE)


@dataclass(frozen=True)
class EventData:
    """A checked event dataset."""

    rows: list[dict]  # every row: parsed standard fields (ID, TIME, AMT, …) and "_raw", the cells as read
    columns: list[str]
    regimens: dict  # ID → Regimen (dose records)
    observations: dict  # ID → array of observation times (EVID 0)
    covariates: dict  # ID → {WT, AGE, FEMALE} (from the ID's first row)
    path: str = ""


def regimen_to_records(reg: Regimen, id_: int = 1, weight: float = 70.0) -> list[dict]:
    """Dose records for ``reg`` (mg/kg doses resolved for ``weight`` kg); repeats as II/ADDL."""
    rows = []
    for d in reg.doses:
        amt = float(d.amount_per_administration(np.array([weight]))[0])
        rate = amt / d.duration if d.duration is not None else 0.0
        for k in range(d.sprays):
            rows.append({"ID": id_, "TIME": d.start + k * d.spray_interval, "AMT": amt, "RATE": rate,
                         "CMT": ROUTE_CMT[d.route], "EVID": 1, "MDV": 1,
                         "II": d.every if d.times > 1 or d.steady_state else 0.0,
                         "ADDL": d.times - 1, "SS": int(d.steady_state), "SPRAY": k + 1, "DV": ".",
                         "DRUG": d.drug})  # None (not stated) is written "."
    rows.sort(key=lambda r: (r["TIME"], r["SPRAY"]))
    return rows


def records_to_regimen(rows: list[dict], name: str = "events", col: Collector | None = None,
                       where: str = "") -> Regimen:
    """A regimen from one ID's dose records (EVID 1).  Consecutive records of a spray route
    (intranasal) with SPRAY 1, 2, … (same AMT, II, ADDL, evenly spaced) become one administration of
    several sprays."""
    doses: list[Dose] = []
    pending: list[dict] = []

    def flush():
        if not pending:
            return
        r0 = pending[0]
        sprays = len(pending)
        interval = pending[1]["TIME"] - r0["TIME"] if sprays > 1 else 0.0
        for j, r in enumerate(pending[1:], start=2):
            if (r["SPRAY"] != j or r["AMT"] != r0["AMT"] or r["II"] != r0["II"] or r["ADDL"] != r0["ADDL"]
                    or r.get("DRUG") != r0.get("DRUG") or abs(r["TIME"] - (r0["TIME"] + (j - 1) * interval)) > 1e-9):
                raise PkpdError(f"{where}{CMT_ROUTE[r0['CMT']]} SPRAY records must count 1, 2, … with the same AMT, "
                                f"II, ADDL and DRUG, evenly spaced (row {r['_row']})", field="SPRAY")
        doses.append(_dose(r0, sprays, interval, where))
        pending.clear()

    for r in rows:
        if r["EVID"] != 1:
            continue
        sprays = ROUTE_BY_KEY[CMT_ROUTE[r["CMT"]]].sprays
        if sprays and r["SPRAY"] > 1:
            if not pending:
                raise PkpdError(f"{where}SPRAY {r['SPRAY']} without SPRAY 1 before it (row {r['_row']})",
                                field="SPRAY")
            pending.append(r)
            continue
        flush()
        if sprays:
            pending.append(r)
        else:
            doses.append(_dose(r, 1, 0.0, where))
    flush()
    if not doses:
        raise PkpdError(f"{where}no dose records (EVID 1)")
    return Regimen(name, tuple(doses))


def _dose(r: dict, sprays: int, interval: float, where: str) -> Dose:
    route = CMT_ROUTE[r["CMT"]]
    amt = units.Quantity(r["AMT"], "amount", False, f"{r['AMT']:g} mg")
    kw = dict(route=route, amount=amt, start=r["TIME"], sprays=sprays, spray_interval=interval,
              drug=r.get("DRUG"))
    if r["RATE"] > 0:
        if not ROUTE_BY_KEY[route].infusion:
            raise PkpdError(f"{where}RATE > 0 (zero-order input) is supported for "
                            f"{or_list(x.label for x in infusion_routes())} records only (row {r['_row']})",
                            field="RATE")
        kw["duration"] = r["AMT"] / r["RATE"]
    if r["ADDL"] > 0:
        kw["every"], kw["times"] = r["II"], int(r["ADDL"]) + 1
    if r["SS"] == 1:
        kw["steady_state"] = True
        kw["every"] = r["II"]
    try:
        return Dose(**kw)
    except PkpdError as e:
        raise PkpdError(f"{where}{e.problem} (row {r.get('_row', '?')})", field=e.field) from None


def _num(v, col, row, name, c: Collector, integer=False, default=None):
    if v is None or (isinstance(v, str) and v.strip() in ("", ".")):
        if default is None:
            c.add(f"row {row}: missing {name}", name)
        return default
    try:
        x = float(v)
    except (TypeError, ValueError):
        c.add(f"row {row}: {name} must be a number, got {v!r}", name)
        return default
    if not math.isfinite(x):
        c.add(f"row {row}: {name} must be finite", name)
        return default
    if integer and x != int(x):
        c.add(f"row {row}: {name} must be a whole number, got {v!r}", name)
        return default
    return int(x) if integer else x


def parse_events(text: str, path: str = "<memory>") -> EventData:
    """Check an event dataset (CSV text); every problem is collected with its row and column."""
    text = text.removeprefix("\ufeff")  # a byte-order mark (Excel) would rename the first column
    c = Collector(path)
    raw, fields = _read_csv(text, path)
    upper = _check_columns(fields, c)
    rows = []
    for i, r in enumerate(raw):
        row = _parse_row(r, i + 2, upper, c)  # 1-based, after the header
        if row is not None:
            rows.append(row)
    c.raise_if_any()
    by_id: dict[int, list[dict]] = {}
    for r in rows:
        by_id.setdefault(r["ID"], []).append(r)
    regimens, obs, covs = {}, {}, {}
    for id_, rs in by_id.items():
        if not _check_id_order(id_, rs, c):
            continue
        try:
            if any(r["EVID"] == 1 for r in rs):
                regimens[id_] = records_to_regimen(rs, name=f"ID {id_}", where=f"ID {id_}: ")
        except PkpdError as e:
            c.catch(e)
            continue
        obs[id_] = np.array([r["TIME"] for r in rs if r["EVID"] == 0])
        covs[id_] = _covariates(id_, rs[0], c)
    c.raise_if_any()
    return EventData(rows, list(fields), regimens, obs, covs, path)


def _read_csv(text: str, path: str) -> tuple[list[dict], list[str]]:
    """The CSV's rows (dicts by header cell) and header."""
    try:
        reader = csv.DictReader(io.StringIO(text))
        raw = []
        max_rows = limit("event_rows")
        for i, r in enumerate(reader):
            if i >= max_rows:
                raise PkpdError(f"more than {max_rows:,.0f} rows (the event_rows limit; raise it with "
                                f"PKPD_MAX_EVENT_ROWS=N)", file=path)
            raw.append(r)
        fields = reader.fieldnames or []
    except csv.Error as e:
        raise PkpdError(f"not a readable CSV file: {e}", file=path) from None
    if not fields:
        raise PkpdError("empty file (no header row)", file=path)
    return raw, fields


def _check_columns(fields: list[str], c: Collector) -> dict[str, str]:
    """Header cell → upper-case column name; raises if a required column is missing."""
    upper = {f: f.strip().upper() for f in fields if f is not None}
    for need in ("ID", "TIME", "AMT"):
        if need not in upper.values():
            c.add(f"missing column {need} (columns: {', '.join(fields)})", need)
    if "CMT" not in upper.values() and "ROUTE" not in upper.values():
        c.add(f"needs a CMT column ({_CMT_LIST}) or a ROUTE column", "CMT")
    c.raise_if_any()
    return upper


def _parse_row(r: dict, rown: int, upper: dict[str, str], c: Collector) -> dict | None:
    """One row's standard fields (problems go to ``c``); None if it has more cells than columns."""
    if None in r:
        c.add(f"row {rown}: more cells than columns", "")
        return None
    u = {upper[k]: v for k, v in r.items() if k in upper}
    row = {"_raw": dict(r), "_row": rown}
    row["ID"] = _num(u.get("ID"), "ID", rown, "ID", c, integer=True, default=0)
    row["TIME"] = _num(u.get("TIME"), "TIME", rown, "TIME", c, default=0.0)
    amt = _num(u.get("AMT"), "AMT", rown, "AMT", c, default=0.0)
    evid = _num(u.get("EVID"), "EVID", rown, "EVID", c, integer=True, default=1 if amt > 0 else 0)
    row["AMT"], row["EVID"] = amt, evid
    row["RATE"] = _num(u.get("RATE"), "RATE", rown, "RATE", c, default=0.0)
    row["II"] = _num(u.get("II"), "II", rown, "II", c, default=0.0)
    row["ADDL"] = _num(u.get("ADDL"), "ADDL", rown, "ADDL", c, integer=True, default=0)
    row["SS"] = _num(u.get("SS"), "SS", rown, "SS", c, integer=True, default=0)
    row["SPRAY"] = _num(u.get("SPRAY"), "SPRAY", rown, "SPRAY", c, integer=True, default=1)
    row["CMT"] = _row_cmt(u, rown, evid, c)
    row["DRUG"] = _row_drug(u.get("DRUG"), rown, c)
    for k in ("WT", "AGE", "SEX"):
        row[f"_{k}"] = u.get(k)
    if evid not in (0, 1, 2):
        c.add(f"row {rown}: EVID {evid} (resets) is not supported; use 0, 1 or 2", "EVID")
    if row["TIME"] is not None and row["TIME"] < 0:
        c.add(f"row {rown}: TIME cannot be negative", "TIME")
    if evid == 1:
        _check_dose_row(row, rown, c)
    return row


def _row_cmt(u: dict, rown: int, evid: int, c: Collector) -> int | None:
    """The row's CMT: from the CMT column, or from a ROUTE column's word when CMT is empty."""
    if "ROUTE" in u and (u.get("CMT") in (None, "", ".")):
        name = (u["ROUTE"] or "").strip().lower()
        if name not in ROUTE_WORDS:
            c.add(f"row {rown}: unknown ROUTE {u['ROUTE']!r}", "ROUTE")
            return 1
        return ROUTE_CMT[ROUTE_WORDS[name]]
    return _num(u.get("CMT"), "CMT", rown, "CMT", c, integer=True, default=1 if evid != 1 else None)


def _row_drug(v, rown: int, c: Collector) -> str | None:
    """The canonical drug of a DRUG cell (None when empty or '.')."""
    if v is None or v.strip() in ("", "."):
        return None
    try:
        return resolve_drug(v)
    except PkpdError as e:
        c.add(f"row {rown}: DRUG {e.problem}", "DRUG")
        return None


def _check_dose_row(row: dict, rown: int, c: Collector) -> None:
    """Problems of a dose record (EVID 1)."""
    if row["AMT"] <= 0:
        c.add(f"row {rown}: a dose record needs AMT > 0 (mg)", "AMT")
    if row["RATE"] < 0:
        c.add(f"row {rown}: RATE {row['RATE']:g} (modelled rate/duration) is not supported; give RATE in "
              f"mg/h or 0", "RATE")
    if row["CMT"] not in CMT_ROUTE:
        c.add(f"row {rown}: CMT must be {_CMT_CHOICES}, got {row['CMT']}", "CMT")
    if row["ADDL"] < 0 or row["ADDL"] > 100_000:
        c.add(f"row {rown}: ADDL must be 0–100000", "ADDL")
    if (row["ADDL"] > 0 or row["SS"] == 1) and row["II"] <= 0:
        c.add(f"row {rown}: ADDL > 0 or SS = 1 needs II > 0", "II")
    if row["SS"] not in (0, 1):
        c.add(f"row {rown}: SS must be 0 or 1 (SS=2 is not supported)", "SS")
    if row["SPRAY"] < 1:
        c.add(f"row {rown}: SPRAY must be ≥ 1", "SPRAY")


def _check_id_order(id_: int, rs: list[dict], c: Collector) -> bool:
    """Whether an ID's rows are in NONMEM order with SS=1 only on its first dose at TIME 0."""
    times = [r["TIME"] for r in rs]
    if any(b < a for a, b in zip(times, times[1:])):
        c.add(f"ID {id_}: TIME must not decrease within an ID (NONMEM order)", "TIME")
        return False
    ss = [r for r in rs if r["EVID"] == 1 and r["SS"] == 1]
    if ss and (ss[0] is not next(r for r in rs if r["EVID"] == 1) or ss[0]["TIME"] != 0 or len(ss) > 1):
        c.add(f"ID {id_}: SS=1 is supported on the first dose of an ID, at TIME 0, once", "SS")
        return False
    return True


def _covariates(id_: int, first: dict, c: Collector) -> dict:
    """WT (kg), AGE (years) and FEMALE (0/1) from an ID's first row; what was read before a bad value."""
    cv = {}
    try:
        if first["_WT"] not in (None, "", "."):
            cv["WT"] = float(first["_WT"])
            if not 0 < cv["WT"] <= 400:
                raise ValueError
        if first["_AGE"] not in (None, "", "."):
            cv["AGE"] = float(first["_AGE"])
        if first["_SEX"] not in (None, "", "."):
            sx = str(first["_SEX"]).strip().lower()
            if sx not in ("0", "1", "m", "f", "male", "female"):
                raise ValueError
            cv["FEMALE"] = 1.0 if sx in ("1", "f", "female") else 0.0
    except ValueError:
        c.add(f"ID {id_}: covariates WT (0–400 kg), AGE and SEX (male/female, 0/1) must be valid", "WT")
    return cv


def read_events(path) -> EventData:
    """Read and check an event file (regular file, at most the ``csv_bytes`` limit, UTF-8 with or
    without a byte-order mark)."""
    path = Path(path)
    return parse_events(read_text(path, "event file", "csv_bytes"), str(path))


def records_csv(rows: list[dict], columns: list[str] | None = None) -> str:
    """CSV text of records (standard columns first, then any others; by default the standard ones,
    and ``DRUG`` when a record states one)."""
    cols = columns or STANDARD + (["DRUG"] if any(r.get("DRUG") not in (None, ".") for r in rows) else [])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([_fmt(r.get(k, r.get(k.upper(), "."))) for k in cols])
    return buf.getvalue()


def _fmt(v):
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)  # shortest text that reads back exactly
    return "." if v is None else v

"""``pkpd nca``: read concentration data and the doses behind them, run NCA per subject, write the table.

Two kinds of file:

* a NONMEM-style event file (columns ID, TIME, AMT and CMT or ROUTE; :mod:`pkpd.dosing.records`):
  each ID's dose records give the dose times, amounts, the route (CMT), infusions (RATE), repeats
  (II/ADDL) and steady state (SS=1 with II = τ); observations are EVID 0 rows with a DV;
* any other CSV with time and concentration columns (and optionally ID): dose rows, if any, are
  those with an AMT (EVID 1 when there is an EVID column); without dose rows the one dose is at time
  0 (``--dose`` gives its amount).

``--tau`` sets the dosing interval, ``--steady-state`` declares steady state before the first dose,
``--route`` the route class; ``--dose`` replaces every dose amount.
"""
from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path
import numpy as np
from pkpd.analysis.nca import NCAResult, nca
from pkpd.analysis.nca_dosing import Dosing, dosing_from_regimen
from pkpd.dosing.records import parse_events
from pkpd.errors import PkpdError
from pkpd.inputs import read_text
from pkpd.output.files import write_text
from pkpd.output.nca_table import nca_csv, nca_terminal

_EVENT_COLUMNS = {"ID", "TIME", "AMT"}


def _read_table(path: Path) -> tuple[str, list[str], list[dict]]:
    """A concentration CSV (regular file, size cap, UTF-8 with or without a byte-order mark)."""
    text = read_text(path, "concentration file", "csv_bytes")
    try:
        r = csv.DictReader(io.StringIO(text))
        rows = list(r)
    except csv.Error as e:
        raise PkpdError(f"not a readable CSV file: {e}", file=str(path)) from None
    return text, [f for f in (r.fieldnames or [])], rows


def _number(v, i: int, name: str, path: Path) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise PkpdError(f"row {i}: {name} must be a number, got {v!r}", file=str(path), field=name) from None
    if not np.isfinite(x):
        raise PkpdError(f"row {i}: {name} must be finite", file=str(path), field=name)
    return x


def _plain(path: Path, fields: list[str], rows: list[dict], time_col: str, conc_col: str, id_col: str | None):
    """Observations and dose events (time, amount) per subject of a plain CSV."""
    upper = {f.upper(): f for f in fields}

    def col(name):
        if name.upper() not in upper:
            raise PkpdError(f"no column {name!r} (columns: {', '.join(fields)})", file=str(path), field=name)
        return upper[name.upper()]
    tc, cc = col(time_col), col(conc_col)
    ic = upper.get((id_col or "ID").upper())
    amtc, evc, mdvc = upper.get("AMT"), upper.get("EVID"), upper.get("MDV")
    obs: dict[str, tuple[list, list]] = {}
    doses: dict[str, list[tuple[float, float]]] = {}
    for i, r in enumerate(rows, start=2):
        sid = (r.get(ic) or "").strip() if ic else "1"
        o = obs.setdefault(sid, ([], []))
        amt = (r.get(amtc) or "").strip() if amtc else ""
        if amt not in ("", ".", "0") and (not evc or (r.get(evc) or "").strip() == "1"):
            doses.setdefault(sid, []).append((_number(r[tc], i, tc, path), _number(amt, i, "AMT", path)))
            continue
        if (mdvc and (r.get(mdvc) or "").strip() == "1") or (r.get(cc) or "").strip() in ("", "."):
            continue
        o[0].append(_number(r[tc], i, tc, path))
        o[1].append(_number(r[cc], i, cc, path))
    dosing = {sid: Dosing(tuple(d[0] for d in sorted(ev)), tuple(d[1] for d in sorted(ev)))
              for sid, ev in doses.items()}
    return obs, dosing


def _events(path: Path, text: str):
    """Observations and :class:`Dosing` per ID of a NONMEM-style event file."""
    ed = parse_events(text, str(path))
    upper = {c.strip().upper(): c for c in ed.columns}
    if "DV" not in upper:
        raise PkpdError("no DV column: no concentrations to analyse", file=str(path), field="DV")
    obs: dict[str, tuple[list, list]] = {}
    for r in ed.rows:
        raw = r["_raw"]
        dv = (raw.get(upper["DV"]) or "").strip()
        mdv = (raw.get(upper.get("MDV", ""), "") or "").strip()
        o = obs.setdefault(str(r["ID"]), ([], []))
        if r["EVID"] != 0 or mdv == "1" or dv in ("", "."):
            continue
        o[0].append(r["TIME"])
        o[1].append(_number(dv, r["_row"], "DV", path))
    dosing = {str(i): dosing_from_regimen(reg, ed.covariates.get(i, {}).get("WT", 70.0))
              for i, reg in ed.regimens.items()}
    return obs, dosing


def _subject_dosing(d: Dosing | None, dose: float | None, route: str | None, tau: float | None,
                    steady_state: bool) -> Dosing:
    """A subject's dosing with the command-line overrides applied."""
    if d is None:
        d = Dosing.single(dose)
    elif dose is not None:
        d = dataclasses.replace(d, amounts=(float(dose),) * len(d.times))
    changes = {k: v for k, v in (("route", route), ("tau", tau)) if v is not None}
    if steady_state:
        changes["steady_state"] = True
    try:
        return dataclasses.replace(d, **changes) if changes else d
    except PkpdError as e:  # only tau and steady state can be wrong here
        raise PkpdError(e.problem.replace("NCA dosing: ", "") + " (give --tau)", field="--tau") from None


def analyse_file(path: str, time_col: str = "TIME", conc_col: str = "DV", id_col: str | None = None,
                 dose: float | None = None, route: str | None = None, lloq: float = 0.0,
                 tau: float | None = None, steady_state: bool = False) -> dict[str, NCAResult]:
    """NCA per subject of a CSV file (module docstring): ID → :class:`NCAResult`."""
    p = Path(path)
    text, fields, rows = _read_table(p)
    names = {f.strip().upper() for f in fields}
    event_file = _EVENT_COLUMNS <= names and ({"CMT", "ROUTE"} & names) and time_col.upper() == "TIME" \
        and conc_col.upper() == "DV"
    obs, dosing = _events(p, text) if event_file else _plain(p, fields, rows, time_col, conc_col, id_col)
    if not any(o[0] for o in obs.values()):
        raise PkpdError("no concentrations", file=str(p))
    results = {}
    for sid, (t, c) in obs.items():
        if not t:
            continue
        if len(t) < 2:
            raise PkpdError(f"ID {sid}: fewer than 2 concentrations", file=str(p))
        order = np.argsort(t, kind="stable")
        d = _subject_dosing(dosing.get(sid), dose, route, tau, steady_state)
        try:
            results[sid] = nca(np.array(t)[order], np.array(c)[order], lloq=lloq, dosing=d)
        except PkpdError as e:
            raise PkpdError(f"ID {sid}: {e.problem}", file=str(p)) from None
    return results


def run_nca(path: str, time_col: str = "TIME", conc_col: str = "DV", id_col: str | None = None,
            dose: float | None = None, route: str | None = None, lloq: float = 0.0, tau: float | None = None,
            steady_state: bool = False, out: str | None = None) -> str:
    """Analyse ``path`` and return the terminal text; with ``out``, also write the tidy CSV."""
    results = analyse_file(path, time_col, conc_col, id_col, dose, route, lloq, tau, steady_state)
    text = nca_terminal(results)
    if out:
        write_text(Path(out), nca_csv(results))
    return text

"""NCA results as a terminal table (quantities down, subjects across, at most 100 columns wide) and
as a tidy CSV (one row per subject, one number per cell, units in the header).

Clearance and volume rows are named by route (``CL/F (L/h)`` for extravascular data, ``CL (L/h)``
after IV doses, ``CLss/F`` from AUCτ at steady state): subjects with different routes get
different rows.  Below the table, every flag and every quantity not reported is listed with its
reason.
"""
from __future__ import annotations

import csv
import io
import math
import textwrap
from pkpd.analysis.nca_result import UNITS, NCAResult, label
from pkpd.output.tables import format_table

#: Terminal width the table is split to fit.
WIDTH = 100

#: Every quantity in table order; single- and multiple-dose tables show subsets.
_ORDER = ("tau", "cmax", "tmax", "cmin", "ctrough", "cavg", "auc_tau", "swing", "fluctuation",
          "accumulation", "accumulation_pred", "tlast", "clast", "auc_0_t", "auc_0_inf", "auc_pct_extrap",
          "lambda_z", "half_life", "lambda_z_points", "lambda_z_r2_adj", "lambda_z_time_first",
          "lambda_z_time_last", "span_ratio", "mrt", "cl", "vz")
_MULTIPLE_ONLY = ("cmin", "ctrough", "cavg", "swing", "fluctuation", "accumulation")
_SINGLE_ONLY = ("auc_0_t", "auc_0_inf", "auc_pct_extrap", "mrt")
_ROUTE_WORDS = {"iv-bolus": "IV bolus", "iv-infusion": "IV infusion", "extravascular": "extravascular",
                "mixed": "mixed", "unknown": "not given"}


def keys_for(results: dict[str, NCAResult]) -> list[str]:
    """The quantities to show: single-dose ones, multiple-dose ones, or both (in a fixed order)."""
    kinds = {r.kind for r in results.values()}
    drop = set()
    if "multiple" not in kinds:
        drop |= set(_MULTIPLE_ONLY)
    if "single" not in kinds:
        drop |= set(_SINGLE_ONLY)
    if not any(math.isfinite(r.tau) for r in results.values()):
        drop |= {"tau", "auc_tau", "accumulation_pred"}
    return [k for k in _ORDER if k not in drop]


def _fmt(v) -> str:
    if isinstance(v, int):
        return str(v)
    return "–" if not math.isfinite(v) else f"{v:.4g}"


def _rows(results: dict[str, NCAResult]) -> list[list[str]]:
    """One row per quantity × name variant (CL vs CL/F), a cell per subject."""
    rows = [["dosing"] + [f"{r.kind} ({r.n_doses})" for r in results.values()],
            ["route"] + [_ROUTE_WORDS[r.route] for r in results.values()]]
    for k in keys_for(results):
        names = list(dict.fromkeys(label(k, r) for r in results.values()))
        for name in names:
            rows.append([name] + [_fmt(getattr(r, k)) if label(k, r) == name else ""
                                  for r in results.values()])
    return rows


def _blocks(ids: list[str], rows: list[list[str]]) -> list[str]:
    """The table split into blocks of subjects, each at most :data:`WIDTH` columns wide."""
    name_w = max(len(r[0]) for r in rows)
    widths = [max(len(i), *(len(r[j + 1]) for r in rows)) for j, i in enumerate(ids)]
    blocks, start = [], 0
    while start < len(ids):
        used, stop = name_w, start
        while stop < len(ids) and (stop == start or used + 2 + widths[stop] <= WIDTH):
            used += 2 + widths[stop]
            stop += 1
        header = ["ID"] + ids[start:stop]
        blocks.append(format_table(header, [[r[0]] + r[start + 1:stop + 1] for r in rows], numeric_from=1))
        start = stop
    return blocks


def _explanations(results: dict[str, NCAResult]) -> list[str]:
    """'ID x: flag' and 'ID x: not reported — names: reason' lines, wrapped to the width."""
    lines = []
    for sid, r in results.items():
        for f in r.flags:
            lines.append(f"ID {sid}: {f}")
        by_reason: dict[str, list[str]] = {}
        for k, why in r.notes:
            if k in UNITS:
                by_reason.setdefault(why, []).append(label(k, r, unit=False))
        for why, names in by_reason.items():
            lines.append(f"ID {sid}: not reported — {', '.join(dict.fromkeys(names))}: {why}")
    return [textwrap.fill(x, WIDTH, subsequent_indent="    ") for x in lines]


def nca_terminal(results: dict[str, NCAResult]) -> str:
    """The terminal text: table blocks, then flags and reasons."""
    rows = _rows(results)
    text = "\n\n".join(_blocks(list(results), rows))
    notes = _explanations(results)
    return text + ("\n\n" + "\n".join(notes) if notes else "")


def nca_csv(results: dict[str, NCAResult]) -> str:
    """Tidy CSV: ID, kind, route, the names clearance and volume carry, every quantity (``key
    (unit)``; empty = not reported), flags, and the reasons for what is missing."""
    keys = list(UNITS)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["ID", "kind", "route", "cl_name", "vz_name"] + [f"{k} ({UNITS[k]})" if UNITS[k] else k for k in keys]
               + ["flags", "not_reported"])
    for sid, r in results.items():
        vals = r.values()
        cells = [str(vals[k]) if isinstance(vals[k], int) else ("" if not math.isfinite(vals[k]) else repr(vals[k]))
                 for k in keys]
        w.writerow([sid, r.kind, r.route, label("cl", r, False), label("vz", r, False)] + cells
                   + ["; ".join(r.flags), "; ".join(f"{k}: {why}" for k, why in r.notes)])
    return buf.getvalue()

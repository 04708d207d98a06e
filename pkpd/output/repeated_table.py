"""Repeated-dose metrics (:mod:`pkpd.analysis.repeated`) as terminal tables (one block per model, at
most 100 columns) and tidy CSVs (one number per cell, units in the header), typical and population.

Only regimens that repeat appear; a metric that cannot be computed is shown as "–" and its reason
is printed under the table.
"""
from __future__ import annotations

import json
import math
import textwrap
import numpy as np
import xarray as xr
from pkpd.analysis.repeated import METRICS
from pkpd.output.files import csv_text
from pkpd.output.tables import format_table

_SHORT = {"ctrough": "Ctrough", "cavg": "Cavg", "auc_tau": "AUCtau", "accumulation": "Rac", "t90ss": "t90ss h"}
_LEGEND = ("last dosing interval: Ctrough and Cavg ng/mL, AUCtau ng·h/mL; Rac = AUCtau last/first interval; "
           "t90ss = hours from the first dose to 90 % of steady-state Cavg")
_NOT_REPEATED = "one administration: not repeated dosing"


def _outputs(ds: xr.Dataset) -> list[str]:
    return [n[: -len("_ctrough")] for n in ds.data_vars if n.endswith("_ctrough")] or \
        [n[: -len("_ctrough_percentiles")] for n in ds.data_vars if n.endswith("_ctrough_percentiles")]


def _repeated(notes: dict) -> list[str]:
    """Regimen names that repeat (at least one metric not refused as a single administration)."""
    return [r for r, why in notes.items() if set(why.values()) != {_NOT_REPEATED}]


def _fmt(v: float, key: str = "") -> str:
    if not math.isfinite(v):
        return "–"
    if key == "accumulation":
        return f"{v:.2f}"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def _title(text: str) -> str:
    return textwrap.fill(text, 100)


def _short_output(name: str) -> str:
    return name.replace("_plasma", "")


def _why_lines(notes: dict, regimens: list[str]) -> list[str]:
    lines = []
    for r in regimens:
        by: dict[str, list[str]] = {}
        for m, why in notes.get(r, {}).items():
            by.setdefault(why, []).append(_SHORT[m].split()[0])
        lines += [textwrap.fill(f"  {r}: {', '.join(ms)} — {why}", 100, subsequent_indent="    ")
                  for why, ms in by.items()]
    return lines


def typical_repeated_table(s: xr.Dataset) -> str:
    """Terminal text for the typical subject's repeated-dose metrics ('' without repeated regimens)."""
    notes = json.loads(s.attrs.get("repeated_notes", "{}"))
    regs = _repeated(notes)
    outs = _outputs(s)
    if not regs or not outs:
        return ""
    blocks = []
    for m in s.model.values:
        rows = [[(r if len(r) <= 30 else r[:29] + "…"), _short_output(o)]
                + [_fmt(float(s[f"{o}_{k}"].sel(model=m, regimen=r)), k) for k in METRICS]
                for r in regs for o in outs]
        blocks.append(f"{m}\n" + format_table(["regimen", "output"] + [_SHORT[k] for k in METRICS], rows,
                                              numeric_from=2))
    return "\n\n".join([_title(f"Repeated dosing ({_LEGEND}):")] + blocks) + "\n" + "\n".join(_why_lines(notes, regs))


def typical_repeated_csv(s: xr.Dataset) -> str | None:
    """Tidy CSV of the typical repeated-dose metrics (None without repeated regimens)."""
    notes = json.loads(s.attrs.get("repeated_notes", "{}"))
    regs, outs = _repeated(notes), _outputs(s)
    if not regs or not outs:
        return None
    header = ["model", "regimen", "output"] + [f"{k} ({METRICS[k][0]})" for k in METRICS] + ["not_reported"]
    rows = []
    for m in s.model.values:
        for r in regs:
            for o in outs:
                vals = [float(s[f"{o}_{k}"].sel(model=m, regimen=r)) for k in METRICS]
                rows.append([str(m), r, o] + ["" if not math.isfinite(v) else repr(v) for v in vals]
                            + ["; ".join(f"{k}: {w}" for k, w in notes[r].items())])
    return csv_text(header, rows)


def _population_cells(pr: xr.Dataset, o: str, k: str, m, r) -> tuple[float, float, float]:
    """(median, 5th, 95th percentile) of metric ``k`` of output ``o`` across subjects."""
    if f"{o}_{k}" in pr:
        v = pr[f"{o}_{k}"].sel(model=m, regimen=r).values
        v = v[np.isfinite(v)]
        return tuple(float(x) for x in np.percentile(v, [50, 5, 95])) if v.size else (math.nan,) * 3
    if k == "ctrough" and f"{o}_ctrough_percentiles" in pr:
        p = pr[f"{o}_ctrough_percentiles"].sel(model=m, regimen=r)
        q = list(pr["quantile"].values)
        if all(x in q for x in (50.0, 5.0, 95.0)):
            return tuple(float(p.sel(quantile=x)) for x in (50.0, 5.0, 95.0))
    return (math.nan,) * 3


def population_repeated_table(pr: xr.Dataset, notes: dict) -> str:
    """Terminal text: median [5–95 %] across subjects of each repeated-dose metric."""
    regs, outs = _repeated(notes), _outputs(pr)
    if not regs or not outs:
        return ""
    blocks = []
    for m in pr.model.values:
        for r in regs:  # metrics down, outputs across: narrow whatever the number of outputs
            rows = []
            for k in METRICS:
                cells = []
                for o in outs:
                    med, lo, hi = _population_cells(pr, o, k, m, r)
                    cells.append("–" if not math.isfinite(med) else f"{_fmt(med, k)} [{_fmt(lo, k)}–{_fmt(hi, k)}]")
                rows.append([_SHORT[k]] + cells)
            blocks.append(f"{m} — {r}\n" + format_table(["metric"] + [_short_output(o) for o in outs], rows,
                                                        numeric_from=1))
    return ("\n\n".join([_title(f"Repeated dosing, median [5–95 %] of subjects ({_LEGEND}):")] + blocks)
            + "\n" + "\n".join(_why_lines(notes, regs)))


def population_repeated_csv(pr: xr.Dataset, notes: dict) -> str | None:
    """Tidy CSV: per model × regimen × output, median, 5th and 95th percentile of each metric."""
    regs, outs = _repeated(notes), _outputs(pr)
    if not regs or not outs:
        return None
    header = ["model", "regimen", "output"]
    for k in METRICS:
        u = METRICS[k][0]
        header += [f"{k}_median ({u})", f"{k}_p5 ({u})", f"{k}_p95 ({u})"]
    rows = []
    for m in pr.model.values:
        for r in regs:
            for o in outs:
                cells = [c for k in METRICS for c in _population_cells(pr, o, k, m, r)]
                rows.append([str(m), r, o] + ["" if not math.isfinite(v) else repr(v) for v in cells])
    return csv_text(header + ["not_reported"], [row + ["; ".join(f"{k}: {w}" for k, w in notes[row[1]].items())]
                                                for row in rows])

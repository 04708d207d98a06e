"""A TCI profile as a terminal table (the whole time course, condensed, at most 100 columns) and as a
CSV with every pump interval.

The terminal rows are the start of each target and the following minutes: every minute for the
first 10 minutes after a target change, every 5 minutes until 60 minutes, then every 15 minutes,
and the end.  A row summarises the pump until the next row: the mean rate (what a pump set by hand
would run), the lowest and highest rate within (a flipping pump shows a wide range), and the phases
(load / wait / hold in effect-site mode); concentrations are at the row's time.
"""
from __future__ import annotations

import numpy as np
from pkpd.analysis.tci import TCIResult
from pkpd.output.files import csv_text
from pkpd.output.tables import format_table


def row_times(result: TCIResult) -> list[int]:
    """Indices of the update times shown in the terminal (module docstring), ending with the last."""
    t_min = result.time[:-1] * 60
    picks: set[int] = set()
    starts = [c[0] * 60 for c in result.changes] + [result.time[-1] * 60]
    for s, e in zip(starts[:-1], starts[1:]):
        marks = [s + m for m in range(0, 10)] + [s + m for m in range(10, 60, 5)] + list(np.arange(s + 60, e, 15))
        for m in marks:
            if m < e - 1e-9:
                picks.add(int(np.argmin(np.abs(t_min - m))))
    return sorted(picks) + [len(result.time) - 1]


def _fmt(v: float, digits: int = 1) -> str:
    return "" if not np.isfinite(v) else f"{v:.{digits}f}"


def terminal_rows(result: TCIResult, concentration_mg_ml: float | None = None) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the condensed time course."""
    idx = row_times(result)
    dt = np.diff(result.time)
    given = np.concatenate([[0.0], np.cumsum(result.rate * dt)])
    effect = result.mode == "effect" or not np.all(np.isnan(result.effect))
    header = ["min", "target ng/mL", "rate mg/h", "range mg/h"] + (["mL/h"] if concentration_mg_ml else []) \
        + (["phase"] if result.mode == "effect" else []) + ["plasma ng/mL"] + (["effect ng/mL"] if effect else []) \
        + ["given mg"]
    rows = []
    for a, b in zip(idx, idx[1:] + [None]):
        last = b is None
        seg = slice(a, b) if not last else slice(a, a)
        mean = (given[b] - given[a]) / (result.time[b] - result.time[a]) if not last else np.nan
        lo, hi = (result.rate[seg].min(), result.rate[seg].max()) if not last else (np.nan, np.nan)
        row = [f"{result.time[a] * 60:.1f}", _fmt(result.target[min(a, len(result.target) - 1)], 0),
               _fmt(mean, 1), "" if last else f"{lo:.1f}–{hi:.1f}" if hi - lo > 0.05 else f"{lo:.1f}"]
        if concentration_mg_ml:
            row.append(_fmt(mean / concentration_mg_ml, 2))
        if result.mode == "effect":
            row.append("" if last else "/".join(dict.fromkeys(result.phase[seg])))
        row.append(_fmt(result.plasma[a]))
        if effect:
            row.append(_fmt(result.effect[a]))
        row.append(f"{given[a]:.1f}")
        rows.append(row)
    return header, rows


def terminal_text(result: TCIResult, concentration_mg_ml: float | None = None) -> str:
    """The condensed time course as text."""
    return format_table(*terminal_rows(result, concentration_mg_ml), numeric_from=0)


def profile_csv(result: TCIResult, concentration_mg_ml: float | None = None) -> str:
    """Every pump interval: start time, target, phase, rate (mg/h and mL/h), concentrations at the start,
    drug given before it; a last row at the end time."""
    header = ["time (min)", "target (ng/mL)", "phase", "rate (mg/h)"] + (["rate (mL/h)"] if concentration_mg_ml else []) \
        + ["plasma (ng/mL)", "effect (ng/mL)", "given (mg)"]
    given = np.concatenate([[0.0], np.cumsum(result.rate * np.diff(result.time))])
    rows = []
    n = len(result.rate)
    for k in range(n + 1):
        end = k == n
        row = [repr(float(result.time[k] * 60)), "" if end else repr(float(result.target[k])),
               "" if end else result.phase[k], "" if end else repr(float(result.rate[k]))]
        if concentration_mg_ml:
            row.append("" if end else repr(float(result.rate[k] / concentration_mg_ml)))
        e = result.effect[k]
        rows.append(row + [repr(float(result.plasma[k])), "" if np.isnan(e) else repr(float(e)), repr(float(given[k]))])
    return csv_text(header, rows)

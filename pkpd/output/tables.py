"""The typical subject's exposure summary: a terminal table, display rows (HTML report) and a tidy
numeric CSV.

Terminal and report headers name the quantity, its unit and, for effect sites and readouts, the
PD model (``ketamine Cmax (ng/mL)``, ``antinociception peak, olofsen_2022 (fraction of maximal
effect)``).  The terminal shows one block per PK model — exposure, then one table per PD model —
laid out within 100 columns by :mod:`pkpd.output.text_table`; a regimen a model cannot give (a
route it lacks) is left out of its block and named on one line.  The CSV has one value per cell:
the summary variables by their NetCDF names (concentrations ng/mL, times h, AUC ng·h/mL,
readouts in their PD unit), unrounded to 6 significant digits, empty where not simulated.

Population tables are in :mod:`pkpd.output.population_tables`.
"""
from __future__ import annotations

import numpy as np
import xarray as xr
from pkpd.output.text_table import WIDTH, render

_SPECIES_SHORT = {"ketamine": "ketamine", "norketamine": "norketamine", "hydroxynorketamine": "HNK"}


def format_table(header: list[str], rows: list[list[str]], numeric_from: int | None = 3) -> str:
    """A plain aligned text table within 100 columns (columns from ``numeric_from`` right-aligned;
    wider tables are wrapped and split, see :func:`pkpd.output.text_table.render`)."""
    # with no numeric columns the first column names the row: repeat it when the table is split
    return render(header, rows, numeric_from, key_columns=1 if not numeric_from else None, width=WIDTH)


def _fmt(v: float, decimals: int) -> str:
    return "—" if np.isnan(v) else f"{v:.{decimals}f}"


def _pk_columns(s: xr.Dataset) -> list[tuple[str, str, int]]:
    """(variable, header, decimals) of the exposure columns present in ``s``."""
    cols = []
    for sp, short in _SPECIES_SHORT.items():
        v = f"{sp}_plasma"
        if f"{v}_cmax" not in s:
            continue
        cols.append((f"{v}_cmax", f"{short} Cmax (ng/mL)", 1))
        if sp == "ketamine":
            cols.append((f"{v}_tmax", f"{short} Tmax (h)", 2))
        cols.append((f"{v}_auc", f"{short} AUC0–t (ng·h/mL)", 0))
    if "nk_k_auc_ratio" in s:
        cols.append(("nk_k_auc_ratio", "NK/K molar AUC ratio", 2))
    return cols


def _pd_columns(s: xr.Dataset) -> dict[str, list[tuple[str, str, int]]]:
    """PD model → (variable, header, decimals) of its effect-site peaks and readout peaks."""
    out: dict[str, list] = {}
    for n, v in s.data_vars.items():
        pd = v.attrs.get("pd_model")
        if not pd:
            continue
        if n.endswith("_cmax"):
            out.setdefault(pd, []).append((n, f"effect-site {v.attrs.get('species', '')} peak (ng/mL)", 1))
        elif n.endswith("_peak"):
            out.setdefault(pd, []).append((n, f"{v.attrs.get('readout', n[:-5])} peak ({v.attrs['units']})", 2))
    return out


def summary_rows(s: xr.Dataset) -> tuple[list[str], list[list[str]]]:
    """Header and formatted rows of every model × regimen (the HTML report's table): model,
    regimen, route, dose, exposure, then each PD model's effect sites and readouts."""
    cols = _pk_columns(s) + [(n, f"{h.split(' (')[0]}, {pd} ({h.split(' (', 1)[1]}", d)
                             for pd, cs in _pd_columns(s).items() for n, h, d in cs]
    drug = "drug" in s.coords
    header = ["model", "regimen", "route"] + (["drug given"] if drug else []) + ["dose (mg)"] + [h for _, h, _ in cols]
    rows = []
    for m in s.model.values:
        for r in s.regimen.values:
            row = [str(m), str(r), str(s.route.sel(regimen=r).item())] + \
                ([str(s.drug.sel(regimen=r).item())] if drug else []) + [f"{float(s.dose.sel(regimen=r)):.1f}"]
            row += [_fmt(float(s[n].sel(model=m, regimen=r)), d) for n, _, d in cols]
            rows.append(row)
    return header, rows


def summary_csv_rows(s: xr.Dataset) -> tuple[list[str], list[list[str]]]:
    """Tidy CSV: model, regimen, route, drug given (when known), dose (mg), then every summary variable by name, numbers
    to 6 significant digits, empty where the model did not simulate the regimen."""
    names = list(s.data_vars)
    drug = "drug" in s.coords
    header = ["model", "regimen", "route"] + (["drug"] if drug else []) + ["dose"] + names
    rows = []
    for m in s.model.values:
        for r in s.regimen.values:
            row = [str(m), str(r), str(s.route.sel(regimen=r).item())] + \
                ([str(s.drug.sel(regimen=r).item())] if drug else []) + [_num(float(s.dose.sel(regimen=r)))]
            row += [_num(float(s[n].sel(model=m, regimen=r))) for n in names]
            rows.append(row)
    return header, rows


def _num(v: float) -> str:
    """A CSV number: 6 significant digits, empty for NaN."""
    return "" if not np.isfinite(v) else f"{v:.6g}"


def skipped_regimens(s: xr.Dataset, model: str) -> list[str]:
    """Regimens ``model`` did not simulate (a route it lacks): every exposure value is NaN."""
    cols = [n for n in s.data_vars if n.endswith("_cmax")]
    return [str(r) for r in s.regimen.values
            if cols and all(np.isnan(float(s[n].sel(model=model, regimen=r))) for n in cols)]


def terminal_table(s: xr.Dataset, width: int = WIDTH) -> str:
    """One block per PK model: its exposure table, then one table per PD model, each within
    ``width`` columns; regimens the model cannot give are named on one line instead of a row."""
    pk, pds = _pk_columns(s), _pd_columns(s)
    out = []
    for m in s.model.values:
        skipped = skipped_regimens(s, str(m))
        regs = [str(r) for r in s.regimen.values if str(r) not in skipped]
        parts = [str(m)]
        if regs:
            rows = [[r, f"{float(s.dose.sel(regimen=r)):.1f}"] + [_fmt(float(s[n].sel(model=m, regimen=r)), d)
                                                                   for n, _, d in pk] for r in regs]
            parts.append(render(["regimen", "dose (mg)"] + [h for _, h, _ in pk], rows, 1, width=width))
            for pd, cols in pds.items():
                rows = [[r] + [_fmt(float(s[n].sel(model=m, regimen=r)), d) for n, _, d in cols] for r in regs]
                parts.append(f"{m} + {pd}\n" + render(["regimen"] + [h for _, h, _ in cols], rows, 1, width=width))
        if skipped:
            parts.append(f"(not simulated with {m}, which lacks their route: {', '.join(skipped)})")
        out.append("\n".join(parts[:2]) + "".join("\n\n" + p for p in parts[2:]))
    return "\n\n".join(out)

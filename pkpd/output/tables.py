"""Result tables: the typical subject's exposure summary (CSV rows and a terminal table) and a
population run's per-subject metrics (median [5th–95th percentile] across subjects and, with
parameter-uncertainty replicates, the 90 % interval of the median across replicates).

Plain text only; the figures of a population run are in :mod:`pkpd.output.population_figures`.
"""
from __future__ import annotations

import numpy as np
import xarray as xr


#: Summary columns: variable, CSV header, short terminal header, format.
TABLE_COLUMNS = [
    ("ketamine_plasma_cmax", "ketamine Cmax (ng/mL)", "K Cmax", "{:.1f}"),
    ("ketamine_plasma_tmax", "ketamine Tmax (h)", "Tmax h", "{:.2f}"),
    ("ketamine_plasma_auc", "ketamine AUC0-t (ng*h/mL)", "K AUC", "{:.0f}"),
    ("norketamine_plasma_cmax", "norketamine Cmax (ng/mL)", "NK Cmax", "{:.1f}"),
    ("norketamine_plasma_auc", "norketamine AUC0-t (ng*h/mL)", "NK AUC", "{:.0f}"),
    ("nk_k_auc_ratio", "norketamine/ketamine molar AUC ratio", "NK/K", "{:.2f}"),
]


def _columns(s: xr.Dataset):
    cols = [c for c in TABLE_COLUMNS if c[0] in s]
    for n in s.data_vars:
        if n.startswith("ce_") and n.endswith("_cmax"):
            cols.append((n, f"{s[n].attrs['long_name']} (ng/mL)", "Ce max", "{:.1f}"))
    for n in s.data_vars:
        if n.endswith("_peak"):
            short = n.replace("_peak", "").split("_")[0][:12]
            cols.append((n, f"{s[n].attrs['long_name']} ({s[n].attrs['units']})", f"{short} pk", "{:.2f}"))
    return cols


def summary_rows(s: xr.Dataset, short: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and rows for the CSV (``short=False``) or the terminal (short headers)."""
    cols = _columns(s)
    if short:
        header = ["model", "regimen", "dose mg"] + [c[2] for c in cols]
    else:
        header = ["model", "regimen", "route"] + (["drug given"] if "drug" in s.coords else []) + \
            ["dose (mg)"] + [c[1] for c in cols]
    rows = []
    for m in s.model.values:
        for r in s.regimen.values:
            row = [str(m), str(r)] + ([] if short else [str(s.route.sel(regimen=r).item())])
            if not short and "drug" in s.coords:
                row.append(str(s.drug.sel(regimen=r).item()))
            row.append(f"{float(s.dose.sel(regimen=r)):.1f}")
            for n, _, _, fmt in cols:
                v = float(s[n].sel(model=m, regimen=r))
                row.append(("—" if short else "") if np.isnan(v) else fmt.format(v))
            rows.append(row)
    return header, rows


def terminal_table(s: xr.Dataset) -> str:
    """Compact table: one block per model, regimen names shortened to fit."""
    header, rows = summary_rows(s, short=True)
    out = []
    for m in s.model.values:
        block = [[(r[1] if len(r[1]) <= 34 else r[1][:33] + "…")] + r[2:] for r in rows if r[0] == str(m)]
        out.append(f"{m}\n" + format_table(["regimen"] + header[2:], block, numeric_from=1))
    return "\n\n".join(out)


def format_table(header: list[str], rows: list[list[str]], numeric_from: int | None = 3) -> str:
    """A plain aligned text table for the terminal (columns from ``numeric_from`` right-aligned)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    num = [numeric_from is not None and i >= numeric_from for i in range(len(header))]
    def line(cells):
        return "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, num))
    sep = "  ".join("─" * w for w in widths)
    return "\n".join([line(header), sep] + [line(r) for r in rows])


_METRIC_LABEL = {"cmax": "peak", "tmax": "Tmax h", "auc": "AUC", "time_above": "t>thr h"}


def population_rows(ds: xr.Dataset, outputs=None, short: bool = False) -> tuple[list[str], list[list[str]]]:
    """Per model × regimen: median [5th–95th percentile] across subjects of each metric; with
    parameter-uncertainty replicates, also the 90 % interval of the median across replicates.
    ``short`` keeps the columns a terminal can show (peaks, ketamine AUC, threshold probabilities)."""
    outputs = outputs or [o for o in ("ketamine_plasma", "norketamine_plasma") if f"{o}_cmax" in ds]
    outputs += [v[:-5] for v in ds.data_vars if v.endswith("_cmax") and v[:-5] in _readouts(ds)]
    reps = int(ds.attrs.get("uncertainty_replicates", 0))
    header = ["model", "regimen"]
    cols = []
    for o in outputs:
        short = short_name(o)
        for mt in ("cmax", "tmax", "auc", "time_above"):
            var = f"{o}_{mt}"
            if var not in ds or (mt == "time_above" and "threshold" not in ds[var].attrs):
                continue
            if mt in ("tmax",) and o not in ("ketamine_plasma",):
                continue
            if short and (mt == "tmax" or (mt == "auc" and o != "ketamine_plasma")
                          or (mt == "time_above")):
                if mt == "time_above":
                    cols.append(var + "#p")
                    header.append(f"{short_name(o)} P(>thr)")
                continue
            cols.append(var)
            header.append(f"{short} {_METRIC_LABEL[mt]}")
            if mt == "time_above":
                header.append(f"{short} P(>thr)")
    rows = []
    for mi, m in enumerate(ds.model.values):
        for ri, r in enumerate(ds.regimen.values):
            row = [str(m), str(r)]
            for var in cols:
                if var.endswith("#p"):
                    x = ds[var[:-2]].values[mi, ri]
                    row.append("—" if np.all(np.isnan(x)) else f"{np.mean(x > 0):.0%}")
                    continue
                x = ds[var].values[mi, ri]
                if np.all(np.isnan(x)):
                    row += ["—"] * (2 if var.endswith("time_above") else 1)
                    continue
                p5, p50, p95 = np.nanpercentile(x, [5, 50, 95])
                cell = f"{_fmt(p50)} [{_fmt(p5)}–{_fmt(p95)}]"
                if reps > 1:
                    rep = ds.replicate.values
                    meds = [np.nanmedian(x[rep == k]) for k in range(reps)]
                    lo, hi = np.nanpercentile(meds, [5, 95])
                    cell += f" (median {_fmt(lo)}–{_fmt(hi)})"
                row.append(cell)
                if var.endswith("time_above"):
                    row.append(f"{np.mean(x > 0):.0%}")
            rows.append(row)
    return header, rows


def _readouts(ds: xr.Dataset) -> set[str]:
    """Names of PD readouts in a population dataset (their metrics carry a category)."""
    return {v[:-5] for v in ds.data_vars if v.endswith("_cmax") and "category" in ds[v].attrs}


def short_name(o: str) -> str:
    """Column label: K / NK for concentrations, 'readout/pd' (both abbreviated) for readouts."""
    if o in ("ketamine_plasma", "norketamine_plasma"):
        return {"ketamine_plasma": "K", "norketamine_plasma": "NK"}[o]
    for marker in ("_olofsen", "_simons", "_dahan", "_bowdle"):
        if marker in o:
            head, tail = o.split(marker, 1)
            return f"{head.split('_')[0][:9]}/{(marker[1:] + tail).split('_')[0][:7]}{'+nk' if 'nk' in tail else ''}"
    return o.split("_")[0][:10]


def _fmt(v: float) -> str:
    a = abs(v)
    return f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 1 else f"{v:.2f}"


def population_table(ds: xr.Dataset) -> str:
    header, rows = population_rows(ds, short=True)
    n = int(ds.attrs.get("population_size", ds.sizes.get("subject", 0)))
    note = (f"{n:,} subjects; cells: median [5th–95th percentile across subjects]"
            + ("; (…): 90 % interval of the median across parameter-uncertainty replicates"
               if int(ds.attrs.get("uncertainty_replicates", 0)) > 1 else ""))
    return note + "\n" + format_table(header, rows, numeric_from=2)

"""Exposure summaries of simulated curves (NCA terms: Cmax, Tmax, AUC).

AUC uses the linear-up / log-down trapezoidal rule on the output grid
(the standard NCA rule; with a 1-minute grid its error is far below the
model's uncertainty).
"""
from __future__ import annotations

import numpy as np
import xarray as xr


def auc(c: np.ndarray, t: np.ndarray, axis: int = -1) -> np.ndarray:
    """Area under ``c`` over ``t`` (linear up, log down), along ``axis``.

    Parameters
    ----------
    c : ndarray
        Concentrations (any unit); NaN propagates.
    t : ndarray, shape (n_times,)
        Times, h.
    """
    c = np.moveaxis(np.asarray(c, dtype=float), axis, -1)
    c1, c2 = c[..., :-1], c[..., 1:]
    dt = np.diff(t)
    lin = 0.5 * (c1 + c2) * dt
    with np.errstate(divide="ignore", invalid="ignore"):
        down = (c2 < c1) & (c2 > 0) & (c1 > 0)
        logd = np.where(down, (c1 - c2) * dt / np.log(np.where(down, c1 / c2, 2.0)), lin)
    return np.sum(np.where(down, logd, lin), axis=-1)


def summary(ds: xr.Dataset) -> xr.Dataset:
    """Per model × regimen: Cmax, Tmax and AUC0–t of plasma and effect-site curves,
    the norketamine/ketamine AUC ratio and each PD readout's peak."""
    t = ds.time.values
    out = {}
    for name, var in ds.data_vars.items():
        q = var.attrs.get("quantity")
        if q in ("plasma", "effect") and not name.endswith("_molar"):
            y = var.values
            valid = ~np.all(np.isnan(y), axis=-1)
            imax = np.argmax(np.nan_to_num(y, nan=-np.inf), axis=-1)
            out[f"{name}_cmax"] = (("model", "regimen"), np.where(valid, np.nanmax(np.where(valid[..., None], y, 0), axis=-1), np.nan),
                                   {"units": var.attrs["units"], "long_name": f"peak {var.attrs['long_name']}"})
            out[f"{name}_tmax"] = (("model", "regimen"), np.where(valid, t[imax], np.nan),
                                   {"units": "h", "long_name": f"time of peak {var.attrs['long_name']}"})
            if q == "plasma":
                out[f"{name}_auc"] = (("model", "regimen"), auc(y, t),
                                      {"units": "ng*h/mL", "long_name": f"AUC0-t of {var.attrs['long_name']}"})
        elif "category" in var.attrs:
            out[f"{name}_peak"] = (("model", "regimen"), np.nanmax(np.where(np.isnan(var.values), -np.inf, var.values), axis=-1),
                                   {"units": var.attrs["units"], "long_name": f"peak {var.attrs['long_name']}"})
    s = xr.Dataset(out, coords={k: ds.coords[k] for k in ("model", "regimen", "route", "dose")})
    if "ketamine_plasma_auc" in s and "norketamine_plasma_auc" in s:
        mk, mn = 237.73, 223.70
        with np.errstate(invalid="ignore", divide="ignore"):
            s["nk_k_auc_ratio"] = (s.norketamine_plasma_auc / mn) / (s.ketamine_plasma_auc / mk)
        s["nk_k_auc_ratio"].attrs = {"units": "1", "long_name": "norketamine/ketamine molar AUC0-t ratio"}
    for v in s.data_vars.values():
        v.values[np.isinf(v.values)] = np.nan
    return s


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
        header = ["model", "regimen", "route", "dose (mg)"] + [c[1] for c in cols]
    rows = []
    for m in s.model.values:
        for r in s.regimen.values:
            row = [str(m), str(r)] + ([] if short else [str(s.route.sel(regimen=r).item())])
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

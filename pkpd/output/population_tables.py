"""A population run's per-subject metrics summarised per model × regimen: the median and the
5th–95th percentiles across subjects, the share of subjects above a threshold and, with
parameter-uncertainty replicates, the 90 % interval of the median across replicates.

Three views of the same numbers (:func:`population_stats`):

* a tidy CSV (:func:`population_csv_rows`): one value per cell, columns
  ``<output>_<metric>_median``, ``_p5``, ``_p95`` (``_median_lo``/``_median_hi`` across
  replicates), ``<output>_p_above`` (fraction 0–1) and ``<output>_threshold``;
* the report's table (:func:`population_rows`): "median [5th–95th]" text cells;
* the terminal (:func:`population_table`): one block per PK model within 100 columns, headers
  with units and PD model names.

The trade-off Dataset's tidy CSV (:func:`tidy_rows`) flattens any Dataset the same way.
"""
from __future__ import annotations

import textwrap

import numpy as np
import xarray as xr
from pkpd.output.text_table import WIDTH, render

_SPECIES = ("ketamine", "norketamine", "hydroxynorketamine")
_METRIC_WORD = {"cmax": "peak", "tmax": "time of peak", "auc": "AUC0–t", "time_above": "time above threshold"}


def _columns(ds: xr.Dataset) -> list[tuple[str, str, str, str]]:
    """(variable, output, metric, header) of the summarised metrics: plasma peaks, ketamine Tmax,
    AUCs and times above thresholds, then each readout's peak (and time above its threshold)."""
    outs = [f"{sp}_plasma" for sp in _SPECIES if f"{sp}_plasma_cmax" in ds]
    outs += [v[:-5] for v in ds.data_vars if v.endswith("_cmax") and "category" in ds[v].attrs]
    cols = []
    for o in outs:
        for mt in ("cmax", "tmax", "auc", "time_above"):
            var = f"{o}_{mt}"
            if var not in ds or (mt == "time_above" and "threshold" not in ds[var].attrs):
                continue
            if (mt == "tmax" and o != "ketamine_plasma") or (mt == "auc" and o not in
                                                            ("ketamine_plasma", "norketamine_plasma")):
                continue
            cols.append((var, o, mt, _header(ds, o, mt)))
    return cols


def _named(ds: xr.Dataset, o: str) -> tuple[str, str]:
    """(name, ", PD model" or "") of an output: ``("ketamine", "")``, ``("antinociception", ", olofsen_2022")``."""
    a = ds[f"{o}_cmax"].attrs
    name = a.get("readout") or o.replace("_plasma", "").replace("_", " ")
    return name, (f", {a['pd_model']}" if a.get("pd_model") else "")


def _header(ds: xr.Dataset, o: str, mt: str) -> str:
    """``ketamine peak (ng/mL)``, ``antinociception peak, olofsen_2022 (fraction of maximal effect)``."""
    a = ds[f"{o}_cmax"].attrs
    name, pd = _named(ds, o)
    unit = {"cmax": a.get("units", ""), "tmax": "h", "time_above": "h",
            "auc": "ng·h/mL" if o.endswith("_plasma") else f"{a.get('units', '')}·h"}[mt]
    return f"{name} {_METRIC_WORD[mt]}{pd} ({unit})"


def population_stats(ds: xr.Dataset) -> list[dict]:
    """Per model × regimen (model-major): ``{"model", "regimen", var: (median, p5, p95, lo, hi),
    var + "#p": fraction above threshold}``; NaN where the model did not simulate the regimen.
    ``lo``/``hi``: 5–95 % of the median across replicates (NaN without replicates)."""
    reps = int(ds.attrs.get("uncertainty_replicates", 0))
    cols = _columns(ds)
    out = []
    for mi, m in enumerate(ds.model.values):
        for ri, r in enumerate(ds.regimen.values):
            row: dict = {"model": str(m), "regimen": str(r)}
            for var, _, mt, _ in cols:
                x = ds[var].values[mi, ri]
                ok = x[~np.isnan(x)]
                if ok.size == 0:  # not simulated: no statistic, and no numpy warning
                    row[var] = (np.nan,) * 5
                    row[var + "#p"] = np.nan
                    continue
                p5, p50, p95 = np.percentile(ok, [5, 50, 95])
                lo = hi = np.nan
                if reps > 1:
                    rep = ds.replicate.values
                    meds = [np.median(x[(rep == k) & ~np.isnan(x)]) for k in range(reps)
                            if np.any((rep == k) & ~np.isnan(x))]
                    if meds:
                        lo, hi = np.percentile(meds, [5, 95])
                row[var] = (p50, p5, p95, lo, hi)
                row[var + "#p"] = float(np.mean(ok > 0)) if mt == "time_above" else np.nan
            out.append(row)
    return out


def _num(v: float) -> str:
    return "" if not np.isfinite(v) else f"{v:.6g}"


def population_csv_rows(ds: xr.Dataset) -> tuple[list[str], list[list[str]]]:
    """The tidy CSV (one number per cell; see the module docstring)."""
    cols = _columns(ds)
    reps = int(ds.attrs.get("uncertainty_replicates", 0)) > 1
    header = ["model", "regimen", "route"]
    for var, o, mt, _ in cols:
        header += [f"{var}_median", f"{var}_p5", f"{var}_p95"] + ([f"{var}_median_lo", f"{var}_median_hi"]
                                                                  if reps else [])
        if mt == "time_above":
            header += [f"{o}_p_above", f"{o}_threshold"]
    rows = []
    for st in population_stats(ds):
        row = [st["model"], st["regimen"], str(ds.route.sel(regimen=st["regimen"]).item())]
        for var, o, mt, _ in cols:
            row += [_num(v) for v in st[var][:5 if reps else 3]]
            if mt == "time_above":
                row += [_num(st[var + "#p"]), _num(float(ds[var].attrs["threshold"]))]
        rows.append(row)
    return header, rows


def _g(v: float) -> str:
    a = abs(v)
    return f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 1 else f"{v:.2f}"


def _cells(st: dict, var: str, mt: str, reps: bool) -> list[str]:
    """Display cells of one metric: "median [p5–p95]" (+ replicate interval), and P(>threshold)."""
    p50, p5, p95, lo, hi = st[var]
    if np.isnan(p50):
        return ["—"] * (2 if mt == "time_above" else 1)
    cell = f"{_g(p50)} [{_g(p5)}–{_g(p95)}]" + (f" ({_g(lo)}–{_g(hi)})" if reps and np.isfinite(lo) else "")
    return [cell] + ([f"{st[var + '#p']:.0%}"] if mt == "time_above" else [])


def _display_header(ds: xr.Dataset, cols, short: bool) -> tuple[list[str], list[tuple]]:
    """Headers and the columns shown (the terminal shows peaks, ketamine AUC and threshold shares)."""
    shown, header = [], []
    for var, o, mt, h in cols:
        if short and (mt == "tmax" or (mt == "auc" and o != "ketamine_plasma")):
            continue
        shown.append((var, o, mt))
        if mt == "time_above":
            th = float(ds[var].attrs["threshold"])
            unit = ds[f"{o}_cmax"].attrs.get("units", "")
            name, pd = _named(ds, o)
            if not short:
                header.append(h)
            # a concentration threshold carries its unit; a readout's is in the unit of its peak column
            header.append(f"% of subjects with {name}{pd} > {th:g}" + (f" {unit}" if "/" in unit else ""))
            if short:
                shown[-1] = (var, o, "p_only")
        else:
            header.append(h)
    return header, shown


def population_rows(ds: xr.Dataset) -> tuple[list[str], list[list[str]]]:
    """Report table: model, regimen, then "median [5th–95th]" cells of every metric (and the
    share above each threshold)."""
    reps = int(ds.attrs.get("uncertainty_replicates", 0)) > 1
    header, shown = _display_header(ds, _columns(ds), short=False)
    rows = []
    for st in population_stats(ds):
        row = [st["model"], st["regimen"]]
        for var, _, mt in shown:
            row += _cells(st, var, mt, reps)
        rows.append(row)
    return ["model", "regimen"] + header, rows


def population_table(ds: xr.Dataset, width: int = WIDTH) -> str:
    """Terminal text: a note on the cells, then one block per PK model within ``width`` columns
    (regimens a model did not simulate are left out)."""
    reps = int(ds.attrs.get("uncertainty_replicates", 0)) > 1
    header, shown = _display_header(ds, _columns(ds), short=True)
    n = int(ds.attrs.get("population_size", ds.sizes.get("subject", 0)))
    note = (f"{n:,} subjects; cells: median [5th–95th percentile across subjects]"
            + ("; (…): 90 % interval of the median across parameter-uncertainty replicates" if reps else ""))
    blocks = []
    stats = population_stats(ds)
    for m in ds.model.values:
        rows = []
        for st in (s for s in stats if s["model"] == str(m)):
            if all(np.isnan(st[v][0]) for v, _, _ in shown):
                continue
            row = [st["regimen"]]
            for var, _, mt in shown:
                row += ([f"{st[var + '#p']:.0%}" if np.isfinite(st[var + "#p"]) else "—"] if mt == "p_only"
                        else _cells(st, var, mt, reps))
            rows.append(row)
        blocks.append(f"{m}\n" + render(["regimen"] + header, rows, 1, width=width))
    return textwrap.fill(note, width) + "\n" + "\n\n".join(blocks)


def tidy_rows(ds: xr.Dataset, dims: tuple[str, ...], labels: dict[str, str] | None = None
              ) -> tuple[list[str], list[list[str]]]:
    """Every variable of ``ds`` with exactly ``dims`` as one numeric column, one row per index
    combination; the index columns come first (``labels`` renames them) with the 1-D text
    coordinates along them (e.g. a regimen's route)."""
    labels = labels or {}
    extra = [c for c in ds.coords if c not in dims and len(ds[c].dims) == 1 and ds[c].dims[0] in dims]
    names = [v for v in ds.data_vars if ds[v].dims == dims]
    header = [labels.get(d, d) for d in dims] + extra + names
    rows = []
    for idx in np.ndindex(*(ds.sizes[d] for d in dims)):
        pos = dict(zip(dims, idx))
        row = [str(ds[d].values[i]) for d, i in zip(dims, idx)]
        row += [str(ds[c].values[pos[ds[c].dims[0]]]) for c in extra]
        row += [_num(float(ds[v].values[idx])) for v in names]
        rows.append(row)
    return header, rows

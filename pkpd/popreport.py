"""Summaries and figures of a population run: medians with intervals, percentile bands."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .metrics import format_table

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


def band_figure(ds: xr.Dataset, model: str, variable: str = "ketamine_plasma", title: str = ""):
    """Percentile bands (5–95 %, 25–75 %, median) per regimen for one model."""
    from .plot import ROUTE_COLORS, _style, _time_axis
    import matplotlib.pyplot as plt
    _style()
    from .popsim import percentiles
    pc = percentiles(ds, variable).sel(model=model)
    sub = ds.sel(model=model)
    regs = [r for r in sub.regimen.values if not np.all(np.isnan(pc.sel(regimen=r).values))]
    ncol = min(2, max(1, len(regs)))
    nrow = (len(regs) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.4 * ncol, 3.5 * nrow + 0.7), squeeze=False, sharey=True)
    axes = axes.ravel()
    t, tlabel = _time_axis(sub.time.values)
    q = list(sub["quantile"].values)
    for ax, r in zip(axes, regs):
        y = pc.sel(regimen=r).values
        col = ROUTE_COLORS.get(str(sub.route.sel(regimen=r).item()).split("+")[0], "#555555")
        if 5.0 in q and 95.0 in q:
            ax.fill_between(t, y[q.index(5.0)], y[q.index(95.0)], color=col, alpha=0.18, lw=0, label="5–95 %")
        if 25.0 in q and 75.0 in q:
            ax.fill_between(t, y[q.index(25.0)], y[q.index(75.0)], color=col, alpha=0.35, lw=0, label="25–75 %")
        if 50.0 in q:
            ax.plot(t, y[q.index(50.0)], color=col, lw=2, label="median")
        ax.set_title(str(r) if len(str(r)) <= 45 else str(r)[:44] + "…", fontsize=9)
        ax.set_xlabel(tlabel)
        ax.set_ylabel(pc.attrs.get("units", ""))
        ax.set_ylim(bottom=0)
    for ax in axes[len(regs):]:
        ax.set_visible(False)
    if regs:
        axes[0].legend(loc="upper right", frameon=False)
    n = int(ds.attrs.get("population_size", 0))
    name = pc.attrs.get("long_name", variable).replace("percentiles of ", "")
    fig.suptitle(title or f"{name[0].upper() + name[1:]}: {model}, {n:,} virtual subjects", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def effect_band_figure(ds: xr.Dataset, model: str, analgesia: str, psychotomimetic: str, title: str = ""):
    """Analgesia and psychotomimetic readouts, median and 5–95 % band, on the same axes per regimen."""
    from .plot import _style, _time_axis
    from .popsim import percentiles
    import matplotlib.pyplot as plt
    _style()
    pa = percentiles(ds, analgesia).sel(model=model)
    ps = percentiles(ds, psychotomimetic).sel(model=model)
    regs = [r for r in ds.regimen.values if not np.all(np.isnan(pa.sel(regimen=r).values))]
    ncol = min(3, max(1, len(regs)))
    nrow = (len(regs) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.8 * ncol, 3.4 * nrow + 0.8), squeeze=False, sharey=True)
    axes = axes.ravel()
    t, tlabel = _time_axis(ds.time.values)
    q = list(pa["quantile"].values)
    for ax, r in zip(axes, regs):
        for arr, col, lab in ((pa, "#1e8449", "analgesia"), (ps, "#8e44ad", "psychotomimetic")):
            y = arr.sel(regimen=r).values
            if 5.0 in q and 95.0 in q:
                ax.fill_between(t, y[q.index(5.0)], y[q.index(95.0)], color=col, alpha=0.2, lw=0)
            ax.plot(t, y[q.index(50.0)], color=col, lw=2, label=f"{lab} (median, 5–95 %)")
        ax.set_title(str(r) if len(str(r)) <= 40 else str(r)[:39] + "…", fontsize=9)
        ax.set_xlabel(tlabel)
        ax.set_ylabel(pa.attrs.get("units", ""))
    for ax in axes[len(regs):]:
        ax.set_visible(False)
    if regs:
        axes[0].legend(frameon=False, fontsize=7, loc="upper right")
    name = lambda v: pa.attrs["long_name"] if v == analgesia else ps.attrs["long_name"]
    clean = lambda v: name(v).replace("percentiles of ", "")
    fig.suptitle(title or f"{clean(analgesia)} vs {clean(psychotomimetic)} — {model}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig

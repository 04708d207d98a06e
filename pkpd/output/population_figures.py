"""Figures of a population run: percentile bands over time, per regimen.

* :func:`band_figure`: 5–95 %, 25–75 % and median of one output (e.g. ketamine plasma) per
  regimen for one PK model;
* :func:`effect_band_figure`: an analgesia and a psychotomimetic readout, median and 5–95 %, on
  the same axes per regimen.

Percentiles come from :func:`pkpd.simulation.population.percentiles`, so streaming (histogram)
and full (every trajectory) runs draw the same way.  Style as :mod:`pkpd.output.figures`;
figures are returned, never written here.
"""
from __future__ import annotations

import numpy as np
import xarray as xr
from pkpd.output.figures import ROUTE_COLORS, _style, _time_axis
from pkpd.simulation.population import percentiles


def band_figure(ds: xr.Dataset, model: str, variable: str = "ketamine_plasma", title: str = ""):
    """Percentile bands (5–95 %, 25–75 %, median) per regimen for one model."""
    plt = _style()
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
    plt = _style()
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

"""Figures: concentration–time by regimen (ketamine, norketamine, effect site, PD readouts).

Only matplotlib with the non-interactive Agg backend; figures are returned, the
caller writes them (atomically).
"""
from __future__ import annotations

import io

import numpy as np
import xarray as xr

from pkpd.models.routes import ROUTE_TABLE


def pyplot():
    """``matplotlib.pyplot`` with the non-interactive Agg backend: the one place the package
    imports matplotlib.  Lazy on purpose: importing matplotlib costs ≈ 0.3–1 s of every start
    (``import pkpd``, each CLI command), and most runs draw no figure (issue #16's warm-cache
    start ≤ 2 s).  tests/test_startup.py checks ``import pkpd`` leaves matplotlib unloaded."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def png_bytes(fig, dpi: float | None = None) -> bytes:
    """The figure as PNG bytes (tight bounding box), closed afterwards: the one way every
    command turns a figure into a file's content (written atomically by :mod:`pkpd.output.files`)."""
    buf = io.BytesIO()
    plt = pyplot()
    fig.savefig(buf, format="png", bbox_inches="tight", **({} if dpi is None else {"dpi": dpi}))
    plt.close(fig)
    return buf.getvalue()


#: Route key → plot colour, from the route table.
ROUTE_COLORS = {r.key: r.color for r in ROUTE_TABLE}


_STYLES = ["-", "--", ":", "-."]


def _style():
    """Apply the house style; returns ``pyplot`` (every figure function starts here)."""
    plt = pyplot()
    plt.rcParams.update({
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.25,
        "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 8, "figure.dpi": 110,
    })
    return plt


def _regimen_styles(ds: xr.Dataset):
    seen: dict[str, int] = {}
    out = {}
    for r, route in zip(ds.regimen.values, ds.route.values):
        first = str(route).split("+")[0]
        i = seen.get(first, 0)
        seen[first] = i + 1
        out[str(r)] = (ROUTE_COLORS.get(first, "#555555"), _STYLES[i % len(_STYLES)])
    return out


def _time_axis(t):
    """Plot hours, or minutes for short horizons."""
    return (t * 60.0, "time (min)") if t[-1] <= 3 else (t, "time (h)")


def concentration_figure(ds: xr.Dataset, model: str, title: str = "", log_scale: bool = False):
    """One figure for ``model``: ketamine and norketamine plasma (and effect sites, readouts)."""
    plt = _style()
    sub = ds.sel(model=model)
    panels = [v for v in ("ketamine_plasma", "norketamine_plasma") if v in sub and not np.all(np.isnan(sub[v]))]
    ce = [v for v in sub.data_vars if v.startswith("ce_") and not v.endswith("_molar")
          and not np.all(np.isnan(sub[v]))]
    readouts = [v for v in sub.data_vars if "category" in sub[v].attrs and not np.all(np.isnan(sub[v]))]
    n = len(panels) + (1 if ce else 0) + (1 if readouts else 0)
    ncol = 2 if n >= 3 else n
    nrow = (n + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 3.6 * nrow + 0.6), squeeze=False)
    axes = axes.ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    styles = _regimen_styles(sub)
    t, tlabel = _time_axis(sub.time.values)
    i = 0
    for v in panels:
        ax = axes[i]
        for r in sub.regimen.values:
            y = sub[v].sel(regimen=r).values
            if np.all(np.isnan(y)):
                continue
            col, ls = styles[str(r)]
            ax.plot(t, y, color=col, ls=ls, lw=1.8, label=str(r))
        ax.set_title(sub[v].attrs["long_name"].replace("_", " ").capitalize())
        ax.set_xlabel(tlabel)
        ax.set_ylabel("ng/mL")
        if log_scale:
            ax.set_yscale("log")
            ymax = np.nanmax(sub[v].values)
            ax.set_ylim(ymax * 1e-3, ymax * 2)
        else:
            ax.set_ylim(bottom=0)
        i += 1
    if ce:
        ax = axes[i]
        for v in ce:
            for r in sub.regimen.values:
                y = sub[v].sel(regimen=r).values
                if np.all(np.isnan(y)):
                    continue
                col, ls = styles[str(r)]
                ax.plot(t, y, color=col, ls=ls, lw=1.8, label=str(r))
        ax.set_title("Effect-site ketamine")
        ax.set_xlabel(tlabel)
        ax.set_ylabel("ng/mL")
        ax.set_ylim(bottom=0)
        i += 1
    if readouts:
        ax = axes[i]
        for v in readouts:
            cat = sub[v].attrs["category"]
            for r in sub.regimen.values:
                y = sub[v].sel(regimen=r).values
                if np.all(np.isnan(y)):
                    continue
                col, _ = styles[str(r)]
                ax.plot(t, y, color=col, lw=1.8 if cat == "analgesia" else 1.2,
                        ls="-" if cat == "analgesia" else "--")
        ax.set_title("PD readouts (solid: analgesia, dashed: psychotomimetic)", fontsize=9)
        ax.set_xlabel(tlabel)
        ax.set_ylabel(sub[readouts[0]].attrs.get("units", ""))
        ax.set_ylim(0, 1.02 if all(sub[v].attrs.get("units", "").startswith("fraction") for v in readouts) else None)
        i += 1
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 2), frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(title or f"{model}", fontsize=12, y=0.995)
    fig.tight_layout(rect=(0, 0.04 + 0.025 * ((len(labels) + 1) // 2), 1, 0.97))
    return fig


def comparison_figure(ds: xr.Dataset, variable: str = "ketamine_plasma", title: str = ""):
    """One panel per regimen, one line per model: how much the answer depends on the model."""
    plt = _style()
    regs = [str(r) for r in ds.regimen.values]
    ncol = min(3, len(regs))
    nrow = (len(regs) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.4 * nrow + 0.6), squeeze=False)
    axes = axes.ravel()
    t, tlabel = _time_axis(ds.time.values)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, r in zip(axes, regs):
        for i, m in enumerate(ds.model.values):
            y = ds[variable].sel(model=m, regimen=r).values
            if np.all(np.isnan(y)):
                continue
            ax.plot(t, y, color=colors[i % len(colors)], lw=1.8, label=str(m))
        ax.set_title(r if len(r) <= 40 else r[:39] + "…", fontsize=9)
        ax.set_xlabel(tlabel)
        ax.set_ylabel(ds[variable].attrs.get("units", ""))
        ax.set_ylim(bottom=0)
    for ax in axes[len(regs):]:
        ax.set_visible(False)
    handles, labels = [], []
    for ax in axes[:len(regs)]:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle(title or f"{ds[variable].attrs.get('long_name', variable)}: model comparison", fontsize=12)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    return fig


def hysteresis_figure(ds: xr.Dataset, model: str, title: str = ""):
    """Effect against plasma concentration, one loop per regimen and readout: the anticlockwise
    loop is the blood–effect-site lag (typical subject)."""
    plt = _style()
    sub = ds.sel(model=model)
    readouts = [v for v in sub.data_vars if "category" in sub[v].attrs and not np.all(np.isnan(sub[v]))]
    if not readouts or "ketamine_plasma" not in sub:
        return None
    fig, axes = plt.subplots(1, len(readouts), figsize=(4.8 * len(readouts), 4.2), squeeze=False)
    styles = _regimen_styles(sub)
    for ax, v in zip(axes[0], readouts):
        for r in sub.regimen.values:
            x = sub.ketamine_plasma.sel(regimen=r).values
            y = sub[v].sel(regimen=r).values
            if np.all(np.isnan(x)) or np.all(np.isnan(y)):
                continue
            col, ls = styles[str(r)]
            ax.plot(x, y, color=col, ls=ls, lw=1.6, label=str(r))
            # arrows in the direction of time, at the rising and the falling limb
            ip = int(np.nanargmax(y))
            for i in (max(1, ip // 2), min(len(x) - 2, ip + (len(x) - ip) // 6)):
                if 0 < i < len(x) - 1 and (x[i + 1] != x[i] or y[i + 1] != y[i]):
                    ax.annotate("", xy=(x[i + 1], y[i + 1]), xytext=(x[i], y[i]),
                                arrowprops=dict(arrowstyle="->", color=col, lw=1.4))
        ax.set_xlabel("ketamine plasma concentration (ng/mL)")
        ax.set_ylabel(sub[v].attrs.get("units", ""))
        ax.set_title(sub[v].attrs.get("long_name", v), fontsize=9)
        ax.set_xlim(left=0)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 2), frameon=False)
    fig.suptitle(title or f"Hysteresis: effect vs plasma concentration ({model})", fontsize=11)
    fig.tight_layout(rect=(0, 0.04 + 0.03 * ((len(labels) + 1) // 2), 1, 0.94))
    return fig

"""Figures of observed data: the visual predictive check, and observations over the simulated
typical curve and population band."""
from __future__ import annotations

import numpy as np
import xarray as xr
from pkpd.dosing.observations import Observations
from pkpd.output.figures import ROUTE_COLORS, _style

_BAND = {5.0: "#2874a6", 50.0: "#c0392b", 95.0: "#2874a6"}


def vpc_figure(ds: xr.Dataset, obs: Observations, title: str = "", log_scale: bool = False):
    """One panel per route: observations (points), their 5th/50th/95th percentiles per bin (lines)
    and the simulated bands of the same percentiles (shaded: the ``ci`` interval across replicates)."""
    plt = _style()
    routes = [str(r) for r in ds.route.values]
    fig, axes = plt.subplots(1, len(routes), figsize=(5.4 * len(routes), 4.4), squeeze=False)
    unit = ds.observed.attrs.get("units", "")
    for ax, r in zip(axes[0], routes):
        sub = ds.sel(route=r)
        ok = ~np.isnan(sub.time.values)
        t = sub.time.values[ok]
        sel = obs.route == r
        dv = obs.dv[sel]
        if ds.attrs.get("prediction_corrected"):
            ax.set_title(f"{r} (prediction-corrected)", fontsize=10)
        else:
            ax.scatter(obs.time[sel], dv, s=9, color="#777777", alpha=0.5, lw=0, label="observations")
            ax.set_title(r, fontsize=10)
        for qi, q in enumerate(ds["quantile"].values):
            mid = float(q) == 50.0
            col = _BAND[float(q)]
            what = "median" if mid else "5th and 95th percentiles"
            first = mid or qi == 0
            ax.fill_between(t, sub.sim_lo.values[ok, qi], sub.sim_hi.values[ok, qi], color=col,
                            alpha=0.25 if mid else 0.15, lw=0,
                            label=f"simulated {what}: {ds.attrs['ci']:.0%} band" if first else None)
            ax.plot(t, sub.observed.values[ok, qi], color=col, lw=1.8 if mid else 1.2, ls="-" if mid else "--",
                    marker="o", ms=3, label=f"observed {what}" if first else None)
        ax.set_xlabel("time (h)")
        name = ds.attrs.get("variable", "").replace("_", " ")
        ax.set_ylabel(f"{name} ({unit})" if unit else name)
        if log_scale:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=8, frameon=False)
    frac = ds.attrs.get("fraction_inside", float("nan"))
    fig.suptitle(title or f"Visual predictive check: {ds.attrs.get('model', '')}, {ds.attrs['replicates']} "
                 f"replicates; {frac:.0%} of observed percentiles inside their bands", fontsize=11)
    fig.tight_layout(rect=(0, 0.05 + 0.035 * ((len(labels) + 2) // 3), 1, 0.94))
    return fig


def _by_route(curves) -> dict[str, tuple]:
    """Route → (times, simulated subjects, typical curve, ids): the regimen groups of a route on one
    grid (linear interpolation), subjects pooled, the typical curve the median of the groups'."""
    out = {}
    for route in dict.fromkeys(c["route"] for c in curves):
        cs = [c for c in curves if c["route"] == route]
        t = np.linspace(0.0, max(c["time"][-1] for c in cs), 481)
        subj = np.vstack([np.array([np.interp(t, c["time"], y) for y in c["subjects"]]) for c in cs])
        typ = np.median([np.interp(t, c["time"], c["typical"]) for c in cs], axis=0)
        out[route] = (t, subj, typ, [i for c in cs for i in c["ids"]])
    return out


def observed_figure(curves, obs: Observations, title: str = "", unit: str = "ng/mL", log_scale: bool = False):
    """One panel per route: the typical subject's curve, the simulated subjects' 5–95 % band (all
    replicates and doses of the route pooled) and the observations of the route's IDs."""
    plt = _style()
    routes = _by_route(curves)
    fig, axes = plt.subplots(1, len(routes), figsize=(5.4 * len(routes), 4.2), squeeze=False)
    for ax, (route, (t, subj, typ, ids)) in zip(axes[0], routes.items()):
        name = route
        col = ROUTE_COLORS.get(route.split("+")[0], "#555555")
        p5, p95 = np.percentile(subj, [5, 95], axis=0)
        ax.fill_between(t, p5, p95, color=col, alpha=0.18, lw=0, label="simulated subjects, 5–95 %")
        ax.plot(t, typ, color=col, lw=2, label="typical subject")
        sel = np.isin(obs.id, ids)
        ax.scatter(obs.time[sel], obs.dv[sel], s=10, color="#222222", alpha=0.6, lw=0, label="observed", zorder=3)
        ax.set_title(name if len(name) <= 45 else name[:44] + "…", fontsize=10)
        ax.set_xlabel("time (h)")
        ax.set_ylabel(unit)
        ax.set_yscale("log") if log_scale else ax.set_ylim(bottom=0)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(title or "Observations over the simulated population", fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 0.94))
    return fig

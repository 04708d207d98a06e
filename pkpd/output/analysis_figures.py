"""Figures of analysis results: Pareto frontiers, Sobol tornado bars, TCI profiles.

* :func:`frontier_figure`: P(adequate analgesia) against P(unacceptable psychotomimetic effect)
  per PD pair × PK model, with 95 % intervals (:mod:`pkpd.analysis.tradeoff`,
  :mod:`pkpd.analysis.dosefinding`);
* :func:`tornado_figure`: first- and total-order Sobol indices (:mod:`pkpd.analysis.sweep_design`);
* :func:`tci_figure`: TCI concentrations and pump rates, optionally with the population band
  (:mod:`pkpd.analysis.tci`).

Like :mod:`pkpd.output.figures` (whose style and route colours they share): matplotlib with the
Agg backend, figures returned, never written here (:func:`pkpd.output.figures.png_bytes`).
"""
from __future__ import annotations

import numpy as np
import xarray as xr
from pkpd.output.figures import ROUTE_COLORS, _style
from pkpd.analysis.tci import TCIResult
from pkpd.analysis.dosefinding import pareto_mask


_READOUT_AXES = ("p_exceed", "p_adequate", "subjects with unacceptable psychotomimetic effect (%)",
                 "subjects with adequate analgesia (%)")


def frontier_figure(tr: xr.Dataset, meta: list[dict], title: str = "", *, cap: float | None = None,
                    min_adequate: float | None = None, doses_mg: list[float] | None = None,
                    axes_vars: tuple[str, str, str, str] = _READOUT_AXES):
    """P(adequate analgesia) against P(unacceptable psychotomimetic effect), one panel per
    PD pair × PK model, one curve per base regimen (frontier solid, other points faint).

    ``cap`` (fraction) draws the psychotomimetic cap as a vertical line and ``min_adequate`` the
    analgesia target as a horizontal one; ``doses_mg`` (per regimen of ``tr``, mg per session at
    the typical weight) labels the frontier points with their dose.  ``axes_vars`` = (x variable,
    y variable, x label, y label): the readout-level probabilities by default, the clinical
    endpoints' (``p_cost``, ``p_benefit``) for the clinical frontier."""
    xv, yv, xlabel, ylabel = axes_vars
    plt = _style()
    P, M = tr.sizes["pair"], tr.sizes["model"]
    # one column per PD pair (the disagreement to compare side by side), one row per PK model
    fig, axes_t = plt.subplots(M, P, figsize=(5.6 * P, 4.6 * M + 0.6), squeeze=False)
    axes = axes_t.T
    bases = list(dict.fromkeys(m["base"] for m in meta))
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for pi in range(P):
        for mi in range(M):
            ax = axes[pi, mi]
            placed: list[tuple[float, float]] = []  # labelled points of this panel (%, %)
            for bi, b in enumerate(bases):
                idx = [i for i, m in enumerate(meta) if m["base"] == b]
                x = tr[xv].values[pi, mi, idx] * 100
                y = tr[yv].values[pi, mi, idx] * 100
                if np.all(np.isnan(x)):
                    continue
                route = str(tr.route.values[idx[0]]).split("+")[0]
                col = ROUTE_COLORS.get(route, palette[bi % len(palette)])
                xlo, xhi = tr[f"{xv}_lo"].values[pi, mi, idx] * 100, tr[f"{xv}_hi"].values[pi, mi, idx] * 100
                ylo, yhi = tr[f"{yv}_lo"].values[pi, mi, idx] * 100, tr[f"{yv}_hi"].values[pi, mi, idx] * 100
                err = lambda a, lo, hi: [np.clip(a - lo, 0, None), np.clip(hi - a, 0, None)]
                ax.errorbar(x, y, xerr=err(x, xlo, xhi), yerr=err(y, ylo, yhi), fmt="o", ms=3, color=col,
                            alpha=0.35, lw=0.8)
                mask = pareto_mask(x, y)
                order = np.argsort(x[mask])
                ax.plot(x[mask][order], y[mask][order], "-o", color=col, lw=2, ms=4, label=b)
                if doses_mg is not None:
                    for j in np.flatnonzero(mask):
                        # a label over another is unreadable: points within 4 points of a labelled one
                        # (a cluster at a ceiling) keep their marker only; every dose is in the table
                        if any(abs(x[j] - u) < 4 and abs(y[j] - v) < 4 for u, v in placed):
                            continue
                        placed.append((x[j], y[j]))
                        ax.annotate(f"{doses_mg[idx[j]]:.3g} mg", (x[j], y[j]), xytext=(4, -9),
                                    textcoords="offset points", fontsize=6.5, color=col)
            _guides(ax, cap, min_adequate)
            ax.set_xlim(-2, 102)
            ax.set_ylim(-2, 102)
            ax.plot([0, 100], [0, 100], color="#999999", lw=0.8, ls=":")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.set_title(f"{tr.pair.values[pi]} on {tr.model.values[mi]}", fontsize=9)
    # one legend for all panels, below them: inside a panel it would cover points of a frontier
    handles, labels = [], []
    for ax in axes.ravel():
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    rows = (len(labels) + 2) // 3
    fig.legend(handles, labels, loc="lower center", ncol=min(3, max(1, len(labels))), fontsize=8, frameon=False)
    fig.suptitle(title or "Analgesia vs psychotomimetic exposure: Pareto frontiers (bars: 95 % intervals)",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.03 + 0.04 * rows, 1, 0.95))
    return fig


def _guides(ax, cap: float | None, min_adequate: float | None) -> None:
    """The cap (vertical) and the analgesia target (horizontal), shaded where they are not met."""
    if cap is not None:
        ax.axvline(100 * cap, color="#c0392b", lw=1, ls="--")
        ax.axvspan(100 * cap, 102, color="#c0392b", alpha=0.05)
        ax.text(100 * cap + 1, 3, f"cap {cap:.0%}", color="#c0392b", fontsize=7)
    if min_adequate:
        ax.axhline(100 * min_adequate, color="#1e8449", lw=1, ls="--")
        ax.axhspan(-2, 100 * min_adequate, color="#1e8449", alpha=0.04)
        ax.text(60, 100 * min_adequate + 1.5, f"analgesia target {min_adequate:.0%}", color="#1e8449", fontsize=7)


def tornado_figure(ds: xr.Dataset, title: str = ""):
    """Bars of first- and total-order indices with 95 % intervals, one panel per model × regimen."""
    plt = _style()
    M, R = ds.sizes["model"], ds.sizes["regimen"]
    params = list(ds.parameter.values)
    fig, axes = plt.subplots(M, R, figsize=(4.6 * R, 0.5 * len(params) + 2.2), squeeze=False)
    for mi in range(M):
        for ri in range(R):
            ax = axes[mi, ri]
            s1, st = ds.S1.values[mi, ri], ds.ST.values[mi, ri]
            c1, ct = ds.S1_conf.values[mi, ri], ds.ST_conf.values[mi, ri]
            order = np.argsort(np.nan_to_num(st))
            ypos = np.arange(len(params))
            ax.barh(ypos + 0.2, st[order], 0.38, xerr=ct[order], color="#2874a6", label="total order", alpha=0.85)
            ax.barh(ypos - 0.2, s1[order], 0.38, xerr=c1[order], color="#e67e22", label="first order", alpha=0.85)
            ax.set_yticks(ypos, [params[i] for i in order], fontsize=8)
            ax.axvline(0, color="#555555", lw=0.8)
            ax.set_xlim(-0.1, 1.1)
            ax.set_title(f"{ds.model.values[mi]} — {ds.regimen.values[ri]}"[:60], fontsize=8)
            ax.set_xlabel(f"Sobol index of {ds.S1.attrs.get('metric', '')}")
    axes[0, 0].legend(fontsize=7, frameon=False, loc="lower right")
    fig.suptitle(title or "Global sensitivity (Sobol indices, 95 % intervals)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def tci_figure(results: list[TCIResult], title: str = "", bands: list | None = None,
               concentration_mg_ml: float | None = None):
    """Concentrations (with the target schedule) and pump rates over the whole profile; ``bands`` (from
    :func:`tci_population`, one per result or None) add the 5–95 % range of simulated subjects given
    the same profile; with ``concentration_mg_ml`` the rate axis also reads in mL/h.  Legends sit
    above the panels, so that they cover no curve and no caption added below."""
    plt = _style()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for i, (r, col) in enumerate(zip(results, ("#c0392b", "#2874a6", "#1e8449"))):
        b = bands[i] if bands else None
        if b is not None:
            axes[0].fill_between(b["time"] * 60, b["plasma"][0], b["plasma"][2], color=col, alpha=0.15,
                                 label=f"plasma 5–95 % of subjects ({r.mode} targeting)")
        t = r.time * 60
        axes[0].plot(t, r.plasma, color=col, lw=2, label=f"plasma ({r.mode} targeting)")
        if not np.all(np.isnan(r.effect)):
            axes[0].plot(t, r.effect, color=col, lw=1.6, ls="--", label=f"effect site ({r.mode} targeting)")
        axes[1].step(t[:-1], r.rate, where="post", color=col, lw=1.6, label=f"{r.mode} targeting")
    r0 = results[0]
    axes[0].step(r0.time[:-1] * 60, r0.target, where="post", color="#555555", lw=1.0, ls=":", label="target")
    axes[0].set(xlabel="time (min)", ylabel="ketamine concentration (ng/mL)")
    axes[1].set(xlabel="time (min)", ylabel="pump rate, every update interval (mg/h)")
    axes[1].set_yscale("symlog", linthresh=10)
    if concentration_mg_ml:
        sec = axes[1].secondary_yaxis("right", functions=(lambda v: v / concentration_mg_ml,
                                                          lambda v: v * concentration_mg_ml))
        sec.set_yscale("symlog", linthresh=10 / concentration_mg_ml)  # the same ticks as the mg/h axis
        sec.set_ylabel(f"mL/h at {concentration_mg_ml:g} mg/mL")
    for ax in axes:
        ax.set_xlim(0, r0.time[-1] * 60)
        ax.legend(fontsize=7, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.01), ncol=2)
    fig.suptitle(title or "Target-controlled infusion", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def dose_response_figure(tr: xr.Dataset, meta: list[dict], doses_mg: list[float], title: str = "", *,
                         cap: float | None = None):
    """P(adequate analgesia) (solid) and P(unacceptable psychotomimetic effect) (dashed) against the
    dose per session (mg, log axis), one panel per PD pair × PK model, one colour per base
    regimen (route).  Shaded: parameter uncertainty (5–95 % across replicates); bars: Monte Carlo
    error (Wilson 95 %)."""
    plt = _style()
    P, M = tr.sizes["pair"], tr.sizes["model"]
    fig, axes = plt.subplots(M, P, figsize=(5.4 * P, 4.2 * M + 0.7), squeeze=False)
    bases = list(dict.fromkeys(m["base"] for m in meta))
    for pi in range(P):
        for mi in range(M):
            ax = axes[mi, pi]
            for b in bases:
                idx = [i for i, m in enumerate(meta) if m["base"] == b]
                order = np.argsort([doses_mg[i] for i in idx])
                idx = [idx[o] for o in order]
                dose = np.array([doses_mg[i] for i in idx])
                col = ROUTE_COLORS.get(str(tr.route.values[idx[0]]).split("+")[0], "#555555")
                for k, ls in (("adequate", "-"), ("exceed", "--")):
                    y = tr[f"p_{k}"].values[pi, mi, idx] * 100
                    if np.all(np.isnan(y)):
                        continue
                    lo, hi = (tr[f"p_{k}_lo"].values[pi, mi, idx] * 100, tr[f"p_{k}_hi"].values[pi, mi, idx] * 100)
                    ax.errorbar(dose, y, yerr=[np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)], fmt="none",
                                ecolor=col, elinewidth=0.6, alpha=0.6)
                    if f"p_{k}_unc_lo" in tr:
                        ax.fill_between(dose, tr[f"p_{k}_unc_lo"].values[pi, mi, idx] * 100,
                                        tr[f"p_{k}_unc_hi"].values[pi, mi, idx] * 100, color=col, alpha=0.12, lw=0)
                    ax.plot(dose, y, ls, color=col, lw=1.8, marker="o", ms=3,
                            label=f"{b}: {'adequate analgesia' if k == 'adequate' else 'psychotomimetic'}")
            if cap is not None:  # labelled: an unlabelled line reads as a gridline
                ax.axhline(100 * cap, color="#c0392b", lw=0.8, ls=":")
                ax.annotate(f"psychotomimetic cap {cap:.0%}", (1.0, 100 * cap), xycoords=("axes fraction", "data"),
                            xytext=(-2, 2), textcoords="offset points", ha="right", va="bottom", fontsize=7,
                            color="#c0392b")
            ax.set_xscale("log")
            ax.set(ylim=(-2, 102), xlabel="dose per session (mg, typical weight)", ylabel="subjects (%)",
                   title=f"{tr.pair.values[pi]} on {tr.model.values[mi]}")
            ax.legend(fontsize=6, frameon=False, loc="upper left")
    fig.suptitle(title or "Probability against dose: solid analgesia, dashed psychotomimetic effect; shaded "
                 "parameter uncertainty (5–95 %), bars Monte Carlo error", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig

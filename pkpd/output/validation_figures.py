"""The validation figure: predicted against observed trial rates, one panel per endpoint and model."""
from __future__ import annotations

import textwrap

from pkpd.output.figures import _style

_SET_STYLE = {"calibration": ("#7f8c8d", "s", "calibration (fitted)"), "held-out": ("#c0392b", "o", "held-out")}


def validation_figure(preds, title: str):
    """Observed rate (Wilson 95 %) on x, predicted (predictive interval, parameter-uncertainty
    bar thicker) on y, identity line; calibration rows grey squares, held-out rows red circles."""
    plt = _style()
    labels = list(dict.fromkeys(p.label for p in preds))
    ncol = min(3, len(labels))
    nrow = -(-len(labels) // ncol)
    ids = list(dict.fromkeys(p.trial.id for p in preds))
    key = _wrap("   ".join(f"{i + 1} {t}" for i, t in enumerate(ids)), 150)
    # the key, the caption and the legend below the panels in inches of their own, so they never
    # reach into the x axis labels whatever the number of rows (they overlapped at three rows)
    foot = 0.13 * len(key) + 0.75
    height = 4.4 * nrow + 0.5 + foot
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, height), squeeze=False)
    top = max([0.5] + [max(p.predictive[1], p.observed_ci[1]) for p in preds]) * 1.1
    for ax in axes.ravel()[len(labels):]:
        ax.set_visible(False)
    for ax, label in zip(axes.ravel(), labels):
        ax.plot([0, 100 * top], [0, 100 * top], color="#bbbbbb", lw=1, zorder=0)
        for p in (q for q in preds if q.label == label):
            color, marker, _ = _SET_STYLE[p.trial.set]
            x, y = 100 * p.observed, 100 * p.predicted
            ax.plot([100 * p.observed_ci[0], 100 * p.observed_ci[1]], [y, y], color=color, lw=1)
            ax.plot([x, x], [100 * p.predictive[0], 100 * p.predictive[1]], color=color, lw=1)
            ax.plot([x, x], [100 * p.parameter[0], 100 * p.parameter[1]], color=color, lw=4, alpha=0.5)
            ax.plot(x, y, marker=marker, color=color, ms=7, mec="white")
            ax.annotate(str(ids.index(p.trial.id) + 1), (x, y), xytext=(4, 3), textcoords="offset points",
                        fontsize=7, color="#34495e")
        ax.set(xlim=(0, 100 * top), ylim=(0, 100 * top), xlabel="observed incidence (%)",
               ylabel="predicted incidence (%)", title=label)
        ax.set_aspect("equal")
    handles = [plt.Line2D([], [], color=c, marker=m, ls="", label=lab) for c, m, lab in _SET_STYLE.values()]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, fontsize=8,
               bbox_to_anchor=(0.5, (0.13 * len(key) + 0.3) / height))
    fig.suptitle(title, fontsize=11)
    fig.text(0.5, 0.05 / height, "\n".join(key), ha="center", va="bottom", fontsize=7, color="#34495e")
    fig.text(0.5, (0.13 * len(key) + 0.12) / height, "thin bars: observed Wilson 95 % (horizontal), predictive 95 % "
             "for a trial of that size (vertical); thick: parameter uncertainty 5–95 %", ha="center", fontsize=7,
             color="#5b6b7a")
    fig.tight_layout(rect=(0, foot / height, 1, 1 - 0.3 / height), h_pad=2.5)
    return fig




def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_on_hyphens=False)

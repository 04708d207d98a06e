"""Demonstration gallery: classic teaching figures, each with a one-paragraph explanation that
is printed and embedded in the figure's caption.  ``pkpd demo --list``; ``pkpd demo NAME``."""
from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from pathlib import Path
import numpy as np
from pkpd.errors import PkpdError
from pkpd.scenario.load import load_scenario
from pkpd.output.figures import concentration_figure
from pkpd.workflows.run import run_scenario
from pkpd.models.load import load_model
from pkpd.dosing.notation import parse_regimen
from pkpd.simulation.typical import simulate
from pkpd.output.figures import hysteresis_figure
from pkpd.output.figures import _style, pyplot
from pkpd.simulation.sampling import CovariateDist, Population
from pkpd.simulation.population import percentiles, simulate_population
from pkpd.output.analysis_figures import frontier_figure
from pkpd.analysis.dosefinding import sweep_regimens
from pkpd.analysis.tradeoff import TradeoffSpec, evaluate, pairs_for, thresholds_for
from pkpd.analysis.tci import tci, tci_population
from pkpd.output.analysis_figures import tci_figure
from pkpd.output.files import write_bytes
from pkpd.output.figures import png_bytes


ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Demo:
    name: str
    title: str
    explanation: str
    make: object  # () -> matplotlib figure


#: Resolution of the gallery PNGs.
DPI = 110


def captioned_png(fig, text: str) -> bytes:
    """The figure as PNG with ``text`` as a caption in a band of its own below it.

    The figure is rendered first (tight box) and the caption drawn underneath, so a caption can
    never cover a legend, a label or data, whatever the figure's layout.
    """
    plt = pyplot()
    img = plt.imread(io.BytesIO(png_bytes(fig, dpi=DPI)))
    h, w = img.shape[:2]
    chars = max(40, int((w - 24) / 6.6))  # 8-pt DejaVu Sans ≈ 6.6 px per character at 110 dpi
    lines = textwrap.wrap(text, chars)
    band = int((len(lines) + 1) * 8 * 1.35 / 72 * DPI) + 8
    out = plt.figure(figsize=(w / DPI, (h + band) / DPI), dpi=DPI)
    out.figimage(img, 0, band)
    out.text(12 / w, (band - 6) / (h + band), "\n".join(lines), fontsize=8, va="top", color="#333333")
    buf = io.BytesIO()
    out.savefig(buf, format="png", dpi=DPI)  # no tight box: the canvas is exactly image + caption
    plt.close(out)
    return buf.getvalue()


def _scenario(name):
    return load_scenario(ROOT / "scenarios" / name)


def _routes():
    sc = _scenario("routes.toml")
    return concentration_figure(run_scenario(sc), "perez_ruixo_2021", "Route comparison (esketamine, Perez-Ruixo 2021)")


def _bolus_vs_infusion():
    regs = [parse_regimen("0.5 mg/kg IV", "0.5 mg/kg bolus"), parse_regimen("0.5 mg/kg over 40 min", "0.5 mg/kg over 40 min"),
            parse_regimen("0.5 mg/kg over 120 min", "0.5 mg/kg over 2 h")]
    ds = simulate(load_model("perez_ruixo_2021"), regs, horizon=6, step=1 / 60, pd=[load_model("olofsen_2022")])
    return concentration_figure(ds, "perez_ruixo_2021", "The same dose as a bolus or an infusion")


def _effect_site_lag():
    regs = [parse_regimen("0.3 mg/kg IV", "0.3 mg/kg bolus"), parse_regimen("0.5 mg/kg over 40 min", "0.5 mg/kg over 40 min")]
    ds = simulate(load_model("perez_ruixo_2021"), regs, horizon=6, step=1 / 120, pd=[load_model("olofsen_2022")])
    return hysteresis_figure(ds, "perez_ruixo_2021", "Effect-site lag: effect against plasma concentration")


def context_sensitive_half_times(model, durations_h):
    """Time (h) for the plasma concentration to halve after stopping a constant-rate infusion of
    each duration (h), found on a 1-minute grid."""
    out = []
    for d in durations_h:
        d = float(d)
        ds = simulate(model, parse_regimen(f"10 mg/h for {d!r} h"), horizon=d + 24, step=1 / 60)
        t, c = ds.time.values, ds.ketamine_plasma.values[0, 0]
        i0 = int(np.searchsorted(t, d - 1e-9))
        after = np.flatnonzero(c[i0:] <= c[i0] / 2)
        out.append(t[i0 + after[0]] - t[i0] if after.size else np.nan)
    return np.array(out)


def _csht():
    plt = _style()
    durations = np.array([0.25, 0.5, 1, 2, 3, 4, 6, 8, 12])
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for name, col in (("domino", "#c0392b"), ("perez_ruixo_2021", "#2874a6"), ("fanta_otto_2021", "#1e8449"),
                      ("herd_anderson_2007", "#8e44ad")):
        cs = context_sensitive_half_times(load_model(name), durations)
        ax.plot(durations, cs * 60, "-o", color=col, lw=2, ms=4, label=name)
    ax.set(xlabel="infusion duration (h)", ylabel="context-sensitive half-time (min)",
           title="Context-sensitive half-time of ketamine")
    ax.legend(frameon=False, fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))  # beside, over nothing
    return fig


def _population():
    plt = _style()
    ds = simulate_population(load_model("perez_ruixo_2021"), parse_regimen("28 mg IN x2 every 5 min", "IN 56 mg"),
                             Population(n=300, seed=4, covariates={"WT": CovariateDist("normal", 75, 13, 45, 140)}),
                             horizon=8, step=2 / 60, mode="full", progress=False)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    t = ds.time.values
    y = ds.ketamine_plasma.values[0, 0]
    for s in range(60):
        axes[0].plot(t, y[s], color="#1e8449", alpha=0.25, lw=0.8)
    axes[0].set(title="60 virtual subjects", xlabel="time (h)", ylabel="ketamine plasma (ng/mL)")
    pc = percentiles(ds, "ketamine_plasma").values[0, 0]
    axes[1].fill_between(t, pc[0], pc[4], color="#1e8449", alpha=0.18, label="5–95 %")
    axes[1].fill_between(t, pc[1], pc[3], color="#1e8449", alpha=0.35, label="25–75 %")
    axes[1].plot(t, pc[2], color="#1e8449", lw=2, label="median")
    axes[1].set(title="300 subjects: percentile bands", xlabel="time (h)")
    axes[1].legend(frameon=False, fontsize=8)
    fig.suptitle("Between-subject variability: intranasal esketamine 56 mg (Perez-Ruixo 2021)", fontsize=11)
    return fig


def _tradeoff():
    sc = _scenario("tradeoff.toml")
    spec = TradeoffSpec(analgesia_level=0.3, analgesia_duration=1 / 3)
    pairs = pairs_for(sc.pd, spec)
    variants, meta = sweep_regimens(sc.regimens, {"dose": [0.25, 0.5, 1, 1.5, 2, 3, 4]})
    ds = simulate_population(sc.models, variants, Population(n=300, seed=7), horizon=sc.time.horizon,
                             step=sc.time.step, pd=sc.pd, thresholds=thresholds_for(pairs, spec), progress=False)
    return frontier_figure(evaluate(ds, pairs, spec), meta, "Analgesia vs psychotomimetic exposure, two PD models")


def _tci():
    m, pd = load_model("herd_anderson_2007"), load_model("olofsen_2022")
    targets = [(0.0, 300.0), (0.5, 500.0)]
    res = [tci(m, targets, 1.0, pd=pd), tci(m, targets, 1.0, mode="effect", pd=pd)]
    pop = Population(n=300, seed=2, covariates={"WT": CovariateDist("constant", 70.0)})
    bands = [tci_population(m, r, pop, pd=pd) for r in res]
    return tci_figure(res, "TCI (Herd & Anderson 2007 at 70 kg), target 300 then 500 ng/mL: the profile for the "
                      "typical subject, given to 300 subjects", bands)


DEMOS = {d.name: d for d in [
    Demo("routes", "IV vs oral vs intranasal",
         "The same drug by three routes (Perez-Ruixo 2021). IV gives the highest ketamine peak; oral dosing passes "
         "the gut wall and liver first, so little ketamine but much norketamine reaches the blood (first-pass "
         "metabolism); intranasal sits between, because part of each spray is swallowed. The effect site follows "
         "plasma with a lag (t½ke0 8.3 min, Olofsen 2022).", _routes),
    Demo("bolus_vs_infusion", "Bolus vs infusion",
         "0.5 mg/kg given at once or over 40 or 120 minutes: the slower the input, the lower and later the peak, and "
         "the smaller the peak effect — the same total exposure (AUC) spread differently in time.", _bolus_vs_infusion),
    Demo("effect_site_lag", "Effect-site lag and hysteresis",
         "Effect plotted against plasma concentration traces a loop: on the way up the effect lags behind plasma, "
         "on the way down it stays higher. The loop closes when the blood–effect-site equilibration (ke0) is fast; "
         "its width is the lag.", _effect_site_lag),
    Demo("context_sensitive_half_time", "Context-sensitive half-time",
         "How long the plasma concentration takes to halve after an infusion stops depends on how long it ran: "
         "longer infusions fill the peripheral compartments, which then keep refilling plasma. Models built on "
         "different data (arterial/venous sampling, children, sampling length) disagree.", _csht),
    Demo("population_variability", "Population variability",
         "Every virtual subject has their own clearance, volumes and absorption (between-subject variability from "
         "the model file). Individual curves (left) summarise into percentile bands (right); one 'typical' curve "
         "hides a several-fold range.", _population),
    Demo("tradeoff", "Analgesia vs psychotomimetic trade-off",
         "As the dose rises, more subjects reach adequate analgesia but more also reach unacceptable psychotomimetic "
         "effects. Olofsen 2022 (one curve for both) and Simons 2022 (drug high before analgesia) draw very "
         "different frontiers: the evidence does not settle which is right.", _tradeoff),
    Demo("tci", "Target-controlled infusion",
         "A TCI pump recomputes the rate every 10 s for the typical subject; the target rises from 300 to 500 ng/mL "
         "at 30 min. Plasma targeting (Jacobs) brings plasma to the target within a minute and holds it; the effect "
         "site follows slowly. Effect-site targeting (Shafer & Gregg) gives the dose whose effect-site peak equals "
         "the target as fast as the pump allows, stops while plasma falls towards the effect site, then holds "
         "plasma so that the effect site settles on the target: the rate falls smoothly, without overshooting the "
         "effect site. The pump only knows the typical subject: given to 300 simulated subjects with the model's "
         "between-subject variability, the same profile spreads widely around the target.", _tci),
]}


def demo_figure(name: str):
    """The figure of one demo (without its caption)."""
    if not isinstance(name, str) or name not in DEMOS:
        raise PkpdError(f"unknown demo {name!r} (demos: {', '.join(DEMOS)})")
    return DEMOS[name].make()


def render_demo(name: str) -> tuple[str, bytes]:
    """One demo's explanation and captioned PNG (written by the caller, e.g. as part of a set)."""
    fig = demo_figure(name)
    d = DEMOS[name]
    return d.explanation, captioned_png(fig, f"{d.title}. {d.explanation}")


def run_demo(name: str, out_dir, fig=None) -> tuple[str, Path]:
    """Render one demo to ``out_dir/NAME.png`` (explanation in a caption band below the figure);
    return (text, path).  ``fig``: the demo's figure when already made (:func:`demo_figure`)."""
    fig = demo_figure(name) if fig is None else fig
    d = DEMOS[name]
    return d.explanation, write_bytes(Path(out_dir) / f"{name}.png", captioned_png(fig, f"{d.title}. {d.explanation}"))


def gallery_markdown(paths: dict) -> str:
    lines = ["# Gallery", "", "Classic teaching figures, each made by `pkpd demo NAME` (the explanation below is "
             "also printed and embedded in the figure).  Regenerate all: `pkpd demo --all -o docs/gallery`.", ""]
    for name, d in DEMOS.items():
        lines += [f"## {d.title} (`pkpd demo {name}`)", "", d.explanation, "", f"![{d.title}](gallery/{name}.png)", ""]
    return "\n".join(lines)

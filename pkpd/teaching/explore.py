"""Interactive explorer for teaching: a Panel/Bokeh app (browser or Jupyter) and a headless
PNG export of the same panels.

All numbers come from :func:`compute`, a plain function of the explorer's state (model, PD
model, route, dose, infusion duration, sprays, weight): the typical subject, a 200-subject band
and the therapeutic window.  The web app only draws what it returns, so it is tested in-process
without a browser, and in a real headless Chromium.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
import numpy as np
from pkpd import units
from pkpd.dosing.regimen import Dose, Regimen
from pkpd.errors import PkpdError
from pkpd.models.pk import Model
from pkpd.models.library import available_models
from pkpd.models.load import load_model
from pkpd.models.pd import PDModel
from pkpd.simulation.sampling import CovariateDist, Population
from pkpd.simulation.population import simulate_population
from pkpd.simulation.typical import simulate
from pkpd.analysis.tradeoff import TradeoffSpec, pairs_for
from pkpd.names import safe_stem
from pkpd.output.files import write_bytes
from pkpd.output.figures import _style
from pkpd.output.figures import png_bytes


BAND_SUBJECTS = 200


@dataclass(frozen=True)
class State:
    model: str = "perez_ruixo_2021"
    pd: str = "olofsen_2022"
    route: str = "intranasal"
    dose_mg: float = 28.0  # per administration (per spray for intranasal)
    duration_min: float = 40.0  # IV infusion duration (0 = bolus)
    sprays: int = 2
    weight: float = 70.0
    horizon_h: float = 8.0
    band: bool = True


def regimen_for(s: State) -> Regimen:
    q = units.Quantity(s.dose_mg, "amount", False, f"{s.dose_mg:g} mg")
    if s.route == "iv":
        d = Dose("iv", amount=q, duration=s.duration_min / 60 if s.duration_min > 0 else None)
    elif s.route == "intranasal":
        d = Dose("intranasal", amount=q, sprays=max(1, int(s.sprays)), spray_interval=5 / 60)
    else:
        d = Dose(s.route, amount=q)
    return Regimen("explorer", (d,))


@lru_cache(maxsize=32)
def _load(name: str):
    return load_model(name)


def _models(s: State):
    m = _load(s.model)
    if not isinstance(m, Model):
        raise PkpdError(f"{s.model!r} is not a PK model")
    p = _load(s.pd) if s.pd else None
    if p is not None and not isinstance(p, PDModel):
        raise PkpdError(f"{s.pd!r} is not a PD model")
    if not m.supports(s.route):
        raise PkpdError(f"{m.name} has no {s.route} route (it has {', '.join(m.routes)})")
    return m, p


def compute(s: State) -> dict:
    """Everything the panels show, as plain arrays (concentrations ng/mL, time h)."""
    t0 = time.perf_counter()
    m, p = _models(s)
    reg = regimen_for(s)
    pds = [p] if p is not None else []
    step = max(s.horizon_h / 480, 1 / 60)
    ds = simulate(m, reg, horizon=s.horizon_h, step=step, subject={"WT": s.weight}, pd=pds)
    out = {"time": ds.time.values, "elapsed_ms": 0.0}
    for v in ("ketamine_plasma", "norketamine_plasma"):
        out[v] = ds[v].values[0, 0] if v in ds else np.full(ds.sizes["time"], np.nan)
    ce = [v for v in ds.data_vars if v.startswith("ce_") and not v.endswith("_molar")]
    out["effect_site"] = ds[ce[0]].values[0, 0] if ce else np.full(ds.sizes["time"], np.nan)
    out["analgesia"] = out["psychotomimetic"] = np.full(ds.sizes["time"], np.nan)
    out["window"] = None
    out["analgesia_name"] = out["psychotomimetic_name"] = ""
    if p is not None:
        for r in p.readouts:
            key = "analgesia" if r.category == "analgesia" else "psychotomimetic"
            if f"{key}_name" in out and not out[f"{key}_name"]:
                out[key] = ds[f"{r.name}_{p.name}"].values[0, 0]
                out[f"{key}_name"] = r.name.replace("_", " ")
        try:
            pair = pairs_for((p,), TradeoffSpec(analgesia_level=0.3, psychotomimetic_level=0.5))[0]
            out["window"] = pair.window
        except PkpdError:
            pass
    if s.band:
        pop = Population(n=BAND_SUBJECTS, seed=1, covariates={"WT": CovariateDist("constant", s.weight)})
        pds_ = simulate_population(m, reg, pop, horizon=s.horizon_h, step=step, pd=pds, mode="streaming",
                                   progress=False, chunk=256)
        pc = pds_.ketamine_plasma_percentiles.values[0, 0]
        q = list(pds_["quantile"].values)
        out["band_lo"], out["band_hi"] = pc[q.index(5.0)], pc[q.index(95.0)]
        out["band_time"] = pds_.time.values
    out["elapsed_ms"] = (time.perf_counter() - t0) * 1000
    return out


def options():
    """Choices for the selectors: PK models with their routes, PD models."""
    pk, pd = {}, []
    for name, path in available_models().items():
        try:
            m = _load(str(path))
        except PkpdError:
            continue
        if isinstance(m, Model):
            pk[name] = list(m.routes)
        else:
            pd.append(name)
    return pk, pd


def save_panels(s: State, directory) -> list:
    from pathlib import Path
    import matplotlib.pyplot as plt
    _style()
    r = compute(s)
    t = r["time"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    if "band_lo" in r:
        ax.fill_between(r["band_time"], r["band_lo"], r["band_hi"], color="#c0392b", alpha=0.15,
                        label=f"ketamine, 5–95 % of {BAND_SUBJECTS}")
    ax.plot(t, r["ketamine_plasma"], color="#c0392b", lw=2, label="ketamine plasma")
    ax.plot(t, r["norketamine_plasma"], color="#2874a6", lw=1.6, label="norketamine plasma")
    ax.plot(t, r["effect_site"], color="#1e8449", lw=1.6, ls="--", label="ketamine effect site")
    if r["window"] and r["window"][0] < r["window"][1]:
        ax.axhspan(*r["window"], color="#f1c40f", alpha=0.2, label="therapeutic window (Ce)")
    ax.set(xlabel="time (h)", ylabel="ng/mL", title="Concentrations")
    ax.legend(fontsize=7, frameon=False)
    ax = axes[1]
    ax.plot(t, r["analgesia"], color="#1e8449", lw=2, label=r["analgesia_name"] or "analgesia")
    ax.plot(t, r["psychotomimetic"], color="#8e44ad", lw=2, ls="--", label=r["psychotomimetic_name"] or "psychotomimetic")
    ax.set(xlabel="time (h)", ylabel="fraction of maximal effect", title="Effects", ylim=(0, 1.02))
    ax.legend(fontsize=7, frameon=False)
    ax = axes[2]
    ax.plot(r["ketamine_plasma"], r["analgesia"], color="#1e8449", lw=2)
    ax.set(xlabel="ketamine plasma (ng/mL)", ylabel="analgesia", title="Hysteresis (effect-site lag)")
    fig.suptitle(f"{s.model} + {s.pd}: {s.route} {s.dose_mg:g} mg"
                 + (f" × {s.sprays} sprays" if s.route == "intranasal" else "")
                 + (f" over {s.duration_min:g} min" if s.route == "iv" and s.duration_min else "")
                 + f", {s.weight:g} kg", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    # the model may be a file path given on the command line: its name is data, not a path
    return [write_bytes(Path(directory) / f"explore_{safe_stem(s.model)}_{safe_stem(s.route)}.png", png_bytes(fig))]


def app(state: State = State()):
    """A Panel layout (serve it, or display it in a notebook after ``pn.extension()``)."""
    import panel as pn
    from bokeh.models import BoxAnnotation, ColumnDataSource
    from bokeh.plotting import figure
    pk, pdm = options()
    w_model = pn.widgets.Select(name="PK model", options=sorted(pk), value=state.model)
    w_pd = pn.widgets.Select(name="PD model", options=sorted(pdm), value=state.pd)
    w_route = pn.widgets.Select(name="Route", options=pk[state.model], value=state.route)
    w_dose = pn.widgets.FloatSlider(name="Dose per administration (mg)", start=1, end=200, step=1,
                                    value=state.dose_mg)
    w_dur = pn.widgets.FloatSlider(name="IV infusion duration (min, 0 = bolus)", start=0, end=240, step=5,
                                   value=state.duration_min)
    w_sprays = pn.widgets.IntSlider(name="Sprays (intranasal)", start=1, end=4, value=state.sprays)
    w_wt = pn.widgets.FloatSlider(name="Body weight (kg)", start=30, end=150, step=1, value=state.weight)
    status = pn.pane.Markdown("", sizing_mode="stretch_width")

    conc = ColumnDataSource(dict(t=[], k=[], nk=[], ce=[]))
    band = ColumnDataSource(dict(t=[], lo=[], hi=[]))
    eff = ColumnDataSource(dict(t=[], a=[], p=[], c=[]))
    f1 = figure(title="Concentrations (ng/mL)", height=300, sizing_mode="stretch_width", x_axis_label="time (h)")
    f1.varea("t", "lo", "hi", source=band, fill_color="#c0392b", fill_alpha=0.15,
             legend_label=f"ketamine 5–95 % ({BAND_SUBJECTS} subjects)")
    f1.line("t", "k", source=conc, color="#c0392b", line_width=2, legend_label="ketamine plasma")
    f1.line("t", "nk", source=conc, color="#2874a6", line_width=2, legend_label="norketamine plasma")
    f1.line("t", "ce", source=conc, color="#1e8449", line_width=2, line_dash="dashed", legend_label="effect site")
    window = BoxAnnotation(fill_color="#f1c40f", fill_alpha=0.2, bottom=0, top=0)
    f1.add_layout(window)
    f2 = figure(title="Effects (fraction of maximum)", height=300, sizing_mode="stretch_width",
                x_axis_label="time (h)", y_range=(0, 1.02))
    f2.line("t", "a", source=eff, color="#1e8449", line_width=2, legend_label="analgesia")
    f2.line("t", "p", source=eff, color="#8e44ad", line_width=2, line_dash="dashed", legend_label="psychotomimetic")
    f3 = figure(title="Hysteresis: analgesia vs plasma ketamine", height=300, sizing_mode="stretch_width",
                x_axis_label="ketamine plasma (ng/mL)")
    f3.line("c", "a", source=eff, color="#1e8449", line_width=2)
    for f in (f1, f2):
        f.legend.label_text_font_size = "8pt"
        f.legend.background_fill_alpha = 0.6

    def update(*_):
        s = State(w_model.value, w_pd.value, w_route.value, w_dose.value, w_dur.value, w_sprays.value, w_wt.value)
        try:
            r = compute(s)
        except PkpdError as e:
            status.object = f"**Cannot simulate:** {e.message}"
            return
        conc.data = dict(t=r["time"], k=r["ketamine_plasma"], nk=np.nan_to_num(r["norketamine_plasma"]),
                         ce=np.nan_to_num(r["effect_site"]))
        if "band_lo" in r:
            band.data = dict(t=r["band_time"], lo=r["band_lo"], hi=r["band_hi"])
        eff.data = dict(t=r["time"], a=np.nan_to_num(r["analgesia"]), p=np.nan_to_num(r["psychotomimetic"]),
                        c=r["ketamine_plasma"])
        w = r["window"]
        window.bottom, window.top = (w if w and w[0] < w[1] else (0, 0))
        status.object = (f"Peak ketamine {np.nanmax(r['ketamine_plasma']):.0f} ng/mL · peak analgesia "
                         f"{np.nanmax(np.nan_to_num(r['analgesia'])):.2f} · peak psychotomimetic "
                         f"{np.nanmax(np.nan_to_num(r['psychotomimetic'])):.2f} · window "
                         + (f"{w[0]:.0f}–{w[1]:.0f} ng/mL" if w and w[0] < w[1] else "none (side effects first)")
                         + f" · computed in {r['elapsed_ms']:.0f} ms")

    def on_model(event):
        w_route.options = pk[event.new]
        if w_route.value not in pk[event.new]:
            w_route.value = pk[event.new][0]
        update()

    w_model.param.watch(on_model, "value")
    for w in (w_pd, w_route, w_dose, w_dur, w_sprays, w_wt):
        w.param.watch(update, "value")
    update()
    controls = pn.Column("## pkpd explorer", "Ketamine PK/PD for teaching: change a control, every panel "
                         "re-simulates.", w_model, w_pd, w_route, w_dose, w_dur, w_sprays, w_wt, width=320)
    layout = pn.Row(controls, pn.Column(status, pn.pane.Bokeh(f1), pn.Row(pn.pane.Bokeh(f2), pn.pane.Bokeh(f3)),
                                        sizing_mode="stretch_width"), sizing_mode="stretch_width")
    layout._pkpd = dict(update=update, conc=conc, eff=eff, widgets=dict(model=w_model, pd=w_pd, route=w_route,
                        dose=w_dose, duration=w_dur, sprays=w_sprays, weight=w_wt), status=status, window=window)
    return layout


def serve(port: int = 5006, show: bool = True):
    import panel as pn
    pn.extension()
    pn.serve({"/": lambda: app()}, port=port, show=show, title="pkpd explorer", threaded=False)

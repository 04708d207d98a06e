"""Interactive explorer for teaching: a Panel/Bokeh app (browser or Jupyter) and a headless
PNG export of the same panels.

All numbers come from :func:`~pkpd.teaching.explore_state.compute`, a plain function of the
explorer's :class:`~pkpd.teaching.explore_state.State` (model, PD model, route, dose, infusion
duration, sprays, weight, repeated dosing or a regimen in notation, parameter knobs, log axis): the
typical subject, a 200-subject band and the therapeutic window.  The web app only draws what it
returns, so it is tested in-process without a browser, and in a real headless Chromium.
"""
from __future__ import annotations

import math
import numpy as np
from pkpd.errors import PkpdError
from pkpd.models.pk import Model
from pkpd.models.library import available_models
from pkpd.models.roles import PK_ROLES, knobs
from pkpd.names import safe_stem
from pkpd.output.files import write_bytes
from pkpd.output.figures import _style
from pkpd.output.figures import png_bytes
from pkpd.teaching.explore_state import (BAND_SUBJECTS, FACTOR_RANGE, MAX_DOSES, State, load_cached, compute,
                                         log_floor, regimen_for)

__all__ = ["BAND_SUBJECTS", "State", "app", "compute", "options", "regimen_for", "save_panels", "serve"]


def options():
    """Choices for the selectors: PK models with their routes, PD models."""
    pk, pd = {}, []
    for name, path in available_models().items():
        try:
            m = load_cached(str(path))
        except PkpdError:
            continue
        if isinstance(m, Model):
            pk[name] = list(m.routes)
        else:
            pd.append(name)
    return pk, pd


def describe_state(s: State, r: dict) -> str:
    """One line for a figure title: models, regimen, weight and the knobs moved."""
    if s.regimen.strip():
        reg = s.regimen.strip()
    else:
        reg = (f"{s.route} {s.dose_mg:g} mg" + (f" × {s.sprays} sprays" if s.route == "intranasal" else "")
               + (f" over {s.duration_min:g} min" if s.route == "iv" and s.duration_min else "")
               + (f", {s.doses} doses every {s.interval_h:g} h" if s.doses > 1 else ""))
    moved = [f"{k['label']} ×{k['factor']:.2g}" for k in r["knobs"] if k["factor"] != 1.0]
    return (f"{s.model} + {s.pd}: {reg}, {s.weight:g} kg" if s.pd else f"{s.model}: {reg}, {s.weight:g} kg") \
        + (f" ({', '.join(moved)})" if moved else "")


def save_panels(s: State, directory) -> list:
    """The explorer's three panels for ``s`` as one PNG in ``directory``; returns the paths written."""
    from pathlib import Path
    plt = _style()
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
    ax.set(xlabel="time (h)", ylabel="ng/mL", title="Concentrations" + (" (log axis)" if s.log_axis else ""))
    if s.log_axis:
        peak = float(np.nanmax(r["ketamine_plasma"]))
        ax.set_yscale("log")
        ax.set_ylim(peak * 1e-4, peak * 3)  # four decades below the peak, as in the app
    ax.legend(fontsize=7, frameon=False)
    ax = axes[1]
    ax.plot(t, r["analgesia"], color="#1e8449", lw=2, label=r["analgesia_name"] or "analgesia")
    ax.plot(t, r["psychotomimetic"], color="#8e44ad", lw=2, ls="--", label=r["psychotomimetic_name"] or "psychotomimetic")
    ax.set(xlabel="time (h)", ylabel="fraction of maximal effect", title="Effects", ylim=(0, 1.02))
    ax.legend(fontsize=7, frameon=False)
    ax = axes[2]
    ax.plot(r["ketamine_plasma"], r["analgesia"], color="#1e8449", lw=2)
    ax.set(xlabel="ketamine plasma (ng/mL)", ylabel="analgesia", title="Hysteresis (effect-site lag)")
    fig.suptitle(describe_state(s, r), fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    # the model may be a file path given on the command line: its name is data, not a path
    return [write_bytes(Path(directory) / f"explore_{safe_stem(s.model)}_{safe_stem(s.route)}.png", png_bytes(fig))]


def _conc_figure(figure, BoxAnnotation, conc, band, log: bool):
    """The concentration panel on a linear or log axis (Bokeh fixes the axis type at creation,
    so the app holds one of each and shows one)."""
    f = figure(title="Concentrations (ng/mL" + (", log axis)" if log else ")"), height=300,
               sizing_mode="stretch_width", x_axis_label="time (h)", y_axis_type="log" if log else "linear")
    f.varea("t", "lo", "hi", source=band, fill_color="#c0392b", fill_alpha=0.15,
            legend_label=f"ketamine 5–95 % ({BAND_SUBJECTS} subjects)")
    f.line("t", "k", source=conc, color="#c0392b", line_width=2, legend_label="ketamine plasma")
    f.line("t", "nk", source=conc, color="#2874a6", line_width=2, legend_label="norketamine plasma")
    f.line("t", "ce", source=conc, color="#1e8449", line_width=2, line_dash="dashed", legend_label="effect site")
    window = BoxAnnotation(fill_color="#f1c40f", fill_alpha=0.2, bottom=1e-9, top=1e-9)
    f.add_layout(window)
    return f, window


def _knob_slider(pn, label: str, value: float = 0.0):
    """A knob: log2 of the factor from −2 to 2 (×0.25 … ×4), the factor shown as ``×1.41``."""
    from bokeh.models import CustomJSTickFormatter
    lo, hi = math.log2(FACTOR_RANGE[0]), math.log2(FACTOR_RANGE[1])
    return pn.widgets.FloatSlider(label=label, start=lo, end=hi, step=0.05, value=value,
                                  format=CustomJSTickFormatter(code="return '×' + Math.pow(2, tick).toFixed(2)"))


def _factor(v: float) -> float:
    """Slider position (log2) → factor, kept inside :data:`FACTOR_RANGE` despite rounding."""
    return min(max(2.0 ** v, FACTOR_RANGE[0]), FACTOR_RANGE[1])


def _knob_text(r: dict) -> str:
    lines = [f"- **{k['label']}** ×{k['factor']:.2f}: {k['text']}" + (f" *({k['note']})*" if k["note"] else "")
             for k in r["knobs"]]
    lines += [f"- *{a}*" for a in r["absent"]]
    return "\n".join(lines)


def _set_sources(h: dict, r: dict) -> None:
    """Move one :func:`compute` result into the app's Bokeh sources (linear and log panels)."""
    k, nk, ce = r["ketamine_plasma"], r["norketamine_plasma"], r["effect_site"]
    h["conc"].data = dict(t=r["time"], k=k, nk=np.nan_to_num(nk), ce=np.nan_to_num(ce))
    peak = float(np.nanmax(k))
    h["conc_log"].data = dict(t=r["time"], k=log_floor(k, peak), nk=log_floor(nk, peak), ce=log_floor(ce, peak))
    if "band_lo" in r:
        h["band"].data = dict(t=r["band_time"], lo=r["band_lo"], hi=r["band_hi"])
        h["band_log"].data = dict(t=r["band_time"], lo=log_floor(r["band_lo"], peak), hi=log_floor(r["band_hi"], peak))
    h["eff"].data = dict(t=r["time"], a=np.nan_to_num(r["analgesia"]), p=np.nan_to_num(r["psychotomimetic"]),
                         c=k)
    w = r["window"]
    for box in h["windows"]:
        box.bottom, box.top = (w if w and w[0] < w[1] else (1e-9, 1e-9))
    # one pane, its figure swapped: Bokeh fixes an axis type at creation, and hiding a pane's
    # figure is not reliably passed to the browser
    want = h["figures"]["log" if r["log_axis"] else "linear"]
    if h["conc_pane"].object is not want:
        h["conc_pane"].object = want
    h["knob_info"].object = _knob_text(r)
    h["status"].object = (
        f"Peak ketamine {peak:.0f} ng/mL · peak analgesia {np.nanmax(np.nan_to_num(r['analgesia'])):.2f} · "
        f"peak psychotomimetic {np.nanmax(np.nan_to_num(r['psychotomimetic'])):.2f} · window "
        + (f"{w[0]:.0f}–{w[1]:.0f} ng/mL" if w and w[0] < w[1] else "none (side effects first)")
        + f" · computed in {r['elapsed_ms']:.0f} ms  \nRegimen: `{r['regimen']}`")


def _widgets(pn, state: State, pk: dict, pdm: list) -> dict:
    """The app's controls, at ``state``'s values."""
    return dict(model=pn.widgets.Select(label="PK model", options=sorted(pk), value=state.model),
                pd=pn.widgets.Select(label="PD model", options=sorted(pdm), value=state.pd),
                route=pn.widgets.Select(label="Route", options=pk[state.model], value=state.route),
                dose=pn.widgets.FloatSlider(label="Dose per administration (mg)", start=1, end=200, step=1,
                                            value=state.dose_mg),
                duration=pn.widgets.FloatSlider(label="IV infusion duration (min, 0 = bolus)", start=0, end=240,
                                                step=5, value=state.duration_min),
                sprays=pn.widgets.IntSlider(label="Sprays (intranasal)", start=1, end=4, value=state.sprays),
                weight=pn.widgets.FloatSlider(label="Body weight (kg)", start=30, end=150, step=1,
                                              value=state.weight),
                doses=pn.widgets.IntSlider(label="Number of doses", start=1, end=MAX_DOSES, value=state.doses),
                interval=pn.widgets.FloatSlider(label="Dosing interval (h)", start=1, end=168, step=1,
                                                value=state.interval_h),
                regimen=pn.widgets.TextInput(label="Regimen in notation (replaces dose and repeats)",
                                             value=state.regimen,
                                             placeholder="56 mg IN x2 every 5 min every 84 h x4"),
                log=pn.widgets.Checkbox(label="Log concentration axis", value=state.log_axis))


def _figures(pn, h: dict) -> list:
    """The Bokeh panels on ``h``'s sources (the concentration panel twice: linear and log axis);
    stores the pane, both figures and the window boxes in ``h`` and returns the effect and hysteresis panes."""
    from bokeh.models import BoxAnnotation, ColumnDataSource
    from bokeh.plotting import figure
    for key, cols in (("conc", "t k nk ce"), ("conc_log", "t k nk ce"), ("band", "t lo hi"),
                      ("band_log", "t lo hi"), ("eff", "t a p c")):
        h[key] = ColumnDataSource({c: [] for c in cols.split()})
    f_lin, win_lin = _conc_figure(figure, BoxAnnotation, h["conc"], h["band"], log=False)
    f_log, win_log = _conc_figure(figure, BoxAnnotation, h["conc_log"], h["band_log"], log=True)
    h["windows"], h["window"] = (win_lin, win_log), win_lin
    h["figures"] = {"linear": f_lin, "log": f_log}
    h["conc_pane"] = pn.pane.Bokeh(f_lin, sizing_mode="stretch_width")
    f2 = figure(title="Effects (fraction of maximum)", height=300, sizing_mode="stretch_width",
                x_axis_label="time (h)", y_range=(0, 1.02))
    f2.line("t", "a", source=h["eff"], color="#1e8449", line_width=2, legend_label="analgesia")
    f2.line("t", "p", source=h["eff"], color="#8e44ad", line_width=2, line_dash="dashed", legend_label="psychotomimetic")
    f3 = figure(title="Hysteresis: analgesia vs plasma ketamine", height=300, sizing_mode="stretch_width",
                x_axis_label="ketamine plasma (ng/mL)")
    f3.line("c", "a", source=h["eff"], color="#1e8449", line_width=2)
    for f in (f_lin, f_log, f2):
        f.legend.label_text_font_size = "8pt"
        f.legend.background_fill_alpha = 0.6
    return [pn.pane.Bokeh(f2), pn.pane.Bokeh(f3)]


def _wire(pn, h: dict, pk: dict, knob_box):
    """The app's callbacks on ``h``'s widgets: every control re-simulates; a model, PD model or route
    change rebuilds the knob sliders in ``knob_box``.  Returns ``update`` and ``current`` (the
    :class:`State` the controls show)."""
    w = h["widgets"]

    def current() -> State:
        scales = tuple((key, _factor(s.value)) for key, s in h["knobs"].items() if s.value != 0)
        return State(w["model"].value, w["pd"].value, w["route"].value, w["dose"].value, w["duration"].value,
                     w["sprays"].value, w["weight"].value, doses=w["doses"].value, interval_h=w["interval"].value,
                     regimen=w["regimen"].value, scales=scales, log_axis=w["log"].value)

    def update(*_):
        try:
            r = compute(current())
        except PkpdError as e:
            h["status"].object = f"**Cannot simulate:** {e.message}"
            h["knob_info"].object = ""  # the values shown belonged to the last state that ran
            return
        _set_sources(h, r)

    def rebuild(*_):
        """Sliders for the knobs of the models and route now selected; a knob still there keeps its
        factor (the callers drop the knobs of a model replaced: they start again at ×1)."""
        try:
            m, p = load_cached(w["model"].value), load_cached(w["pd"].value) if w["pd"].value else None
            ks = knobs(m, p, w["route"].value)[0] if m.supports(w["route"].value) else []
        except PkpdError:
            ks = []
        old = {key: s.value for key, s in h["knobs"].items()}
        h["knobs"].clear()
        for k in ks:
            s = _knob_slider(pn, f"{k.label} (×0.25–×4)", old.get(k.key, 0.0))
            s.param.watch(update, "value")
            h["knobs"][k.key] = s
        knob_box.objects = list(h["knobs"].values())

    def drop(pk_roles: bool):
        """Forget the knobs of the PK model (``pk_roles``) or of the PD model: it is being replaced."""
        for key in [k for k in h["knobs"] if (k in PK_ROLES) == pk_roles]:
            del h["knobs"][key]

    def on_model(event):
        drop(pk_roles=True)
        w["route"].options = pk[event.new]
        if w["route"].value not in pk[event.new]:
            w["route"].value = pk[event.new][0]  # its watcher rebuilds and updates
            return
        rebuild()
        update()

    def on_pd(_):
        drop(pk_roles=False)
        rebuild()
        update()

    w["model"].param.watch(on_model, "value")
    w["pd"].param.watch(on_pd, "value")
    w["route"].param.watch(lambda _: (rebuild(), update()), "value")
    for key in ("dose", "duration", "sprays", "weight", "doses", "interval", "regimen", "log"):
        w[key].param.watch(update, "value")
    rebuild()
    update()
    return update, current


def app(state: State | None = None):
    """A Panel layout (serve it, or display it in a notebook after ``pn.extension()``).

    ``layout._pkpd`` holds the widgets (``widgets``; the knob sliders in ``knobs``, keyed by
    knob key), the Bokeh sources, ``update`` and ``state()`` so tests drive it in-process.
    """
    import panel as pn
    state = state or State()
    pk, pdm = options()
    w = _widgets(pn, state, pk, pdm)
    h = {"widgets": w, "knobs": {}, "status": pn.pane.Markdown("", sizing_mode="stretch_width"),
         "knob_info": pn.pane.Markdown("")}
    lower = _figures(pn, h)
    knob_box = pn.Column()
    update, current = _wire(pn, h, pk, knob_box)
    controls = pn.Column("## pkpd explorer", "Ketamine PK/PD for teaching: change a control, every panel "
                         "re-simulates.", w["model"], w["pd"], w["route"], w["dose"], w["duration"], w["sprays"],
                         w["weight"], w["log"], "### Repeated dosing", w["doses"], w["interval"], w["regimen"],
                         "### Parameters (typical values)", knob_box, h["knob_info"], width=340)
    layout = pn.Row(controls, pn.Column(h["status"], h["conc_pane"], pn.Row(*lower),
                                        sizing_mode="stretch_width"), sizing_mode="stretch_width")
    h.update(update=update, state=current)
    layout._pkpd = h
    return layout


def serve(port: int = 5006, show: bool = True):
    import panel as pn
    pn.extension()
    pn.serve({"/": lambda: app()}, port=port, show=show, title="pkpd explorer", threaded=False)

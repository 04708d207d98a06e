"""Human-readable views of the model library (``pkpd models``)."""
from __future__ import annotations

import textwrap
from pkpd.output.tables import format_table
from pkpd.models.pk import Model
from pkpd.models.library import available_models
from pkpd.models.load import load_model
from pkpd.errors import PkpdError
from pkpd.models.parameters import GRADES
from pkpd.models.drugs import DRUGS
from pkpd.models.enantiomers import equivalent
from pkpd.models.pairing import pairing_notes, pairing_problems, pairing_warnings
from pkpd.models.validity import describe as describe_validity
from pkpd.models.variability import describe as describe_iiv, range_text
from pkpd.models.pd import PDModel
from pkpd.solvers.options import ATOL_PD_STATES, RTOL


def list_models() -> str:
    rows = []
    for name, path in available_models().items():
        try:
            m = load_model(str(path))
        except PkpdError as e:
            rows.append([name, "?", "?", "?", f"(invalid: {e.problem})"])
            continue
        kind = "PK" if isinstance(m, Model) else "PD"
        routes = ", ".join(m.routes) if isinstance(m, Model) else ", ".join(r.name for r in m.readouts)
        cit = m.meta.get("citation", "")
        rows.append([name, kind, m.drug, m.meta.get("sampling", ""), routes, cit.split(".")[0][:38] + "…"])
    header = ["name", "kind", "drug", "sampling", "routes / readouts", "citation"]
    return format_table(header, rows, None) if rows else "no models found"


def describe_model(name: str) -> str:
    m = load_model(name)
    lines = [*textwrap.wrap(f"{m.name} — {m.meta.get('title', '')}", 100, subsequent_indent="    "),
             *_item(f"drug: {m.drug} ({_drug_role(m)}); sampling: {m.meta.get('sampling', '')}"),
             *_item(f"population: {m.meta.get('population', '')}"),
             *_item(f"citation: {m.meta.get('citation', '')} doi:{m.meta.get('doi', '')}")]
    if isinstance(m, Model):
        lines += _item(f"routes: {', '.join(m.routes)}; compartments: {', '.join(c.name for c in m.compartments)}")
        lines += _item("residual error: " + ("; ".join(f"{sp} {r.describe()}" for sp, r in m.residual.items())
                                            or "none given (simulated observations are refused)"))
        if m.iov:
            lines += _item("inter-occasion variability (ν²): " + ", ".join(
                f"{t.name} {t.nu2:g} ({'per administration' if t.scope == 'absorption' else 'per run'})"
                for t in m.iov))
    lines += _nonlinear(m)
    lines += _validity(m) + _enantiomers(m) + _bounds(m)
    lines += _pairings(m)
    rows = []
    for p in m.parameters.values():
        iiv = ""
        if p.iiv:
            iiv = describe_iiv(p.iiv) + (" ASSUMED" if p.iiv.grade == "assumption" else "")
        flag = "ASSUMPTION" if p.is_assumption else p.grade
        rows.append([p.name, f"{p.written:g}", p.unit, iiv, flag, (p.source or p.note)[:60]])
    lines += ["", format_table(["parameter", "value", "unit", "IIV", "grade", "source"], rows, None)]
    lines += _assumptions(m)
    if m.params.derived:
        lines += ["", "Derived:"] + [f"  {k} = {e.text}" for k, e in m.params.derived.items()]
    if m.meta.get("notes"):
        lines += ["", "Notes:"] + textwrap.wrap(" ".join(m.meta["notes"].split()), 100,
                                                initial_indent="  ", subsequent_indent="  ")
    lines += [""] + textwrap.wrap("Grades: " + "; ".join(f"{k} = {v}" for k, v in GRADES.items()), 100,
                                  subsequent_indent="  ")
    return "\n".join(lines)


def _item(text: str) -> list[str]:
    """An indented line of a model description, wrapped at 100 columns."""
    return textwrap.wrap(text, 100, initial_indent="  ", subsequent_indent="    ")


def _pairings(m) -> list[str]:
    """Which models of the other kind pair with ``m``: consistently (same form and sampling), with a
    caveat (converted form or other sampling site, warned or noted), or not at all (refused)."""
    good, warned, refused = [], [], []
    for name, path in available_models().items():
        try:
            other = load_model(str(path))
        except PkpdError:
            continue
        if isinstance(other, PDModel) == isinstance(m, PDModel):
            continue
        pk, pd = (other, m) if isinstance(m, PDModel) else (m, other)
        if pairing_problems(pk, pd):
            refused.append(name)
        elif pairing_warnings(pk, pd) or pairing_notes(pk, pd):
            warned.append(name)
        else:
            good.append(name)
    return (_item(f"consistent pairings: {', '.join(good) or 'none in the library'}")
            + _item(f"with a caveat (other sampling site or converted drug form; shown with every run): "
                    f"{', '.join(warned) or 'none'}")
            + _item(f"refused (other drug form, no [enantiomers] conversion): {', '.join(refused) or 'none'}"))


def _drug_role(m) -> str:
    """What ``[model] drug`` means for this kind of model."""
    if isinstance(m, PDModel):
        return "estimated on its concentrations"
    if m.drug == "racemic ketamine":
        return "the form whose concentrations it describes: racemic doses only"
    return f"the form whose concentrations it describes: a racemic dose enters as its {m.drug.split('-')[0]} half"


def _assumptions(m) -> list[str]:
    """Assumed parameters and assumed IIV sizes, with the ranges to try."""
    items = []
    for p in m.parameters.values():
        if p.is_assumption:
            rng = f" — try {p.suggested_range[0]:g}–{p.suggested_range[1]:g}" if p.suggested_range else ""
            items.append(f"{p.name} = {p.written:g} {p.unit}{rng}: {p.note}")
        if p.iiv is not None and p.iiv.grade == "assumption":
            items.append(f"IIV of {p.name} = {describe_iiv(p.iiv)} — try {range_text(p.iiv)}: {p.iiv.note}")
    if not items:
        return []
    lines = ["", "Assumptions (not published; vary them in a sensitivity analysis):"]
    for it in items:
        lines += textwrap.wrap(it, width=100, initial_indent="  - ", subsequent_indent="    ")
    return lines


def _validity(m) -> list[str]:
    """The subjects and concentrations the model was estimated over."""
    v = m.validity
    if v is None:
        return ["  validity: not stated in the model file (population above)"]
    text = describe_validity(v) or "no ranges stated"
    extra = "; ".join(x for x in (v.source, v.note) if x)
    return textwrap.wrap(f"validity: {text}" + (f" ({extra})" if extra else ""), width=100,
                         initial_indent="  ", subsequent_indent="    ")


def _enantiomers(m) -> list[str]:
    """How PK models of another ketamine form drive a PD model (PD files only)."""
    if not isinstance(m, PDModel):
        return []
    c = m.enantiomers
    if c is None:
        return [f"  other ketamine forms: no [enantiomers] conversion — only {m.drug} PK models can drive it"]
    p = m.parameters
    f, r = p[c.s_fraction].written, p[c.r_potency].written
    own = float(equivalent(m.drug, f, r))
    scales = ", ".join(f"{d} PK → {float(equivalent(d, f, r)) / own:.3g} ×" for d in DRUGS if d != m.drug)
    return textwrap.wrap(f"other ketamine forms: [enantiomers] conversion, S share of racemic concentrations "
                         f"{c.s_fraction} = {f:g}, R-ketamine relative potency {c.r_potency} = {r:g}: {scales} "
                         f"the plasma concentration, in {m.drug} terms", width=100,
                         initial_indent="  ", subsequent_indent="    ")


def _bounds(m) -> list[str]:
    """Readouts bounded by the ends of their scale."""
    out = []
    for r in getattr(m, "readouts", ()):
        if r.minimum is not None or r.maximum is not None:
            lo = "−∞" if r.minimum is None else f"{r.minimum:g}"
            hi = "∞" if r.maximum is None else f"{r.maximum:g}"
            out += _item(f"readout {r.name} bounded to [{lo}, {hi}] {r.unit} (the ends of its scale)")
    return out


def _nonlinear(m) -> list[str]:
    """What the adaptive integrator will see: saturable flows, extra states, method, tolerances."""
    nl = getattr(m, "nonlinear", None)
    if nl is not None and not nl.active:  # a linear PK model: nothing for the integrator
        nl = None
    states = getattr(m, "states", ())  # PD files keep their states here
    if nl is None and not states:
        return []
    parts = []
    if nl is not None:
        parts += [f"Michaelis–Menten {f.source} → {f.dest or 'elimination'}" for f in nl.mm_flows]
        states = nl.states
    parts += [f"state {st.name}' = {st.rhs.text}" for st in states]
    # PK files may set rtol/atol; PD states use the defaults of system.build_system
    rtol, atol = (nl.rtol, nl.atol) if nl is not None else (RTOL, ATOL_PD_STATES)
    how = (f"solver {m.meta.get('solver', 'auto')}, rtol {rtol:g}, atol {atol:g} (a scenario's [solver] table "
           "overrides)")
    return textwrap.wrap("nonlinear: " + "; ".join(parts) + f" — {how}", width=100, initial_indent="  ",
                         subsequent_indent="    ")

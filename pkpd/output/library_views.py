"""Human-readable views of the model library (``pkpd models``)."""
from __future__ import annotations

import textwrap
from pkpd.output.tables import format_table
from pkpd.models.pk import Model
from pkpd.models.library import available_models
from pkpd.models.load import load_model
from pkpd.errors import PkpdError
from pkpd.models.parameters import GRADES
from pkpd.models.pairing import pairing_warnings
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
             *_item(f"drug: {m.drug}; sampling: {m.meta.get('sampling', '')}"),
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
    lines += _pairings(m)
    rows = []
    for p in m.parameters.values():
        iiv = ""
        if p.iiv:
            iiv = f"ω²={p.iiv.omega2:.3g}" + ("" if p.iiv.transform == "log" else f" ({p.iiv.transform})")
        flag = "ASSUMPTION" if p.is_assumption else p.grade
        rows.append([p.name, f"{p.written:g}", p.unit, iiv, flag, (p.source or p.note)[:60]])
    lines += ["", format_table(["parameter", "value", "unit", "IIV", "grade", "source"], rows, None)]
    assumed = m.assumptions()
    if assumed:
        lines += ["", "Assumptions (not published; vary them in a sensitivity analysis):"]
        for p in assumed:
            rng = f" — try {p.suggested_range[0]:g}–{p.suggested_range[1]:g}" if p.suggested_range else ""
            lines += textwrap.wrap(f"{p.name} = {p.written:g} {p.unit}{rng}: {p.note}", width=100,
                                   initial_indent="  - ", subsequent_indent="    ")
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
    """Which models of the other kind pair consistently with ``m`` (same drug form and sampling)."""
    good, bad = [], []
    for name, path in available_models().items():
        try:
            other = load_model(str(path))
        except PkpdError:
            continue
        if isinstance(other, PDModel) == isinstance(m, PDModel):
            continue
        pk, pd = (other, m) if isinstance(m, PDModel) else (m, other)
        (bad if pairing_warnings(pk, pd) else good).append(name)
    return (_item(f"consistent pairings: {', '.join(good) or 'none in the library'}")
            + _item(f"inconsistent (warned): {', '.join(bad) or 'none'}"))


def _nonlinear(m) -> list[str]:
    """What the adaptive integrator will see: saturable flows, extra states, method, tolerances."""
    nl = getattr(m, "nonlinear", None)
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

"""Which parameters play which role in a model: the "knobs" a teacher turns (clearance, central
volume, absorption rate, effect-site equilibration, potency), found from the model's structure,
never from its parameter names (files write CL, CLK1, k10 or kel·Vh; V1, Vc or VK1; t12ke0 or
ke0; C50, C50_pain or a linear slope).

A :class:`Knob` scales a set of parameters by one factor ``x``: each parameter's typical value is
multiplied by ``x ** exponent`` (exponent −1 where the parameter is the reciprocal of the quantity
the knob names: a half-life for a rate, a slope for a C50).  Knobs compose by multiplication, so a
parameter under two knobs (Domino's ``k10``: clearance and, held fixed, the central volume) gets
the product of its factors.  :func:`scaled_overrides` turns factors into the ``{model: {parameter:
internal value}}`` overrides of :mod:`pkpd.models.overrides`.

The roles, from the structure:

clearance
    The flows that leave the parent drug's disposition system: the compartments that exchange
    with the parent's plasma compartment both ways (its strongly connected component in the flow
    graph: central, peripherals and, in Perez-Ruixo 2021, the liver) → elimination or any
    compartment outside it (a metabolite, a metabolism chain).  Their clearance and
    rate-constant parameters (through derived values; a Michaelis–Menten ``Vmax`` resolves to
    the parameters it is computed from), not volumes or fractions.
volume
    The volume of the parent's plasma compartment; rate constants of flows out of it are
    scaled by 1/x so that the clearances they stand for (k·V) stay (micro-constant models).
absorption
    The ``ka`` of every absorption path of the route shown (none for IV).
ke0
    The effect-site equilibration of every effect compartment of the PD model: ``ke0`` × x, or
    ``t½ke0`` / x.
potency
    One knob per distinct C50 parameter of the sigmoid readouts (the concentration for half the
    effect × x); a linear readout's slopes / x (the concentration for a given effect × x).
"""
from __future__ import annotations

from dataclasses import dataclass
from pkpd.models.pd import PDModel
from pkpd.models.pk import Model

#: The keys of the knobs a PK model has (the others, ``ke0`` and ``potency:…``, belong to the PD model).
PK_ROLES = ("clearance", "volume", "absorption")
#: The parameter kinds that set a speed (+1: value ∝ speed) or a time (−1: value ∝ 1/speed).
_SPEED = {"clearance": 1, "rate_constant": 1, "time": -1}


@dataclass(frozen=True)
class Knob:
    """A role in one model and the parameters behind it.

    ``key`` identifies the role (``clearance``, ``volume``, ``absorption``, ``ke0``,
    ``potency:PARAM``); ``params`` are ``(parameter, exponent)`` pairs: the typical value is
    multiplied by ``factor ** exponent``; ``note`` says what else follows (shown to the user).
    """

    key: str
    label: str
    model: str
    params: tuple[tuple[str, int], ...]
    note: str = ""


def _depends(m, names) -> set[str]:
    """The parameters an expression's ``names`` resolve to, through derived values."""
    out: set[str] = set()
    todo, seen = list(names), set()
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in m.params.parameters:
            out.add(n)
        elif n in m.params.derived:
            todo.extend(m.params.derived[n].names)
    return out


def _speed_params(m, names) -> list[tuple[str, int]]:
    """Of the parameters ``names`` resolve to, those that set a speed, with their exponent."""
    ps = m.params.parameters
    return sorted((p, _SPEED[ps[p].kind]) for p in _depends(m, names) if ps[p].kind in _SPEED)


def _all_flows(m: Model):
    """(source, dest, names) of every linear and Michaelis–Menten flow."""
    out = [(f.source, f.dest, f.rate.names) for f in m.flows]
    if m.nonlinear is not None:
        out += [(f.source, f.dest, f.rate.names) for f in m.nonlinear.mm_flows]
    return out


def disposition_compartments(m: Model, central: str) -> set[str]:
    """The compartments that exchange both ways with ``central`` (its strongly connected
    component in the flow graph), ``central`` included."""
    edges: dict[str, set[str]] = {}
    for s, d, _ in _all_flows(m):
        if d is not None:
            edges.setdefault(s, set()).add(d)

    def reach(start, graph):
        seen, todo = {start}, [start]
        while todo:
            for n in graph.get(todo.pop(), ()):
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return seen

    back: dict[str, set[str]] = {}
    for s, ds in edges.items():
        for d in ds:
            back.setdefault(d, set()).add(s)
    return reach(central, edges) & reach(central, back)


def _fmt(names) -> str:
    return ", ".join(sorted(names))


def clearance_knob(m: Model) -> Knob | None:
    """The parameters of the flows leaving the parent's disposition system (None if there are none)."""
    central = m.plasma[m.species[0]]
    system = disposition_compartments(m, central)
    leaving = [(s, names) for s, d, names in _all_flows(m) if s in system and d not in system]
    params = sorted({pe for _, names in leaving for pe in _speed_params(m, names)})
    if not params:
        return None
    where = sorted({s for s, _ in leaving})
    note = ""
    if where != [central]:
        note = (f"elimination leaves from {_fmt(where)}, not the plasma compartment: the systemic "
                f"clearance changes less than in proportion where blood flow to it limits it")
    return Knob("clearance", "Clearance", m.name, tuple(params), note)


def volume_knob(m: Model) -> Knob | None:
    """The parameters of the parent's plasma-compartment volume, with the rate constants of the
    flows out of it held as clearances (scaled by 1/x)."""
    central = m.plasma[m.species[0]]
    comp = next(c for c in m.compartments if c.name == central)
    if comp.volume is None:
        return None
    vols = _depends(m, {comp.volume})
    ps = m.params.parameters
    held = {p for s, _, names in _all_flows(m) if s == central
            for p in _depends(m, names) if ps[p].kind == "rate_constant"}
    params = [(p, 1) for p in sorted(vols) if ps[p].kind == "volume"] + [(p, -1) for p in sorted(held)]
    if not params:
        return None
    notes = []
    if held:
        notes.append(f"rate constants {_fmt(held)} scale by 1/x so the clearances k·V stay")
    shared = sorted(c.name for c in m.compartments
                    if c.name != central and c.volume is not None and _depends(m, {c.volume}) & vols)
    if shared:
        notes.append(f"the volume of {_fmt(shared)} follows (the model file sets it equal)")
    return Knob("volume", "Central volume", m.name, tuple(params), "; ".join(notes))


def absorption_knob(m: Model, route: str) -> Knob | None:
    """The ``ka`` parameters of ``route``'s absorption paths (None for a route without one)."""
    paths = m.routes.get(route, ())
    params = sorted({pe for a in paths if a.ka is not None for pe in _speed_params(m, a.ka.names)})
    if not params:
        return None
    note = f"{len(paths)} absorption paths, all scaled" if len(paths) > 1 else ""
    return Knob("absorption", f"Absorption ({route})", m.name, tuple(params), note)


def ke0_knob(p: PDModel) -> Knob | None:
    """The effect-site equilibration parameters of every effect compartment of ``p``."""
    params = sorted({pe for e in p.effects for pe in _speed_params(p, e.ke0.names)})
    if not params:
        return None
    note = f"{len(p.effects)} effect sites ({_fmt(e.name for e in p.effects)}), all scaled" \
        if len(p.effects) > 1 else ""
    return Knob("ke0", "Effect-site ke0", p.name, tuple(params), note)


def potency_knobs(p: PDModel) -> list[Knob]:
    """One knob per distinct C50 parameter of the sigmoid readouts; one for each linear readout's
    slopes (scaled by 1/x: the concentration for a given effect × x)."""
    ps = p.params.parameters
    by_param: dict[str, list[str]] = {}
    linear: dict[tuple, list[str]] = {}
    for r in p.readouts:
        if r.type == "sigmoid_emax" and "C50" in r.params:
            for q in sorted(_depends(p, r.params["C50"].names)):
                if ps[q].kind == "concentration":
                    by_param.setdefault(q, []).append(r.name)
        elif r.slopes:
            slopes = tuple(sorted(q for _, e in r.slopes for q in _depends(p, e.names)
                                  if ps[q].kind == "per_concentration"))
            if slopes:
                linear.setdefault(slopes, []).append(r.name)
    out = [Knob(f"potency:{q}", f"C50 ({_fmt(rs)})", p.name, ((q, 1),)) for q, rs in by_param.items()]
    out += [Knob(f"potency:{'+'.join(s)}", f"Potency ({_fmt(rs)})", p.name, tuple((q, -1) for q in s),
                 "linear readout, no C50: its slopes scale by 1/x") for s, rs in linear.items()]
    return out


def knobs(m: Model, pd: PDModel | None, route: str) -> tuple[list[Knob], list[str]]:
    """Every knob of a PK model (on ``route``) and PD model, and a note for each role absent."""
    out, absent = [], []
    for k, role in ((clearance_knob(m), "clearance"), (volume_knob(m), "central volume"),
                    (absorption_knob(m, route), f"absorption: {route} has no absorption rate")):
        if k is None:
            absent.append(role if role.startswith("absorption") else f"{role}: none in {m.name}")
        else:
            out.append(k)
    if pd is None:
        absent.append("ke0 and C50: no PD model")
        return out, absent
    k = ke0_knob(pd)
    if k is None:
        absent.append(f"ke0: no effect compartment in {pd.name}")
    else:
        out.append(k)
    pot = potency_knobs(pd)
    if not pot:
        absent.append(f"C50: no potency parameter in {pd.name}")
    return out + pot, absent


def scaled_overrides(ks, factors: dict[str, float], models) -> dict[str, dict[str, float]]:
    """``{model: {parameter: internal typical value}}`` for the knobs ``ks`` at ``factors``
    (knob key → factor; a missing key is 1).  Parameters under several knobs get the product."""
    by_name = {m.name: m for m in models}
    scale: dict[str, dict[str, float]] = {}
    for k in ks:
        f = float(factors.get(k.key, 1.0))
        if f == 1.0:
            continue
        for name, e in k.params:
            scale.setdefault(k.model, {}).setdefault(name, 1.0)
            scale[k.model][name] *= f ** e
    return {mn: {p: by_name[mn].parameters[p].value * s for p, s in ps.items()} for mn, ps in scale.items()}


def describe(k: Knob, factor: float, model) -> str:
    """``"CL 95.2 → 190 L/h"``: each parameter's typical value, as written in the file, and scaled."""
    parts = []
    for name, e in k.params:
        p = model.parameters[name]
        parts.append(f"{name} {p.written:.3g} → {p.written * factor ** e:.3g} {p.unit}")
    return "; ".join(parts)

"""Parsers of the PD-only sections of a model file: ``[effects]``, ``[[readouts]]`` and ``[states]``.

Each parser reads one section, reports every problem through the file's
:class:`~pkpd.errors.Collector` under the dotted field it concerns, and returns the checked
building blocks of :mod:`pkpd.models.pd_parts` (rate constants 1/h, concentrations mg/L).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pkpd import expr
from pkpd.errors import Collector
from pkpd.models.common import SPECIES, checked_expression, text_field
from pkpd.models.nonlinear import ExtraState
from pkpd.models.pd_parts import CATEGORIES, Effect, Readout


#: Readout type → (required, optional) parameter roles.
_ROLES = {"sigmoid_emax": ({"C50"}, {"gamma", "Emax", "E0"}), "linear": (set(), {"E0"})}


_READOUT_KEYS = {"name", "category", "type", "effect", "antagonist", "unit", "description", "slopes", "direction",
                 "c50_scale", "minimum", "maximum"}


@dataclass(frozen=True)
class PDContext:
    """What the section parsers of one PD file share.

    ``names`` are the parameter, derived and covariate names; ``dyn_names`` add what
    time-varying expressions may also use: PD states, ``Ce_<effect>`` (mg/L) and ``t`` (h).
    """

    col: Collector
    names: set[str]
    dyn_names: set[str]

    def expression(self, v, f: str) -> expr.Expression | None:
        """A required expression over ``names`` at key ``f``."""
        return checked_expression(v, f, self.names, self.col)

    def dynamic(self, v, f: str) -> expr.Expression | None:
        """A required expression over ``dyn_names`` at key ``f``."""
        return checked_expression(v, f, self.dyn_names, self.col)


def parse_effects(etbl, ctx: PDContext) -> list[Effect]:
    """``[effects.NAME]``: effect compartments, in file order."""
    if not isinstance(etbl, dict):
        ctx.col.add("must be a table of effect compartments", "effects")
        return []
    effects = [_effect(ename, spec, ctx) for ename, spec in etbl.items()]
    return [e for e in effects if e is not None]


def _effect(ename: str, spec, ctx: PDContext) -> Effect | None:
    """One effect compartment: ``species`` and ``ke0`` (1/h) or ``half_life`` (t½ke0, h)."""
    f = f"effects.{ename}"
    if not isinstance(spec, dict):
        ctx.col.add("must be a table with species and ke0 or half_life", f)
        return None
    sp = text_field(ctx.col, spec, "species", f, choices=SPECIES)
    if ("ke0" in spec) == ("half_life" in spec):
        ctx.col.add("give exactly one of 'ke0' (1/time) or 'half_life' (t½ke0)", f)
        return None
    e = ctx.expression(spec["ke0"] if "ke0" in spec else f"log(2) / ({spec['half_life']})", f)
    return Effect(ename, sp, e) if e is not None else None


def parse_readouts(rlist, enames: set[str], ctx: PDContext) -> list[Readout]:
    """``[[readouts]]`` on the effect compartments ``enames``, in file order."""
    if not isinstance(rlist, list):
        ctx.col.add("must be an array of tables [[readouts]]", "readouts")
        return []
    readouts = []
    for i, spec in enumerate(rlist):
        f = f"readouts[{i}]"
        if not isinstance(spec, dict):
            ctx.col.add("must be a table", f)
            continue
        r = _readout(spec, f, enames, ctx)
        if r is not None:
            readouts.append(r)
    return readouts


def _readout(spec: dict, f: str, enames: set[str], ctx: PDContext) -> Readout | None:
    """One readout table; None when it cannot be built (its problems are collected)."""
    col = ctx.col
    name = text_field(col, spec, "name", f)
    cat = text_field(col, spec, "category", f, choices=CATEGORIES)
    typ = text_field(col, spec, "type", f, choices=tuple(_ROLES))
    direction = spec.get("direction", "increase")
    if direction not in ("increase", "decrease"):
        col.add("must be 'increase' or 'decrease'", f"{f}.direction")
    if typ not in _ROLES:
        return None
    ps = _readout_params(spec, f, typ, ctx)
    need, opt = _ROLES[typ]
    for k in sorted(set(spec) - need - opt - _READOUT_KEYS):
        col.add(f"unknown key '{k}'", f"{f}.{k}")
    slopes = []
    if typ == "linear":
        sl = spec.get("slopes")
        if not isinstance(sl, dict) or not sl:
            col.add("a linear readout needs 'slopes' = { EFFECT = \"param\", … }", f"{f}.slopes")
            return None
        slopes = _slopes(sl, f, enames, ctx)
        eff = spec.get("effect", next(iter(sl)))
    else:
        eff = spec.get("effect")
    if not isinstance(eff, str) or eff not in enames:
        eff = None
        col.add(f"'effect' must name an effect compartment ({', '.join(enames) or 'none defined'})", f"{f}.effect")
    ant = _antagonist(spec, f, typ, enames, ctx)
    scale = _c50_scale(spec, f, typ, ctx)
    lo, hi = readout_bounds(spec, f, col)
    if name and cat and eff in enames:
        return Readout(name, cat, typ, eff, ps, ant, str(spec.get("unit", "1")),
                       str(spec.get("description", "")), tuple(slopes), direction, scale, lo, hi)
    return None


def readout_bounds(spec: dict, f: str, col: Collector) -> tuple[float | None, float | None]:
    """``minimum``/``maximum``: where the source's scale ends, in the readout's unit (numbers)."""
    out = []
    for k in ("minimum", "maximum"):
        v = spec.get(k)
        if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)):
            col.add("must be a finite number in the readout's unit", f"{f}.{k}")
            v = None
        out.append(None if v is None else float(v))
    if out[0] is not None and out[1] is not None and not out[0] < out[1]:
        col.add("'minimum' must be below 'maximum'", f"{f}.minimum")
        return None, None
    return out[0], out[1]


def _readout_params(spec: dict, f: str, typ: str, ctx: PDContext) -> dict[str, expr.Expression]:
    """Role → expression for the roles of readout type ``typ`` (C50 in mg/L); missing required ones are problems."""
    need, opt = _ROLES[typ]
    ps = {}
    for role in need | opt:
        if role in spec:
            e = ctx.expression(spec[role], f"{f}.{role}")
            if e is not None:
                ps[role] = e
        elif role in need:
            ctx.col.add(f"a {typ} readout needs '{role}'", f"{f}.{role}")
    return ps


def _slopes(sl: dict, f: str, enames: set[str], ctx: PDContext) -> list[tuple[str, expr.Expression]]:
    """``slopes = { EFFECT = "param", … }`` of a linear readout: (effect, slope per mg/L) pairs."""
    slopes = []
    for eff_name, sv in sl.items():
        if eff_name not in enames:
            ctx.col.add(f"unknown effect compartment {eff_name!r}", f"{f}.slopes.{eff_name}")
            continue
        e = ctx.expression(sv, f"{f}.slopes.{eff_name}")
        if e is not None:
            slopes.append((eff_name, e))
    return slopes


def _antagonist(spec: dict, f: str, typ: str, enames: set[str],
                ctx: PDContext) -> tuple[str, expr.Expression] | None:
    """``antagonist = { effect, C100 }``: C50 × (1 + Ce,ant/C100), C100 in mg/L; sigmoid_emax only."""
    if "antagonist" not in spec:
        return None
    a = spec["antagonist"]
    if typ != "sigmoid_emax" or not (isinstance(a, dict) and isinstance(a.get("effect"), str)
                                     and a.get("effect") in enames and "C100" in a):
        ctx.col.add("'antagonist' must be { effect = NAME, C100 = PARAM } on a sigmoid_emax readout",
                    f"{f}.antagonist")
        return None
    c100 = ctx.expression(a["C100"], f"{f}.antagonist.C100")
    return (a["effect"], c100) if c100 is not None else None


def _c50_scale(spec: dict, f: str, typ: str, ctx: PDContext) -> expr.Expression | None:
    """``c50_scale``: a time-varying C50 multiplier (may use PD states, ``Ce_<effect>``, ``t``)."""
    if "c50_scale" not in spec:
        return None
    if typ != "sigmoid_emax":
        ctx.col.add("'c50_scale' is for sigmoid_emax readouts", f"{f}.c50_scale")
        return None
    return ctx.dynamic(spec["c50_scale"], f"{f}.c50_scale")


def parse_pd_states(stbl: dict, state_names: set[str], ctx: PDContext) -> list[ExtraState]:
    """``[states.NAME]``: PD states (tolerance, turnover) with ``rhs`` (per h), ``initial`` and ``unit``."""
    states = []
    for sname, sspec in stbl.items():
        f = f"states.{sname}"
        if not isinstance(sspec, dict) or sname not in state_names or sname in ctx.names:
            ctx.col.add("must be a table with 'rhs' (and 'initial', 'unit'); the name must be new", f)
            continue
        for k in sorted(set(sspec) - {"rhs", "initial", "unit", "description"}):
            ctx.col.add(f"unknown key '{k}'", f"{f}.{k}")
        rhs = ctx.dynamic(sspec.get("rhs"), f"{f}.rhs")
        ini = ctx.dynamic(sspec.get("initial", 0.0), f"{f}.initial")
        if rhs is not None and ini is not None:
            states.append(ExtraState(sname, rhs, ini, str(sspec.get("unit", "1"))))
    return states

"""Parsers of the PK-only sections of a model file: ``[compartments]``, ``[[flows]]``,
``[[routes.ROUTE]]`` and ``model.plasma``.

Each parser reads one section, reports every problem through the file's
:class:`~pkpd.errors.Collector` under the dotted field it concerns, and returns the checked
building blocks of :mod:`pkpd.models.pk_parts` (internal units: mg, L, h).  Michaelis–Menten
flows and ``[states]`` are parsed by :mod:`pkpd.models.nonlinear`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pkpd import expr
from pkpd.errors import Collector
from pkpd.models.common import SPECIES, checked_expression, text_field
from pkpd.models.mass_units import molar_flag
from pkpd.models.parameters import Parameter
from pkpd.models.pk_parts import AbsorptionPath, Compartment, Flow
from pkpd.models.routes import ROUTES


_COMPARTMENT_KEYS = {"species", "volume", "description"}


_FLOW_KEYS = {"between", "from", "to", "rate", "clearance", "fraction", "molar", "description"}


_PATH_KEYS = {"target", "fraction", "depot", "ka", "release", "lag", "molar", "description"}


Routes = dict[str, tuple[AbsorptionPath, ...]]


def parse_compartments(tbl, col: Collector, names: set[str], params: dict[str, Parameter]) -> list[Compartment]:
    """``[compartments.NAME]``: the compartments, in file order.

    ``names`` are the parameter, derived and covariate names a ``volume`` may name (L).
    """
    if not isinstance(tbl, dict) or not tbl:
        col.add("missing [compartments] (at least one)", "compartments")
        return []
    comps = [_compartment(cname, spec, col, names, params) for cname, spec in tbl.items()]
    return [c for c in comps if c is not None]


def _compartment(cname: str, spec, col: Collector, names: set[str],
                 params: dict[str, Parameter]) -> Compartment | None:
    """One ``[compartments.NAME]`` table: ``species`` and ``volume`` (none for a depot)."""
    f = f"compartments.{cname}"
    if not isinstance(spec, dict):
        col.add("must be a table with 'species' (and 'volume' unless it is a depot)", f)
        return None
    for k in sorted(set(spec) - _COMPARTMENT_KEYS):
        col.add(f"unknown key '{k}'", f"{f}.{k}")
    sp = text_field(col, spec, "species", f, choices=SPECIES)
    vol = spec.get("volume")
    if vol is not None and (not isinstance(vol, str) or vol not in names):
        col.add(f"'volume' must name a parameter or derived value (got {vol!r})", f"{f}.volume")
        vol = None
    elif vol is not None and vol in params and params[vol].kind != "volume":
        col.add(f"'volume' names {vol!r}, which has unit {params[vol].unit!r}, not a volume", f"{f}.volume")
    return Compartment(cname, sp, vol, str(spec.get("description", "")))


@dataclass(frozen=True)
class SectionContext:
    """What the flow, route and plasma parsers of one PK file share.

    ``names`` are the names expressions may use; ``compartments`` maps name → compartment
    in file order (the order error messages list them in).
    """

    col: Collector
    names: set[str]
    params: dict[str, Parameter]
    compartments: dict[str, Compartment]

    def expression(self, v, f: str, required: bool = True) -> expr.Expression | None:
        """The checked expression at key ``f`` (see :func:`pkpd.models.common.checked_expression`)."""
        return checked_expression(v, f, self.names, self.col, required)

    def compartment(self, v, f: str, required: bool = True) -> str | None:
        """``v`` if it names a compartment, else None (a problem unless optional and absent)."""
        if v is None and not required:
            return None
        if not isinstance(v, str) or v not in self.compartments:
            self.col.add(f"must name a compartment ({', '.join(self.compartments)}), got {v!r}", f)
            return None
        return v

    def species(self, c: str | None) -> str | None:
        """The species of compartment ``c`` (None if ``c`` is not a compartment)."""
        comp = self.compartments.get(c) if c is not None else None
        return comp.species if comp is not None else None

    def rate_from_clearance(self, cl, c: str | None, f: str) -> expr.Expression | None:
        """Rate constant (1/h) of a clearance ``cl`` (L/h) out of compartment ``c``: ``cl / volume``."""
        if c is None:
            return None
        vol = self.compartments[c].volume
        if vol is None:
            self.col.add(f"a clearance needs a volume on compartment {c!r}", f)
            return None
        params = self.params
        if isinstance(cl, str) and cl in params and params[cl].kind not in ("clearance",):
            self.col.add(f"{cl!r} has unit {params[cl].unit!r}, not a clearance (volume/time)", f)
        return self.expression(f"({cl}) / ({vol})", f)


def parse_flows(tbl, ctx: SectionContext) -> list[Flow]:
    """``[[flows]]``: first-order flows, in file order (Michaelis–Menten ones are skipped here)."""
    if not isinstance(tbl, list):
        ctx.col.add("must be an array of tables [[flows]]", "flows")
        return []
    flows: list[Flow] = []
    for i, spec in enumerate(tbl):
        f = f"flows[{i}]"
        if not isinstance(spec, dict):
            ctx.col.add("must be a table", f)
        elif "vmax" not in spec and "km" not in spec:  # a Michaelis–Menten flow: see pkpd.models.nonlinear
            flows += _flow(spec, f, ctx)
    return flows


def _flow(spec: dict, f: str, ctx: SectionContext) -> list[Flow]:
    """One ``[[flows]]`` table: a two-way ``between`` flow or a one-way ``from``/``to`` flow."""
    for k in sorted(set(spec) - _FLOW_KEYS):
        ctx.col.add(f"unknown key '{k}'", f"{f}.{k}")
    if "between" in spec:
        return _between_flows(spec, f, ctx)
    return _directed_flow(spec, f, ctx)


def _between_flows(spec: dict, f: str, ctx: SectionContext) -> list[Flow]:
    """``between = [A, B]`` with an intercompartmental ``clearance`` (L/h): a flow each way."""
    col = ctx.col
    pair = spec["between"]
    if not (isinstance(pair, list) and len(pair) == 2) or "from" in spec or "to" in spec:
        col.add("'between' takes two compartments and excludes from/to", f"{f}.between")
        return []
    if "clearance" not in spec or "rate" in spec:
        col.add("a 'between' flow needs an intercompartmental 'clearance'", f)
        return []
    a, b = ctx.compartment(pair[0], f"{f}.between"), ctx.compartment(pair[1], f"{f}.between")
    if not (a and b):
        return []
    if ctx.compartments[a].species != ctx.compartments[b].species:
        col.add("'between' joins compartments of the same species", f"{f}.between")
        return []
    molar_flag(spec, f, col, ctx.compartments[a].species, ctx.compartments[b].species)  # refused if given
    flows = []
    for s, d in ((a, b), (b, a)):
        r = ctx.rate_from_clearance(spec["clearance"], s, f"{f}.clearance")
        if r is not None:
            flows.append(Flow(s, d, r))
    return flows


def _directed_flow(spec: dict, f: str, ctx: SectionContext) -> list[Flow]:
    """``from`` (and optional ``to``; none is elimination) with ``rate`` (1/h) or ``clearance`` (L/h)."""
    col = ctx.col
    s = ctx.compartment(spec.get("from"), f"{f}.from")
    d = ctx.compartment(spec.get("to"), f"{f}.to", required=False)
    if ("rate" in spec) == ("clearance" in spec):
        col.add("give exactly one of 'rate' (1/h) or 'clearance' (L/h)", f)
        return []
    r = _flow_rate(spec, s, f, ctx)
    frac = ctx.expression(spec.get("fraction"), f"{f}.fraction", required=False)
    if frac is not None and d is None:
        col.add("'fraction' is for formation into a 'to' compartment", f"{f}.fraction")
    if s and d and s == d:
        col.add("a flow cannot go from a compartment to itself", f)
    molar = molar_flag(spec, f, col, ctx.species(s), ctx.species(d), elimination="to" not in spec)
    return [Flow(s, d, r, frac, molar)] if s and r is not None else []


def _flow_rate(spec: dict, s: str | None, f: str, ctx: SectionContext) -> expr.Expression | None:
    """Rate constant (1/h) of a one-way flow out of ``s``: its ``rate``, or ``clearance`` / volume."""
    if "rate" not in spec:
        return ctx.rate_from_clearance(spec["clearance"], s, f"{f}.clearance")
    r = ctx.expression(spec["rate"], f"{f}.rate")
    rate, params = spec["rate"], ctx.params
    if isinstance(rate, str) and rate in params and params[rate].kind != "rate_constant":
        ctx.col.add(f"{rate!r} has unit {params[rate].unit!r}, not a rate constant (1/time)", f"{f}.rate")
    return r


def parse_routes(tbl, ctx: SectionContext) -> tuple[Routes, list[Flow]]:
    """``[[routes.ROUTE]]``: absorption paths per route, and the depot → target flows
    (rate ``ka``, 1/h) their depots add, in file order."""
    if not isinstance(tbl, dict) or not tbl:
        ctx.col.add("missing [[routes.ROUTE]] (at least one route)", "routes")
        return {}, []
    routes: Routes = {}
    flows: list[Flow] = []
    for rname, plist in tbl.items():
        paths = _route(rname, plist, ctx)
        if paths is not None:
            routes[rname] = paths
            flows += [Flow(p.depot, p.target, p.ka, molar=p.molar) for p in paths if p.depot and p.ka is not None]
    return routes, flows


def _route(rname: str, plist, ctx: SectionContext) -> tuple[AbsorptionPath, ...] | None:
    """The absorption paths of route ``rname`` (one table or an array of them); None if unusable."""
    f = f"routes.{rname}"
    if rname not in ROUTES:
        ctx.col.add(f"unknown route (known: {', '.join(ROUTES)})", f)
        return None
    if isinstance(plist, dict):
        plist = [plist]
    if not isinstance(plist, list) or not plist:
        ctx.col.add("must be one or more tables [[routes.ROUTE]]", f)
        return None
    paths = [_absorption_path(rname, spec, f"{f}[{j}]", ctx) for j, spec in enumerate(plist)]
    return tuple(p for p in paths if p is not None)


def _absorption_path(rname: str, spec, fj: str, ctx: SectionContext) -> AbsorptionPath | None:
    """One path: ``target``, ``fraction`` of the dose, optional ``depot`` + ``ka`` (1/h),
    ``release`` (zero-order duration, h) and ``lag`` (h)."""
    col = ctx.col
    if not isinstance(spec, dict):
        col.add("must be a table", fj)
        return None
    for k in sorted(set(spec) - _PATH_KEYS):
        col.add(f"unknown key '{k}'", f"{fj}.{k}")
    t = ctx.compartment(spec.get("target"), f"{fj}.target")
    dep = ctx.compartment(spec.get("depot"), f"{fj}.depot", required=False)
    ka = ctx.expression(spec.get("ka"), f"{fj}.ka", required=dep is not None)
    if ka is not None and dep is None:
        col.add("'ka' needs a 'depot'", f"{fj}.ka")
    # a depot may carry a volume; harmless
    frac = ctx.expression(spec.get("fraction", 1.0), f"{fj}.fraction")
    rel = ctx.expression(spec.get("release"), f"{fj}.release", required=False)
    lag = ctx.expression(spec.get("lag"), f"{fj}.lag", required=False)
    if rname == "iv" and (dep or rel or lag):
        col.add("the iv route goes straight into its target (no depot, release or lag)", fj)
    # the dose is ketamine: a path into another species may say it carries parent-mass equivalents
    molar = molar_flag(spec, fj, col, "ketamine", ctx.species(dep or t) if t else None)
    if t and frac is not None:
        return AbsorptionPath(t, frac, dep, ka, rel, lag, molar)
    return None


def parse_plasma(meta: dict, ctx: SectionContext) -> dict[str, str]:
    """``model.plasma``: species → its plasma (sampling) compartment, which must have a volume."""
    plasma = meta.get("plasma") if isinstance(meta, dict) else None
    if not isinstance(plasma, dict) or "ketamine" not in plasma:
        ctx.col.add("'plasma' must map each species to its plasma compartment, e.g. { ketamine = \"central\" }",
                    "model.plasma")
        return {}
    cmap = ctx.compartments
    for sp, c in plasma.items():
        if sp not in SPECIES:
            ctx.col.add(f"unknown species {sp!r}", f"model.plasma.{sp}")
        elif ctx.compartment(c, f"model.plasma.{sp}") and (cmap[c].species != sp or cmap[c].volume is None):
            ctx.col.add(f"{c!r} must be a {sp} compartment with a volume", f"model.plasma.{sp}")
    return dict(plasma)


def check_plasma_volumes(comps: list[Compartment], routes: Routes, plasma: dict[str, str], col: Collector) -> None:
    """Every plasma compartment that is not also a depot needs a volume."""
    depots = {p.depot for ps in routes.values() for p in ps}
    for c in comps:
        if c.name in depots:
            continue
        if c.volume is None and c.name in plasma.values():
            col.add("a plasma compartment needs a volume", f"compartments.{c.name}.volume")

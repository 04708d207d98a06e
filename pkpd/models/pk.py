"""Declarative PK model files: compartments, flows, routes — loaded, checked, described.

A model file (``models/*.toml``) is data, never code.  Sections:

``[model]``
    name, title, drug (``S-ketamine`` or ``racemic ketamine``), sampling
    (``arterial``/``venous``), population, citation, doi, notes, and ``plasma``:
    which compartment is the plasma (sampling) compartment of each species.
``[covariates]``
    extra covariates the model uses besides WT, AGE, FEMALE (name → {description, default}).
``[parameters.NAME]``
    see :mod:`pkpd.parameters`.
``[[covariances]]``
    ``between = [A, B]`` with ``value`` (eta covariance) or ``correlation``: the omega block.
``[derived]``
    ``name = "expression"`` over parameters in internal units (mg, L, h).
``[compartments.NAME]``
    ``species`` (ketamine, norketamine, hydroxynorketamine) and ``volume``
    (a parameter or derived name; depots have none).
``[[flows]]``
    ``between = [A, B]`` with ``clearance`` (both directions), or ``from``
    (and optional ``to``; no ``to`` means elimination) with ``rate`` (1/h) or
    ``clearance`` (L/h).  A flow to another species converts the amount by the
    molar masses; ``fraction`` is the formation fraction (default 1; the rest is
    eliminated).
``[[routes.ROUTE]]``
    one table per absorption path of a route: ``target`` compartment,
    ``fraction`` (of the dose; may use ``spray``, the 1-based spray number),
    optional ``depot`` + ``ka`` (first-order absorption), ``release``
    (zero-order release duration) and ``lag``.

How to add a model: write a file with these sections; ``pkpd models show NAME``
prints it back; add a test that checks it against the published numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pkpd import expr
from pkpd.errors import Collector, PkpdError
from pkpd.models.common import checked_expression, parse_common, text_field
from pkpd.models.parameters import Parameter, ParameterSet
from pkpd.models.nonlinear import parse_nonlinear
from pkpd.models.routes import ROUTES
from pkpd.models.common import SPECIES


@dataclass(frozen=True)
class Compartment:
    name: str
    species: str
    volume: str | None = None  # parameter/derived name (L); None for a depot
    description: str = ""


@dataclass(frozen=True)
class Flow:
    """A first-order transfer: ``rate`` (1/h, expression) out of ``source``.

    ``dest`` None means elimination.  The destination gains
    ``rate · fraction · M(dest species)/M(source species)`` per unit amount in ``source``.
    """

    source: str
    dest: str | None
    rate: expr.Expression
    fraction: expr.Expression | None = None


@dataclass(frozen=True)
class AbsorptionPath:
    """One absorption path of a route."""

    target: str
    fraction: expr.Expression
    depot: str | None = None
    ka: expr.Expression | None = None
    release: expr.Expression | None = None  # zero-order release duration, h
    lag: expr.Expression | None = None  # h


@dataclass(frozen=True)
class Model:
    """A checked PK model.  Use :func:`load_model` to make one."""

    name: str
    meta: dict
    params: ParameterSet
    compartments: tuple[Compartment, ...]
    flows: tuple[Flow, ...]
    routes: dict[str, tuple[AbsorptionPath, ...]]
    plasma: dict[str, str]
    source_text: str = ""
    path: str = ""
    index: dict[str, int] = field(default_factory=dict)
    nonlinear: object = None  # nlmodel.NonlinearSpec

    @property
    def drug(self) -> str:
        return self.meta["drug"]

    @property
    def species(self) -> tuple[str, ...]:
        return tuple(s for s in SPECIES if s in self.plasma)

    @property
    def parameters(self) -> dict[str, Parameter]:
        return self.params.parameters

    def assumptions(self) -> list[Parameter]:
        return [p for p in self.parameters.values() if p.is_assumption]

    def supports(self, route: str) -> bool:
        return route in self.routes


def parse_model(data: dict, text: str = "", path: str = "<memory>") -> Model:
    """Check a parsed PK model document; raise every problem found at once."""
    col = Collector(path)
    if not isinstance(data, dict):
        col.add("a model file must be a TOML table")
        col.raise_if_any()
    unknown = set(data) - {"model", "covariates", "parameters", "covariances", "derived", "compartments", "flows",
                           "routes", "states"}
    for k in sorted(unknown):
        col.add(f"unknown section [{k}]", k)
    meta, pset, names = parse_common(data, col, "pk", extra_names={"spray"})
    params = pset.parameters

    def expression(v, f, required=True):
        return checked_expression(v, f, names, col, required)

    # compartments
    comps: list[Compartment] = []
    ctbl = data.get("compartments")
    if not isinstance(ctbl, dict) or not ctbl:
        col.add("missing [compartments] (at least one)", "compartments")
        ctbl = {}
    for cname, spec in ctbl.items():
        f = f"compartments.{cname}"
        if not isinstance(spec, dict):
            col.add("must be a table with 'species' (and 'volume' unless it is a depot)", f)
            continue
        for k in sorted(set(spec) - {"species", "volume", "description"}):
            col.add(f"unknown key '{k}'", f"{f}.{k}")
        sp = text_field(col, spec, "species", f, choices=SPECIES)
        vol = spec.get("volume")
        if vol is not None and (not isinstance(vol, str) or vol not in names):
            col.add(f"'volume' must name a parameter or derived value (got {vol!r})", f"{f}.volume")
            vol = None
        elif vol is not None and vol in params and params[vol].kind != "volume":
            col.add(f"'volume' names {vol!r}, which has unit {params[vol].unit!r}, not a volume", f"{f}.volume")
        comps.append(Compartment(cname, sp, vol, str(spec.get("description", ""))))
    cidx = {c.name: i for i, c in enumerate(comps)}
    cmap = {c.name: c for c in comps}

    def cmt(v, f, required=True):
        if v is None and not required:
            return None
        if not isinstance(v, str) or v not in cidx:
            col.add(f"must name a compartment ({', '.join(cidx)}), got {v!r}", f)
            return None
        return v

    def rate_from_clearance(cl, c, f):
        if c is None:
            return None
        vol = cmap[c].volume
        if vol is None:
            col.add(f"a clearance needs a volume on compartment {c!r}", f)
            return None
        if isinstance(cl, str) and cl in params and params[cl].kind not in ("clearance",):
            col.add(f"{cl!r} has unit {params[cl].unit!r}, not a clearance (volume/time)", f)
        return expression(f"({cl}) / ({vol})", f)

    flows: list[Flow] = []
    ftbl = data.get("flows", [])
    if not isinstance(ftbl, list):
        col.add("must be an array of tables [[flows]]", "flows")
        ftbl = []
    for i, spec in enumerate(ftbl):
        f = f"flows[{i}]"
        if not isinstance(spec, dict):
            col.add("must be a table", f)
            continue
        if "vmax" in spec or "km" in spec:
            continue  # a Michaelis–Menten flow: see nlmodel
        for k in sorted(set(spec) - {"between", "from", "to", "rate", "clearance", "fraction", "description"}):
            col.add(f"unknown key '{k}'", f"{f}.{k}")
        if "between" in spec:
            pair = spec["between"]
            if not (isinstance(pair, list) and len(pair) == 2) or "from" in spec or "to" in spec:
                col.add("'between' takes two compartments and excludes from/to", f"{f}.between")
                continue
            if "clearance" not in spec or "rate" in spec:
                col.add("a 'between' flow needs an intercompartmental 'clearance'", f)
                continue
            a, b = cmt(pair[0], f"{f}.between"), cmt(pair[1], f"{f}.between")
            if a and b:
                if cmap[a].species != cmap[b].species:
                    col.add("'between' joins compartments of the same species", f"{f}.between")
                    continue
                for s, d in ((a, b), (b, a)):
                    r = rate_from_clearance(spec["clearance"], s, f"{f}.clearance")
                    if r is not None:
                        flows.append(Flow(s, d, r))
            continue
        s = cmt(spec.get("from"), f"{f}.from")
        d = cmt(spec.get("to"), f"{f}.to", required=False)
        if ("rate" in spec) == ("clearance" in spec):
            col.add("give exactly one of 'rate' (1/h) or 'clearance' (L/h)", f)
            continue
        if "rate" in spec:
            r = expression(spec["rate"], f"{f}.rate")
            if isinstance(spec["rate"], str) and spec["rate"] in params and params[spec["rate"]].kind != "rate_constant":
                col.add(f"{spec['rate']!r} has unit {params[spec['rate']].unit!r}, not a rate constant (1/time)",
                        f"{f}.rate")
        else:
            r = rate_from_clearance(spec["clearance"], s, f"{f}.clearance")
        frac = expression(spec.get("fraction"), f"{f}.fraction", required=False)
        if frac is not None and d is None:
            col.add("'fraction' is for formation into a 'to' compartment", f"{f}.fraction")
        if s and d and s == d:
            col.add("a flow cannot go from a compartment to itself", f)
        if s and r is not None:
            flows.append(Flow(s, d, r, frac))

    # routes
    routes: dict[str, tuple[AbsorptionPath, ...]] = {}
    rtbl = data.get("routes")
    if not isinstance(rtbl, dict) or not rtbl:
        col.add("missing [[routes.ROUTE]] (at least one route)", "routes")
        rtbl = {}
    for rname, plist in rtbl.items():
        f = f"routes.{rname}"
        if rname not in ROUTES:
            col.add(f"unknown route (known: {', '.join(ROUTES)})", f)
            continue
        if isinstance(plist, dict):
            plist = [plist]
        if not isinstance(plist, list) or not plist:
            col.add("must be one or more tables [[routes.ROUTE]]", f)
            continue
        paths = []
        for j, spec in enumerate(plist):
            fj = f"{f}[{j}]"
            if not isinstance(spec, dict):
                col.add("must be a table", fj)
                continue
            for k in sorted(set(spec) - {"target", "fraction", "depot", "ka", "release", "lag", "description"}):
                col.add(f"unknown key '{k}'", f"{fj}.{k}")
            t = cmt(spec.get("target"), f"{fj}.target")
            dep = cmt(spec.get("depot"), f"{fj}.depot", required=False)
            ka = expression(spec.get("ka"), f"{fj}.ka", required=dep is not None)
            if ka is not None and dep is None:
                col.add("'ka' needs a 'depot'", f"{fj}.ka")
            if dep is not None and cmap[dep].volume is not None:
                pass  # a depot may carry a volume; harmless
            frac = expression(spec.get("fraction", 1.0), f"{fj}.fraction")
            rel = expression(spec.get("release"), f"{fj}.release", required=False)
            lag = expression(spec.get("lag"), f"{fj}.lag", required=False)
            if rname == "iv" and (dep or rel or lag):
                col.add("the iv route goes straight into its target (no depot, release or lag)", fj)
            if t and frac is not None:
                paths.append(AbsorptionPath(t, frac, dep, ka, rel, lag))
                if dep and ka is not None:
                    flows.append(Flow(dep, t, ka))
        routes[rname] = tuple(paths)

    plasma = meta.get("plasma") if isinstance(meta, dict) else None
    if not isinstance(plasma, dict) or "ketamine" not in plasma:
        col.add("'plasma' must map each species to its plasma compartment, e.g. { ketamine = \"central\" }",
                "model.plasma")
        plasma = {}
    else:
        for sp, c in plasma.items():
            if sp not in SPECIES:
                col.add(f"unknown species {sp!r}", f"model.plasma.{sp}")
            elif cmt(c, f"model.plasma.{sp}") and (cmap[c].species != sp or cmap[c].volume is None):
                col.add(f"{c!r} must be a {sp} compartment with a volume", f"model.plasma.{sp}")
    # every compartment volume referenced must exist
    for c in comps:
        if c.name in {p.depot for ps in routes.values() for p in ps}:
            continue
        if c.volume is None and c.name in plasma.values():
            col.add("a plasma compartment needs a volume", f"compartments.{c.name}.volume")
    nl = parse_nonlinear(data, col, names, comps, text)
    col.raise_if_any()
    m = Model(name=meta["name"], meta=meta, params=pset, compartments=tuple(comps), flows=tuple(flows),
              routes=routes, plasma=dict(plasma), source_text=text, path=path, index=cidx, nonlinear=nl)
    _check_values(m, col)
    col.raise_if_any()
    return m


def _check_values(m: Model, col: Collector) -> None:
    """Evaluate the typical subject once: every rate, volume and fraction must be sane."""
    import numpy as np
    try:
        v = m.params.individual()
    except PkpdError as e:
        col.catch(e)
        return
    nl = m.nonlinear
    if nl is not None and nl.active:
        # right-hand sides at the typical values, 1 mg everywhere, states at their start: a division
        # by a parameter that is zero (or any other non-finite value) is refused here, not mid-run
        env = {**v, **{f"A_{c.name}": np.ones(1) for c in m.compartments}, "t": np.zeros(1)}
        env.update({s.name: np.broadcast_to(s.initial({**env, **{x.name: np.zeros(1) for x in nl.states}}), (1,))
                    for s in nl.states})
        for what, e in [(f"states.{s.name}.rhs", s.rhs) for s in nl.states] + \
                       [(f"flows ({f.source} → {f.dest or 'elimination'})", f.rate) for f in nl.mm_flows]:
            with np.errstate(all="ignore"):
                val = np.asarray(e(env), dtype=float)
            if not np.all(np.isfinite(val)):
                col.add(f"{e.text!r} is not finite at the typical parameter values (division by zero?)", what)
    for c in m.compartments:
        if c.volume and not (np.all(v[c.volume] > 0) and np.all(np.isfinite(v[c.volume]))):
            col.add(f"volume {c.volume} evaluates to {v[c.volume][0]:g} L; must be > 0",
                    f"compartments.{c.name}.volume")
    for i, fl in enumerate(m.flows):
        r = fl.rate(v)
        if not np.all(np.isfinite(r)) or np.any(r < 0):
            col.add(f"rate {fl.rate.text!r} evaluates to {np.ravel(r)[0]:g} 1/h; must be finite and ≥ 0",
                    f"flows ({fl.source} → {fl.dest or 'elimination'})")
        if fl.fraction is not None:
            fr = fl.fraction(v)
            if np.any(fr < 0) or np.any(fr > 1):
                col.add(f"formation fraction {fl.fraction.text!r} = {np.ravel(fr)[0]:g}; must be in [0, 1]",
                        f"flows ({fl.source} → {fl.dest})")
    for r, paths in m.routes.items():
        for j, p in enumerate(paths):
            for spray in (1, 2):
                vv = m.params.for_spray(v, spray)
                fr = p.fraction(vv)
                if not np.all(np.isfinite(fr)) or np.any(fr < 0) or np.any(fr > 1.5):
                    col.add(f"fraction evaluates to {np.ravel(fr)[0]:g}; must be in [0, 1.5]",
                            f"routes.{r}[{j}].fraction")
                    break
            for key in ("ka", "release", "lag"):
                e = getattr(p, key)
                if e is not None:
                    x = e(v)
                    if not np.all(np.isfinite(x)) or np.any(x < 0) or (key == "ka" and np.any(x <= 0)):
                        col.add(f"evaluates to {np.ravel(x)[0]:g}; must be finite and {'> 0' if key == 'ka' else '≥ 0'}",
                                f"routes.{r}[{j}].{key}")

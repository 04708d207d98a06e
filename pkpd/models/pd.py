"""PD model files: effect compartments and readouts (Emax, linear) on top of a PK model.

A PD file has ``kind = "pd"`` in ``[model]``, the same ``[parameters]`` and
``[derived]`` tables as a PK file, and:

``[effects.NAME]``
    an effect compartment on the plasma of ``species``, with ``ke0`` (1/h)
    or ``half_life`` (t½ke0); the solver advances it exactly with the PK states.
``[[readouts]]``
    ``name``, ``category`` (``analgesia``, ``psychotomimetic`` or ``other``), a
    ``unit``, and either ``type = "sigmoid_emax"`` (E0 + Emax·C^γ/(C50^γ + C^γ) on
    the ``effect`` compartment, optional ``antagonist`` = { effect, C100 } raising
    C50 × (1 + Ce,ant/C100)) or ``type = "linear"`` (E0 + Σ slope·Ce over
    ``slopes = { EFFECT = "param", … }``, e.g. ketamine and norketamine with
    opposite signs).  ``direction`` says whether larger values mean more
    effect (``increase``, default) or less (``decrease``, e.g. a pain-score change).
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
from pkpd import expr
from pkpd.errors import Collector
from pkpd.models.common import SPECIES
from pkpd.models.common import checked_expression, parse_common, text_field as _s
from pkpd.models.parameters import ParameterSet
from pkpd.models.nonlinear import ExtraState


@dataclass(frozen=True)
class EffectLink:
    """An effect compartment: ``dCe/dt = ke0 (Cp − Ce)`` on the plasma of ``species``."""

    name: str
    species: str
    ke0: np.ndarray  # 1/h, shape (n,)


CATEGORIES = ("analgesia", "psychotomimetic", "other")


@dataclass(frozen=True)
class Effect:
    name: str
    species: str
    ke0: expr.Expression  # 1/h


@dataclass(frozen=True)
class Readout:
    name: str
    category: str
    type: str
    effect: str
    params: dict  # role → Expression (C50, gamma, Emax, E0, slope)
    antagonist: tuple[str, expr.Expression] | None = None
    unit: str = "1"
    description: str = ""
    slopes: tuple[tuple[str, expr.Expression], ...] = ()
    direction: str = "increase"
    c50_scale: expr.Expression | None = None  # time-varying C50 multiplier (e.g. "1 + T", tolerance)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Effect compartments this readout needs."""
        extra = tuple(e for e, _ in self.slopes) + ((self.antagonist[0],) if self.antagonist else ())
        return tuple(dict.fromkeys((self.effect,) + extra))


@dataclass(frozen=True)
class PDModel:
    name: str
    meta: dict
    params: ParameterSet
    effects: tuple[Effect, ...]
    readouts: tuple[Readout, ...]
    source_text: str = ""
    path: str = ""
    states: tuple = ()  # nlmodel.ExtraState: PD states (tolerance, turnover) with their own ODEs

    @property
    def drug(self) -> str:
        return self.meta["drug"]

    @property
    def parameters(self):
        return self.params.parameters

    def assumptions(self):
        return [p for p in self.parameters.values() if p.is_assumption]

    def effect_name(self, effect: str) -> str:
        """Dataset variable name of an effect-site concentration."""
        return f"ce_{self.name}_{effect}"

    def links(self, values: dict[str, np.ndarray], species: tuple[str, ...]) -> list[EffectLink]:
        """Effect compartments for a PK model that has ``species``; the others are skipped."""
        return [EffectLink(self.effect_name(e.name), e.species, np.broadcast_to(e.ke0(values), (len(values["WT"]),)))
                for e in self.effects if e.species in species]

    def evaluate(self, readout: Readout, values: dict[str, np.ndarray], ce: dict[str, np.ndarray],
                 states: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Readout value from effect-site concentrations ``ce`` (effect name → mg/L array) and,
        for a readout with ``c50_scale``, this model's state trajectories ``states``.

        ``values`` are arrays ``(n,)``; ``ce`` and ``states`` arrays ``(n, ..., n_times)``.
        """
        c = ce[readout.effect]
        shape = (-1,) + (1,) * (c.ndim - 1)
        n = len(values["WT"])
        col = lambda e: np.reshape(np.broadcast_to(e(values), (n,)), shape)
        p = {k: col(e) for k, e in readout.params.items()}
        if readout.c50_scale is not None:
            env = {k: np.reshape(np.broadcast_to(v, (n,)), shape) for k, v in values.items()}
            env.update({f"Ce_{k}": v for k, v in ce.items()})
            env.update(states or {})
            p["C50"] = p["C50"] * np.asarray(readout.c50_scale(env))
        e0 = p.get("E0", 0.0)
        if readout.type == "linear":
            return e0 + sum(col(sl) * ce[eff] for eff, sl in readout.slopes)
        c50 = p["C50"]
        if readout.antagonist is not None:
            ant, c100 = readout.antagonist
            c50 = c50 * (1.0 + np.maximum(ce[ant], 0.0) / col(c100))
        g = p.get("gamma", 1.0)
        cpos = np.maximum(c, 0.0)
        if np.all(g == 2.0):  # the common assumed Hill coefficient: a square is far cheaper than pow
            cg, c50g = cpos * cpos, c50 * c50
        else:
            cg, c50g = np.power(cpos, g), np.power(c50, g)
        return e0 + p.get("Emax", 1.0) * cg / (c50g + cg)


def parse_pd_model(data: dict, text: str = "", path: str = "<memory>") -> PDModel:
    col = Collector(path)
    for k in sorted(set(data) - {"model", "covariates", "parameters", "covariances", "derived", "effects",
                                 "readouts", "states"}):
        col.add(f"unknown section [{k}]", k)
    meta, pset, names = parse_common(data, col, "pd")
    stbl = data.get("states", {}) if isinstance(data.get("states", {}), dict) else {}
    etbl0 = data.get("effects", {}) if isinstance(data.get("effects", {}), dict) else {}
    state_names = {k for k in stbl if isinstance(k, str) and k.isidentifier()}
    dyn_names = names | state_names | {f"Ce_{e}" for e in etbl0} | {"t"}

    def expression(v, f):
        return checked_expression(v, f, names, col)

    effects = []
    etbl = data.get("effects", {})
    if not isinstance(etbl, dict):
        col.add("must be a table of effect compartments", "effects")
        etbl = {}
    for ename, spec in etbl.items():
        f = f"effects.{ename}"
        if not isinstance(spec, dict):
            col.add("must be a table with species and ke0 or half_life", f)
            continue
        sp = _s(col, spec, "species", f, choices=SPECIES)
        if ("ke0" in spec) == ("half_life" in spec):
            col.add("give exactly one of 'ke0' (1/time) or 'half_life' (t½ke0)", f)
            continue
        e = expression(spec["ke0"] if "ke0" in spec else f"log(2) / ({spec['half_life']})", f)
        if e is not None:
            effects.append(Effect(ename, sp, e))
    enames = {e.name for e in effects}
    readouts = []
    rlist = data.get("readouts", [])
    if not isinstance(rlist, list):
        col.add("must be an array of tables [[readouts]]", "readouts")
        rlist = []
    roles = {"sigmoid_emax": ({"C50"}, {"gamma", "Emax", "E0"}), "linear": (set(), {"E0"})}
    for i, spec in enumerate(rlist):
        f = f"readouts[{i}]"
        if not isinstance(spec, dict):
            col.add("must be a table", f)
            continue
        name = _s(col, spec, "name", f)
        cat = _s(col, spec, "category", f, choices=CATEGORIES)
        typ = _s(col, spec, "type", f, choices=tuple(roles))
        direction = spec.get("direction", "increase")
        if direction not in ("increase", "decrease"):
            col.add("must be 'increase' or 'decrease'", f"{f}.direction")
        if typ not in roles:
            continue
        need, opt = roles[typ]
        ps = {}
        for role in need | opt:
            if role in spec:
                e = expression(spec[role], f"{f}.{role}")
                if e is not None:
                    ps[role] = e
            elif role in need:
                col.add(f"a {typ} readout needs '{role}'", f"{f}.{role}")
        for k in sorted(set(spec) - need - opt - {"name", "category", "type", "effect", "antagonist", "unit",
                                                   "description", "slopes", "direction", "c50_scale"}):
            col.add(f"unknown key '{k}'", f"{f}.{k}")
        slopes = []
        if typ == "linear":
            sl = spec.get("slopes")
            if not isinstance(sl, dict) or not sl:
                col.add("a linear readout needs 'slopes' = { EFFECT = \"param\", … }", f"{f}.slopes")
                continue
            for eff_name, sv in sl.items():
                if eff_name not in enames:
                    col.add(f"unknown effect compartment {eff_name!r}", f"{f}.slopes.{eff_name}")
                    continue
                e = expression(sv, f"{f}.slopes.{eff_name}")
                if e is not None:
                    slopes.append((eff_name, e))
            eff = spec.get("effect", next(iter(sl)))
        else:
            eff = spec.get("effect")
        if not isinstance(eff, str) or eff not in enames:
            eff = None
            col.add(f"'effect' must name an effect compartment ({', '.join(enames) or 'none defined'})", f"{f}.effect")
        ant = None
        if "antagonist" in spec:
            a = spec["antagonist"]
            if typ != "sigmoid_emax" or not (isinstance(a, dict) and isinstance(a.get("effect"), str)
                                             and a.get("effect") in enames and "C100" in a):
                col.add("'antagonist' must be { effect = NAME, C100 = PARAM } on a sigmoid_emax readout",
                        f"{f}.antagonist")
            else:
                c100 = expression(a["C100"], f"{f}.antagonist.C100")
                ant = (a["effect"], c100) if c100 is not None else None
        scale = None
        if "c50_scale" in spec:
            if typ != "sigmoid_emax":
                col.add("'c50_scale' is for sigmoid_emax readouts", f"{f}.c50_scale")
            else:
                scale = checked_expression(spec["c50_scale"], f"{f}.c50_scale", dyn_names, col)
        if name and cat and eff in enames:
            readouts.append(Readout(name, cat, typ, eff, ps, ant, str(spec.get("unit", "1")),
                                    str(spec.get("description", "")), tuple(slopes), direction, scale))
    pd_states = []
    for sname, sspec in stbl.items():
        f = f"states.{sname}"
        if not isinstance(sspec, dict) or sname not in state_names or sname in names:
            col.add("must be a table with 'rhs' (and 'initial', 'unit'); the name must be new", f)
            continue
        for k in sorted(set(sspec) - {"rhs", "initial", "unit", "description"}):
            col.add(f"unknown key '{k}'", f"{f}.{k}")
        rhs = checked_expression(sspec.get("rhs"), f"{f}.rhs", dyn_names, col)
        ini = checked_expression(sspec.get("initial", 0.0), f"{f}.initial", dyn_names, col)
        if rhs is not None and ini is not None:
            pd_states.append(ExtraState(sname, rhs, ini, str(sspec.get("unit", "1"))))
    col.raise_if_any()
    m = PDModel(meta["name"], meta, pset, tuple(effects), tuple(readouts), text, path, tuple(pd_states))
    v = pset.individual()
    for e in m.effects:
        k = e.ke0(v)
        if not np.all(np.isfinite(k)) or np.any(k <= 0):
            col.add(f"ke0 evaluates to {np.ravel(k)[0]:g} 1/h; must be > 0", f"effects.{e.name}")
    col.raise_if_any()
    return m

"""From a model and individual parameters to the linear system ``dx/dt = K x + b``.

States are the model's compartments (amounts, mg) followed by effect-site
compartments (concentrations, mg/L).  Outputs are rows of ``W`` so the solver
can form only what is reported: total amount per species, plasma
concentration per species, and each effect-site concentration.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import units
from .model import Model


@dataclass(frozen=True)
class EffectLink:
    """An effect compartment: ``dCe/dt = ke0 (Cp − Ce)`` on the plasma of ``species``."""

    name: str
    species: str
    ke0: np.ndarray  # 1/h, shape (n,)


@dataclass(frozen=True)
class Output:
    name: str  # e.g. ketamine_plasma
    species: str
    quantity: str  # amount | plasma | effect
    long_name: str


@dataclass(frozen=True)
class NonlinearPart:
    """Nonlinear terms for :func:`pkpd.nonlinear.solve_nonlinear` (see there)."""

    pars: np.ndarray  # (n, P)
    tgt: np.ndarray  # (T,)
    coef: np.ndarray  # (n, T)
    ops: np.ndarray
    off: np.ndarray
    consts: np.ndarray
    y0: np.ndarray  # (n, n_states)
    method: int
    rtol: float
    atol: float


@dataclass(frozen=True)
class System:
    K: np.ndarray  # (n, n_states, n_states), 1/h
    W: np.ndarray  # (n, n_out, n_states)
    states: tuple[str, ...]
    outputs: tuple[Output, ...]
    nonlinear: NonlinearPart | None = None


def build_system(model: Model, values: dict[str, np.ndarray], effects: list[EffectLink] | tuple = ()) -> System:
    """Assemble ``K`` and ``W`` for every subject (vectorised over subjects)."""
    n = len(next(iter(values.values())))
    nc = len(model.compartments)
    nl = model.nonlinear if model.nonlinear is not None and model.nonlinear.active else None
    n_extra = len(nl.states) if nl else 0
    ns = nc + len(effects) + n_extra
    K = np.zeros((n, ns, ns))
    idx = model.index
    for fl in model.flows:
        s = idx[fl.source]
        k = np.broadcast_to(fl.rate(values), (n,))
        K[:, s, s] -= k
        if fl.dest is not None:
            d = idx[fl.dest]
            mw = (units.MOLAR_MASS[model.compartments[d].species]
                  / units.MOLAR_MASS[model.compartments[s].species])
            frac = np.broadcast_to(fl.fraction(values), (n,)) if fl.fraction is not None else 1.0
            K[:, d, s] += k * frac * mw
    depots = {p.depot for paths in model.routes.values() for p in paths if p.depot}
    outputs: list[Output] = []
    rows: list[np.ndarray] = []
    for sp in model.species:
        r = np.zeros((n, ns))
        for i, c in enumerate(model.compartments):
            if c.species == sp and c.name not in depots:
                r[:, i] = 1.0
        rows.append(r)
        outputs.append(Output(f"{sp}_amount", sp, "amount", f"{sp} amount in the body (outside absorption depots)"))
        p = idx[model.plasma[sp]]
        r = np.zeros((n, ns))
        r[:, p] = 1.0 / values[model.compartments[p].volume]
        rows.append(r)
        outputs.append(Output(f"{sp}_plasma", sp, "plasma",
                              f"{sp} plasma concentration ({model.meta.get('sampling', '')})"))
    for j, eff in enumerate(effects):
        e = nc + j
        p = idx[model.plasma[eff.species]]
        vol = values[model.compartments[p].volume]
        K[:, e, p] += eff.ke0 / vol
        K[:, e, e] -= eff.ke0
        r = np.zeros((n, ns))
        r[:, e] = 1.0
        rows.append(r)
        outputs.append(Output(eff.name, eff.species, "effect", f"{eff.species} effect-site concentration ({eff.name})"))
    for j, st in enumerate(nl.states if nl else ()):
        r = np.zeros((n, ns))
        r[:, nc + len(effects) + j] = 1.0
        rows.append(r)
        outputs.append(Output(st.name, "", "state", f"state {st.name} ({st.unit})"))
    W = np.stack(rows, axis=1) if rows else np.zeros((n, 0, ns))
    states = (tuple(c.name for c in model.compartments) + tuple(e.name for e in effects)
              + tuple(s.name for s in (nl.states if nl else ())))
    part = _nonlinear_part(model, values, nl, nc, len(effects), ns, n) if nl else None
    return System(K, W, states, tuple(outputs), part)


def _nonlinear_part(model, values, nl, nc, n_eff, ns, n) -> NonlinearPart:
    from .bytecode import compile_expression, pack
    pnames = sorted(values)
    index = {k: i for i, k in enumerate(pnames)}
    P = len(pnames)
    for i, c in enumerate(model.compartments):
        index[f"A_{c.name}"] = P + i
    for j, st in enumerate(nl.states):
        index[st.name] = P + nc + n_eff + j
    index["t"] = P + ns
    pars = np.ascontiguousarray(np.stack([np.broadcast_to(values[k], (n,)) for k in pnames], axis=1))
    progs, tgt, coef = [], [], []
    idx = model.index
    for fl in nl.mm_flows:
        prog = compile_expression(fl.rate, index, f"flows ({fl.source} → {fl.dest or 'elimination'})")
        progs.append(prog)
        tgt.append(idx[fl.source])
        coef.append(np.full(n, -1.0))
        if fl.dest is not None:
            mw = (units.MOLAR_MASS[model.compartments[idx[fl.dest]].species]
                  / units.MOLAR_MASS[model.compartments[idx[fl.source]].species])
            frac = np.broadcast_to(fl.fraction(values), (n,)) if fl.fraction is not None else np.ones(n)
            progs.append(prog)
            tgt.append(idx[fl.dest])
            coef.append(frac * mw)
    y0 = np.zeros((n, ns))
    env = {**values, **{f"A_{c.name}": np.zeros(n) for c in model.compartments},
           **{s.name: np.zeros(n) for s in nl.states}, "t": np.zeros(n)}
    for j, st in enumerate(nl.states):
        progs.append(compile_expression(st.rhs, index, f"states.{st.name}.rhs"))
        tgt.append(nc + n_eff + j)
        coef.append(np.ones(n))
        y0[:, nc + n_eff + j] = np.broadcast_to(st.initial(env), (n,))
    ops, off, consts = pack(progs)
    return NonlinearPart(pars, np.array(tgt, dtype=np.int64), np.ascontiguousarray(np.stack(coef, axis=1)),
                         ops, off, consts, y0, nl.method, nl.rtol, nl.atol)

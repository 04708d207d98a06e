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
class System:
    K: np.ndarray  # (n, n_states, n_states), 1/h
    W: np.ndarray  # (n, n_out, n_states)
    states: tuple[str, ...]
    outputs: tuple[Output, ...]


def build_system(model: Model, values: dict[str, np.ndarray], effects: list[EffectLink] | tuple = ()) -> System:
    """Assemble ``K`` and ``W`` for every subject (vectorised over subjects)."""
    n = len(next(iter(values.values())))
    nc = len(model.compartments)
    ns = nc + len(effects)
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
    W = np.stack(rows, axis=1) if rows else np.zeros((n, 0, ns))
    states = tuple(c.name for c in model.compartments) + tuple(e.name for e in effects)
    return System(K, W, states, tuple(outputs))

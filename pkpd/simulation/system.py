"""From a model and individual parameters to the linear system ``dx/dt = K x + b``.

States are the model's compartments (amounts, mg) followed by effect-site
compartments (concentrations, mg/L).  Outputs are rows of ``W`` so the solver
can form only what is reported: total amount per species, plasma
concentration per species, and each effect-site concentration.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
import numpy as np
from pkpd.models.mass_units import mass_ratio
from pkpd.models.pk import Model
from pkpd.solvers.bytecode import compile_expression, pack
from pkpd.solvers.dispatch import NonlinearPart
from pkpd.solvers.options import ATOL_PD_STATES, AUTO, ROSENBROCK, RTOL, SOLVERS
from pkpd.models.pd import EffectLink


@dataclass(frozen=True)
class Output:
    name: str  # e.g. ketamine_plasma
    species: str
    quantity: str  # amount | plasma | effect
    long_name: str
    pd_model: str = ""  # effect sites: the PD model they belong to


@dataclass(frozen=True)
class System:
    K: np.ndarray  # (n, n_states, n_states), 1/h
    W: np.ndarray  # (n, n_out, n_states)
    states: tuple[str, ...]
    outputs: tuple[Output, ...]
    nonlinear: NonlinearPart | None = None


def build_system(model: Model, values: dict[str, np.ndarray], effects: list[EffectLink] | tuple = (),
                 pd_parts: list | tuple = ()) -> System:
    """Assemble ``K`` and ``W`` for every subject (vectorised over subjects).

    ``pd_parts``: (PDModel, its individual values) pairs whose PD states (tolerance, turnover)
    join the system; their effect compartments must be among ``effects``.
    """
    n = len(next(iter(values.values())))
    nc = len(model.compartments)
    nl = model.nonlinear if model.nonlinear is not None and model.nonlinear.active else None
    pd_parts = [(p, v) for p, v in pd_parts if p.states and any(lk.name.startswith(f"ce_{p.name}_")
                                                                  for lk in effects)]
    n_extra = (len(nl.states) if nl else 0) + sum(len(p.states) for p, _ in pd_parts)
    ns = nc + len(effects) + n_extra
    K = np.zeros((n, ns, ns))
    idx = model.index
    for fl in model.flows:
        s = idx[fl.source]
        k = np.broadcast_to(fl.rate(values), (n,))
        K[:, s, s] -= k
        if fl.dest is not None:
            d = idx[fl.dest]
            mw = mass_ratio(model.compartments[d].species, model.compartments[s].species, fl.molar)
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
        K[:, e, p] += eff.ke0 * eff.scale / vol  # scale: plasma of another ketamine form → the PD's
        K[:, e, e] -= eff.ke0
        r = np.zeros((n, ns))
        r[:, e] = 1.0
        rows.append(r)
        outputs.append(Output(eff.name, eff.species, "effect", f"{eff.species} effect-site concentration "
                              f"({eff.pd_model or eff.name})", eff.pd_model))
    extra_names = [st.name for st in (nl.states if nl else ())]
    extra_names += [f"{p.name}_{st.name}" for p, _ in pd_parts for st in p.states]
    extra_units = [st.unit for st in (nl.states if nl else ())] + [st.unit for p, _ in pd_parts for st in p.states]
    for j, (name, unit) in enumerate(zip(extra_names, extra_units)):
        r = np.zeros((n, ns))
        r[:, nc + len(effects) + j] = 1.0
        rows.append(r)
        outputs.append(Output(name, "", "state", f"state {name} ({unit})"))
    W = np.stack(rows, axis=1) if rows else np.zeros((n, 0, ns))
    states = tuple(c.name for c in model.compartments) + tuple(e.name for e in effects) + tuple(extra_names)
    part = (_nonlinear_part(model, values, nl, nc, effects, ns, n, pd_parts)
            if (nl or pd_parts) else None)
    if part is not None:  # for messages: which model and which state a failed solve concerns
        label = " with ".join([f"model {model.name!r}"] + [f"PD {p.name!r}" for p, _ in pd_parts])
        part = replace(part, label=label, state_names=states)
    return System(K, W, states, tuple(outputs), part)


def _nonlinear_part(model, values, nl, nc, effects, ns, n, pd_parts=()) -> NonlinearPart:
    n_eff = len(effects)
    pnames = sorted(values)
    P = len(pnames)
    blocks = [np.stack([np.broadcast_to(values[k], (n,)) for k in pnames], axis=1)]
    # PD parameter blocks follow the PK ones (each PD model has its own names)
    pd_offsets = []
    for p, pv in pd_parts:
        names = sorted(pv)
        pd_offsets.append((P + sum(b.shape[1] for b in blocks[1:]), names))
        blocks.append(np.stack([np.broadcast_to(pv[k], (n,)) for k in names], axis=1))
    n_par = sum(b.shape[1] for b in blocks)
    pars = np.ascontiguousarray(np.concatenate(blocks, axis=1))
    index = {k: i for i, k in enumerate(pnames)}
    for i, c in enumerate(model.compartments):
        index[f"A_{c.name}"] = n_par + i
    j0 = nc + n_eff
    for j, st in enumerate(nl.states if nl else ()):
        index[st.name] = n_par + j0 + j
    index["t"] = n_par + ns
    progs, tgt, coef = [], [], []
    idx = model.index
    y0 = np.zeros((n, ns))
    env = {**values, **{f"A_{c.name}": np.zeros(n) for c in model.compartments}, "t": np.zeros(n)}
    if nl:
        env.update({s.name: np.zeros(n) for s in nl.states})
        for fl in nl.mm_flows:
            prog = compile_expression(fl.rate, index, f"flows ({fl.source} → {fl.dest or 'elimination'})")
            progs.append(prog)
            tgt.append(idx[fl.source])
            coef.append(np.full(n, -1.0))
            if fl.dest is not None:
                mw = mass_ratio(model.compartments[idx[fl.dest]].species,
                                model.compartments[idx[fl.source]].species, fl.molar)
                frac = np.broadcast_to(fl.fraction(values), (n,)) if fl.fraction is not None else np.ones(n)
                progs.append(prog)
                tgt.append(idx[fl.dest])
                coef.append(frac * mw)
        for j, st in enumerate(nl.states):
            progs.append(compile_expression(st.rhs, index, f"states.{st.name}.rhs"))
            tgt.append(j0 + j)
            coef.append(np.ones(n))
            y0[:, j0 + j] = np.broadcast_to(st.initial(env), (n,))
        j0 += len(nl.states)
    eff_index = {lk.name: nc + i for i, lk in enumerate(effects)}
    for (p, pv), (off, names) in zip(pd_parts, pd_offsets):
        pidx = {k: off + i for i, k in enumerate(names)}
        for e in p.effects:
            if p.effect_name(e.name) in eff_index:
                pidx[f"Ce_{e.name}"] = n_par + eff_index[p.effect_name(e.name)]
        for j, st in enumerate(p.states):
            pidx[st.name] = n_par + j0 + j
        pidx["t"] = n_par + ns
        penv = {**pv, **{f"Ce_{e.name}": np.zeros(n) for e in p.effects}, **{s.name: np.zeros(n) for s in p.states},
                "t": np.zeros(n)}
        for j, st in enumerate(p.states):
            progs.append(compile_expression(st.rhs, pidx, f"{p.name}: states.{st.name}.rhs"))
            tgt.append(j0 + j)
            coef.append(np.ones(n))
            y0[:, j0 + j] = np.broadcast_to(st.initial(penv), (n,))
        j0 += len(p.states)
    ops, off_, consts = pack(progs)
    method = nl.method if nl else pd_method([p.meta.get("solver", "auto") for p, _ in pd_parts])
    rtol = nl.rtol if nl else RTOL
    atol = nl.atol if nl else ATOL_PD_STATES
    return NonlinearPart(pars, np.array(tgt, dtype=np.int64), np.ascontiguousarray(np.stack(coef, axis=1)),
                         ops, off_, consts, y0, method, rtol, atol, nc + n_eff)


def pd_method(names) -> int:
    """The method for PD-only states: the stiff one if any PD file asks for it, else the first
    explicit choice, else auto."""
    codes = [SOLVERS.get(n, AUTO) for n in names]
    if ROSENBROCK in codes:
        return ROSENBROCK
    return next((c for c in codes if c != AUTO), AUTO)

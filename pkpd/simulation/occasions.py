"""Inter-occasion variability (IOV) in population runs: a new draw at every administration.

The model's ``[iov]`` terms (:mod:`pkpd.models.iov`) come in two scopes:

* **absorption** terms are redrawn at every occasion — every distinct administration time of a
  regimen (the sprays of one intranasal administration share it).  The linear system stays exact:
  each occasion ``k ≥ 1`` gets its own copy ``NAME@k`` of the absorption compartments (route
  depots and transits fed only by them) whose outflows use that occasion's parameter values, and
  the doses of occasion ``k`` go into those copies.  The values live in the individual-parameter
  dict under ``NAME@k`` (occasion 0 included);
* **disposition** terms are drawn once per subject and run (the regimen is one occasion).

Draws: occasion ``k`` of subject ``i`` takes standard normals from the stream
``(seed, block, OCCASION_PURPOSE + k)`` of :mod:`pkpd.simulation.sampling`, disposition terms from
``(seed, block, RUN_PURPOSE)``: a subject's draws depend only on the seed, its index and the
occasion number — not on chunk size or thread count — and regimens share them (common random
numbers).  Typical-subject runs have no IOV.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
import numpy as np
from pkpd import expr
from pkpd.dosing.events import Events, regimen_events
from pkpd.dosing.regimen import Regimen
from pkpd.models.iov import IOVTerm, occasion_compartments
from pkpd.models.pk import Model
from pkpd.models.pk_parts import Compartment, Flow
from pkpd.simulation.sampling import Population, _block_normals

OCCASION_PURPOSE = 1000
RUN_PURPOSE = 999
_SAME_TIME = 1e-9  # h: administrations closer than this are one occasion


def occasion_times(regimen: Regimen) -> list[float]:
    """The regimen's occasions: distinct administration times (h), sprays counted with theirs."""
    times = sorted(d.start + r * (d.every or 0.0) for d in regimen.doses for r in range(d.times))
    out: list[float] = []
    for t in times:
        if not out or t - out[-1] > _SAME_TIME * max(1.0, t):
            out.append(t)
    return out


def split_regimen(regimen: Regimen) -> list[Regimen]:
    """One regimen per occasion, holding the administrations at that time (in occasion order)."""
    occ = occasion_times(regimen)
    parts: list[list] = [[] for _ in occ]
    for d in regimen.doses:
        for r in range(d.times):
            t = d.start + r * (d.every or 0.0)
            k = int(np.argmin([abs(t - x) for x in occ]))
            parts[k].append(replace(d, start=t, times=1, every=None, steady_state=False))
    return [Regimen(f"{regimen.name}@{k}", tuple(p)) for k, p in enumerate(parts)]


class _OccasionExpression:
    """An expression evaluated with occasion ``k``'s values of the names in ``changed``."""

    def __init__(self, e: expr.Expression, k: int, changed: frozenset[str]):
        self.e, self.k, self.changed = e, k, changed
        self.text = f"{e.text} (occasion {k + 1})"
        self.names = e.names

    def __call__(self, env: dict):
        return self.e({**env, **{n: env[f"{n}@{self.k}"] for n in self.changed & self.e.names}})


def _kappa(values: np.ndarray, term: IOVTerm, z: np.ndarray) -> np.ndarray:
    """``values`` with κ = √ν² · z applied by the term's transform (log or logit)."""
    kappa = np.sqrt(term.nu2) * z
    if term.variability.transform == "logit":
        with np.errstate(divide="ignore"):
            return 1.0 / (1.0 + np.exp(-(np.log(values / (1.0 - values)) + kappa)))
    return values * np.exp(kappa)


def _dependents(model: Model, names: set[str]) -> set[str]:
    """``names`` and every derived value that uses one of them, directly or not."""
    dep, changed = set(names), True
    while changed:
        changed = False
        for k, e in model.params.derived.items():
            if k not in dep and e.names & dep:
                dep.add(k)
                changed = True
    return dep


def _with_terms(model: Model, values: dict, terms, z: np.ndarray) -> dict:
    """``values`` with the ``terms`` applied (normals ``z``, one column per term) and the derived
    values that depend on them re-evaluated."""
    out = dict(values)
    for j, t in enumerate(terms):
        out[t.name] = _kappa(values[t.name], t, z[:, j])
    dep = _dependents(model, {t.name for t in terms})
    env = {k: v for k, v in out.items() if k not in dep or k not in model.params.derived}
    n = len(next(iter(values.values())))
    new = expr.evaluate_all({k: e for k, e in model.params.derived.items() if k in dep}, env)
    out.update({k: np.broadcast_to(np.asarray(new[k], dtype=float), (n,)) for k in dep if k in model.params.derived})
    return out


@dataclass(frozen=True)
class OccasionPlan:
    """A model with per-occasion absorption compartments and the values of every occasion."""

    model: Model
    values: dict
    n_occasions: int
    changed: frozenset[str]  # names with per-occasion values (``NAME@k``)
    occ_compartments: frozenset[str]

    def events(self, regimen: Regimen, weight: np.ndarray) -> Events:
        """Event arrays of ``regimen``: occasion ``k``'s doses into occasion ``k``'s compartments."""
        evs = []
        for k, part in enumerate(split_regimen(regimen)):
            vk = {**self.values, **{n: self.values[f"{n}@{k}"] for n in self.changed}}
            routes = {r: tuple(replace(p, depot=self._at(p.depot, k), target=self._at(p.target, k)) for p in ps)
                      for r, ps in self.model.routes.items()}
            evs.append(regimen_events(replace(self.model, routes=routes), part, vk, weight))
        return _merge(evs)

    def _at(self, c: str | None, k: int) -> str | None:
        return f"{c}@{k}" if c is not None and k > 0 and c in self.occ_compartments else c


def _merge(evs: list[Events]) -> Events:
    """Several event sets of the same subjects as one, sorted by time per subject."""
    cat = lambda a: np.concatenate([getattr(e, a) for e in evs], axis=1)
    time = cat("time")
    order = np.argsort(time, axis=1, kind="stable")
    take = lambda a: np.take_along_axis(cat(a), order, axis=1)
    return Events(take("time"), take("kind"), take("cmt"), take("value"), sum(e.total_in for e in evs))


def _expanded(model: Model, occ: set[str], n_occ: int, changed: frozenset[str]) -> Model:
    """``model`` with copies ``NAME@k`` (k = 1 … n_occ − 1) of the absorption compartments; every
    flow out of one uses its occasion's values."""
    comps = list(model.compartments) + [Compartment(f"{c.name}@{k}", c.species, None, c.description)
                                        for k in range(1, n_occ) for c in model.compartments if c.name in occ]
    flows = [f for f in model.flows if f.source not in occ]
    for k in range(n_occ):
        at = lambda c: f"{c}@{k}" if k > 0 and c in occ else c
        flows += [Flow(at(f.source), at(f.dest) if f.dest else None, _OccasionExpression(f.rate, k, changed),
                       f.fraction, f.molar) for f in model.flows if f.source in occ]
    return replace(model, compartments=tuple(comps), flows=tuple(flows),
                   index={c.name: i for i, c in enumerate(comps)})


def plan_occasions(model: Model, regimens, population: Population, start: int, stop: int,
                   values: dict) -> OccasionPlan | None:
    """IOV for subjects ``start..stop``: disposition terms applied to ``values``, absorption terms
    drawn per occasion (the most occasions of any regimen).  None when the model has no IOV or
    the population has no variability."""
    if not population.iiv or not model.iov:
        return None
    disp = [t for t in model.iov if t.scope == "disposition"]
    absorb = [t for t in model.iov if t.scope == "absorption"]
    if disp:
        values = _with_terms(model, values, disp, _block_normals(population.seed, RUN_PURPOSE, start, stop, len(disp)))
    n_occ = max([len(occasion_times(r)) for r in regimens] + [1])
    changed = frozenset(_dependents(model, {t.name for t in absorb})) if absorb else frozenset()
    occ = occasion_compartments(model.compartments, model.flows, model.routes) if absorb else set()
    values = dict(values)
    for k in range(n_occ if absorb else 0):
        z = _block_normals(population.seed, OCCASION_PURPOSE + k, start, stop, len(absorb))
        vk = _with_terms(model, values, absorb, z)
        values.update({f"{n}@{k}": vk[n] for n in changed})
    m = _expanded(model, occ, n_occ, changed) if absorb else model
    return OccasionPlan(m, values, n_occ, changed, frozenset(occ))

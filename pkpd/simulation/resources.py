"""The resource estimator: memory and time of a run, known before anything is allocated.

Every run that can grow with its input — a typical-subject simulation, a population, a trade-off
sweep (a population over regimen variants), each point of a parameter sweep, a TCI profile — asks
:func:`check_estimate` first.  An estimate adds up the large arrays the run will hold (output
arrays, per-subject metrics, streaming histograms, the chunk buffer, event arrays after repeats
and sprays are expanded, full trajectories) and a time from the work it will do, and is refused
with the estimate, the part that dominates and the knob to turn when it is above the limit of
:mod:`pkpd.limits` (``memory``: 8 GiB by default, ``PKPD_MAX_MEMORY``; ``hours``: 24 h,
``PKPD_MAX_HOURS``).

The time model is deliberately simple: ``COST_STATE_TIME`` seconds per subject × regimen × state
× output time for the linear kernels (60.8 µs per subject-regimen for 10 states × 1441 times in
``benchmarks/README.md``: 4.2 ns, rounded up), ``COST_OUTPUT_TIME`` per stored or reduced value and
``COST_EVENT`` per administration path built in Python.  Nonlinear solves are bounded per subject
by the ``solver_steps`` limit instead (their step count is not known in advance).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pkpd.errors import PkpdError
from pkpd.limits import LIMITS, human_bytes, human_hours, limit
from pkpd.simulation.streaming import BINS_PER_DECADE, LINEAR_BINS, LOG_DECADES_ABOVE, LOG_DECADES_BELOW, METRICS

#: Seconds per subject × regimen × state × output time (linear kernels, one core).
COST_STATE_TIME = 5e-9
#: Seconds per subject × regimen × output × time to store or reduce a value (metrics, histograms).
COST_OUTPUT_TIME = 5e-9
#: Seconds per administration path × chunk, building event arrays in Python.
COST_EVENT = 2e-5
_F8 = 8


@dataclass(frozen=True)
class Estimate:
    """Memory (named parts, bytes) and time (s, one core) of one run, and what to change."""

    what: str
    parts: tuple[tuple[str, float], ...]
    seconds: float
    knob: str

    @property
    def bytes(self) -> float:
        return float(sum(b for _, b in self.parts))

    def largest(self) -> str:
        name, b = max(self.parts, key=lambda p: p[1])
        return f"{name}: {human_bytes(b)}"


def check_estimate(est: Estimate) -> Estimate:
    """Refuse ``est`` above the memory or time limit, saying how much, why and what to change."""
    mem, hours = limit("memory"), limit("hours")
    if est.bytes > mem:
        raise PkpdError(f"{est.what} would need about {human_bytes(est.bytes)} of memory (largest part, "
                        f"{est.largest()}); the limit is {human_bytes(mem)}: {est.knob}, or raise the limit with "
                        f"{LIMITS['memory'].env}=SIZE")
    if est.seconds / 3600 > hours:
        raise PkpdError(f"{est.what} would take about {human_hours(est.seconds / 3600)} on one core; the limit is "
                        f"{human_hours(hours)}: {est.knob}, or raise the limit with {LIMITS['hours'].env}=HOURS")
    return est


@dataclass(frozen=True)
class Shape:
    """The sizes of one PK model with its PD models attached."""

    states: int
    outputs: int  # concentrations, effect sites, PD states (no amounts)
    readouts: int
    events: int  # events per regimen row (bolus = 1, zero-order input = 2), max over regimens


def model_shape(m, pds, regimens) -> Shape:
    """Sizes of model ``m`` with ``pds`` under ``regimens`` (from the model files alone)."""
    effects = sum(1 for p in pds for e in p.effects if e.species in m.species)
    nl = m.nonlinear
    extra = (len(nl.states) if nl is not None else 0) + sum(len(p.states) for p in pds)
    readouts = sum(len(p.readouts) for p in pds)
    events = 0
    for r in regimens:
        ev = 0
        for d in r.doses:
            paths = m.routes.get(d.route, ())
            per = sum(1 if d.duration is None and p.release is None else 2 for p in paths)
            ev += d.n_administrations * per
        events = max(events, ev)
    return Shape(len(m.compartments) + effects + extra, len(m.species) + effects + extra, readouts, events)


def n_times(horizon: float, step: float, events: int) -> int:
    """Output times: the uniform grid plus (at most) every event time."""
    return int(math.floor(horizon / step + 1e-9)) + 1 + events


def typical_estimate(models, regimens, pds, horizon: float, step: float) -> Estimate:
    """A typical-subject run (:func:`pkpd.simulate`): outputs of every model × regimen × time."""
    shapes = [model_shape(m, pds, regimens) for m in models]
    T = n_times(horizon, step, sum(s.events for s in shapes))
    R, M = len(regimens), len(models)
    vars_ = max(2 * s.outputs + s.readouts + 1 for s in shapes)  # ng/mL, molar, readouts, amounts
    parts = (("solver output", sum(R * (s.outputs + 1) * T * _F8 for s in shapes)),
             ("dataset variables", 2 * M * R * vars_ * T * _F8),
             ("event arrays", sum(R * s.events * 4 * _F8 for s in shapes)))
    seconds = sum(R * T * (s.states + s.outputs) * COST_STATE_TIME + R * s.events * COST_EVENT for s in shapes)
    return Estimate("this typical-subject run", parts, seconds, "use a larger [time] step, a shorter horizon or "
                    "fewer regimens")


def population_estimate(models, regimens, pds, n: int, horizon: float, step: float, mode: str, itemsize: int,
                        chunk: int) -> Estimate:
    """A population run (:func:`pkpd.simulate_population`) of ``n`` subjects in chunks of ``chunk``."""
    shapes = [model_shape(m, pds, regimens) for m in models]
    T = n_times(horizon, step, sum(s.events for s in shapes))
    R, M = len(regimens), len(models)
    outs = max(s.outputs + s.readouts for s in shapes)
    all_outs = sum(s.outputs + s.readouts for s in shapes)  # union bound
    c = min(chunk, n)
    bins = 2 + max(int(round((LOG_DECADES_BELOW + LOG_DECADES_ABOVE) * BINS_PER_DECADE)),
                   LINEAR_BINS if any(s.readouts or s.states > s.outputs for s in shapes) else 0)
    parts = [("per-subject metrics", 2 * all_outs * M * R * n * len(METRICS) * _F8),
             ("chunk buffer", c * R * outs * T * _F8),
             ("chunk event arrays", max(c * R * s.events * 4 * _F8 for s in shapes)),
             ("covariates", 8 * n * _F8)]
    if mode == "full":
        parts.append(("full trajectories", all_outs * M * R * n * T * itemsize))
    elif mode == "streaming":
        parts.append(("percentile histograms", M * R * outs * T * bins * 4))
    chunks = math.ceil(n / c)
    seconds = sum(n * R * T * (s.states + s.outputs + s.readouts) * COST_STATE_TIME
                  + n * R * T * (s.outputs + s.readouts) * COST_OUTPUT_TIME
                  + chunks * R * s.events * COST_EVENT for s in shapes)
    knob = ("use mode = \"streaming\", fewer subjects or a larger [time] step" if mode == "full" else
            "lower [population] n or chunk, use a larger [time] step, or fewer regimens")
    return Estimate(f"this population run ({n:,} subjects × {R:,} regimens × {M} model(s) × {T:,} times)",
                    tuple(parts), seconds, knob)


def sweep_estimate(point: Estimate, points: int, params: int) -> Estimate:
    """A parameter sweep: ``points`` population runs like ``point`` (one at a time per process)."""
    parts = point.parts + (("design matrix and results", points * (params + 64) * _F8),)
    return Estimate(f"this sweep ({points:,} points × {point.what.removeprefix('this ')})", parts,
                    point.seconds * points, "use fewer points, fewer subjects per point ([sweep] n) or a larger "
                    "[time] step")


def tci_estimate(states: int, updates: int, lookahead: int, effect: bool) -> Estimate:
    """A TCI profile: ``updates`` pump updates of a ``states``-state system; effect-site targeting
    bisects over ``lookahead`` future intervals at each update."""
    parts = (("profile", updates * 4 * _F8), ("effect-site look-ahead", lookahead * (states + 1) ** 2 * _F8))
    per_update = states * states * 4e-9 + (60 * lookahead * 2e-9 + lookahead * states * 2e-9 if effect else 0.0)
    return Estimate(f"this TCI profile ({updates:,} pump updates)", parts, updates * (per_update + 2e-6),
                    "use a longer --interval or a shorter --duration")

"""What non-compartmental analysis needs to know of a subject's doses, and the dosing interval.

:class:`Dosing` holds the administration times and amounts, the route class that decides how
clearance is named (IV: CL, Vz; extravascular: CL/F, Vz/F) and whether the subject was at steady
state before the first dose.  :func:`dosing_from_regimen` builds it from a :class:`Regimen` (so from
NONMEM-style records), :func:`dosing_interval` finds τ: given, the ``II`` of a steady-state dose, or
detected as the last gap between doses when it equals the gap before it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
import numpy as np
from pkpd.dosing.regimen import Regimen
from pkpd.errors import PkpdError

#: Route classes of NCA: how the drug enters decides what clearance and volume mean.
ROUTE_KINDS = ("iv-bolus", "iv-infusion", "extravascular", "mixed", "unknown")


@dataclass(frozen=True)
class Dosing:
    """One subject's doses, as NCA sees them.

    Parameters
    ----------
    times : tuple of float
        Administration times, h, non-decreasing (the sprays of one intranasal administration are
        one administration).
    amounts : tuple of float
        Amount per administration, mg (NaN when unknown: no clearance then).
    route : str
        One of :data:`ROUTE_KINDS`.
    infusion_duration : float
        Duration of each infusion, h (``iv-infusion``).
    steady_state : bool
        At steady state before the first dose, dosing every ``tau`` (NONMEM ``SS=1``).
    tau : float or None
        Dosing interval, h, when known (given, or the ``II`` of a steady-state dose).
    """

    times: tuple[float, ...]
    amounts: tuple[float, ...]
    route: str = "unknown"
    infusion_duration: float = 0.0
    steady_state: bool = False
    tau: float | None = None

    def __post_init__(self):
        t, a = np.asarray(self.times, float), np.asarray(self.amounts, float)
        if t.ndim != 1 or t.size == 0 or t.shape != a.shape:
            raise PkpdError("NCA dosing: give one amount per dose time, at least one dose")
        if not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0):
            raise PkpdError("NCA dosing: dose times must be finite and in order")
        if np.any(a[np.isfinite(a)] <= 0) or np.any(np.isinf(a)):
            raise PkpdError("NCA dosing: dose amounts must be positive (mg)")
        if self.route not in ROUTE_KINDS:
            raise PkpdError(f"NCA dosing: route must be one of {', '.join(ROUTE_KINDS)}, got {self.route!r}")
        if not (np.isfinite(self.infusion_duration) and self.infusion_duration >= 0):
            raise PkpdError("NCA dosing: the infusion duration must be ≥ 0 h")
        if self.tau is not None and not (np.isfinite(self.tau) and self.tau > 0):
            raise PkpdError("NCA dosing: the dosing interval tau must be > 0 h")
        if self.steady_state and self.tau is None:
            raise PkpdError("NCA dosing: steady state needs the dosing interval tau")

    @classmethod
    def single(cls, amount_mg: float | None = None, *, time: float = 0.0, route: str = "unknown",
               infusion_duration: float = 0.0) -> "Dosing":
        """One dose of ``amount_mg`` mg at ``time`` h."""
        return cls((float(time),), (math.nan if amount_mg is None else float(amount_mg),), route,
                   infusion_duration)


def route_kind(routes: set[str], durations: set[float]) -> tuple[str, float]:
    """The NCA route class of a set of pkpd route keys and infusion durations (h; 0 = bolus)."""
    if len(routes) != 1:
        return "mixed", 0.0
    (route,) = routes
    if route != "iv":
        return "extravascular", 0.0
    if durations == {0.0}:
        return "iv-bolus", 0.0
    if len(durations) == 1:
        return "iv-infusion", durations.pop()
    return "mixed", 0.0


def dosing_from_regimen(reg: Regimen, weight: float = 70.0, tau: float | None = None,
                        steady_state: bool = False) -> Dosing:
    """The :class:`Dosing` of a regimen: every administration (repeats expanded, sprays of one
    administration merged into one dose of their total), the route class, and steady state (a dose
    marked steady state gives τ = its ``every``).  ``tau`` and ``steady_state`` override."""
    events: list[tuple[float, float]] = []
    for d in reg.doses:
        amt = float(d.amount_per_administration(np.array([weight]))[0]) * d.sprays
        for r in range(d.times):
            events.append((d.start + r * (d.every or 0.0), amt))
        if d.steady_state:
            steady_state, tau = True, tau if tau is not None else d.every
    events.sort()
    kind, dur = route_kind({d.route for d in reg.doses}, {float(d.duration or 0.0) for d in reg.doses})
    return Dosing(tuple(e[0] for e in events), tuple(e[1] for e in events), kind, dur, steady_state, tau)


def dosing_interval(times: np.ndarray, tau: float | None) -> tuple[float | None, str]:
    """The dosing interval τ (h) of the last dose, or None and why it cannot be told.

    ``tau`` (given) wins; otherwise the last gap between doses, provided the gap before it is the
    same (within 0.1 %) — a change of interval right before the last dose leaves τ ambiguous.
    """
    if tau is not None:
        return float(tau), ""
    gaps = np.diff(np.asarray(times, float))
    if gaps.size == 0:
        return None, "one dose: no dosing interval (give tau)"
    last = float(gaps[-1])
    if last <= 0:
        return None, "two doses at the same time: no dosing interval (give tau)"
    if gaps.size >= 2 and abs(gaps[-2] - last) > 1e-3 * last:
        return None, (f"the dosing interval changes before the last dose ({gaps[-2]:g} h, then {last:g} h): "
                      f"give tau")
    return last, ""

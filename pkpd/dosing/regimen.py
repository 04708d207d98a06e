"""Dosing regimens and the event arrays they become for one model.

A :class:`Regimen` is a named list of :class:`Dose` records (route, amount or rate,
timing, repeats, sprays).  :func:`regimen_events` turns it into per-subject event
arrays (times, compartments, amounts and rates) for the solver, given the
model's absorption paths and each subject's individual parameters.

Conventions: doses are free-base ketamine in mg (or mg/kg of body weight) of the form
``drug`` says (esketamine, racemic ketamine or arketamine; :mod:`pkpd.models.drugs`); an
intranasal ``amount`` is per spray (per device for esketamine: one 28-mg device
is one "spray" here); times are hours from the start of the simulation.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
from pkpd import units
from pkpd.errors import PkpdError, PkpdTypeError
from pkpd.limits import check_count, out_of_range
from pkpd.models.drugs import resolve_drug
from pkpd.models.routes import ROUTE_BY_KEY, infusion_routes, or_list, spray_routes


@dataclass(frozen=True)
class Dose:
    """One dosing record (repeated ``times`` times, ``every`` hours apart).

    Parameters
    ----------
    route : str
        A route key of :data:`pkpd.models.routes.ROUTE_TABLE` (``iv``, ``oral``,
        ``intranasal``, ``sublingual``, ``im``).
    amount : units.Quantity or None
        Amount per administration (per spray for a spray route), mg or mg/kg.
    rate : units.Quantity or None
        Infusion rate, mg/h or mg/kg/h (with ``duration``).
    duration : float or None
        Infusion duration, h (routes whose row has ``infusion``); None for a bolus.
    start : float
        Time of the first administration, h.
    every : float or None
        Interval between repeats, h.
    times : int
        Number of administrations.
    sprays : int
        Sprays (devices) per administration (routes whose row has ``sprays``).
    spray_interval : float
        Time between sprays, h.
    steady_state : bool
        The subject is at steady state on this dose (every ``every`` h) before its first
        administration, like NONMEM's SS=1.
    drug : str or None
        What is given: ``esketamine``/``S-ketamine``, ``racemic`` or ``arketamine``/``R-ketamine``
        (stored as the canonical name of :data:`pkpd.models.drugs.DRUGS`).  None: the form
        each PK model describes (stated with every result, :mod:`pkpd.dosing.drug_doses`).

    Raises
    ------
    PkpdError
        If not exactly one of ``amount`` and ``rate`` is given, a rate has no duration,
        the route takes no ``duration`` or no ``sprays`` > 1, a number is negative, not
        finite or zero where it must be positive, or repeats and steady state lack ``every``;
        or the drug is not one of the known words (``ketamine`` alone is ambiguous).
    """

    route: str
    amount: units.Quantity | None = None
    rate: units.Quantity | None = None
    duration: float | None = None
    start: float = 0.0
    every: float | None = None
    times: int = 1
    sprays: int = 1
    spray_interval: float = 0.0
    steady_state: bool = False  # at steady state (dosing every ``every``) before the first dose
    drug: str | None = None  # canonical name (pkpd.models.drugs.DRUGS); None: as each PK model

    def __post_init__(self):
        _check_types(self)
        if self.drug is not None:
            object.__setattr__(self, "drug", resolve_drug(self.drug, "drug"))
        if (self.amount is None) == (self.rate is None):
            raise PkpdError("give exactly one of 'amount' or 'rate'")
        if self.rate is not None and self.duration is None:
            raise PkpdError("an infusion 'rate' needs a 'duration'")
        row = ROUTE_BY_KEY.get(self.route)
        if self.duration is not None and not (row is not None and row.infusion):
            raise PkpdError(f"'duration' (an infusion) is for the {or_list(r.key for r in infusion_routes())} "
                            f"route, not {self.route!r}")
        q = self.amount if self.amount is not None else self.rate
        if not np.isfinite(q.value) or q.value < 0:
            raise PkpdError(f"dose must be finite and ≥ 0 (got {q.text or q.value})")
        if self.duration is not None and not (np.isfinite(self.duration) and self.duration > 0):
            raise PkpdError("'duration' must be > 0")
        if not (np.isfinite(self.start) and self.start >= 0):
            raise PkpdError("'start' must be ≥ 0")
        if self.times < 1:
            raise PkpdError("'times' must be ≥ 1")
        if self.times > 1 and not (self.every is not None and np.isfinite(self.every) and self.every > 0):
            raise PkpdError("repeated dosing ('times' > 1) needs 'every' > 0")
        if self.steady_state and not (self.every is not None and np.isfinite(self.every) and self.every > 0):
            raise PkpdError("steady state needs the dosing interval 'every' > 0")
        if self.steady_state and self.duration is not None and self.duration > self.every:
            raise PkpdError("steady state: an infusion cannot last longer than the dosing interval")
        if self.sprays < 1:
            raise PkpdError("'sprays' must be ≥ 1")
        if self.sprays > 1 and not (row is not None and row.sprays):
            raise PkpdError(f"'sprays' is for the {or_list(r.key for r in spray_routes())} route")
        if not (np.isfinite(self.spray_interval) and self.spray_interval >= 0):
            raise PkpdError("'spray_interval' must be ≥ 0")
        _check_dose_range(self)
        check_count("administrations", self.n_administrations, "administrations of one dose (times × sprays)",
                    "give fewer repeats or sprays")

    @property
    def n_administrations(self) -> int:
        """Administrations after repeats and sprays are expanded (``times × sprays``)."""
        return self.times * self.sprays

    def administrations(self) -> list[tuple[float, int]]:
        """Every administration (each spray counts as one).

        Returns
        -------
        list of (float, int)
            (time h, spray number from 1) in order of repeat, then spray.
        """
        out = []
        for r in range(self.times):
            t0 = self.start + r * (self.every or 0.0)
            for k in range(self.sprays):
                out.append((t0 + k * self.spray_interval, k + 1))
        return out

    def amount_per_administration(self, weight: np.ndarray) -> np.ndarray:
        """Amount per administration (per spray), mg.

        Parameters
        ----------
        weight : ndarray
            Body weights, kg (used by mg/kg doses).

        Returns
        -------
        ndarray
            mg per administration, shaped like ``weight``; an infusion gives rate × duration.
        """
        if self.amount is not None:
            return self.amount.absolute(weight) * np.ones_like(weight, dtype=float)
        return self.rate.absolute(weight) * self.duration * np.ones_like(weight, dtype=float)

    def total(self, weight: float = 70.0) -> float:
        """Total dose over all repeats and sprays.

        Parameters
        ----------
        weight : float
            Body weight, kg (used by mg/kg doses).

        Returns
        -------
        float
            Total dose, mg.
        """
        return float(self.amount_per_administration(np.array([weight]))[0]) * self.times * self.sprays

    def last_time(self) -> float:
        """Time the last administration ends (its start plus any infusion duration), h."""
        last = self.start + (self.times - 1) * (self.every or 0.0) + (self.sprays - 1) * self.spray_interval
        return last + (self.duration or 0.0)


@dataclass(frozen=True)
class Regimen:
    """A named list of doses given together.

    Parameters
    ----------
    name : str
        Label of the regimen in results and figures.
    doses : tuple of Dose
        The doses; each has its own start time (h), so their order is free.
    """

    name: str
    doses: tuple[Dose, ...]

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise PkpdTypeError(f"a regimen name must be text, got {type(self.name).__name__}")
        if isinstance(self.doses, Dose):
            object.__setattr__(self, "doses", (self.doses,))
        if not isinstance(self.doses, (tuple, list)) or not all(isinstance(d, Dose) for d in self.doses):
            raise PkpdTypeError(f"regimen {self.name!r}: 'doses' must be a sequence of Dose objects")
        object.__setattr__(self, "doses", tuple(self.doses))
        check_count("administrations", sum(d.n_administrations for d in self.doses),
                    f"administrations of regimen {self.name!r} after repeats and sprays are expanded",
                    "give fewer repeats (times, ADDL) or sprays")

    @property
    def n_administrations(self) -> int:
        """Administrations of every dose after repeats and sprays are expanded."""
        return sum(d.n_administrations for d in self.doses)

    @property
    def drugs(self) -> tuple[str | None, ...]:
        """Drugs of the doses, each once, in order of first use (None: not stated)."""
        return tuple(dict.fromkeys(d.drug for d in self.doses))

    @property
    def routes(self) -> tuple[str, ...]:
        """Route keys of the doses, each once, in order of first use."""
        return tuple(dict.fromkeys(d.route for d in self.doses))

    def total(self, weight: float = 70.0) -> float:
        """Total dose of every dose, mg, for one subject of ``weight`` kg (used by mg/kg doses)."""
        return sum(d.total(weight) for d in self.doses)


def _check_types(d: Dose) -> None:
    """Argument types of a :class:`Dose` (quantities may be given as text such as ``"28 mg"``)."""
    if not isinstance(d.route, str):
        raise PkpdTypeError(f"'route' must be text such as 'iv', got {type(d.route).__name__}")
    for key, kind in (("amount", "amount"), ("rate", "rate")):
        v = getattr(d, key)
        if isinstance(v, str) or (isinstance(v, (int, float)) and not isinstance(v, bool)):
            object.__setattr__(d, key, units.parse(v, kind, key, allow_per_kg=True))
        elif v is not None and not isinstance(v, units.Quantity):
            raise PkpdTypeError(f"'{key}' must be a quantity such as '28 mg', got {type(v).__name__}", field=key)
    for key in ("duration", "every", "start", "spray_interval"):
        v = getattr(d, key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer))):
            raise PkpdTypeError(f"'{key}' must be a number of hours, got {type(v).__name__}", field=key)
    for key in ("times", "sprays"):
        v = getattr(d, key)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise PkpdTypeError(f"'{key}' must be a whole number, got {type(v).__name__}", field=key)
    if not isinstance(d.steady_state, bool):
        raise PkpdTypeError("'steady_state' must be true or false", field="steady_state")


def _check_dose_range(d: Dose) -> None:
    """Amounts and rates no patient is given (sanity ranges of :mod:`pkpd.limits`)."""
    q = d.amount if d.amount is not None else d.rate
    kind = "dose" if d.amount is not None else "rate"
    why = out_of_range(f"{kind}_per_kg" if q.per_kg else kind, q.value)
    if why:
        raise PkpdError(f"{'dose' if kind == 'dose' else 'infusion rate'} {q.text or q.value}: {why}",
                        field="amount" if kind == "dose" else "rate")

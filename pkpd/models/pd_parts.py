"""The building blocks of a PD model: effect compartments and readouts.

Plain frozen records, checked and assembled by :func:`pkpd.models.pd.parse_pd_model` into a
:class:`pkpd.models.pd.PDModel`.  Rate constants in 1/h, concentrations in mg/L.
"""
from __future__ import annotations

from dataclasses import dataclass
from pkpd import expr


#: Readout categories: what the trade-off weighs against what.
CATEGORIES = ("analgesia", "psychotomimetic", "other")


@dataclass(frozen=True)
class Effect:
    """An effect compartment on the plasma of ``species``, equilibrating at ``ke0`` (1/h)."""

    name: str
    species: str
    ke0: expr.Expression  # 1/h


@dataclass(frozen=True)
class Readout:
    """A readout computed from effect-site concentrations (mg/L).

    ``type`` is ``sigmoid_emax`` (``params`` roles C50 (mg/L), gamma, Emax, E0 on ``effect``;
    optional ``antagonist`` = (effect, C100 expression) and time-varying ``c50_scale``) or
    ``linear`` (E0 + Σ slope·Ce over ``slopes``).  Values are in ``unit``; ``direction``
    says whether larger values mean more effect (``increase``) or less (``decrease``).
    ``minimum``/``maximum`` bound the value where the source's scale ends (a VAS cannot exceed
    its maximum): a linear readout extrapolated past them is clipped.
    """

    name: str
    category: str
    type: str
    effect: str
    params: dict[str, expr.Expression]  # role → Expression (C50, gamma, Emax, E0)
    antagonist: tuple[str, expr.Expression] | None = None
    unit: str = "1"
    description: str = ""
    slopes: tuple[tuple[str, expr.Expression], ...] = ()
    direction: str = "increase"
    c50_scale: expr.Expression | None = None  # time-varying C50 multiplier (e.g. "1 + T", tolerance)
    minimum: float | None = None  # bounds of the scale the source defines (in ``unit``); None: open
    maximum: float | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        """Effect compartments this readout needs."""
        extra = tuple(e for e, _ in self.slopes) + ((self.antagonist[0],) if self.antagonist else ())
        return tuple(dict.fromkeys((self.effect,) + extra))

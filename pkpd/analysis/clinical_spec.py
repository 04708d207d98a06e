"""What a trade-off counts as its clinical cost and benefit (:mod:`pkpd.analysis.clinical`): the
endpoint names, the treatment courses (visit schedules) and the optimiser's clinical targets."""
from __future__ import annotations

from dataclasses import dataclass, field

from pkpd.analysis.endpoints import Course

#: What the tables and figures call each clinical probability.
COST_LABEL = "P(dissociation AE over the course)"
BENEFIT_LABEL = "P(analgesia responder)"


@dataclass(frozen=True)
class ClinicalSpec:
    """The clinical cost and benefit of a trade-off and the courses they are counted over.

    Attributes
    ----------
    cost, benefit : str
        Endpoint names in ``models/endpoints/endpoints.toml`` (psychotomimetic and analgesia
        categories).
    schedules : tuple of Course
        The courses the cost is counted over; the first is the trade-off's, ``pkpd optimize``
        searches all of them.
    max_cost : float or None
        ``pkpd optimize``: at most this P(cost over the course) (None: optimise on readouts).
    min_benefit : float
        ``pkpd optimize``: at least this P(benefit).
    """

    cost: str = "dissociation_ae"
    benefit: str = "analgesia_responder"
    schedules: tuple = field(default_factory=lambda: (Course(8, 3.5),))
    max_cost: float | None = None
    min_benefit: float = 0.0

    def describe(self) -> str:
        return (f"clinical endpoints (calibrated, models/endpoints/endpoints.toml): {COST_LABEL} = {self.cost} over "
                f"{self.schedules[0].describe()} with the tolerance model; {BENEFIT_LABEL} = {self.benefit} in one "
                "session, read at the session's peak readout")

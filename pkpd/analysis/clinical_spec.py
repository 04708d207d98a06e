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

    def describe(self, assessment: float | None = None, per_row: bool = False) -> str:
        """In words; ``assessment``: the benefit endpoint's assessment time (h), None: the session's peak;
        ``per_row``: the cost over each row's schedule (``pkpd optimize``), not the first schedule."""
        read = (f"its readout's peak up to {assessment * 60:g} min after the first dose, as calibrated"
                if assessment is not None else "the session's peak readout")
        return (f"clinical endpoints (calibrated, models/endpoints/endpoints.toml): {COST_LABEL} = {self.cost} over "
                f"{'the schedule of each row' if per_row else self.schedules[0].describe()} with the tolerance model; {BENEFIT_LABEL} = {self.benefit} in one "
                f"session, read at {read}")

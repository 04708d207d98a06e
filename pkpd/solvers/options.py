"""TODO docstring (solvers.options)"""
from __future__ import annotations

from dataclasses import dataclass


DOPRI, ROSENBROCK, EXPONENTIAL, AUTO = 0, 1, 2, 3


SOLVERS = {"auto": AUTO, "dopri": DOPRI, "rosenbrock": ROSENBROCK, "exponential": EXPONENTIAL}


@dataclass(frozen=True)
class SolverOptions:
    """Per-run overrides of a model's integrator settings (``None``: keep the model's)."""

    method: int | None = None
    rtol: float | None = None
    atol: float | None = None

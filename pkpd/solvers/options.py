"""Solver options, method names, tolerance defaults and event kinds.

The one place a method name, a method code or a tolerance default is written: model files
(``[model] solver/rtol/atol``), PD files (``solver``), a scenario's ``[solver]`` table, the system
builder and the dispatcher all read them from here.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Event kinds in the kernels' event arrays (``ev_k``): a bolus adds ``value`` mg to a
#: compartment; a zero-order input of ``value`` mg/h switches on or off.
BOLUS, RATE_ON, RATE_OFF = 0, 1, 2

#: Integrators for systems with nonlinear terms (the codes the numba kernels take).
DOPRI, ROSENBROCK, EXPONENTIAL, AUTO = 0, 1, 2, 3

#: Method names a model file, PD file or scenario may give → code.
SOLVERS = {"auto": AUTO, "dopri": DOPRI, "rosenbrock": ROSENBROCK, "exponential": EXPONENTIAL}

#: Linear systems: ``auto`` is modal (one eigen-decomposition per subject; the batched kernel
#: where rows share their event times, else per row) with the dense Taylor kernel where the
#: decomposition is unsafe; ``batched`` and ``modal`` force one modal kernel; ``dense`` is the
#: Taylor kernel everywhere.
LINEAR_METHODS = ("auto", "batched", "modal", "dense")

#: Default relative tolerance per step of the adaptive integrators.
RTOL = 1e-8
#: Default absolute tolerance (amounts in mg) for a model file's nonlinear part.
ATOL = 1e-12
#: Default absolute tolerance for PD-only states (tolerance, turnover): they start at exactly 0
#: and stay small, so a tighter floor keeps their early, relative accuracy.
ATOL_PD_STATES = 1e-14
#: Tolerances a user may ask for: below 1e-15 float64 cannot deliver them.
TOL_MIN, TOL_MAX = 1e-15, 1.0


@dataclass(frozen=True)
class SolverOptions:
    """Per-run overrides of a model's integrator settings (``None``: keep the model's).

    Attributes
    ----------
    method : int or None
        One of :data:`SOLVERS`' codes (``AUTO``, ``DOPRI``, ``ROSENBROCK``, ``EXPONENTIAL``).
    rtol : float or None
        Relative tolerance per step.
    atol : float or None
        Absolute tolerance per step (amounts in mg, effect sites in mg/L).
    """

    method: int | None = None
    rtol: float | None = None
    atol: float | None = None

    def resolve(self, method: int, rtol: float, atol: float) -> tuple[int, float, float]:
        """The method and tolerances to use: these options where set, else the given defaults."""
        return (method if self.method is None else self.method,
                rtol if self.rtol is None else self.rtol,
                atol if self.atol is None else self.atol)

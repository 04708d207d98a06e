"""Solver options, method names, tolerance defaults and event kinds.

The one place a method name, a method code or a tolerance default is written: model files
(``[model] solver/rtol/atol``), PD files (``solver``), a scenario's ``[solver]`` table, the system
builder and the dispatcher all read them from here.
"""
from __future__ import annotations

from dataclasses import dataclass

from pkpd.errors import PkpdError

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
#: Tolerances a user may ask for: an absolute tolerance from 1e-15, a relative one from 100 × the
#: float64 machine epsilon (2.2e-14; tighter than that, rounding alone exceeds the tolerance and the
#: step size shrinks for ever), both below 1.
TOL_MIN, TOL_MAX = 1e-15, 1.0
RTOL_MIN = 100 * 2.220446049250313e-16


def tolerance_problem(key: str, v) -> str | None:
    """Why ``v`` is not a usable ``rtol``/``atol`` (None when it is)."""
    low = RTOL_MIN if key == "rtol" else TOL_MIN
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= v < TOL_MAX:
        why = ": float64 cannot deliver a tighter relative tolerance" if key == "rtol" else ""
        return f"must be a number in [{low:.2g}, {TOL_MAX:g}) (got {v!r}){why}"
    return None


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
    max_steps: int | None = None  # steps per subject and regimen (None: the solver_steps limit)

    def __post_init__(self):
        # the Python API's boundary: a SolverOptions is usable once made
        if self.method is not None and self.method not in SOLVERS.values():
            names = ", ".join(f"{c} ({k})" for k, c in SOLVERS.items())
            raise PkpdError(f"method must be one of the codes {names}, got {self.method!r}", field="solver.method")
        for key in ("rtol", "atol"):
            v = getattr(self, key)
            why = None if v is None else tolerance_problem(key, v)
            if why:
                raise PkpdError(why, field=f"solver.{key}")
        m = self.max_steps
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or not 100 <= m <= 10 ** 9):
            raise PkpdError(f"must be a whole number from 100 to 1000000000 (got {m!r})", field="solver.max_steps")

    def resolve(self, method: int, rtol: float, atol: float) -> tuple[int, float, float]:
        """The method and tolerances to use: these options where set, else the given defaults."""
        return (method if self.method is None else self.method,
                rtol if self.rtol is None else self.rtol,
                atol if self.atol is None else self.atol)

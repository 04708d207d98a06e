"""The ``[solver]`` table (optional): integrator method and tolerances for nonlinear models.

::

    [solver]
    method = "rosenbrock"              # auto, dopri, exponential or rosenbrock (default: each model's)
    rtol = 1e-8                        # relative tolerance per step
    atol = 1e-12                       # absolute tolerance per step (amounts in mg)

It overrides the ``solver``, ``rtol`` and ``atol`` of the model files for this scenario's runs.
"""
from __future__ import annotations

from pkpd.errors import Collector
from pkpd.solvers.options import SOLVERS, TOL_MAX, TOL_MIN, SolverOptions


KEYS = {"method", "rtol", "atol"}


def parse_solver_options(tbl, col: Collector, where: str = "solver") -> SolverOptions:
    """A scenario's ``[solver]`` table: ``method`` (auto, dopri, exponential, rosenbrock),
    ``rtol`` and ``atol`` (relative and absolute tolerance per step, amounts in mg)."""
    if not isinstance(tbl, dict):
        col.add("must be a table (method, rtol, atol)", where)
        return SolverOptions()
    for k in sorted(set(tbl) - KEYS):
        col.add("unknown key (known: method, rtol, atol)", f"{where}.{k}")
    method = tbl.get("method")
    if method is not None and (not isinstance(method, str) or method not in SOLVERS):
        col.add(f"must be one of {', '.join(SOLVERS)}", f"{where}.method")
        method = None
    tol = {}
    for k in ("rtol", "atol"):
        v = tbl.get(k)
        if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not TOL_MIN <= v < TOL_MAX):
            col.add(f"must be a number in [{TOL_MIN:g}, {TOL_MAX:g}) (got {v!r})", f"{where}.{k}")
            v = None
        tol[k] = None if v is None else float(v)
    return SolverOptions(None if method is None else SOLVERS[method], tol["rtol"], tol["atol"])

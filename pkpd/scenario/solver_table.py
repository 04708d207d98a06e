"""The ``[solver]`` table (optional): integrator method and tolerances for nonlinear models.

::

    [solver]
    method = "rosenbrock"              # auto, dopri, exponential or rosenbrock (default: each model's)
    rtol = 1e-8                        # relative tolerance per step
    atol = 1e-12                       # absolute tolerance per step (amounts in mg)
    max_steps = 1000000                # steps per subject and regimen (default: the solver_steps limit)

It overrides the ``solver``, ``rtol`` and ``atol`` of the model files for this scenario's runs.
"""
from __future__ import annotations

from pkpd.errors import Collector
from pkpd.solvers.options import SOLVERS, SolverOptions, tolerance_problem


KEYS = {"method", "rtol", "atol", "max_steps"}


def parse_solver_options(tbl, col: Collector, where: str = "solver") -> SolverOptions:
    """A scenario's ``[solver]`` table: ``method`` (auto, dopri, exponential, rosenbrock),
    ``rtol`` and ``atol`` (relative and absolute tolerance per step, amounts in mg) and
    ``max_steps`` (steps per subject and regimen before the solve is stopped with an error)."""
    if not isinstance(tbl, dict):
        col.add("must be a table (method, rtol, atol, max_steps)", where)
        return SolverOptions()
    for k in sorted(set(tbl) - KEYS):
        col.add("unknown key (known: method, rtol, atol, max_steps)", f"{where}.{k}")
    method = tbl.get("method")
    if method is not None and (not isinstance(method, str) or method not in SOLVERS):
        col.add(f"must be one of {', '.join(SOLVERS)}", f"{where}.method")
        method = None
    tol = {}
    for k in ("rtol", "atol"):
        v = tbl.get(k)
        why = None if v is None else tolerance_problem(k, v)
        if why:
            col.add(why, f"{where}.{k}")
            v = None
        tol[k] = None if v is None else float(v)
    steps = tbl.get("max_steps")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or not 100 <= steps <= 10 ** 9):
        col.add("must be a whole number from 100 to 1000000000", f"{where}.max_steps")
        steps = None
    return SolverOptions(None if method is None else SOLVERS[method], tol["rtol"], tol["atol"], steps)

"""One entry point for every kernel: :func:`solve` (arrays in, arrays out).

Typical-subject runs, population chunks, steady states and the tests all call :func:`solve`;
it picks a kernel from the method table and falls back where a kernel cannot take a system.

Contract for a new kernel
-------------------------
A kernel added to :data:`NONLINEAR_KERNELS` (or :data:`LINEAR_KERNELS`) must:

1. be a ``numba.njit(cache=True)`` function (``parallel=True`` with ``prange`` over rows) in its
   own module of :mod:`pkpd.solvers`, importing only :mod:`numpy`, :mod:`numba` and sibling
   solver modules — never models, dosing or anything above;
2. take the event arrays ``ev_t, ev_k, ev_c, ev_v`` (``rows × n_events``, padded with ``+inf``
   times) and apply them with :mod:`pkpd.solvers.events` (``state_event`` or ``modal_event``):
   the event kinds of :mod:`pkpd.solvers.options`, events within ``SNAP`` of an output time
   happening at it, values at a dose time recorded after the dose;
3. write outputs ``y = W x`` for every row and output time into the preallocated ``out``
   (``rows × n_out × n_times``, float32 or float64) and allocate nothing per time step;
4. treat rows independently (row ``r·S + s`` is subject ``s`` under regimen ``r``) so results do
   not depend on chunking or thread count;
5. for adaptive methods: honour ``rtol``/``atol`` per step (defaults only from
   :mod:`pkpd.solvers.options`), restart at every event, record ``(steps, rejected)`` per
   row in ``stats``, and run in budgeted slices re-entered from Python
   (:mod:`pkpd.solvers.budget`: interrupts within a fraction of a second, at most ``max_steps``
   steps per row, non-finite states reported with the time and the state);
6. get a runner here: a function ``(problem) -> bool`` that returns ``False`` when the kernel
   cannot take the system (e.g. an unsafe eigen-decomposition) so the next method in the plan
   runs, plus a row in :func:`_plan`'s table saying when it is tried;
7. be tested against a closed form or scipy's Radau at tight tolerance (``tests/``), and its
   speed measured in ``benchmarks/``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pkpd.errors import PkpdError
from pkpd.limits import LIMITS, limit
from pkpd.solvers.adaptive import solve_nonlinear
from pkpd.solvers.budget import DONE, NONFINITE
from pkpd.solvers.bytecode import VAR
from pkpd.solvers.dense import solve_dense
from pkpd.solvers.exponential import nonlinear_jacobian, solve_exponential
from pkpd.solvers.hybrid import solve_hybrid
from pkpd.solvers.modal import eigenbasis, modal_decomposition, solve_modal
from pkpd.solvers.relinearised import solve_relinearised
from pkpd.solvers.options import AUTO, DOPRI, EXPONENTIAL, LINEAR_METHODS, ROSENBROCK, SolverOptions


@dataclass(frozen=True)
class NonlinearPart:
    """The nonlinear terms of a system as arrays: ``dx/dt = K x + b + Σ_j coef[:, j]·g_j(x, t)``
    with each ``g_j`` a bytecode program (:mod:`pkpd.solvers.bytecode`) adding into state
    ``tgt[j]``; the default method and tolerances come from the model files."""

    pars: np.ndarray  # (n, P) parameters the programs read
    tgt: np.ndarray  # (T,) state each term adds into
    coef: np.ndarray  # (n, T) factor per subject and term
    ops: np.ndarray
    off: np.ndarray
    consts: np.ndarray
    y0: np.ndarray  # (n, n_states) initial states (extra states may start non-zero)
    method: int
    rtol: float
    atol: float
    n_linear: int  # states before the first extra (ODE) state: compartments and effect sites
    label: str = ""  # the model(s), for messages
    state_names: tuple = ()  # every state, for messages


@dataclass
class SolveInfo:
    """What :func:`solve` did: the kernel(s) that ran, which rows fell back to the dense kernel
    (linear systems), and ``(steps, rejected)`` per row (adaptive kernels)."""

    method: str
    dense_rows: np.ndarray | None = None
    steps: np.ndarray | None = None


@dataclass
class _Problem:
    """One call's arrays, passed to the runners of the method table."""

    K: np.ndarray
    W: np.ndarray
    times: np.ndarray
    dt: float
    events: tuple
    out: np.ndarray
    repeats: int
    x0: np.ndarray | None
    nl: NonlinearPart | None = None
    rtol: float = 0.0
    atol: float = 0.0
    stats: np.ndarray = field(default=None)
    method: int = 0
    max_steps: int = 0
    failure: tuple | None = None  # (status, t, state) per row from the adaptive kernels

    def tile(self, a: np.ndarray) -> np.ndarray:
        """Per-subject array → per-row array (regimen-major)."""
        return np.ascontiguousarray(np.tile(a, (self.repeats,) + (1,) * (a.ndim - 1)))


def solve(K, W, times, dt, events, out, *, repeats: int = 1, x0: np.ndarray | None = None,
          nonlinear: NonlinearPart | None = None, options: SolverOptions | None = None,
          linear: str = "auto") -> SolveInfo:
    """Solve a batch of subjects' systems on the output times, writing ``out`` in place.

    Parameters
    ----------
    K : ndarray, shape (S, n, n)
        System matrices of ``S`` distinct subjects, 1/h.
    W : ndarray, shape (S, n_out, n)
        Output rows per subject (``y = W x``; concentration rows hold 1/V, L⁻¹).
    times : ndarray, shape (n_times,)
        Output times, h, increasing.
    dt : float
        Uniform grid step, h (0 if none): linear kernels reuse one propagator for it.
    events : tuple of ndarray
        ``(ev_t, ev_k, ev_c, ev_v)``, each ``(repeats·S, n_events)``: times (h), kinds
        (:mod:`pkpd.solvers.options`), compartments, values (mg or mg/h).
    out : ndarray, shape (repeats·S, n_out, n_times)
        Written in place; row ``r·S + s`` is subject ``s`` under regimen ``r``, so each subject's
        system is decomposed once whatever the number of regimens.
    repeats : int
        Regimens per subject.
    x0 : ndarray, shape (repeats·S, n), optional
        Initial states (default zeros; a steady state for SS doses).  Linear systems only.
    nonlinear : NonlinearPart, optional
        Nonlinear terms; ``None`` for a linear system.
    options : SolverOptions, optional
        Overrides of the model's method and tolerances (nonlinear systems).
    linear : {"auto", "dense"}
        Linear systems: modal with dense fallback, or the dense Taylor kernel everywhere.

    Returns
    -------
    SolveInfo
    """
    p = _Problem(K, W, times, dt, events, out, repeats, x0)
    if nonlinear is None:
        if linear not in LINEAR_METHODS:
            raise ValueError(f"unknown linear method {linear!r} (known: {', '.join(LINEAR_METHODS)})")
        dense_rows = LINEAR_KERNELS[linear](p)
        _check_finite(p)
        return SolveInfo("dense" if dense_rows.all() else "modal" if not dense_rows.any() else "modal+dense",
                         dense_rows=dense_rows)
    opts = options or SolverOptions()
    method, p.rtol, p.atol = opts.resolve(nonlinear.method, nonlinear.rtol, nonlinear.atol)
    p.method = method
    p.max_steps = int(opts.max_steps or limit("solver_steps"))
    p.nl = nonlinear
    p.W = p.tile(np.ascontiguousarray(W))
    p.stats = np.zeros((out.shape[0], 2), dtype=np.int64)
    for name in _plan(method, _one_way(nonlinear)):
        if NONLINEAR_KERNELS[name](p):
            _raise_failure(p, name)
            return SolveInfo(name, steps=p.stats)
    raise AssertionError("the last method of every plan always runs")  # pragma: no cover


def _check_finite(p: _Problem) -> None:
    """Non-finite results are never passed on silently.  A linear solution that becomes infinite or
    NaN stays so (inf × 0 and inf − inf are NaN, NaN propagates), so the last output time tells; only
    then is every value scanned for the first bad one.  Only the rows the kernel wrote are checked
    (``out`` may hold further rows its caller fills later)."""
    written = p.out[:, :p.W.shape[1]]
    if written.shape[-1] == 0 or np.isfinite(written[..., -1]).all():
        return
    bad = np.argwhere(~np.isfinite(written))
    r, o, j = (int(x) for x in bad[0])
    S = p.out.shape[0] // p.repeats
    raise PkpdError(f"the solution is not finite (output {o} of subject {r % S}, regimen {r // S}, at t = "
                    f"{p.times[j]:.6g} h): the model's rates, volumes or doses are far outside what it can "
                    f"represent; check its parameters")


def _raise_failure(p: _Problem, kernel: str) -> None:
    """One clear error for the first row a bounded kernel stopped: the model, the row, the time
    and the state to blame, and what to change."""
    status, t, state = p.failure
    bad = np.flatnonzero(status != DONE)
    if bad.size == 0:
        return
    r = int(bad[0])
    S = p.out.shape[0] // p.repeats
    names = p.nl.state_names
    k = int(state[r])
    what = f"state {names[k]!r}" if 0 <= k < len(names) else "a state"
    where = (f"the nonlinear solve of {p.nl.label or 'the model'} (subject {r % S}, regimen {r // S}, "
             f"{kernel} method) stopped at t = {t[r]:.6g} h")
    if status[r] == NONFINITE:
        raise PkpdError(f"{where}: {what} became infinite or NaN (the model's equations blow up there: check the "
                        f"[states] right-hand sides and the parameters)")
    raise PkpdError(f"{where}: {p.max_steps:,} steps (the limit) were not enough; {what} limits the step size. The "
                    f"system may be too stiff for this method (try [solver] method = \"rosenbrock\"), the tolerances "
                    f"too tight (rtol = {p.rtol:g}, atol = {p.atol:g}) or a state may grow without bound; raise "
                    f"[solver] max_steps or {LIMITS['solver_steps'].env} if the run is right but long")


def _one_way(nl: NonlinearPart) -> bool:
    """The nonlinear terms only feed extra states (tolerance, turnover), never compartments."""
    return bool(nl.tgt.size and np.all(nl.tgt >= nl.n_linear) and nl.n_linear > 0)


def _plan(method: int, one_way: bool) -> list[str]:
    """Kernels to try, in order, for a nonlinear system (the last one always runs).

    * one-way terms with auto/dopri: hybrid (linear part exact, modal), else Dormand–Prince;
    * two-way terms (Michaelis–Menten) with auto: the exponential integrator re-linearised about
      the current state (:mod:`pkpd.solvers.relinearised`), else Dormand–Prince;
    * exponential asked for: the exponential integrator linearised once, in the eigenbasis of
      ``K + J_N(x₀)``, else Dormand–Prince;
    * rosenbrock: ROS2 on everything; dopri on two-way terms: Dormand–Prince on everything.
    """
    if method == ROSENBROCK:
        return ["rosenbrock"]
    if method in (AUTO, DOPRI) and one_way:
        return ["hybrid", "dopri"]
    if method == AUTO:
        return ["relinearised", "dopri"]
    if method == EXPONENTIAL:
        return ["exponential", "dopri"]
    return ["dopri"]


def _run_linear_auto(p: _Problem) -> np.ndarray:
    """Modal where the eigen-decomposition is safe, dense elsewhere; returns the dense row mask."""
    S, n = p.K.shape[0], p.K.shape[1]
    x0 = np.zeros((S * p.repeats, n)) if p.x0 is None else p.x0
    lam, Vinv, WV, ok = modal_decomposition(p.K, p.W)
    rows = np.tile(ok, p.repeats)
    if ok.any():
        tile = lambda a: np.ascontiguousarray(np.tile(a[ok], (p.repeats,) + (1,) * (a.ndim - 1)))
        Vi = tile(Vinv)
        z0 = np.ascontiguousarray(np.einsum("sij,sj->si", Vi, x0[rows]))
        _on_rows(p, rows, lambda ev, o: solve_modal(tile(lam), Vi, tile(WV), p.times, p.dt, *ev, z0, o))
    if not ok.all():
        _dense_rows(p, ~ok, x0)
    return np.tile(~ok, p.repeats)


def _run_linear_dense(p: _Problem) -> np.ndarray:
    """The dense Taylor kernel for every row."""
    S, n = p.K.shape[0], p.K.shape[1]
    x0 = np.zeros((S * p.repeats, n)) if p.x0 is None else p.x0
    dense = np.ones(S, dtype=bool)
    _dense_rows(p, dense, x0)
    return np.tile(dense, p.repeats)


def _dense_rows(p: _Problem, dense: np.ndarray, x0: np.ndarray) -> None:
    rows = np.tile(dense, p.repeats)
    Kd = np.ascontiguousarray(np.tile(p.K[dense], (p.repeats, 1, 1)))
    Wd = np.ascontiguousarray(np.tile(p.W[dense], (p.repeats, 1, 1)))
    xd = np.ascontiguousarray(x0[rows])
    _on_rows(p, rows, lambda ev, o: solve_dense(Kd, p.times, p.dt, *ev, Wd, xd, o))


def _on_rows(p: _Problem, rows: np.ndarray, run) -> None:
    """Run a kernel on the selected rows only (in place when they are all rows)."""
    if rows.all():
        run(p.events, p.out)
    else:
        sub = np.empty((int(rows.sum()),) + p.out.shape[1:], dtype=p.out.dtype)
        run(tuple(a[rows] for a in p.events), sub)
        p.out[rows] = sub


def _run_hybrid(p: _Problem) -> bool:
    nl, n_lin = p.nl, p.nl.n_linear
    lam, Vm, Vinv, ok = eigenbasis(np.ascontiguousarray(p.K[:, :n_lin, :n_lin]))
    if not ok.all():
        return False
    p.failure = solve_hybrid(p.tile(lam), p.tile(Vm), p.tile(Vinv), p.tile(nl.pars), nl.tgt, p.tile(nl.coef),
                             nl.ops, nl.off, nl.consts, p.tile(np.ascontiguousarray(nl.y0[:, n_lin:])), p.times,
                             *p.events, p.W, p.rtol, p.atol, p.out, p.stats, p.max_steps)
    return True


def _run_exponential(p: _Problem) -> bool:
    nl = p.nl
    Jn = np.zeros_like(p.K)
    nonlinear_jacobian(nl.pars, nl.tgt, nl.coef, nl.ops, nl.off, nl.consts, np.ascontiguousarray(nl.y0),
                       float(p.times[0]), Jn)
    Jn[~np.isfinite(Jn).all(axis=(1, 2))] = 0.0  # not differentiable there: split off K alone
    lam, Vm, Vinv, ok = eigenbasis(p.K + Jn)
    if not ok.all():
        return False
    WV = np.ascontiguousarray(np.einsum("soi,sik->sok", p.W, np.tile(Vm, (p.repeats, 1, 1))))
    p.failure = solve_exponential(p.tile(lam), p.tile(Vm), p.tile(Vinv), p.tile(Jn), WV, p.tile(nl.pars), nl.tgt,
                                  p.tile(nl.coef), nl.ops, nl.off, nl.consts, p.tile(np.ascontiguousarray(nl.y0)),
                                  p.times, *p.events, p.rtol, p.atol, p.out, p.stats, p.max_steps)
    return True


def _run_relinearised(p: _Problem) -> bool:
    """The exponential integrator re-linearised about the current state (:mod:`pkpd.solvers.relinearised`);
    starts from the same safe eigenbasis of ``K + J_N(x₀)`` as :func:`_run_exponential`."""
    nl = p.nl
    Jn = np.zeros_like(p.K)
    nonlinear_jacobian(nl.pars, nl.tgt, nl.coef, nl.ops, nl.off, nl.consts, np.ascontiguousarray(nl.y0),
                       float(p.times[0]), Jn)
    Jn[~np.isfinite(Jn).all(axis=(1, 2))] = 0.0
    lam, Vm, Vinv, ok = eigenbasis(p.K + Jn)
    if not ok.all():
        return False
    n, n_par = p.K.shape[1], nl.pars.shape[1]
    var = nl.ops[nl.ops[:, 0] == VAR, 1]
    cols = np.unique(var[(var >= n_par) & (var < n_par + n)] - n_par).astype(np.int64)  # states the terms read
    Vr = p.tile(Vm)
    WV = np.ascontiguousarray(np.einsum("soi,sik->sok", p.W, Vr))
    p.failure = solve_relinearised(p.tile(p.K), p.tile(lam), Vr, p.tile(Vinv), p.tile(Jn), p.W, WV, p.tile(nl.pars),
                                   nl.tgt, p.tile(nl.coef), nl.ops, nl.off, nl.consts, cols,
                                   p.tile(np.ascontiguousarray(nl.y0)), p.times, *p.events, p.rtol, p.atol, p.out,
                                   p.stats, p.max_steps)
    return True


def _adaptive(method: int):
    def run(p: _Problem) -> bool:
        nl = p.nl
        p.failure = solve_nonlinear(p.tile(p.K), p.tile(nl.pars), nl.tgt, p.tile(nl.coef), nl.ops, nl.off,
                                    nl.consts, p.tile(nl.y0), p.times, *p.events, p.W, method, p.rtol, p.atol,
                                    p.out, p.stats, p.max_steps)
        return True
    return run


#: Linear systems: method name → runner returning the dense-fallback row mask.
LINEAR_KERNELS = {"auto": _run_linear_auto, "dense": _run_linear_dense}

#: Nonlinear systems: method name → runner (``False``: cannot take this system, try the next).
NONLINEAR_KERNELS = {"hybrid": _run_hybrid, "exponential": _run_exponential, "relinearised": _run_relinearised,
                     "dopri": _adaptive(DOPRI), "rosenbrock": _adaptive(ROSENBROCK)}

"""One entry point for every kernel: :func:`solve` (arrays in, arrays out).

Typical-subject runs, population chunks, steady states and the tests all call :func:`solve`;
it picks a kernel from the method table and falls back where a kernel cannot take a system.

Contract for a new kernel
-------------------------
A kernel added to :data:`NONLINEAR_KERNELS` (or :data:`LINEAR_KERNELS`) must:

1. be a ``numba.njit(cache=True)`` function in its own module of :mod:`pkpd.solvers`, parallel
   over rows (``parallel=True`` with ``prange``, or — quicker to compile for large kernels — a
   ``nogil`` function on row ranges run by :func:`pkpd.solvers.threads.run_ranges`), importing
   only :mod:`numpy`, :mod:`numba` and sibling solver modules — never models, dosing or above;
2. take the event arrays ``ev_t, ev_k, ev_c, ev_v`` (``rows × n_events``, padded with ``+inf``
   times) and apply them with :mod:`pkpd.solvers.events` (``state_event`` or ``modal_event``):
   the event kinds of :mod:`pkpd.solvers.options`, events within ``SNAP`` of an output time
   happening at it, values at a dose time recorded after the dose;
3. write outputs ``y = W x`` for every row and output time into the preallocated ``out``
   (``rows × n_out × n_times``, float32 or float64) and allocate nothing per time step; the
   fused work of a population chunk (:class:`pkpd.solvers.fused.Fused`: derived rows, metrics,
   histogram bins, storage) is then done by :func:`pkpd.solvers.batched.fused_pass` over a float64
   buffer, unless the kernel does it in its own pass with the helpers of :mod:`pkpd.solvers.fused`
   (as :mod:`pkpd.solvers.batched` does) — the results must be the same either way;
4. treat rows independently (row ``r·S + s`` is subject ``s`` under regimen ``r``) so results do
   not depend on chunking or thread count;
5. for adaptive methods: honour ``rtol``/``atol`` per step (defaults only from
   :mod:`pkpd.solvers.options`), restart at every event, record ``(steps, rejected)`` per
   row in ``stats``, and run in budgeted slices re-entered from Python
   (:mod:`pkpd.solvers.budget`: interrupts within a fraction of a second, at most ``max_steps``
   steps per row, non-finite states reported with the time and the state);
6. get a runner here: for a nonlinear kernel a function ``(problem) -> bool`` that returns
   ``False`` when the kernel cannot take the system (e.g. an unsafe eigen-decomposition) so the
   next method in the plan runs, plus a row in :func:`_plan`'s table saying when it is tried; for
   a linear kernel a function ``(problem) -> (name, dense row mask)`` that sends the rows it
   cannot take to the dense kernel (see :func:`_linear`: the batched kernel is chosen when rows
   share their event times, the per-row modal kernel otherwise, both with the dense fallback);
7. be tested against a closed form or scipy's Radau at tight tolerance (``tests/``), and its
   speed measured in ``benchmarks/``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from pkpd.limits import limit
from pkpd.solvers.adaptive import solve_nonlinear
from pkpd.solvers.batched import event_blocks, excited_mode_masks, fused_pass, solve_batched
from pkpd.solvers.bytecode import read_slots
from pkpd.solvers.dense import solve_dense
from pkpd.solvers.exponential import nonlinear_jacobian, solve_exponential
from pkpd.solvers.failures import check_finite, raise_failure
from pkpd.solvers.fused import Fused, fused_work
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
    out: np.ndarray | None
    repeats: int
    x0: np.ndarray | None
    fused: Fused | None = None
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

    @property
    def sub(self) -> np.ndarray:
        """The subject of each row."""
        return np.tile(np.arange(self.K.shape[0], dtype=np.int64), self.repeats)


def solve(K, W, times, dt, events, out=None, *, repeats: int = 1, x0: np.ndarray | None = None,
          nonlinear: NonlinearPart | None = None, options: SolverOptions | None = None,
          linear: str = "auto", fused: Fused | None = None) -> SolveInfo:
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
    out : ndarray, shape (repeats·S, ≥ n_out, n_times), or None
        Written in place (rows ``n_out…`` untouched); row ``r·S + s`` is subject ``s`` under
        regimen ``r``, so each subject's system is decomposed once whatever the number of
        regimens.  ``None`` when ``fused`` stores the outputs.
    repeats : int
        Regimens per subject.
    x0 : ndarray, shape (repeats·S, n), optional
        Initial states (default zeros; a steady state for SS doses).  Linear systems only.
    nonlinear : NonlinearPart, optional
        Nonlinear terms; ``None`` for a linear system.
    options : SolverOptions, optional
        Overrides of the model's method and tolerances (nonlinear systems).
    linear : {"auto", "batched", "modal", "dense"}
        Linear systems: ``auto`` takes the batched modal kernel where rows share their event
        times (blocks of :data:`BATCH_MIN_LANES` rows or more on average), the per-row modal
        kernel otherwise, and the dense Taylor kernel for subjects whose eigen-decomposition is
        unsafe; the others force one kernel (with the same dense fallback).  All agree bit for bit.
    fused : Fused, optional
        Work done in the same pass (:mod:`pkpd.solvers.fused`): derived rows, per-row metrics,
        histogram bins at chosen times, storage in the caller's array (population chunks).

    Returns
    -------
    SolveInfo
    """
    times = np.require(times, np.float64, ["C", "W"])  # a read-only grid (xarray's) is another numba signature
    p = _Problem(K, W, times, dt, events, out, repeats, x0, fused)
    if nonlinear is None:
        if linear not in LINEAR_METHODS:
            raise ValueError(f"unknown linear method {linear!r} (known: {', '.join(LINEAR_METHODS)})")
        name, dense_rows = LINEAR_KERNELS[linear](_without_unreached(p))
        check_finite(p.out, p.fused, p.W.shape[1], p.times, p.repeats, p.K.shape[0] * p.repeats)
        return SolveInfo(name, dense_rows=dense_rows)
    opts = options or SolverOptions()
    method, p.rtol, p.atol = opts.resolve(nonlinear.method, nonlinear.rtol, nonlinear.atol)
    p.method = method
    p.max_steps = int(opts.max_steps or limit("solver_steps"))
    p.nl = nonlinear
    p.W = p.tile(np.ascontiguousarray(W))
    p.stats = np.zeros((p.sub.shape[0], 2), dtype=np.int64)
    if fused is not None:  # the nonlinear kernels write a float64 buffer; the fused work follows
        p.out = np.empty((p.sub.shape[0], W.shape[1], times.shape[0]))
    for name in _plan(method, _one_way(nonlinear)):
        if NONLINEAR_KERNELS[name](p):
            raise_failure(p.failure, p.repeats, p.nl, name, p.max_steps, p.rtol, p.atol)
            if fused is not None:
                _fused_pass(p, p.out, np.arange(p.out.shape[0], dtype=np.int64))
            return SolveInfo(name, steps=p.stats)
    raise AssertionError("the last method of every plan always runs")  # pragma: no cover


def _without_unreached(p: _Problem) -> _Problem:
    """The problem restricted to the states a dose or the initial state can reach (linear systems).

    A state no event compartment and no non-zero initial state leads to (through ``K[i, j] ≠ 0``,
    a flow j → i, in any subject) only feeds on such states, so it is exactly 0 at every time and
    contributes nothing to the outputs: e.g. the depots of the other routes under IV dosing.
    Leaving it out makes the eigen-decompositions smaller (LAPACK then works on the reached block:
    results move at the 1e-15 level against the full decomposition, and every kernel sees the same
    smaller system, so they still agree bit for bit).
    """
    n = p.K.shape[1]
    ev_t, ev_k, ev_c, ev_v = p.events
    reach = np.zeros(n, dtype=bool)
    reach[np.unique(ev_c[np.isfinite(ev_t)])] = True
    if p.x0 is not None:
        reach |= (p.x0 != 0).any(axis=0)
    flows = (p.K != 0).any(axis=0)  # flows[i, j]: j → i in some subject
    while True:
        grown = reach | flows[:, reach].any(axis=1)
        if (grown == reach).all():
            break
        reach = grown
    if reach.all() or not reach.any():
        return p
    keep = np.flatnonzero(reach)
    new_index = np.cumsum(reach) - 1
    ev_c = np.where(np.isfinite(ev_t), new_index[ev_c], 0).astype(ev_c.dtype)
    return replace(p, K=np.ascontiguousarray(p.K[:, keep][:, :, keep]), W=np.ascontiguousarray(p.W[:, :, keep]),
                   events=(ev_t, ev_k, np.ascontiguousarray(ev_c), ev_v),
                   x0=None if p.x0 is None else np.ascontiguousarray(p.x0[:, keep]))


#: ``linear="auto"`` takes the batched kernel when the rows form blocks of at least this many
#: rows with equal event times on average (below, the per-row modal kernel is as fast).
BATCH_MIN_LANES = 4


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


def _linear(kernel: str):
    """Runner for linear systems: ``kernel`` (batched, modal or auto) where the subject's
    eigen-decomposition is safe, dense elsewhere; returns (method name, dense row mask)."""
    def run(p: _Problem):
        S, n = p.K.shape[0], p.K.shape[1]
        x0 = np.zeros((S * p.repeats, n)) if p.x0 is None else p.x0
        lam, Vinv, WV, ok = modal_decomposition(p.K, p.W)
        rows = np.tile(ok, p.repeats)
        name = "dense"
        if ok.any():
            sel = np.flatnonzero(rows)
            # the per-row modal initial state, computed as the per-row kernel always did
            z0_ok = (np.zeros((sel.size, n)) if p.x0 is None else
                     np.einsum("sij,sj->si", np.tile(Vinv[ok], (p.repeats, 1, 1)), x0[rows]))
            ev = [np.ascontiguousarray(a[sel]) for a in p.events[:3]]
            blocks = event_blocks(*ev, modes=excited_mode_masks(Vinv, p.sub[sel], ev[0], ev[2], z0_ok))
            batched = kernel == "batched" or (kernel == "auto" and sel.size >= BATCH_MIN_LANES * blocks[1].size)
            if batched:
                z0 = np.zeros((rows.size, n))
                z0[sel] = z0_ok
                _batched(p, lam, Vinv, WV, z0, (sel[blocks[0]],) + blocks[1:])
                name = "batched"
            else:
                tile = lambda a: np.ascontiguousarray(np.tile(a[ok], (p.repeats,) + (1,) * (a.ndim - 1)))
                z0 = np.ascontiguousarray(z0_ok)
                _on_rows(p, rows, lambda ev, o: solve_modal(tile(lam), tile(Vinv), tile(WV), p.times, p.dt, *ev,
                                                            z0, o))
                name = "modal"
        if not ok.all():
            _dense_rows(p, ~ok, x0)
            name = "dense" if not ok.any() else name + "+dense"
        return name, np.tile(~ok, p.repeats)
    return run


def _run_linear_dense(p: _Problem):
    """The dense Taylor kernel for every row."""
    S, n = p.K.shape[0], p.K.shape[1]
    x0 = np.zeros((S * p.repeats, n)) if p.x0 is None else p.x0
    dense = np.ones(S, dtype=bool)
    _dense_rows(p, dense, x0)
    return "dense", np.tile(dense, p.repeats)


def _batched(p: _Problem, lam, Vinv, WV, z0, blocks) -> None:
    f = p.fused if p.fused is not None else fused_work(p.W.shape[1], p.sub.shape[0], dest=p.out)
    solve_batched(lam, Vinv, WV, p.sub, p.times, p.dt, *p.events, z0, *blocks, *f.args())


def _dense_rows(p: _Problem, dense: np.ndarray, x0: np.ndarray) -> None:
    rows = np.tile(dense, p.repeats)
    Kd = np.ascontiguousarray(np.tile(p.K[dense], (p.repeats, 1, 1)))
    Wd = np.ascontiguousarray(np.tile(p.W[dense], (p.repeats, 1, 1)))
    xd = np.ascontiguousarray(x0[rows])
    _on_rows(p, rows, lambda ev, o: solve_dense(Kd, p.times, p.dt, *ev, Wd, xd, o))


def _on_rows(p: _Problem, rows: np.ndarray, run) -> None:
    """Run a kernel on the selected rows only (in place when they are all rows and there is no
    fused work; else into a buffer, then the fused pass or a copy)."""
    if rows.all() and p.fused is None:
        run(p.events, p.out)
        return
    dtype = np.float64 if p.fused is not None else p.out.dtype
    sub = np.empty((int(rows.sum()), p.W.shape[1], p.times.shape[0]), dtype=dtype)
    run(tuple(np.ascontiguousarray(a[rows]) for a in p.events), sub)
    if p.fused is not None:
        _fused_pass(p, sub, np.flatnonzero(rows).astype(np.int64))
    else:
        p.out[rows, :sub.shape[1]] = sub


def _fused_pass(p: _Problem, buf: np.ndarray, rows_of: np.ndarray) -> None:
    fused_pass(buf, rows_of, p.sub, p.times, *p.fused.args())


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
    var = read_slots(nl.ops)
    cols = (var[(var >= n_par) & (var < n_par + n)] - n_par).astype(np.int64)  # states the terms read
    Vr = p.tile(Vm)
    WV = np.ascontiguousarray(np.einsum("soi,sik->sok", p.W, Vr))
    p.failure = solve_relinearised(p.tile(p.K), p.tile(lam), Vr, p.tile(Vinv), p.tile(Jn), p.W, WV, p.tile(nl.pars),
                                   nl.tgt, p.tile(nl.coef), nl.ops, nl.off, nl.consts, cols,
                                   p.tile(np.ascontiguousarray(nl.y0)), p.times, *p.events, p.rtol, p.atol, p.out,
                                   p.stats, p.max_steps, hermite=not (var == n_par + n).any())  # reads t: quadratic
    return True


def _adaptive(method: int):
    def run(p: _Problem) -> bool:
        nl = p.nl
        p.failure = solve_nonlinear(p.tile(p.K), p.tile(nl.pars), nl.tgt, p.tile(nl.coef), nl.ops, nl.off,
                                    nl.consts, p.tile(nl.y0), p.times, *p.events, p.W, method, p.rtol, p.atol,
                                    p.out, p.stats, p.max_steps)
        return True
    return run


#: Linear systems: method name → runner returning (kernel name, dense-fallback row mask).
LINEAR_KERNELS = {"auto": _linear("auto"), "batched": _linear("batched"), "modal": _linear("modal"),
                  "dense": _run_linear_dense}

#: Nonlinear systems: method name → runner (``False``: cannot take this system, try the next).
NONLINEAR_KERNELS = {"hybrid": _run_hybrid, "exponential": _run_exponential, "relinearised": _run_relinearised,
                     "dopri": _adaptive(DOPRI), "rosenbrock": _adaptive(ROSENBROCK)}

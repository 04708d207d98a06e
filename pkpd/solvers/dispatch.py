"""TODO docstring (solvers.dispatch)"""
from __future__ import annotations

import numpy as np
from pkpd.solvers.dense import solve_dense
from pkpd.solvers.hybrid import solve_hybrid
from pkpd.solvers.options import AUTO, DOPRI, EXPONENTIAL, ROSENBROCK
from pkpd.solvers.adaptive import solve_nonlinear
from pkpd.solvers.modal import eigenbasis
from pkpd.solvers.exponential import nonlinear_jacobian, solve_exponential
from pkpd.simulation.system import _extra_mask
from pkpd.solvers.modal import modal_decomposition, solve_modal


def run_nonlinear(sysm, repeats: int, times, events, W, out, solver=None) -> np.ndarray:
    """Solve a system with nonlinear terms for ``repeats`` regimens (regimen-major rows);
    returns per-row (steps, rejected steps).

    ``solver`` (a :class:`pkpd.nlmodel.SolverOptions`, e.g. from a scenario's ``[solver]``)
    overrides the model's method and tolerances.  Which kernel runs:

    * nonlinear terms only feeding extra states (tolerance, turnover) and method auto/dopri: the
      hybrid path — linear part exact (modal), only the extra states integrated;
    * terms writing back into the compartments (Michaelis–Menten) and method auto/exponential:
      the exponential integrator of :mod:`pkpd.exponential` in the eigenbasis of ``K + J_N``;
    * otherwise (or where an eigen-decomposition is unsafe): Dormand–Prince or ROS2 on everything.
    """
    nl = sysm.nonlinear
    method = nl.method if solver is None or solver.method is None else solver.method
    rtol = nl.rtol if solver is None or solver.rtol is None else solver.rtol
    atol = nl.atol if solver is None or solver.atol is None else solver.atol
    tile = lambda a: np.ascontiguousarray(np.tile(a, (repeats,) + (1,) * (a.ndim - 1)))
    t, k, c, v = events
    stats = np.zeros((out.shape[0], 2), dtype=np.int64)
    W = np.ascontiguousarray(W)
    n_lin = int(np.argmax(_extra_mask(sysm))) if _extra_mask(sysm).any() else sysm.K.shape[1]
    one_way = nl.tgt.size and np.all(nl.tgt >= n_lin) and n_lin > 0
    if method in (AUTO, DOPRI) and one_way:
        Kl = np.ascontiguousarray(sysm.K[:, :n_lin, :n_lin])
        lam, Vm, Vinv, ok = eigenbasis(Kl)
        if ok.all():
            solve_hybrid(tile(lam), tile(Vm), tile(Vinv), tile(nl.pars), nl.tgt, tile(nl.coef), nl.ops, nl.off,
                         nl.consts, tile(np.ascontiguousarray(nl.y0[:, n_lin:])), times, t, k, c, v, W, rtol, atol,
                         out, stats)
            return stats
    if method == EXPONENTIAL or (method == AUTO and not one_way):
        Jn = np.zeros_like(sysm.K)
        nonlinear_jacobian(nl.pars, nl.tgt, nl.coef, nl.ops, nl.off, nl.consts, np.ascontiguousarray(nl.y0),
                           float(times[0]), Jn)
        Jn[~np.isfinite(Jn).all(axis=(1, 2))] = 0.0  # not differentiable there: split off K alone
        A = sysm.K + Jn
        lam, Vm, Vinv, ok = eigenbasis(A)
        if ok.all():
            WV = np.ascontiguousarray(np.einsum("soi,sik->sok", W, np.tile(Vm, (repeats, 1, 1))))
            solve_exponential(tile(lam), tile(Vm), tile(Vinv), tile(Jn), WV, tile(nl.pars), nl.tgt, tile(nl.coef),
                              nl.ops, nl.off, nl.consts, tile(np.ascontiguousarray(nl.y0)), times, t, k, c, v, rtol,
                              atol, out, stats)
            return stats
    solve_nonlinear(tile(sysm.K), tile(nl.pars), nl.tgt, tile(nl.coef), nl.ops, nl.off, nl.consts, tile(nl.y0),
                    times, t, k, c, v, W, ROSENBROCK if method == ROSENBROCK else DOPRI, rtol, atol, out, stats)
    return stats


def solve(K, W, times, dt, ev_t, ev_k, ev_c, ev_v, out, method: str = "auto", repeats: int = 1,
          x0: np.ndarray | None = None) -> np.ndarray:
    """Solve a batch of subjects, modal where safe and dense elsewhere; returns the dense mask.

    ``K`` and ``W`` hold ``S`` distinct subjects; the event arrays, ``x0`` (initial states,
    default zeros) and ``out`` hold ``repeats × S`` rows (regimen-major: row ``r·S + s`` is
    subject ``s`` under regimen ``r``), so each subject's system is decomposed once whatever the
    number of regimens.  ``method``: ``auto`` (modal with dense fallback) or ``dense``.
    """
    S, n = K.shape[0], K.shape[1]
    if x0 is None:
        x0 = np.zeros((S * repeats, n))
    dense = np.ones(S, dtype=bool)
    if method == "auto":
        lam, Vinv, WV, ok = modal_decomposition(K, W)
        dense = ~ok
        rows = np.tile(ok, repeats)
        if ok.any():
            tile = lambda a: np.ascontiguousarray(np.tile(a[ok], (repeats,) + (1,) * (a.ndim - 1)))
            Vi = tile(Vinv)
            z0 = np.ascontiguousarray(np.einsum("sij,sj->si", Vi, x0[rows]))
            if rows.all():
                solve_modal(tile(lam), Vi, tile(WV), times, dt, ev_t, ev_k, ev_c, ev_v, z0, out)
            else:
                sub = np.empty((int(rows.sum()),) + out.shape[1:], dtype=out.dtype)
                solve_modal(tile(lam), Vi, tile(WV), times, dt, ev_t[rows], ev_k[rows], ev_c[rows],
                            ev_v[rows], z0, sub)
                out[rows] = sub
    elif method != "dense":
        raise ValueError(f"unknown method {method!r}")
    if dense.any():
        rows = np.tile(dense, repeats)
        Kd = np.ascontiguousarray(np.tile(K[dense], (repeats, 1, 1)))
        Wd = np.ascontiguousarray(np.tile(W[dense], (repeats, 1, 1)))
        xd = np.ascontiguousarray(x0[rows])
        if rows.all():
            solve_dense(Kd, times, dt, ev_t, ev_k, ev_c, ev_v, Wd, xd, out)
        else:
            sub = np.empty((int(rows.sum()),) + out.shape[1:], dtype=out.dtype)
            solve_dense(Kd, times, dt, ev_t[rows], ev_k[rows], ev_c[rows], ev_v[rows], Wd, xd, sub)
            out[rows] = sub
    return np.tile(dense, repeats)

"""PD readouts on population chunks: as derived rows of the solver's fused pass, or in place.

Numpy evaluates a sigmoid Emax in several passes over memory; on population chunks that costs
more than solving the ODEs.  :func:`readout_arrays` turns the readouts into the derived-row arrays
of :class:`pkpd.solvers.fused.Fused`, so the batched kernel evaluates them in the pass that
computes the concentrations; :func:`readout_rows` (one fused numba kernel) writes a readout in
place into a chunk buffer, for the runs that solve into a buffer first (nonlinear systems).
Both evaluate the same expressions in the same order.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange
from pkpd.models.pd import PDModel, Readout
from pkpd.solvers.fused import EMAX, LINEAR


@njit(parallel=True, cache=True)
def readout_rows(y, out_row, is_linear, rows, coefs, e0, emax, c50, gamma, ant_row, c100):
    """Write a readout into ``y[:, out_row, :]`` from effect-site rows of ``y`` (ng/mL).

    Linear: ``e0 + Σ_k coefs[s, k] · y[s, rows[k], t]`` (coefs per ng/mL).
    Sigmoid Emax on ``y[:, rows[0]]``: ``e0 + emax · C^γ / (C50^γ + C^γ)``, with C50 scaled by
    ``1 + y[:, ant_row]/c100`` when ``ant_row ≥ 0``.  Per-subject parameters are arrays ``(S,)``.
    """
    S, _, T = y.shape
    for s in prange(S):
        if is_linear:
            for j in range(T):
                acc = e0[s]
                for k in range(rows.shape[0]):
                    acc += coefs[s, k] * y[s, rows[k], j]
                y[s, out_row, j] = acc
        else:
            g = gamma[s]
            square = g == 2.0
            for j in range(T):
                c = y[s, rows[0], j]
                if c < 0.0:
                    c = 0.0
                k50 = c50[s]
                if ant_row >= 0:
                    a = y[s, ant_row, j]
                    k50 = k50 * (1.0 + (a if a > 0.0 else 0.0) / c100[s])
                if square:
                    cg = c * c
                    kg = k50 * k50
                else:
                    cg = c ** g
                    kg = k50 ** g
                y[s, out_row, j] = e0[s] + emax[s] * cg / (kg + cg)


def _columns(rd: Readout, values: dict, S: int) -> dict:
    """A readout's per-subject parameters in the units of the chunk's rows (ng/mL): e0, emax, c50,
    gamma, c100 (sigmoid Emax) or e0 and the slopes per ng/mL (linear)."""
    col = lambda e: np.ascontiguousarray(np.broadcast_to(np.asarray(e(values), dtype=float), (S,)))
    one = np.ones(S)
    c = {"e0": col(rd.params["E0"]) if "E0" in rd.params else np.zeros(S)}
    if rd.type == "linear":
        c["slopes"] = [(e, col(sl) / 1000.0) for e, sl in rd.slopes]
        return c
    c["emax"] = col(rd.params["Emax"]) if "Emax" in rd.params else one
    c["gamma"] = col(rd.params["gamma"]) if "gamma" in rd.params else one
    c["c50"] = col(rd.params["C50"]) * 1000.0
    c["c100"] = col(rd.antagonist[1]) * 1000.0 if rd.antagonist is not None else one
    return c


def readout_arrays(reads, pdvals: list, row_of: list, S: int) -> dict:
    """The derived-row arrays of :func:`pkpd.solvers.fused.fused_work` for readouts ``reads``
    ((PDModel, Readout) pairs, none with a ``c50_scale``); ``pdvals[i]`` are the i-th pair's PD
    parameters (internal units) and ``row_of[i]`` maps its effect names to output rows."""
    D = len(reads)
    width = max([1] + [len(rd.slopes) for _, rd in reads if rd.type == "linear"])
    arr = {"kind": np.zeros(D, np.int64), "src": np.full((D, width), -1, np.int64), "ant": np.full(D, -1, np.int64),
           "sign": np.ones(D), "par": np.zeros((D, 5, S)), "coef": np.zeros((D, width, S)),
           "clip": np.tile([-np.inf, np.inf], (D, 1))}
    for d, ((_, rd), values, rows) in enumerate(zip(reads, pdvals, row_of)):
        c = _columns(rd, values, S)
        arr["clip"][d] = (-np.inf if rd.minimum is None else rd.minimum, np.inf if rd.maximum is None else rd.maximum)
        arr["par"][d, 0] = c["e0"]
        arr["sign"][d] = -1.0 if rd.direction == "decrease" else 1.0  # population outputs: larger = more
        if rd.type == "linear":
            arr["kind"][d] = LINEAR
            for k, (e, sl) in enumerate(c["slopes"]):
                arr["src"][d, k] = rows[e]
                arr["coef"][d, k] = sl
            continue
        arr["kind"][d] = EMAX
        arr["src"][d, 0] = rows[rd.effect]
        arr["par"][d, 1:] = c["emax"], c["c50"], c["gamma"], c["c100"]
        if rd.antagonist is not None:
            arr["ant"][d] = rows[rd.antagonist[0]]
    return arr


def apply_readout(y: np.ndarray, out_row: int, pd: PDModel, rd: Readout, values: dict, row_of: dict) -> None:
    """Evaluate ``rd`` for a chunk ``y`` (S, rows, T; concentrations in ng/mL) into ``out_row``.

    ``row_of`` maps an effect name of ``pd`` to its row in ``y``; ``values`` are the subjects'
    PD parameters (internal units: mg/L, so concentrations are scaled by 1000 here).
    """
    S = y.shape[0]
    c = _columns(rd, values, S)
    one = np.ones(S)
    if rd.type == "linear":
        rows = np.array([row_of[e] for e, _ in c["slopes"]], dtype=np.int64)
        coefs = np.ascontiguousarray(np.stack([sl for _, sl in c["slopes"]], axis=1))
        readout_rows(y, out_row, True, rows, coefs, c["e0"], one, one, one, -1, one)
        _clip(y, out_row, rd)
        return
    rows = np.array([row_of[rd.effect]], dtype=np.int64)
    ant_row = row_of[rd.antagonist[0]] if rd.antagonist is not None else -1
    readout_rows(y, out_row, False, rows, np.zeros((S, 1)), c["e0"], c["emax"], c["c50"], c["gamma"], ant_row,
                 c["c100"])
    _clip(y, out_row, rd)


def _clip(y: np.ndarray, out_row: int, rd: Readout) -> None:
    """Bound the readout row to its scale's ends (``minimum``/``maximum``), in place."""
    if rd.minimum is not None or rd.maximum is not None:
        np.clip(y[:, out_row], rd.minimum, rd.maximum, out=y[:, out_row])

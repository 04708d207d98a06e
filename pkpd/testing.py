"""Testing helpers, public so users can check their own models the same way.

:func:`reference_solution` integrates a subject's linear system with scipy's
Radau method, restarting at every event, as an independent high-precision check
of :mod:`pkpd.solver`.
"""
from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp


def apply_event(x: np.ndarray, b: np.ndarray, active: np.ndarray, kind: int, c: int, val: float) -> None:
    """Apply one event in place: a bolus (kind 0) to ``x``, or an input switching on/off (1/2) in ``b``."""
    if kind == 0:
        x[c] += val
    elif kind == 1:
        b[c] += val
        active[c] += 1
    else:
        active[c] -= 1
        b[c] = 0.0 if active[c] == 0 else b[c] - val


def reference_solution(K: np.ndarray, events, times: np.ndarray, rtol: float = 1e-10, atol: float = 1e-14,
                       method: str = "Radau", subject: int = 0) -> np.ndarray:
    """States at ``times`` for ``dx/dt = K x + b(t)`` with scipy, event by event.

    Parameters
    ----------
    K : ndarray, shape (n, n)
        System matrix, 1/h.
    events : pkpd.dosing.Events
        The subject's events (row ``subject``).
    times : ndarray
        Output times, h (values are right-continuous: just after a dose at that time).
    rtol, atol, method :
        Passed to :func:`scipy.integrate.solve_ivp` (``LSODA``, ``Radau``, ``BDF``…).

    Returns
    -------
    ndarray, shape (n, n_times)
    """
    n = K.shape[0]
    x = np.zeros(n)
    b = np.zeros(n)
    active = np.zeros(n, int)
    ev = sorted((t, k, c, v) for t, k, c, v in zip(events.time[subject], events.kind[subject],
                                                   events.cmt[subject], events.value[subject]) if np.isfinite(t))
    out = np.zeros((n, times.size))
    stops = sorted(set([e[0] for e in ev] + list(times)))
    t = times[0]
    ei = ti = 0
    jac = (lambda *_: K) if method in ("Radau", "BDF", "LSODA") else None

    for stop in stops:
        if stop - t <= 1e-12 * max(1.0, abs(t)):  # events this close happen together (as in the solver)
            stop = max(stop, t)
            t = stop
        elif stop > t:
            bb = b.copy()
            sol = solve_ivp(lambda _, y: K @ y + bb, (t, stop), x, method=method, rtol=rtol, atol=atol,
                            **({"jac": jac} if jac else {}))
            x = sol.y[:, -1]
            t = stop
        while ei < len(ev) and ev[ei][0] <= t:
            apply_event(x, b, active, *ev[ei][1:])
            ei += 1
        while ti < times.size and times[ti] <= t:
            out[:, ti] = x
            ti += 1
    return out


def max_rel_error(a: np.ndarray, ref: np.ndarray, floor: float = 1e-6) -> float:
    """Max |a − ref| / |ref| over points where |ref| > floor · max|ref| (per row if 2-D)."""
    a, ref = np.atleast_2d(a), np.atleast_2d(ref)
    err = 0.0
    for x, r in zip(a, ref):
        m = np.abs(r) > floor * np.abs(r).max() if np.abs(r).max() > 0 else np.zeros_like(r, bool)
        if m.any():
            err = max(err, float(np.max(np.abs(x[m] - r[m]) / np.abs(r[m]))))
    return err

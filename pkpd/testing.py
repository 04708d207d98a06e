"""Testing helpers, public so users can check their own models the same way.

:func:`reference_solution` integrates a subject's linear system with scipy's
Radau method, restarting at every event, as an independent high-precision check
of the kernels in :mod:`pkpd.solvers`.
"""
from __future__ import annotations

import numpy as np

from pkpd.simulation.typical import solve_states
from pkpd.dosing.events import regimen_events
from pkpd.simulation.system import build_system
from pkpd.solvers.options import BOLUS, RATE_ON


def apply_event(x: np.ndarray, b: np.ndarray, active: np.ndarray, kind: int, c: int, val: float) -> None:
    """Apply one event in place: a bolus (``BOLUS``) to ``x``, or an input switching on/off
    (``RATE_ON``/``RATE_OFF``) in ``b`` — written out again in plain Python, independent of the kernels."""
    if kind == BOLUS:
        x[c] += val
    elif kind == RATE_ON:
        b[c] += val
        active[c] += 1
    else:
        active[c] -= 1
        b[c] = 0.0 if active[c] == 0 else b[c] - val


def solve_piecewise(f, n: int, events, times: np.ndarray, *, subject: int = 0, method: str = "LSODA",
                    rtol: float = 1e-8, atol: float = 1e-12, jac=None) -> np.ndarray:
    """States ``(n, n_times)`` of ``dy/dt = f(t, y, b)`` from zero, with scipy: one ``solve_ivp``
    call per interval between dose events, outputs through ``t_eval`` (the fair way to time scipy).

    ``b`` is the vector of zero-order input rates, constant between events.  As in pkpd, a dose
    at an output time is given before that output is recorded.
    """
    x, b, active = np.zeros(n), np.zeros(n), np.zeros(n, int)
    from scipy.integrate import solve_ivp  # lazy: scipy.integrate + scipy.optimize ≈ 0.1–0.4 s (issue #16)
    out = np.zeros((n, times.size))
    evs = sorted((t, k, c, v) for t, k, c, v in zip(events.time[subject], events.kind[subject],
                                                    events.cmt[subject], events.value[subject]) if np.isfinite(t))
    bounds = sorted(set([e[0] for e in evs if e[0] <= times[-1]] + [times[-1]]))
    t, ei, ti = times[0], 0, 0
    for stop in bounds + [None]:
        while ei < len(evs) and evs[ei][0] <= t:
            apply_event(x, b, active, *evs[ei][1:])
            ei += 1
        while ti < times.size and times[ti] <= t:
            out[:, ti] = x
            ti += 1
        if stop is not None and stop > t:
            te = times[(times > t) & (times < stop)]  # an output at `stop` waits for its events
            sol = solve_ivp(f, (t, stop), x, method=method, rtol=rtol, atol=atol, t_eval=np.append(te, stop),
                            args=(b.copy(),), **({"jac": jac} if jac is not None else {}))
            out[:, ti:ti + te.size] = sol.y[:, :te.size]
            ti += te.size
            x = sol.y[:, -1]
            t = stop
    return out


def reference_solution(K: np.ndarray, events, times: np.ndarray, rtol: float = 1e-10, atol: float = 1e-14,
                       method: str = "Radau", subject: int = 0) -> np.ndarray:
    """States at ``times`` for ``dx/dt = K x + b(t)`` with scipy, event by event.

    Parameters
    ----------
    K : ndarray, shape (n, n)
        System matrix, 1/h.
    events : pkpd.dosing.events.Events
        The subject's events (row ``subject``).
    times : ndarray
        Output times, h (values are right-continuous: just after a dose at that time).
    rtol, atol, method :
        Passed to :func:`scipy.integrate.solve_ivp` (``LSODA``, ``Radau``, ``BDF``…).

    Returns
    -------
    ndarray, shape (n, n_times)
    """
    from scipy.integrate import solve_ivp  # lazy, as above
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


def michaelis_menten_system(model, regimen, weight: float = 70.0):
    """The right-hand side of ``domino_mm``-style models written out with numpy, independent of
    the bytecode path: ``K y + b`` minus ``Vmax·C/(Km + C)`` from the first (central) compartment.
    Returns ``(f, n, events, V1)`` for :func:`solve_piecewise` (V1 in L, for C = y₀/V1 mg/L)."""
    v = model.params.individual(covariates={"WT": weight})
    _, sysm, ev = solve_states(model, regimen, np.array([0.0, 1e-9]), subject={"WT": weight})
    K, V1, Vmax, Km = sysm.K[0].copy(), float(v["V1"][0]), float(v["Vmax"][0]), float(v["Km"][0])

    def f(t, y, b):
        dy = K @ y + b
        c = y[0] / V1
        dy[0] -= Vmax * c / (Km + c)
        return dy
    return f, K.shape[0], ev, V1


def tolerance_system(pk, tol, regimen, weight: float = 70.0):
    """PK model + ``tolerance_dissociation`` written out with numpy: ``K y + b`` plus
    ``kon·Ce/(EC50_tol + Ce) − koff·T`` on the tolerance state.  Returns ``(f, n, events,
    index of Ce, index of T)`` for :func:`solve_piecewise`."""
    v, pv = pk.params.individual(covariates={"WT": weight}), tol.params.individual(covariates={"WT": weight})
    sysm = build_system(pk, v, tol.links(pv, pk.species, pk), [(tol, pv)])
    K = sysm.K[0]
    ce = sysm.states.index(f"ce_{tol.name}_ketamine")
    T = sysm.states.index(f"{tol.name}_T")
    kon, koff, ec = pv["kon"][0], pv["koff"][0], pv["EC50_tol"][0]

    def f(t, y, b):
        dy = K @ y + b
        dy[T] += kon * y[ce] / (ec + y[ce]) - koff * y[T]
        return dy
    return f, K.shape[0], regimen_events(pk, regimen, v, np.array([weight])), ce, T

"""Events inside the kernels: the helpers every kernel's event loop shares (numba).

An event is ``(time h, kind, compartment, value)`` with the kinds of :mod:`pkpd.solvers.options`
(``BOLUS`` adds ``value`` mg; ``RATE_ON``/``RATE_OFF`` switch a zero-order input of ``value`` mg/h).
Events within ``SNAP`` (h, relative to max(1, t)) of an output time happen at that time, and a
value recorded at a dose time is the value just after the dose.
"""
from __future__ import annotations

from numba import njit

from pkpd.solvers.options import BOLUS, RATE_ON

SNAP = 1e-9  # h, relative to max(1, t)


@njit(cache=True, inline="always")
def rate_event(kind, c, v, b, active):
    """Zero-order input switching on (``RATE_ON``) or off (``RATE_OFF``) in compartment ``c``; returns
    whether any input is still running.  A compartment's rate returns to exactly 0 when its last
    input ends."""
    if kind == RATE_ON:
        b[c] += v
        active[c] += 1
    else:
        active[c] -= 1
        b[c] = 0.0 if active[c] == 0 else b[c] - v
    for i in range(b.shape[0]):
        if active[i] > 0:
            return True
    return False


@njit(cache=True, inline="always")
def state_event(kind, c, v, x, b, active, has_input):
    """Apply one event to a state-space state ``x`` (amounts, mg) and input rates ``b`` (mg/h);
    returns whether any input is running."""
    if kind == BOLUS:
        x[c] += v
        return has_input
    return rate_event(kind, c, v, b, active)


@njit(cache=True)
def modal_event(kind, c, value, Vinv, z, b, active, u, has_u):
    """Apply one event in modal coordinates: a bolus adds ``V⁻¹[:, c]·value`` to ``z``; a rate
    change updates the state-space rates ``b`` and recomputes the modal rates ``u = V⁻¹ b``
    (from the exact ``b``, so stopped infusions leave no rounding residue).  Returns whether any
    input is running."""
    n = z.shape[0]
    if kind == BOLUS:
        for q in range(n):
            z[q] += Vinv[q, c] * value
        return has_u
    has_u = rate_event(kind, c, value, b, active)
    for q in range(n):
        acc = 0.0
        for r in range(n):
            if active[r] > 0:
                acc += Vinv[q, r] * b[r]
        u[q] = acc
    return has_u


@njit(cache=True)
def due_modal_events(limit, ev_t, ev_k, ev_c, ev_v, e, Vinv, z, b, active, u, has_u):
    """Apply (:func:`modal_event`) every event from index ``e`` at or before ``limit`` (h);
    returns ``(next event index, whether any input is running)``."""
    while e < ev_t.shape[0] and ev_t[e] <= limit:
        has_u = modal_event(ev_k[e], ev_c[e], ev_v[e], Vinv, z, b, active, u, has_u)
        e += 1
    return e, has_u


@njit(cache=True)
def due_state_events(limit, ev_t, ev_k, ev_c, ev_v, e, x, b, active):
    """Apply (:func:`state_event`) every event from index ``e`` at or before ``limit`` (h) to the
    state ``x``; returns the next event index."""
    while e < ev_t.shape[0] and ev_t[e] <= limit:
        state_event(ev_k[e], ev_c[e], ev_v[e], x, b, active, False)
        e += 1
    return e

"""Pre-dose steady state of NONMEM-style ``SS=1`` doses (linear models only).

For a dose repeated every τ h, the state just before a dose solves ``x = Φ(τ) x + y`` exactly
(``Φ(τ) = exp(K τ)``, ``y`` the state τ after one administration from zero): no washing-in over
many simulated doses.  Amounts mg.
"""
from __future__ import annotations

import numpy as np
from pkpd.dosing.events import regimen_events
from pkpd.dosing.regimen import Regimen
from pkpd.errors import PkpdError
from pkpd.models.pk import Model
from pkpd.solvers.dispatch import solve
from pkpd.simulation.grid import pad_events


def steady_state_x0(K: np.ndarray, model: Model, regimen: Regimen, values: dict, weight: np.ndarray) -> np.ndarray:
    """State at time 0 just before the first dose for a regimen's steady-state doses (NONMEM SS=1).

    For a dose repeated every τ, the pre-dose steady state solves ``x = Φ(τ) x + y`` where ``y`` is
    the state τ after one administration from zero and ``Φ(τ) = exp(K τ)``: exact, no washing-in.
    ``K`` is one subject's matrix (n × n); returns ``(n,)`` (zeros without steady-state doses).
    """
    from dataclasses import replace as _replace
    import scipy.linalg
    n = K.shape[0]
    x0 = np.zeros(n)
    for d in regimen.doses:
        if not d.steady_state:
            continue
        if d.start != 0.0:
            raise PkpdError(f"regimen {regimen.name!r}: a steady-state dose must start at time 0")
        if model.nonlinear is not None and model.nonlinear.active:
            raise PkpdError(f"regimen {regimen.name!r}: steady state (SS) is exact only for linear models")
        tau = float(d.every)
        single = Regimen("ss", (_replace(d, times=1, every=None, steady_state=False, start=0.0),))
        ev = regimen_events(model, single, values, weight)
        out = np.zeros((1, n, 2))
        solve(K[None].copy(), np.eye(n)[None], np.array([0.0, tau]), 0.0, pad_events([ev]), out, linear="dense")
        A = np.eye(n) - scipy.linalg.expm(K * tau)
        y = out[0, :, 1]
        # least squares: compartments the dose never reaches (an unused depot) may have no
        # elimination, which makes A singular there; that is harmless, drug accumulating is not
        x = np.linalg.lstsq(A, y, rcond=None)[0]
        if np.linalg.norm(A @ x - y) > 1e-9 * max(np.linalg.norm(y), 1e-300):
            raise PkpdError(f"regimen {regimen.name!r}: no steady state (drug accumulates in a compartment "
                            f"without elimination)")
        x0 += x
    return x0

"""The solver boundary's refusals: non-finite results and stopped adaptive kernels, each as one
:class:`~pkpd.errors.PkpdError` naming the row (subject, regimen), the time and what to change.

Rows are regimen-major (row ``r·S + s`` is subject ``s`` under regimen ``r``); times in h.
"""
from __future__ import annotations

import numpy as np

from pkpd.errors import PkpdError
from pkpd.limits import LIMITS
from pkpd.solvers.budget import DONE, NONFINITE


def check_finite(out: np.ndarray | None, fused, n_out: int, times: np.ndarray, repeats: int, rows: int) -> None:
    """Non-finite results are never passed on silently.  A linear solution that becomes infinite or
    NaN stays so (inf × 0 and inf − inf are NaN, NaN propagates), so the last output time tells; only
    then is every value scanned for the first bad one.  Only the rows the kernel wrote are checked
    (``out`` may hold further rows its caller fills later).  With fused work
    (:class:`pkpd.solvers.fused.Fused`) the outputs may not be stored at all: its kept values at the
    last output time are checked instead (its first ``rows`` rows: its buffers may be larger)."""
    T = times.shape[0]
    if fused is not None:
        last = fused.last_kept(T)
        if last is None:
            if T == 0:
                return
            raise ValueError("fused work must keep the last output time (fused_work(..., n_times=T))")
        last = last[:rows, :n_out]
        if np.isfinite(last).all():
            return
        r, o = (int(x) for x in np.argwhere(~np.isfinite(last))[0])
        _not_finite(o, r, rows // repeats, f"by t = {times[-1]:.6g} h")
    written = out[:, :n_out]
    if written.shape[-1] == 0 or np.isfinite(written[..., -1]).all():
        return
    r, o, j = (int(x) for x in np.argwhere(~np.isfinite(written))[0])
    _not_finite(o, r, out.shape[0] // repeats, f"at t = {times[j]:.6g} h")


def _not_finite(o: int, r: int, S: int, when: str) -> None:
    raise PkpdError(f"the solution is not finite (output {o} of subject {r % S}, regimen {r // S}, {when}): the "
                    f"model's rates, volumes or doses are far outside what it can represent; check its parameters")


def raise_failure(failure: tuple, repeats: int, nl, kernel: str, max_steps: int, rtol: float, atol: float) -> None:
    """One clear error for the first row a bounded kernel stopped: the model, the row, the time
    and the state to blame, and what to change.  ``failure`` is the kernel's ``(status, t, state)``
    per row; ``nl`` the :class:`pkpd.solvers.dispatch.NonlinearPart` (label, state names)."""
    status, t, state = failure
    bad = np.flatnonzero(status != DONE)
    if bad.size == 0:
        return
    r = int(bad[0])
    S = status.shape[0] // repeats
    names = nl.state_names
    k = int(state[r])
    what = f"state {names[k]!r}" if 0 <= k < len(names) else "a state"
    where = (f"the nonlinear solve of {nl.label or 'the model'} (subject {r % S}, regimen {r // S}, "
             f"{kernel} method) stopped at t = {t[r]:.6g} h")
    if status[r] == NONFINITE:
        raise PkpdError(f"{where}: {what} became infinite or NaN (the model's equations blow up there: check the "
                        f"[states] right-hand sides and the parameters)")
    raise PkpdError(f"{where}: {max_steps:,} steps (the limit) were not enough; {what} limits the step size. The "
                    f"system may be too stiff for this method (try [solver] method = \"rosenbrock\"), the tolerances "
                    f"too tight (rtol = {rtol:g}, atol = {atol:g}) or a state may grow without bound; raise "
                    f"[solver] max_steps or {LIMITS['solver_steps'].env} if the run is right but long")

"""Non-compartmental analysis (NCA) of concentration–time data.

Conventions (as in common NCA software):

* AUC by the linear-up / log-down trapezoidal rule, from the first time to ``Tlast`` (the last
  time with a concentration above zero / above LLOQ); AUMC likewise on ``t·C``.
* λz: log-linear least squares on the last ``n`` positive points, ``n`` from 3 upwards, after Cmax
  (Cmax itself excluded unless the data are an IV bolus); the fit with the best adjusted R² is
  chosen, preferring more points when adjusted R² is within 1e-4 of the best.  No λz (NaN) if
  fewer than 3 points qualify or the slope is not negative.
* AUC0–∞ = AUC0–t + Clast/λz (observed Clast); MRT = AUMC0–∞ / AUC0–∞ (minus half the infusion
  duration for an infusion); CL(/F) = dose/AUC0–∞; Vz(/F) = CL/λz.

Units follow the inputs: time in h and concentration in ng/mL give AUC in ng·h/mL; with a dose
in mg, CL is reported in L/h (dose mg / AUC ng·h/mL × 1000) and Vz in L.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
import numpy as np
from pkpd.errors import PkpdError


@dataclass(frozen=True)
class NCAResult:
    cmax: float
    tmax: float
    clast: float
    tlast: float
    auc_0_t: float
    auc_0_inf: float
    auc_pct_extrap: float
    lambda_z: float
    half_life: float
    lambda_z_points: int
    lambda_z_r2_adj: float
    aumc_0_inf: float
    mrt: float
    cl: float
    vz: float

    def as_dict(self) -> dict:
        return asdict(self)


UNITS = {"cmax": "ng/mL", "tmax": "h", "clast": "ng/mL", "tlast": "h", "auc_0_t": "ng*h/mL",
         "auc_0_inf": "ng*h/mL", "auc_pct_extrap": "%", "lambda_z": "1/h", "half_life": "h",
         "lambda_z_points": "", "lambda_z_r2_adj": "", "aumc_0_inf": "ng*h^2/mL", "mrt": "h", "cl": "L/h",
         "vz": "L"}


def _trapz_linlog(t, y):
    """Linear-up / log-down areas of each interval."""
    y1, y2 = y[:-1], y[1:]
    dt = np.diff(t)
    lin = 0.5 * (y1 + y2) * dt
    down = (y2 < y1) & (y1 > 0) & (y2 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        logd = (y1 - y2) * dt / np.log(np.where(down, y1 / y2, 2.0))
    return np.where(down, logd, lin)


def _aumc_linlog(t, c):
    """AUMC intervals: linear-up on t·C, log-down with the exact exponential formula."""
    t1, t2, c1, c2 = t[:-1], t[1:], c[:-1], c[1:]
    dt = t2 - t1
    lin = 0.5 * (t1 * c1 + t2 * c2) * dt
    down = (c2 < c1) & (c1 > 0) & (c2 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.log(np.where(down, c1 / c2, 2.0)) / dt
        logd = (t1 * c1 - t2 * c2) / k + (c1 - c2) / (k * k)
    return np.where(down, logd, lin)


def lambda_z(t, c, tmax_index: int, include_cmax: bool = False) -> tuple[float, int, float]:
    """(λz, points used, adjusted R²) by the best-adjusted-R² rule."""
    start = tmax_index if include_cmax else tmax_index + 1
    tt, cc = t[start:], c[start:]
    ok = cc > 0
    tt, cc = tt[ok], cc[ok]
    best = (math.nan, 0, -math.inf)
    for n in range(3, len(tt) + 1):
        x, y = tt[-n:], np.log(cc[-n:])
        A = np.vstack([x, np.ones(n)]).T
        coef, res, *_ = np.linalg.lstsq(A, y, rcond=None)
        slope = coef[0]
        if slope >= 0:
            continue
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        ss_res = float(np.sum((y - A @ coef) ** 2))
        r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
        r2a = 1.0 - (1.0 - r2) * (n - 1) / (n - 2)
        if r2a > best[2] + 1e-4 or (abs(r2a - best[2]) <= 1e-4 and n > best[1]):
            best = (-slope, n, r2a)
    return best if best[1] else (math.nan, 0, math.nan)


def nca(t, c, dose_mg: float | None = None, *, iv_bolus: bool = False, infusion_duration: float = 0.0,
        lloq: float = 0.0) -> NCAResult:
    """NCA of one concentration–time profile.

    Parameters
    ----------
    t : array_like, shape (n,)
        Sampling times, h, strictly increasing, at least 2.
    c : array_like, shape (n,)
        Concentrations, ng/mL, finite and ≥ 0; values ≤ ``lloq`` count as below quantification
        (zero).
    dose_mg : float, optional
        Dose, mg; gives CL(/F) in L/h and Vz(/F) in L.
    iv_bolus : bool
        Include Cmax in the λz candidates (IV bolus data).
    infusion_duration : float
        Infusion duration, h; MRT is corrected by half of it.
    lloq : float
        Lower limit of quantification, ng/mL.

    Returns
    -------
    NCAResult
        Cmax (ng/mL), Tmax (h), Clast (ng/mL), Tlast (h), AUC0–t and AUC0–∞ (ng·h/mL), % of
        AUC0–∞ extrapolated, λz (1/h), half-life (h), λz points and adjusted R², AUMC0–∞
        (ng·h²/mL), MRT (h), CL (L/h) and Vz (L) — units also in :data:`UNITS`.  NaN where a
        term cannot be estimated (no λz, no dose); an all-zero profile gives Cmax, Clast and
        AUC0–t of 0, 0 λz points and NaN for the rest.

    Raises
    ------
    PkpdError
        Mismatched, non-finite, unsorted or negative input.
    """
    t = np.asarray(t, dtype=float)
    c = np.asarray(c, dtype=float)
    if t.ndim != 1 or t.shape != c.shape or t.size < 2:
        raise PkpdError("NCA needs matching 1-D time and concentration arrays with at least 2 points")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(c))):
        raise PkpdError("NCA: times and concentrations must be finite numbers")
    if np.any(np.diff(t) <= 0):
        raise PkpdError("NCA: times must be strictly increasing")
    if np.any(c < 0):
        raise PkpdError("NCA: concentrations cannot be negative")
    for name, v, positive in (("dose", dose_mg, True), ("lloq", lloq, False),
                              ("infusion_duration", infusion_duration, False)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating))
                              or not np.isfinite(v) or v < 0 or (positive and v == 0)):
            raise PkpdError(f"NCA: {name} must be a finite number {'> 0' if positive else '≥ 0'} (got {v!r})",
                            field=f"--{name.replace('_', '-')}")
    c = np.where(c <= lloq, 0.0, c)
    pos = np.flatnonzero(c > 0)
    if pos.size == 0:
        nan = math.nan
        return NCAResult(0.0, nan, 0.0, nan, 0.0, nan, nan, nan, nan, 0, nan, nan, nan, nan, nan)
    last = pos[-1]
    imax = int(np.argmax(c))
    tl, cl_ = t[: last + 1], c[: last + 1]
    auc_t = float(np.sum(_trapz_linlog(tl, cl_)))
    aumc_t = float(np.sum(_aumc_linlog(tl, cl_)))
    lz, npts, r2a = lambda_z(tl, cl_, imax, include_cmax=iv_bolus)
    clast, tlast = float(c[last]), float(t[last])
    if np.isfinite(lz):
        auc_inf = auc_t + clast / lz
        aumc_inf = aumc_t + clast * tlast / lz + clast / lz ** 2
        mrt = aumc_inf / auc_inf - infusion_duration / 2
    else:
        auc_inf = aumc_inf = mrt = math.nan
    cl = dose_mg / auc_inf * 1000.0 if dose_mg and np.isfinite(auc_inf) else math.nan
    return NCAResult(
        cmax=float(c[imax]), tmax=float(t[imax]), clast=clast, tlast=tlast, auc_0_t=auc_t, auc_0_inf=auc_inf,
        auc_pct_extrap=(auc_inf - auc_t) / auc_inf * 100 if np.isfinite(auc_inf) else math.nan,
        lambda_z=lz, half_life=math.log(2) / lz if np.isfinite(lz) else math.nan, lambda_z_points=npts,
        lambda_z_r2_adj=r2a, aumc_0_inf=aumc_inf, mrt=mrt, cl=cl, vz=cl / lz if np.isfinite(cl) else math.nan)

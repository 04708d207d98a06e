"""The arithmetic of non-compartmental analysis, shared by single- and multiple-dose NCA.

* :func:`areas`, :func:`moment_areas`: per-interval AUC and AUMC by the linear-up / log-down
  trapezoidal rule (log-down only when both ends are positive and the curve falls);
* :func:`fit_lambda_z`: the terminal rate constant λz by log-linear least squares with PKNCA's
  automatic point selection (Denney, PKNCA ``pk.calc.half.life``; Gabrielsson & Weiner 2000,
  §2.8.4): every span of the last *n* ≥ 3 candidate points is fitted; among the spans with
  λz > 0 whose adjusted R² lies within ``factor`` (1e-4) of the best adjusted R² of all spans,
  the one with the most points wins;
* :func:`back_extrapolated_c0`: the concentration at the moment of an IV bolus, from the first two
  samples after it (PKNCA ``pk.calc.c0``: log-slope, else the first sample).

Units are whatever the inputs carry (h and ng/mL in pkpd: AUC ng·h/mL, AUMC ng·h²/mL, λz 1/h).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
import numpy as np

#: PKNCA's default allowance in adjusted R² for adding a point to the λz fit.
ADJ_R2_FACTOR = 1e-4
#: Fewest points in a λz fit (PKNCA ``min.hl.points``).
MIN_LAMBDA_Z_POINTS = 3


def areas(t: np.ndarray, c: np.ndarray) -> np.ndarray:
    """AUC of each sampling interval, linear up / log down.

    Parameters
    ----------
    t : ndarray, shape (n,)
        Times, increasing.
    c : ndarray, shape (n,)
        Concentrations ≥ 0.

    Returns
    -------
    ndarray, shape (n - 1,)
        Area of each interval (unit of ``c`` × unit of ``t``).
    """
    y1, y2 = c[:-1], c[1:]
    dt = np.diff(t)
    lin = 0.5 * (y1 + y2) * dt
    down = (y2 < y1) & (y1 > 0) & (y2 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        logd = (y1 - y2) * dt / np.log(np.where(down, y1 / y2, 2.0))
    return np.where(down, logd, lin)


def auc_linlog(c: np.ndarray, t: np.ndarray, axis: int = -1) -> np.ndarray:
    """Total linear-up / log-down AUC of ``c`` along ``axis`` over times ``t`` (NaN propagates);
    the array form of :func:`areas` (:func:`pkpd.analysis.metrics.auc` documents it)."""
    c = np.moveaxis(np.asarray(c, dtype=float), axis, -1)
    c1, c2 = c[..., :-1], c[..., 1:]
    dt = np.diff(t)
    lin = 0.5 * (c1 + c2) * dt
    with np.errstate(divide="ignore", invalid="ignore"):
        down = (c2 < c1) & (c2 > 0) & (c1 > 0)
        logd = np.where(down, (c1 - c2) * dt / np.log(np.where(down, c1 / c2, 2.0)), lin)
    return np.sum(np.where(down, logd, lin), axis=-1)


def moment_areas(t: np.ndarray, c: np.ndarray) -> np.ndarray:
    """AUMC (area under t·C) of each interval: linear up on t·C, log down with the exact formula for
    an exponential between the two samples."""
    t1, t2, c1, c2 = t[:-1], t[1:], c[:-1], c[1:]
    dt = t2 - t1
    lin = 0.5 * (t1 * c1 + t2 * c2) * dt
    down = (c2 < c1) & (c1 > 0) & (c2 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.log(np.where(down, c1 / c2, 2.0)) / dt
        logd = (t1 * c1 - t2 * c2) / k + (c1 - c2) / (k * k)
    return np.where(down, logd, lin)


@dataclass(frozen=True)
class LambdaZ:
    """A terminal-phase fit ``log C = intercept − λz·t`` (times in h, C in ng/mL)."""

    lambda_z: float  # 1/h
    intercept: float  # log(ng/mL) at t = 0
    n_points: int
    r2: float
    r2_adj: float
    time_first: float  # h, first sample in the fit
    time_last: float  # h, last sample in the fit

    @property
    def half_life(self) -> float:
        """ln 2 / λz, h."""
        return math.log(2) / self.lambda_z

    @property
    def span_ratio(self) -> float:
        """Time spanned by the fitted points over the half-life (PKNCA ``span.ratio``; a fit over
        less than about two half-lives gives an uncertain λz)."""
        return (self.time_last - self.time_first) / self.half_life

    def predict(self, t: float) -> float:
        """Concentration on the fitted line at ``t`` (PKNCA ``clast.pred`` at Tlast)."""
        return math.exp(self.intercept - self.lambda_z * t)


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """(slope, intercept, R², adjusted R²) of the least-squares line through (x, y)."""
    n = x.size
    A = np.vstack([x, np.ones(n)]).T
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum((y - A @ coef) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return float(coef[0]), float(coef[1]), r2, 1.0 - (1.0 - r2) * (n - 1) / (n - 2)


def fit_lambda_z(t: np.ndarray, c: np.ndarray, factor: float = ADJ_R2_FACTOR,
                 min_points: int = MIN_LAMBDA_Z_POINTS) -> tuple[LambdaZ | None, str]:
    """λz from the candidate points ``(t, c)`` by PKNCA's rule (module docstring).

    Parameters
    ----------
    t, c : ndarray
        Candidate times (h, increasing) and concentrations (ng/mL); points with C ≤ 0 are dropped.
    factor : float
        Allowance in adjusted R² within which more points are preferred.
    min_points : int
        Fewest points in a fit.

    Returns
    -------
    (LambdaZ or None, str)
        The chosen fit, or None and the reason no λz can be estimated.
    """
    ok = c > 0
    t, c = t[ok], c[ok]
    if t.size < min_points:
        return None, f"{t.size} positive sample(s) after Cmax; λz needs {min_points}"
    y = np.log(c)
    if np.ptp(y) == 0:
        return None, "the terminal concentrations do not change"
    fits = []
    for n in range(min_points, t.size + 1):
        slope, icpt, r2, r2a = _fit(t[-n:], y[-n:])
        fits.append((n, -slope, icpt, r2, r2a))
    best = max(f[4] for f in fits)
    ok_fits = [f for f in fits if f[1] > 0 and f[4] > best - factor]
    if not ok_fits:
        return None, "no terminal phase: the concentrations after Cmax do not fall log-linearly"
    n, lz, icpt, r2, r2a = max(ok_fits, key=lambda f: f[0])
    return LambdaZ(lz, icpt, n, r2, r2a, float(t[-n]), float(t[-1])), ""


def back_extrapolated_c0(t: np.ndarray, c: np.ndarray, dose_time: float) -> float:
    """Concentration just after an IV bolus at ``dose_time``: log-linear back-extrapolation of the
    first two samples after it when both are positive and falling, else the first one (PKNCA
    ``pk.calc.c0`` methods ``logslope`` then ``c1``); NaN without a sample after the dose."""
    after = t > dose_time
    tt, cc = t[after], c[after]
    if tt.size == 0:
        return math.nan
    if tt.size >= 2 and cc[1] > 0 and cc[1] < cc[0]:
        k = math.log(cc[0] / cc[1]) / (tt[1] - tt[0])
        return float(cc[0] * math.exp(k * (tt[0] - dose_time)))
    return float(cc[0])


def rises_again(t: np.ndarray, c: np.ndarray, fall: float = 0.2, rise: float = 0.25) -> float:
    """The first time the profile rises again after having fallen — a sign of a later dose.

    A fall is a drop below ``(1 − fall)`` × the running peak; a new rise is a value above
    ``(1 + rise)`` × the lowest value since the fall, by at least 10 % of Cmax (so assay noise on a
    flat tail is not taken for a dose).  Returns the time in h, or NaN when the profile has one peak.
    """
    cmax = float(np.max(c)) if c.size else 0.0
    peak, low, falling = -math.inf, math.inf, False
    for ti, ci in zip(t, c):
        if not falling:
            peak = max(peak, ci)
            if ci < (1 - fall) * peak:
                falling, low = True, ci
            continue
        low = min(low, ci)
        if ci > (1 + rise) * low and ci - low > 0.1 * cmax:
            return float(ti)
    return math.nan

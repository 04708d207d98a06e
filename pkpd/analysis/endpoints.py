"""Clinical endpoints: how a simulated readout becomes an event a trial would count.

A trial does not report "the readout reached 0.5"; it reports how many patients had, say, a
spontaneously reported dissociation adverse event at least once over a course of sessions, while
patients on placebo report the same term at a background rate.  The observation model here turns
each simulated subject's per-session readout peak into that once-per-patient incidence:

* each patient ``i`` has a reporting threshold ``θᵢ = θ · exp(ω_b zᵢ)`` on the readout scale
  (between-patient variability ``ω_b``, log-normal; ``θ`` is calibrated to trials);
* in session ``s`` the drug causes a report when the session's peak exceeds
  ``θᵢ · exp(ω_s z_is)`` (session-to-session variability ``ω_s``), so with ``S`` identical
  sessions ``P_drug,i = 1 − Π_s (1 − Φ((ln peakᵢ − ln θᵢ) / ω_s))`` (a step when ``ω_s = 0``);
* the background (placebo) rate ``b`` over the same course adds independently:
  ``P_i = 1 − (1 − b)(1 − P_drug,i)``; the arm's incidence is the mean of ``P_i``.

Every number of the model (θ, ω_b, ω_s, b) is a value with a grade in ``models/endpoints/endpoints.toml``.
Attenuation over repeated sessions (tolerance) is not in this model: each session has the first
session's exposure and effect, so long courses are over-predicted if tolerance is real.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr


@dataclass(frozen=True)
class ObservationModel:
    """The numbers that turn readout peaks into a once-per-patient incidence.

    Attributes
    ----------
    threshold : float
        Median reporting threshold ``θ`` on the readout's scale (e.g. fraction of maximal effect).
    between_cv : float
        Between-patient variability of the threshold, ``ω_b`` (SD of its logarithm).
    session_sd : float
        Session-to-session variability, ``ω_s`` (SD of the log threshold per session); 0 makes a
        patient's response the same in every session.
    """

    threshold: float
    between_cv: float = 0.0
    session_sd: float = 0.0


def drug_incidence(peaks: np.ndarray, model: ObservationModel, sessions: int, z: np.ndarray) -> np.ndarray:
    """Per-patient probability of at least one drug-caused report over ``sessions`` sessions.

    Parameters
    ----------
    peaks : ndarray
        Each simulated patient's per-session readout peak (readout scale; NaN allowed → NaN).
    model : ObservationModel
    sessions : int
        Sessions in the course (≥ 1), each with the same exposure.
    z : ndarray
        One standard normal per patient (the patient's threshold; seeded by the caller).

    Returns
    -------
    ndarray
        Probabilities in [0, 1], shape of ``peaks``.
    """
    peaks = np.asarray(peaks, dtype=float)
    log_theta = math.log(model.threshold) + model.between_cv * np.asarray(z, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_peak = np.where(peaks > 0, np.log(np.where(peaks > 0, peaks, 1.0)), -np.inf)
    if model.session_sd > 0:
        p1 = ndtr((log_peak - log_theta) / model.session_sd)
    else:
        p1 = (log_peak >= log_theta).astype(float)
    out = 1.0 - (1.0 - p1) ** int(sessions)
    return np.where(np.isnan(peaks), np.nan, out)


def incidence(peaks: np.ndarray, model: ObservationModel, sessions: int, background: float,
              z: np.ndarray) -> np.ndarray:
    """Per-patient probability of at least one report (drug or background) over the course.

    ``background`` is the placebo arm's once-per-patient rate over the same course (0–1).
    """
    if not 0.0 <= background < 1.0:
        raise ValueError(f"background rate must be in [0, 1), got {background}")
    return 1.0 - (1.0 - background) * (1.0 - drug_incidence(peaks, model, sessions, z))


@dataclass(frozen=True)
class CalibrationArm:
    """One active arm used for calibration: simulated peaks, its course and observed events."""

    peaks: np.ndarray
    sessions: int
    background: float
    z: np.ndarray
    events: int
    n: int


def pooled_incidence(arms, model: ObservationModel) -> float:
    """Predicted events over the arms divided by their patients (each arm weighted by its N)."""
    tot = sum(a.n * float(np.nanmean(incidence(a.peaks, model, a.sessions, a.background, a.z))) for a in arms)
    return tot / sum(a.n for a in arms)


def calibrate_threshold(arms, base: ObservationModel, target: float | None = None,
                        bounds: tuple[float, float] | None = None) -> float:
    """The median threshold ``θ`` at which the predicted pooled incidence of ``arms`` equals
    ``target`` (default: their observed events / patients), by bisection on ln θ (incidence
    falls as θ rises).  NaN when no θ within ``bounds`` reaches the target (say so: the model
    cannot produce that rate, e.g. the background alone exceeds it).  ``bounds`` default to 10⁻⁴
    and 10⁴ times the median simulated peak, in the readout's (or concentration's) unit."""
    if target is None:
        target = sum(a.events for a in arms) / sum(a.n for a in arms)

    def gap(log_theta: float) -> float:
        m = ObservationModel(math.exp(log_theta), base.between_cv, base.session_sd)
        return pooled_incidence(arms, m) - target

    if bounds is None:
        med = float(np.nanmedian(np.concatenate([np.ravel(a.peaks) for a in arms])))
        med = med if med > 0 and math.isfinite(med) else 1.0
        bounds = (1e-4 * med, 1e4 * med)
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    if gap(lo) < 0 or gap(hi) > 0:
        return math.nan
    for _ in range(60):  # 60 halvings of an ~18-wide log interval: far below any meaningful digit
        mid = 0.5 * (lo + hi)
        if gap(mid) > 0:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))

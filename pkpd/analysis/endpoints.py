"""Clinical endpoints: how a simulated readout becomes an event a trial would count.

A trial does not report "the readout reached 0.5"; it reports how many patients had, say, a
spontaneously reported dissociation adverse event at least once over a course of sessions, while
patients on placebo report the same term at a background rate.  The observation model here turns
each simulated subject's per-session readout peak into that once-per-patient incidence:

* each patient ``i`` has a reporting threshold ``θᵢ = θ · exp(ω_b zᵢ)`` on the readout scale
  (between-patient variability ``ω_b``, log-normal; ``θ`` is calibrated to trials);
* **tolerance model** (attenuation over repeated visits): before session ``k`` of a course the
  patient carries a tolerance load ``T_k = Σ_{j<k} 2^(−(t_k − t_j)/t½)`` from the earlier
  sessions (``t½`` in days; sessions before the counted window count too), and the log threshold
  is raised by ``δ · T_k`` (``δ`` the attenuation, calibrated; ``δ = 0``: every session has the
  first session's effect);
* in session ``k`` the drug causes a report when the session's peak exceeds
  ``θᵢ · exp(δ T_k + ω_s z_ik)`` (session-to-session variability ``ω_s``), so
  ``P_drug,i = 1 − Π_k (1 − Φ((ln peakᵢ − ln θᵢ − δ T_k) / ω_s))`` (a step when ``ω_s = 0``);
* the background (placebo) rate ``b`` over the same course adds independently:
  ``P_i = 1 − (1 − b)(1 − P_drug,i)``; the arm's incidence is the mean of ``P_i``.

Every session has the same exposure (one simulated session's peak): the tolerance acts on the
reporting threshold, i.e. on the effect a given exposure produces, not on the pharmacokinetics.
Every number of the model (θ, ω_b, ω_s, δ, t½, b) is a value with a grade in
``models/endpoints/endpoints.toml``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from pkpd.models.endpoints import EndpointDef


@dataclass(frozen=True)
class Course:
    """A treatment course.

    Attributes
    ----------
    sessions : int
        Sessions whose events are counted (≥ 1).
    interval : float
        Days between sessions (twice weekly: 3.5).
    prior : int
        Sessions given before the counted window at the same interval (they build tolerance;
        their events are not counted), e.g. a maintenance phase after an induction phase.
    """

    sessions: int
    interval: float = 3.5
    prior: int = 0

    def tolerance_load(self, half_life: float) -> np.ndarray:
        """``T_k`` for each counted session (length ``sessions``): the sum over earlier sessions of
        ``2^(−Δt/t½)``, ``half_life`` in days (∞: no loss, ``T_k`` = sessions before; 0: none)."""
        j = np.arange(self.prior, self.prior + self.sessions, dtype=float)  # sessions before each one
        if half_life <= 0:
            return np.zeros_like(j)
        if not math.isfinite(half_life):
            return j
        r = 2.0 ** (-self.interval / half_life)
        if r >= 1.0:
            return j
        return r * (1.0 - r ** j) / (1.0 - r)  # geometric sum Σ_{d=1}^{j} r^d

    def label(self) -> str:
        """In the schedule notation (:mod:`pkpd.scenario.schedules`): "8 every 3.5 d", "1"."""
        return f"{self.sessions} every {self.interval:g} d" if self.sessions > 1 else "1"

    def describe(self) -> str:
        """e.g. "8 sessions every 3.5 days (after 12 earlier)"."""
        s = f"{self.sessions} session{'s' if self.sessions != 1 else ''}"
        if self.sessions > 1:
            s += f" every {self.interval:g} days"
        return s + (f" (after {self.prior} earlier)" if self.prior else "")


def as_course(sessions) -> Course:
    """A :class:`Course` from a course or a number of (twice-weekly) sessions."""
    if isinstance(sessions, Course):
        return sessions
    return Course(int(sessions))


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
    attenuation : float
        ``δ``: rise of the log threshold per unit of tolerance load (the tolerance model); 0: none.
    half_life : float
        ``t½`` of the tolerance load, days.
    """

    threshold: float
    between_cv: float = 0.0
    session_sd: float = 0.0
    attenuation: float = 0.0
    half_life: float = math.inf


def _log_margin(peaks: np.ndarray, model: ObservationModel, z: np.ndarray) -> np.ndarray:
    """``ln peakᵢ − ln θᵢ`` (−∞ for a zero peak)."""
    log_theta = math.log(model.threshold) + model.between_cv * np.asarray(z, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_peak = np.where(peaks > 0, np.log(np.where(peaks > 0, peaks, 1.0)), -np.inf)
    return log_peak - log_theta


def course_probability(margin: np.ndarray, shifts: np.ndarray, session_sd: float) -> np.ndarray:
    """``1 − Π_k (1 − p_k)`` with ``p_k = Φ((margin − shift_k)/ω_s)`` (a step when ``ω_s = 0``)."""
    m = np.asarray(margin, dtype=float)[..., None]
    if not np.any(shifts):  # identical sessions: one evaluation, raised to the power
        p1 = ndtr(m[..., 0] / session_sd) if session_sd > 0 else (m[..., 0] >= 0).astype(float)
        return 1.0 - (1.0 - p1) ** len(shifts)
    x = m - np.asarray(shifts, dtype=float)
    p = ndtr(x / session_sd) if session_sd > 0 else (x >= 0).astype(float)
    return 1.0 - np.prod(1.0 - p, axis=-1)


def drug_incidence(peaks: np.ndarray, model: ObservationModel, sessions, z: np.ndarray) -> np.ndarray:
    """Per-patient probability of at least one drug-caused report over a course.

    Parameters
    ----------
    peaks : ndarray
        Each simulated patient's per-session readout peak (readout scale; NaN allowed → NaN).
    model : ObservationModel
    sessions : int or Course
        The course (a number: that many sessions, twice weekly, none before).
    z : ndarray
        One standard normal per patient (the patient's threshold; seeded by the caller).

    Returns
    -------
    ndarray
        Probabilities in [0, 1], shape of ``peaks``.
    """
    peaks = np.asarray(peaks, dtype=float)
    course = as_course(sessions)
    shifts = model.attenuation * course.tolerance_load(model.half_life)
    out = course_probability(_log_margin(peaks, model, z), shifts, model.session_sd)
    return np.where(np.isnan(peaks), np.nan, out)


def incidence(peaks: np.ndarray, model: ObservationModel, sessions, background: float,
              z: np.ndarray) -> np.ndarray:
    """Per-patient probability of at least one report (drug or background) over the course.

    ``background`` is the placebo arm's once-per-patient rate over the same course (0–1).
    """
    if not 0.0 <= background < 1.0:
        raise ValueError(f"background rate must be in [0, 1), got {background}")
    return 1.0 - (1.0 - background) * (1.0 - drug_incidence(peaks, model, sessions, z))


def scaled_background(rate: float, sessions: int, per: int) -> float:
    """A placebo rate observed over ``per`` sessions carried to ``sessions`` sessions, with a constant
    per-session hazard: ``1 − (1 − rate)^(sessions/per)`` (``per`` = 0: the rate as it is)."""
    if per <= 0:
        return rate
    return 1.0 - (1.0 - rate) ** (sessions / per)


@dataclass(frozen=True)
class CalibrationArm:
    """One active arm used for calibration: simulated peaks, its course and observed events."""

    peaks: np.ndarray
    sessions: object  # int or Course
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
    ``target`` (default: their observed events / patients), by Brent's method on ln θ (incidence
    falls as θ rises).  NaN when no θ within ``bounds`` reaches the target (say so: the model
    cannot produce that rate, e.g. the background alone exceeds it).  ``bounds`` default to 10⁻⁴
    and 10⁴ times the median simulated peak, in the readout's (or concentration's) unit."""
    if target is None:
        target = sum(a.events for a in arms) / sum(a.n for a in arms)
    # the model's numbers without θ: margins against θ = 1, shifted by ln θ in the search
    unit = ObservationModel(1.0, base.between_cv, base.session_sd, base.attenuation, base.half_life)
    pre = [(a.n, _log_margin(np.asarray(a.peaks, float), unit, a.z),
            base.attenuation * as_course(a.sessions).tolerance_load(base.half_life), a.background,
            np.isnan(np.asarray(a.peaks, float))) for a in arms]
    total = sum(a.n for a in arms)

    def gap(log_theta: float) -> float:
        s = 0.0
        for n, margin, shifts, bg, nan in pre:
            p = course_probability(margin - log_theta, shifts, base.session_sd)
            s += n * float(np.mean(1.0 - (1.0 - bg) * (1.0 - p[~nan])))
        return s / total - target

    if bounds is None:
        med = float(np.nanmedian(np.concatenate([np.ravel(a.peaks) for a in arms])))
        med = med if med > 0 and math.isfinite(med) else 1.0
        bounds = (1e-4 * med, 1e4 * med)
    lo, hi = math.log(bounds[0]), math.log(bounds[1])
    g_lo, g_hi = gap(lo), gap(hi)
    if g_lo < 0 or g_hi > 0:
        return math.nan
    if g_lo == 0 or g_hi == 0:
        return math.exp(lo if g_lo == 0 else hi)
    # lazy: importing scipy.optimize costs ≈ 0.1 s of every start (issue #16), and only the
    # calibration of θ comes here (tests/test_startup.py checks ``import pkpd`` leaves it out)
    from scipy.optimize import brentq
    return math.exp(brentq(gap, lo, hi, xtol=1e-10, rtol=1e-12))


def observation_model(ep: EndpointDef, model: str, threshold: float | None = None,
                      session_sd: float | None = None, attenuation: float | None = None) -> ObservationModel:
    """The observation model of endpoint ``ep`` for PD (or PK) model ``model``: its calibrated
    threshold, session SD and tolerance model unless other values are given (uncertainty ranges,
    calibration).  No tolerance model in the file: ``δ = 0``."""
    att = ep.attenuation(model)
    return ObservationModel(
        ep.threshold(model).value if threshold is None else threshold, ep.between_cv.value,
        ep.session(model).value if session_sd is None else session_sd,
        (att.value if att is not None else 0.0) if attenuation is None else attenuation,
        ep.half_life.value if ep.half_life is not None else math.inf)


def assessment_grid(ep: EndpointDef, horizon: float, step: float, window: float | None = None) -> tuple[float, float]:
    """``(horizon, step)`` in h of the simulation an endpoint is read from: its readout's peak from the
    first dose (t = 0) up to the assessment time — a trial row's ``window`` when given, else the
    endpoint's own ``assessment`` (the time it was calibrated at: an analgesia responder at 15 min),
    else the whole session (``horizon``) — on a step of at most a tenth of that time.  The one
    definition ``pkpd validate`` and ``pkpd tradeoff``/``optimize`` both read endpoints by."""
    w = window if window is not None else ep.assessment
    h = min(w, horizon) if w is not None else horizon
    return h, min(step, h / 10)


def default_background(ep: EndpointDef, course: Course) -> float:
    """The endpoint's placebo rate carried to ``course`` (constant per-session hazard over the
    ``background_sessions`` it was observed over)."""
    return scaled_background(ep.background.value, course.sessions, ep.background_sessions)


def uncertainty_models(ep: EndpointDef, model: str) -> list[ObservationModel]:
    """The observation model at its values and at each end of the calibrated ranges, one at a time:
    the threshold's range (its Wilson bounds) and the tolerance attenuation's range — at each end of
    the latter the whole refitted set (δ, session SD, threshold) when the file gives it (``ends``),
    since the calibration rows fix the threshold for each δ.  What the parameter-uncertainty
    interval spans besides the PK/PD replicates."""
    out = [observation_model(ep, model)]
    th = ep.threshold(model)
    for x in th.range or ():
        out.append(observation_model(ep, model, threshold=x))
    att = ep.attenuation(model)
    if att is not None and att.ends is not None:
        out += [observation_model(ep, model, threshold=t, session_sd=sd, attenuation=a) for a, sd, t in att.ends]
    elif att is not None:
        out += [observation_model(ep, model, attenuation=x) for x in att.range or ()]
    return out

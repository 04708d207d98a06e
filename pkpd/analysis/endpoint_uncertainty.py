"""Parameter uncertainty of a clinical endpoint's incidence: one number per parameter-uncertainty
replicate and per calibrated end (:func:`pkpd.analysis.endpoints.uncertainty_models`).

Each replicate ``r`` of a population run already has its own PK/PD typical values, drawn from the
published 95 % CIs (:func:`pkpd.simulation.sampling.uncertain_typicals`).  Here the same replicate
also gets its own draw of the observation model's *assumed* numbers — the between-patient SD
``ω_b``, the session-to-session SD ``ω_s`` (where it is an assumption, not fitted per model), the
tolerance half-life ``t½`` (days) and the endpoint's own background (placebo) rate (only where a
trial row gives no control arm) — drawn the way those CIs are: the range taken as a 95 % interval
around the value, log-normal for a positive range, logit-normal for a rate in (0, 1), normal
(clipped at 0) for a range that starts at 0.  Replicate 0 keeps every value as written, so a run
always contains the point estimate.  The spread of the replicate means is parameter uncertainty;
the Monte Carlo error of the point estimate (Wilson, on the simulated patients) is kept apart.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import replace

import numpy as np

from pkpd.analysis.endpoints import Course, incidence, scaled_background, uncertainty_models
from pkpd.models.endpoints import EndpointDef, GradedValue

_Z975 = 1.959963984540054


def draw_range(g: GradedValue | None, z: np.ndarray, upper: float = math.inf) -> np.ndarray | None:
    """Values of ``g`` for standard normals ``z`` (its range as a 95 % interval around its value), or
    None when ``g`` has no range (then it stays fixed)."""
    if g is None or g.range is None or g.range[0] == g.range[1]:
        return None
    lo, hi, v = g.range[0], g.range[1], g.value
    if upper == 1.0 and 0 < lo and hi < 1 and 0 < v < 1:  # a rate: logit-normal
        lg = lambda x: math.log(x / (1 - x))
        return 1 / (1 + np.exp(-(lg(v) + (lg(hi) - lg(lo)) / (2 * _Z975) * z)))
    if lo > 0 and v > 0:  # positive: log-normal
        return v * np.exp((math.log(hi) - math.log(lo)) / (2 * _Z975) * z)
    return np.clip(v + (hi - lo) / (2 * _Z975) * z, 0.0, upper if upper < math.inf else None)


def assumed_draws(ep: EndpointDef, model: str, replicates: int, seed: int = 0,
                  own_background: bool = True) -> dict[str, np.ndarray]:
    """Per replicate (length ``replicates``; index 0 = the values as written): draws of the assumed
    numbers that have a range — ``between_cv``, ``session_sd`` (unless fitted for ``model``),
    ``half_life`` (with a tolerance model for ``model``) and, with ``own_background``, the
    endpoint's ``background`` rate.  The stream depends on the seed, the endpoint and the model only."""
    g = np.random.default_rng([seed, 31, zlib.crc32(f"{ep.name}/{model}".encode())])
    cands = [("between_cv", ep.between_cv, math.inf),
             ("session_sd", ep.session_sd if model not in ep.session_sds else None, math.inf),
             ("half_life", ep.half_life if ep.attenuation(model) is not None else None, math.inf),
             ("background", ep.background if own_background else None, 1.0)]
    out = {}
    for name, gv, upper in cands:
        z = g.standard_normal(max(replicates, 1))  # drawn for every candidate: one stream per name
        z[0] = 0.0
        x = draw_range(gv, z, upper)
        if x is not None:
            out[name] = x
    return out


def replicate_incidence(peaks: np.ndarray, replicate: np.ndarray, ep: EndpointDef, model: str, course: Course,
                        background: float, z: np.ndarray, seed: int = 0,
                        own_background: bool = True, assumed: bool = True) -> np.ndarray:
    """Mean incidence per (calibrated end, replicate), shape ``(len(uncertainty_models), R)``: the
    observation model of each end with replicate ``r``'s draw of the assumed numbers.

    ``background`` is the rate used at the values as written (for the course); with
    ``own_background`` it is the endpoint's own and its range is drawn (carried to the course at a
    constant hazard), else (a trial's control arm) it stays fixed.  NaN for a replicate with no
    finite peak.  ``assumed=False``: the assumed numbers stay as written (only the PK/PD replicates and
    the calibrated ends: what the interval was before they were propagated)."""
    peaks = np.asarray(peaks, dtype=float)
    reps = np.unique(replicate)
    draws = assumed_draws(ep, model, int(reps.max()) + 1 if reps.size else 1, seed, own_background) if assumed else {}
    models = uncertainty_models(ep, model)
    out = np.full((len(models), reps.size), np.nan)
    for j, r in enumerate(reps):
        sel = replicate == r
        kw = {k: float(v[r]) for k, v in draws.items() if k in ("between_cv", "session_sd", "half_life")}
        bg = background
        if "background" in draws:
            bg = scaled_background(float(draws["background"][r]), course.sessions, ep.background_sessions)
        for k, m in enumerate(models):
            p = incidence(peaks[sel], replace(m, **kw), course, min(bg, 1 - 1e-12), z[sel])
            ok = np.isfinite(p)
            if ok.any():
                out[k, j] = float(np.mean(p[ok]))
    return out


def parameter_interval(per: np.ndarray) -> tuple[float, float]:
    """5–95 % of the replicate means, each end over the calibrated ends (their lowest, their highest)."""
    with np.errstate(all="ignore"):
        return float(np.nanpercentile(np.nanmin(per, axis=0), 5)), float(np.nanpercentile(np.nanmax(per, axis=0), 95))

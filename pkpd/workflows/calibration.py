"""Calibration of endpoint observation models to the calibration-set trials (never the held-out
rows): the median reporting threshold per (endpoint, model); where calibration rows with two
course lengths identify it, the session-to-session SD by profile likelihood; and where rows with
three or more course lengths separate the two ways incidence can grow over a course (new patients
crossing their threshold in later sessions vs. the threshold rising with tolerance), the session SD
and the tolerance model's attenuation ``δ`` together, each with its profile-likelihood 95 % range.
The fitted values are written back into ``models/endpoints/endpoints.toml`` with grade ``calibrated`` and
the trials named (``pkpd validate --calibrate --write``)."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from pkpd.analysis.endpoints import (CalibrationArm, ObservationModel, calibrate_threshold, observation_model,
                                     pooled_incidence)
from pkpd.analysis.tradeoff import wilson
from pkpd.models.endpoints import EndpointDef, GradedValue

_SD_GRID = np.linspace(0.0, 1.5, 31)  # session-to-session SDs profiled (log threshold)
_SD_GRID_2D = np.linspace(0.0, 1.5, 7)  # the same, jointly with the attenuation (coarser: 7 × 13 fits)
_ATT_GRID = np.linspace(0.0, 3.0, 13)  # attenuation δ profiled: log-threshold rise per unit tolerance load
_CHI2_1_95 = 3.841458820694124  # profile-likelihood 95 % range: deviance within this of the minimum


def calibrate(sims, endpoints: dict[str, EndpointDef]) -> dict[tuple[str, str, str], GradedValue]:
    """Fitted values keyed ``(endpoint, table, model)`` with table ``threshold``,
    ``session_sd_by_model`` or ``attenuation_by_model``; thresholds matching the pooled observed rate
    (range: its Wilson 95 % bounds), session SDs and attenuations by profile likelihood over the
    calibration arms.  An endpoint without a tolerance model (no ``tolerance_half_life``) gets none."""
    groups: dict[tuple[str, str], list] = {}
    for s in sims:
        if s.trial.set == "calibration":
            groups.setdefault((s.trial.endpoint, s.pd), []).append(s)
    out = {}
    for (ep_name, pd), ss in groups.items():
        ep = endpoints[ep_name]
        arms = [CalibrationArm(s.peaks, s.trial.course, s.background, s.z, s.trial.active.events,
                               s.trial.active.n) for s in ss]
        names = "; ".join(f"{s.trial.id} ({s.trial.source}, {s.trial.active.events}/{s.trial.active.n})" for s in ss)
        base = observation_model(ep, pd, threshold=1.0, session_sd=ep.session_sd.value)
        how = f"calibrated by 'pkpd validate --calibrate' (profile likelihood) to {names}"
        lengths = len({a.sessions.sessions for a in arms})
        if ep.half_life is not None and lengths >= 3:
            (sd, sd_range), (att, att_range), end_sds = _profile_2d(arms, base)
            ends = tuple((a, e_sd, calibrate_threshold(arms, replace(base, session_sd=e_sd, attenuation=a)))
                         for a, e_sd in zip(att_range, end_sds))
            base = replace(base, session_sd=sd, attenuation=att)
            out[(ep_name, "attenuation_by_model", pd)] = GradedValue(
                att, "calibrated", how, "tolerance model: rise of the log reporting threshold per unit tolerance "
                "load; range: profile-likelihood 95 % interval", att_range, ends)
            out[(ep_name, "session_sd_by_model", pd)] = GradedValue(
                sd, "calibrated", how, "range: profile-likelihood 95 % interval", sd_range)
        elif lengths > 1:
            sd, sd_range = _profile_session_sd(arms, base)
            base = replace(base, session_sd=sd)
            out[(ep_name, "session_sd_by_model", pd)] = GradedValue(
                sd, "calibrated", how, "range: profile-likelihood 95 % interval", sd_range)
        k, n = sum(a.events for a in arms), sum(a.n for a in arms)
        lo, hi = (float(x) for x in wilson(np.array(k), n))
        theta = calibrate_threshold(arms, base)
        out[(ep_name, "threshold", pd)] = GradedValue(
            theta, "calibrated", f"calibrated by 'pkpd validate --calibrate' to {names}",
            "range: thresholds matching the Wilson 95 % bounds of the pooled rate",
            (calibrate_threshold(arms, base, target=hi), calibrate_threshold(arms, base, target=lo)))
    return out


def _deviance(arms, base: ObservationModel) -> float:
    """Binomial deviance of the arms with the threshold refitted to their pooled rate (∞ where no
    threshold reaches it)."""
    theta = calibrate_threshold(arms, base)
    if math.isnan(theta):
        return math.inf
    m = replace(base, threshold=theta)
    d = 0.0
    for a in arms:
        p = min(max(pooled_incidence([a], m), 1e-12), 1 - 1e-12)
        d -= 2 * (a.events * math.log(p) + (a.n - a.events) * math.log(1 - p))
    return d


def _profile_session_sd(arms, base: ObservationModel) -> tuple[float, tuple[float, float]]:
    """The session SD minimising the binomial deviance of the arms (threshold refitted to the pooled
    rate at each SD), with the SDs whose deviance lies within χ²₁(95 %) of the minimum."""
    dev = np.array([_deviance(arms, replace(base, session_sd=float(sd))) for sd in _SD_GRID])
    return _best(_SD_GRID, dev)


def _best(grid: np.ndarray, dev: np.ndarray) -> tuple[float, tuple[float, float]]:
    """The grid value of least deviance and the range within χ²₁(95 %) of it."""
    best = int(np.argmin(dev))
    ok = grid[dev <= dev[best] + _CHI2_1_95]
    return float(grid[best]), (float(ok.min()), float(ok.max()))


def _profile_2d(arms, base: ObservationModel):
    """Session SD and attenuation jointly: the grid pair of least deviance; each one's range from its
    profile (the deviance minimised over the other) within χ²₁(95 %) of the minimum."""
    dev = np.array([[_deviance(arms, replace(base, session_sd=float(sd), attenuation=float(a)))
                     for a in _ATT_GRID] for sd in _SD_GRID_2D])
    i, j = np.unravel_index(int(np.argmin(dev)), dev.shape)
    sd_fit, att_fit = _best(_SD_GRID_2D, dev.min(axis=1)), _best(_ATT_GRID, dev.min(axis=0))
    # the session SD that goes with each end of the attenuation range (its profile's best)
    end_sds = tuple(float(_SD_GRID_2D[int(np.argmin(dev[:, list(_ATT_GRID).index(a)]))]) for a in att_fit[1])
    return (float(_SD_GRID_2D[i]), sd_fit[1]), (float(_ATT_GRID[j]), att_fit[1]), end_sds


def calibration_toml(fitted: dict[tuple[str, str, str], GradedValue]) -> str:
    """The fitted values as TOML lines under their ``[endpoints.NAME.TABLE]`` headers."""
    lines = []
    for (ep, table, pd), g in sorted(fitted.items()):
        if math.isnan(g.value):
            lines.append(f"# {ep} / {pd}: no threshold reaches the observed rate (the background alone exceeds "
                         "it, or the model never gets there)")
            continue
        lines.append(f"# [endpoints.{ep}.{table}]")
        lines.append(_line(pd, g))
    return "\n".join(lines)


def _line(pd: str, g: GradedValue) -> str:
    lo, hi = g.range
    ends = "" if g.ends is None else ("ends = [" + ", ".join("[" + ", ".join(f"{x:.4g}" for x in e) + "]"
                                                            for e in g.ends) + "], ")
    return (f'{pd} = {{ value = {g.value:.4g}, grade = "calibrated", range = [{lo:.4g}, {hi:.4g}], {ends}'
            f'source = "{g.source}" }}')


def write_fitted(text: str, fitted: dict[tuple[str, str, str], GradedValue]) -> str:
    """``models/endpoints/endpoints.toml`` text with each fitted value written into its table (replacing the
    model's line or adding one; the table is created after the endpoint's last line if missing);
    comments and every other line are kept.  Unreachable fits (NaN) are left out."""
    lines = text.splitlines()
    for (ep, table, pd), g in sorted(fitted.items()):
        if math.isnan(g.value):
            continue
        header = f"[endpoints.{ep}.{table}]"
        if header not in (x.strip() for x in lines):
            lines[_end_of_endpoint(lines, ep):_end_of_endpoint(lines, ep)] = ["", header]
        start = next(i for i, x in enumerate(lines) if x.strip() == header) + 1
        end = next((i for i in range(start, len(lines)) if lines[i].startswith("[") or not lines[i].strip()),
                   len(lines))
        mine = [i for i in range(start, end) if lines[i].split("=")[0].strip() == pd]
        if mine:
            lines[mine[0]] = _line(pd, g)
        else:
            lines.insert(end, _line(pd, g))
    return "\n".join(lines) + "\n"


def _end_of_endpoint(lines: list[str], ep: str) -> int:
    """Index after the last non-blank line of ``[endpoints.EP…]`` tables."""
    last = len(lines)
    inside = False
    for i, x in enumerate(lines):
        if x.startswith("["):
            inside = x.strip().startswith(f"[endpoints.{ep}]") or x.strip().startswith(f"[endpoints.{ep}.")
        if inside and x.strip():
            last = i + 1
    return last


def with_fitted(endpoints: dict[str, EndpointDef], fitted) -> dict[str, EndpointDef]:
    """Endpoint definitions with freshly fitted values substituted (for a what-if run)."""
    out = dict(endpoints)
    for (ep, table, pd), g in fitted.items():
        if math.isnan(g.value):
            continue
        if table == "threshold":
            out[ep] = replace(out[ep], thresholds={**out[ep].thresholds, pd: g})
        elif table == "attenuation_by_model":
            out[ep] = replace(out[ep], attenuations={**out[ep].attenuations, pd: g})
        else:
            out[ep] = replace(out[ep], session_sds={**out[ep].session_sds, pd: g})
    return out


def without_tolerance(endpoints: dict[str, EndpointDef]) -> dict[str, EndpointDef]:
    """The endpoints with the tolerance model taken out (every session has the first one's effect)
    and no fitted session SDs or attenuations: what the calibration gives without attenuation."""
    return {k: replace(e, half_life=None, attenuations={}, session_sds={}) for k, e in endpoints.items()}

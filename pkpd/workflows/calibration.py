"""Calibration of endpoint observation models to the calibration-set trials (never the held-out
rows): the median reporting threshold per (endpoint, model), and — where calibration rows with
different numbers of sessions identify it — the session-to-session SD by profile likelihood.
The fitted values are written back into ``models/endpoints/endpoints.toml`` with grade ``calibrated`` and
the trials named (``pkpd validate --calibrate --write``)."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from pkpd.analysis.endpoints import CalibrationArm, ObservationModel, calibrate_threshold, pooled_incidence
from pkpd.analysis.tradeoff import wilson
from pkpd.models.endpoints import EndpointDef, GradedValue

_SD_GRID = np.linspace(0.0, 1.5, 31)  # session-to-session SDs profiled (log threshold)
_CHI2_1_95 = 3.841458820694124  # profile-likelihood 95 % range: deviance within this of the minimum


def calibrate(sims, endpoints: dict[str, EndpointDef]) -> dict[tuple[str, str, str], GradedValue]:
    """Fitted values keyed ``(endpoint, table, model)`` with table ``threshold`` or
    ``session_sd_by_model``; thresholds matching the pooled observed rate (range: its Wilson 95 %
    bounds), session SDs by profile likelihood over the calibration arms."""
    groups: dict[tuple[str, str], list] = {}
    for s in sims:
        if s.trial.set == "calibration":
            groups.setdefault((s.trial.endpoint, s.pd), []).append(s)
    out = {}
    for (ep_name, pd), ss in groups.items():
        ep = endpoints[ep_name]
        arms = [CalibrationArm(s.peaks, s.trial.sessions, s.background, s.z, s.trial.active.events,
                               s.trial.active.n) for s in ss]
        names = "; ".join(f"{s.trial.id} ({s.trial.source}, {s.trial.active.events}/{s.trial.active.n})" for s in ss)
        sd = ep.session_sd.value
        if len({a.sessions for a in arms}) > 1:
            sd, sd_range = _profile_session_sd(arms, ep.between_cv.value)
            out[(ep_name, "session_sd_by_model", pd)] = GradedValue(
                sd, "calibrated", f"calibrated by 'pkpd validate --calibrate' (profile likelihood) to {names}",
                "range: profile-likelihood 95 % interval", sd_range)
        base = ObservationModel(1.0, ep.between_cv.value, sd)
        k, n = sum(a.events for a in arms), sum(a.n for a in arms)
        lo, hi = (float(x) for x in wilson(np.array(k), n))
        theta = calibrate_threshold(arms, base)
        out[(ep_name, "threshold", pd)] = GradedValue(
            theta, "calibrated", f"calibrated by 'pkpd validate --calibrate' to {names}",
            "range: thresholds matching the Wilson 95 % bounds of the pooled rate",
            (calibrate_threshold(arms, base, target=hi), calibrate_threshold(arms, base, target=lo)))
    return out


def _profile_session_sd(arms, between_cv: float) -> tuple[float, tuple[float, float]]:
    """The session SD minimising the binomial deviance of the arms (threshold refitted to the pooled
    rate at each SD), with the SDs whose deviance lies within χ²₁(95 %) of the minimum."""
    dev = []
    for sd in _SD_GRID:
        base = ObservationModel(1.0, between_cv, float(sd))
        theta = calibrate_threshold(arms, base)
        if math.isnan(theta):
            dev.append(math.inf)
            continue
        m = replace(base, threshold=theta)
        d = 0.0
        for a in arms:
            p = min(max(pooled_incidence([a], m), 1e-12), 1 - 1e-12)
            d -= 2 * (a.events * math.log(p) + (a.n - a.events) * math.log(1 - p))
        dev.append(d)
    dev = np.array(dev)
    best = int(np.argmin(dev))
    ok = _SD_GRID[dev <= dev[best] + _CHI2_1_95]
    return float(_SD_GRID[best]), (float(ok.min()), float(ok.max()))


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
    return (f'{pd} = {{ value = {g.value:.4g}, grade = "calibrated", range = [{lo:.4g}, {hi:.4g}], '
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
        else:
            out[ep] = replace(out[ep], session_sds={**out[ep].session_sds, pd: g})
    return out

"""Multiple-dose NCA: the quantities of the last dosing interval [t_d, t_d + τ].

Definitions (PKNCA names in brackets; Gabrielsson & Weiner 2000, ch. 2):

* AUCτ [``auclast`` over the interval]: linear-up / log-down from the dose to τ after it.  The
  interval's edges need samples: a pre-dose sample at most ``EDGE_TOLERANCE``·τ before the dose
  and a sample within that distance of t_d + τ, taken as the concentrations at the edges (the
  nominal-time convention; the result says which samples were used).  After an IV bolus the
  curve starts at the back-extrapolated C0.  Before the very first dose of a subject not at
  steady state the concentration is 0 without a sample.
* Cmax, Tmax (from the dose), Cmin [``cmin``] over the interval's samples; Ctrough [``ctrough``] the
  concentration at its end; Cavg [``cav``] = AUCτ/τ; swing = 100·(Cmax − Cmin)/Cmin %;
  fluctuation [``deg.fluc``] = 100·(Cmax − Cmin)/Cavg %.
* Steady state is checked, not assumed: the pre-dose and end-of-interval concentrations must lie
  within ``STEADY_STATE_TOLERANCE`` (10 %) of each other; only then are CLss(/F) = dose/AUCτ and
  Vz(/F) = CLss/λz reported (a dose declared at steady state, SS=1, is trusted when no pre-dose
  sample allows the check).
* Accumulation: observed Rac = (AUCτ,last/dose_last) / (AUCτ,first/dose_first), when the first
  interval is sampled and has the same τ; predicted Rac = 1/(1 − e^(−λz·τ)) (one-compartment
  superposition, exact for linear kinetics with one exponential phase).
* λz from the samples after the last dose's Tmax (through Tlast, also after the interval).
"""
from __future__ import annotations

import math
import numpy as np
from pkpd.analysis.nca_core import LambdaZ, areas, back_extrapolated_c0, fit_lambda_z
from pkpd.analysis.nca_dosing import Dosing, dosing_interval

#: How far from an interval edge (fraction of τ) a sample may lie and still count as at the edge.
EDGE_TOLERANCE = 0.02
#: Largest relative difference between pre-dose and end-of-interval concentrations at steady state.
STEADY_STATE_TOLERANCE = 0.10

_INTERVAL_KEYS = ("auc_tau", "cmin", "ctrough", "cavg", "swing", "fluctuation", "cl", "vz", "accumulation")
_SINGLE_DOSE_KEYS = ("auc_0_inf", "auc_pct_extrap", "aumc_0_inf", "mrt")


def _edges(t: np.ndarray, dose_t: float, tau: float) -> tuple[int | None, int | None]:
    """Index of the pre-dose sample (latest within the tolerance before the dose) and of the sample
    closest to dose + τ (within the tolerance); None where there is none."""
    tol = EDGE_TOLERANCE * tau
    pre = np.flatnonzero((t >= dose_t - tol) & (t <= dose_t))
    end = np.flatnonzero(np.abs(t - (dose_t + tau)) <= tol)
    i1 = int(end[np.argmin(np.abs(t[end] - (dose_t + tau)))]) if end.size else None
    return (int(pre[-1]) if pre.size else None), i1


def interval_auc(t: np.ndarray, c: np.ndarray, dose_t: float, tau: float, route: str,
                 first_dose: bool) -> tuple[float, int | None, int | None, str]:
    """AUC over [dose_t, dose_t + τ] (ng·h/mL), the indices of the pre-dose and end samples, and why
    the AUC is NaN ('' when it is not)."""
    i0, i1 = _edges(t, dose_t, tau)
    where = f"{dose_t:g} h"
    if i1 is None:
        return math.nan, i0, i1, f"no sample at the end of the dosing interval ({dose_t + tau:g} h ± {EDGE_TOLERANCE * tau:.2g} h)"
    inside = (t > (t[i0] if i0 is not None else dose_t)) & (t < t[i1]) & (t > dose_t - EDGE_TOLERANCE * tau)
    if route == "iv-bolus":
        window = (t > dose_t) & (t <= t[i1])
        start = back_extrapolated_c0(t[window], c[window], dose_t)
        inside &= t > dose_t
    elif i0 is not None:
        start = float(c[i0])
    elif first_dose:
        start = 0.0  # nothing was given before this dose
    else:
        return math.nan, i0, i1, f"no pre-dose sample at the dose at {where} (± {EDGE_TOLERANCE * tau:.2g} h)"
    tt = np.concatenate([[dose_t], t[inside], [dose_t + tau]])
    cc = np.concatenate([[start], c[inside], [c[i1]]])
    return float(np.sum(areas(tt, cc))), i0, i1, ""


def _steady_state(c: np.ndarray, i0: int | None, i1: int, declared: bool) -> tuple[bool, str]:
    """Whether the interval is at steady state, and why not."""
    if i0 is None:
        return declared, "" if declared else "steady state cannot be checked without a pre-dose sample"
    pre, end = float(c[i0]), float(c[i1])
    top = max(pre, end)
    diff = abs(pre - end) / top if top > 0 else 0.0
    if diff <= STEADY_STATE_TOLERANCE:
        return True, ""
    return False, (f"not at steady state: pre-dose {pre:.4g} and end-of-interval {end:.4g} ng/mL differ by "
                   f"{100 * diff:.0f} % (> {100 * STEADY_STATE_TOLERANCE:.0f} %); dose/AUCtau is a clearance only "
                   f"at steady state")


def _accumulation(t, c, dosing: Dosing, times, amounts, tau, auc_last) -> tuple[float, list, list]:
    """Observed accumulation ratio (dose-normalised AUCτ last/first), notes and flags."""
    if dosing.steady_state:
        return math.nan, [("accumulation", "the first dose was already at steady state (SS=1): no first-dose "
                                           "interval to compare with")], []
    if abs((times[1] - times[0]) - tau) > 1e-3 * tau:
        return math.nan, [("accumulation", f"the first dosing interval ({times[1] - times[0]:g} h) differs from "
                                           f"tau ({tau:g} h)")], []
    auc_first, _, _, why = interval_auc(t, c, float(times[0]), tau, dosing.route, first_dose=True)
    if not auc_first > 0:
        return math.nan, [("accumulation", f"first dosing interval: {why or 'AUCtau is 0'}")], []
    flags = []
    if amounts[0] != amounts[-1]:
        flags.append(f"Rac is dose-normalised (first dose {amounts[0]:g} mg, last {amounts[-1]:g} mg)")
    return (auc_last / amounts[-1]) / (auc_first / amounts[0]), [], flags


def multiple_dose(t: np.ndarray, c: np.ndarray, dosing: Dosing, n_doses: int) -> dict:
    """The fields of a multiple-dose :class:`~pkpd.analysis.nca_result.NCAResult` (module docstring)
    for ``(t, c)`` (h, ng/mL ≥ 0, at least one positive) and the first ``n_doses`` doses."""
    times = np.asarray(dosing.times[:n_doses], float)
    amounts = np.asarray(dosing.amounts[:n_doses], float)
    last, dose = float(times[-1]), float(amounts[-1])
    tau, why_tau = dosing_interval(times, dosing.tau)
    notes: list[tuple[str, str]] = []
    flags: list[str] = []
    out = dict(kind="multiple", route=dosing.route, n_doses=n_doses, dose=dose,
               tau=tau if tau is not None else math.nan)
    pos = np.flatnonzero(c > 0)
    out.update(clast=float(c[pos[-1]]), tlast=float(t[pos[-1]]))
    in_int = (t >= last) & (t <= last + (tau if tau is not None else math.inf) * (1 + EDGE_TOLERANCE))
    if not np.any(in_int & (c > 0)):
        notes.append(("cmax", f"no positive sample after the last dose ({last:g} h)"))
        return dict(out, notes=notes + [(k, "no sample after the last dose") for k in _INTERVAL_KEYS])
    idx = np.flatnonzero(in_int)
    imax = int(idx[np.argmax(c[idx])])
    out.update(cmax=float(c[imax]), tmax=float(t[imax]) - last)
    after = (t > t[imax]) & (t >= last + dosing.infusion_duration) & (t <= out["tlast"])
    lz, why_lz = fit_lambda_z(t[after], c[after])
    out.update(_lambda_z_fields(lz))
    if lz is None:
        notes += [(k, why_lz) for k in ("lambda_z", "half_life", "vz", "accumulation_pred")]
    why_single = f"{n_doses} doses" if n_doses > 1 else "dosing at steady state"
    notes += [(k, f"{why_single}: describes a single dose; see AUCtau") for k in _SINGLE_DOSE_KEYS]
    if tau is None:
        return dict(out, notes=notes + [(k, why_tau) for k in _INTERVAL_KEYS + ("accumulation_pred",)], flags=flags)
    if lz is not None:
        out["accumulation_pred"] = 1.0 / (1.0 - math.exp(-lz.lambda_z * tau))
    first = n_doses == 1 and not dosing.steady_state
    auc, i0, i1, why = interval_auc(t, c, last, tau, dosing.route, first_dose=first)
    if not np.isfinite(auc):
        return dict(out, notes=notes + [(k, why) for k in _INTERVAL_KEYS], flags=flags)
    window = c[(i0 if i0 is not None else int(np.argmax(t >= last))):i1 + 1]
    cmin = float(window.min())
    out.update(auc_tau=auc, cmin=cmin, ctrough=float(c[i1]), cavg=auc / tau,
               fluctuation=100 * (out["cmax"] - cmin) / (auc / tau) if auc > 0 else math.nan)
    if cmin > 0:
        out["swing"] = 100 * (out["cmax"] - cmin) / cmin
    else:
        notes.append(("swing", "Cmin is 0 (below quantification): swing is infinite"))
    ss, why_ss = _steady_state(c, i0, i1, dosing.steady_state)
    if not math.isfinite(dose):
        notes += [("cl", "no dose amount"), ("vz", "no dose amount")]
    elif not ss:
        notes += [("cl", why_ss), ("vz", why_ss)]
    elif auc > 0:
        out["cl"] = dose / auc * 1000.0  # mg / (ng·h/mL) = 1000 L/h
        if lz is not None:
            out["vz"] = out["cl"] / lz.lambda_z
        if i0 is None:
            flags.append("steady state assumed (declared SS=1), not checked: no pre-dose sample")
    if n_doses >= 2:
        acc, n2, f2 = _accumulation(t, c, dosing, times, amounts, tau, auc)
        out["accumulation"] = acc
        notes += n2
        flags += f2
    else:
        notes.append(("accumulation", "one dose in the data (at steady state): no first-dose interval"))
    return dict(out, notes=notes, flags=flags)


def _lambda_z_fields(lz: LambdaZ | None) -> dict:
    """The λz fields of a result (empty without a fit)."""
    if lz is None:
        return {}
    return dict(lambda_z=lz.lambda_z, half_life=lz.half_life, lambda_z_points=lz.n_points,
                lambda_z_r2_adj=lz.r2_adj, lambda_z_time_first=lz.time_first, lambda_z_time_last=lz.time_last,
                span_ratio=lz.span_ratio)

"""Non-compartmental analysis (NCA) of concentration–time data, single and multiple dose.

:func:`nca` analyses one subject.  With one dose (and not at steady state) it is a single-dose
analysis; with more doses before the last sample, or a dose at steady state, it analyses the last
dosing interval (:mod:`pkpd.analysis.nca_multiple`) and refuses the single-dose quantities, which
would be wrong there (AUC0–∞, MRT and clearance from AUC0–∞ assume that all the drug came from one
dose).  Single-dose conventions (as in PKNCA and Phoenix WinNonlin):

* AUC by the linear-up / log-down rule from the dose to Tlast (the last concentration above zero
  or LLOQ), AUMC likewise on t·C.  Without a sample at the dose the curve starts at 0, or at the
  back-extrapolated C0 after an IV bolus (:mod:`pkpd.analysis.nca_core`).
* λz by PKNCA's best-adjusted-R² rule on the samples after Tmax (Tmax included for an IV bolus) and
  after the end of an infusion; R²adj, the first and last time used, the number of points and the
  span ratio are reported.
* AUC0–∞ = AUC0–tlast + Clast/λz; % extrapolated, flagged above 20 %; MRT = AUMC0–∞/AUC0–∞ − T_inf/2;
  CL = dose/AUC0–∞ and Vz = CL/λz, named CL/F and Vz/F after extravascular doses.
* With ``tau`` given: AUC0–τ and the predicted accumulation ratio 1/(1 − e^(−λz·τ)).

Units: time h, concentration ng/mL, dose mg → AUC ng·h/mL, CL L/h (mg / (ng·h/mL) × 1000), Vz L.
Every quantity that cannot be estimated is NaN with the reason in ``NCAResult.notes``.
"""
from __future__ import annotations

import dataclasses
import math
import numpy as np
from pkpd.analysis.nca_core import areas, back_extrapolated_c0, fit_lambda_z, moment_areas, rises_again
from pkpd.analysis.nca_dosing import Dosing
from pkpd.analysis.nca_multiple import EDGE_TOLERANCE, multiple_dose, _lambda_z_fields
from pkpd.analysis.nca_result import EXTRAPOLATION_LIMIT_PCT, UNITS, NCAResult, label
from pkpd.errors import PkpdError

__all__ = ["nca", "NCAResult", "Dosing", "UNITS", "label"]

_NEEDS_LAMBDA_Z = ("auc_0_inf", "auc_pct_extrap", "half_life", "aumc_0_inf", "mrt", "cl", "vz",
                   "accumulation_pred")


def _checked(t, c, lloq: float) -> tuple[np.ndarray, np.ndarray]:
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
    if not (np.isfinite(lloq) and lloq >= 0):
        raise PkpdError("NCA: the LLOQ must be a concentration ≥ 0")
    return t, np.where(c <= lloq, 0.0, c)


def _dosing(dose_mg, iv_bolus, infusion_duration, dosing: Dosing | None, tau, steady_state) -> Dosing:
    """The dosing of the call: ``dosing`` (with ``tau``/``steady_state`` applied) or one dose at 0."""
    if dosing is None:
        route = "iv-bolus" if iv_bolus else "iv-infusion" if infusion_duration > 0 else "unknown"
        dosing = Dosing.single(dose_mg, route=route, infusion_duration=infusion_duration)
    elif dose_mg is not None or iv_bolus or infusion_duration:
        raise PkpdError("NCA: give the doses either as dose_mg/iv_bolus/infusion_duration or as dosing, not both")
    changes = {}
    if tau is not None:
        changes["tau"] = float(tau)
    if steady_state:
        changes["steady_state"] = True
    return dataclasses.replace(dosing, **changes) if changes else dosing


def nca(t, c, dose_mg: float | None = None, *, iv_bolus: bool = False, infusion_duration: float = 0.0,
        lloq: float = 0.0, dosing: Dosing | None = None, tau: float | None = None,
        steady_state: bool = False) -> NCAResult:
    """NCA of one concentration–time profile.

    Parameters
    ----------
    t : array_like, shape (n,)
        Sampling times, h, strictly increasing, at least 2.
    c : array_like, shape (n,)
        Concentrations, ng/mL, finite and ≥ 0; values ≤ ``lloq`` count as below quantification (0).
    dose_mg : float, optional
        One dose at time 0, mg (gives CL and Vz); or give ``dosing``.
    iv_bolus : bool
        The dose at 0 was an IV bolus (C0 back-extrapolated; Cmax may enter the λz fit).
    infusion_duration : float
        The dose at 0 was an IV infusion of this duration, h (MRT corrected by half of it).
    lloq : float
        Lower limit of quantification, ng/mL.
    dosing : Dosing, optional
        All doses of the subject (times, amounts, route class, steady state, τ) instead of the
        three arguments above.
    tau : float, optional
        Dosing interval, h (overrides the detected one).
    steady_state : bool
        The subject was at steady state before the first dose, dosing every ``tau``.

    Returns
    -------
    NCAResult
        ``kind`` "single" or "multiple"; the quantities in :data:`UNITS`; ``flags`` (warnings) and
        ``notes`` (why a quantity is NaN).  An all-zero profile gives Cmax, Clast and AUC0–tlast
        of 0 and notes for the rest.

    Raises
    ------
    PkpdError
        Mismatched, non-finite, unsorted or negative input; no dose before the last sample.
    """
    t, c = _checked(t, c, lloq)
    for name, v, positive in (("dose", dose_mg, True), ("infusion_duration", infusion_duration, False)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating))
                              or not np.isfinite(v) or v < 0 or (positive and v == 0)):
            raise PkpdError(f"NCA: {name} must be a finite number {'> 0' if positive else '≥ 0'} (got {v!r})",
                            field=f"--{name.replace('_', '-')}")
    dosing = _dosing(dose_mg, iv_bolus, infusion_duration, dosing, tau, steady_state)
    n_doses = int(np.sum(np.asarray(dosing.times) < t[-1]))
    if n_doses == 0:
        raise PkpdError(f"NCA: no dose before the last sample ({t[-1]:g} h)")
    if not np.any(c > 0):
        return NCAResult(route=dosing.route, n_doses=n_doses, cmax=0.0, clast=0.0, auc_0_t=0.0,
                         notes=tuple((k, "every concentration is 0 or below LLOQ") for k in UNITS
                                     if k not in ("cmax", "clast", "auc_0_t", "n_doses")))
    if n_doses > 1 or dosing.steady_state:
        fields = multiple_dose(t, c, dosing, n_doses)
        fields["auc_0_t"] = _auc_record(t, c)
        fields["notes"], fields["flags"] = tuple(fields.get("notes", ())), tuple(fields.get("flags", ()))
        return NCAResult(**fields)
    return _single_dose(t, c, dosing)


def _auc_record(t: np.ndarray, c: np.ndarray) -> float:
    """AUC from the first sample to Tlast of a whole record."""
    last = int(np.flatnonzero(c > 0)[-1])
    return float(np.sum(areas(t[: last + 1], c[: last + 1])))


def _profile(tt: np.ndarray, c: np.ndarray, route: str) -> tuple[np.ndarray, np.ndarray]:
    """Times after the dose and concentrations, starting at the dose: a sample there is kept (after an
    IV bolus only when positive: C0 measured), else the curve starts at 0 or at C0 back-extrapolated."""
    if route == "iv-bolus":
        c0 = float(c[0]) if tt[0] == 0 and c[0] > 0 else back_extrapolated_c0(tt, c, 0.0)
        keep = tt > 0
        return np.concatenate([[0.0], tt[keep]]), np.concatenate([[c0], c[keep]])
    if tt[0] > 0:
        return np.concatenate([[0.0], tt]), np.concatenate([[0.0], c])
    return tt, c


def _single_dose(t: np.ndarray, c: np.ndarray, dosing: Dosing) -> NCAResult:
    """Single-dose NCA (module docstring) of the samples at or after the one dose."""
    td, dose = dosing.times[0], dosing.amounts[0]
    keep = t >= td
    tt, c = t[keep] - td, c[keep]
    if not np.any(c > 0):
        raise PkpdError(f"NCA: no positive concentration after the dose at {td:g} h")
    notes: list[tuple[str, str]] = []
    flags: list[str] = []
    imax = int(np.argmax(c))
    last = int(np.flatnonzero(c > 0)[-1])
    pt, pc = _profile(tt[: last + 1], c[: last + 1], dosing.route)
    auc_t, aumc_t = float(np.sum(areas(pt, pc))), float(np.sum(moment_areas(pt, pc)))
    out = dict(route=dosing.route, dose=dose, cmax=float(c[imax]), tmax=float(tt[imax]), clast=float(c[last]),
               tlast=float(tt[last]), auc_0_t=auc_t)
    bolus = dosing.route == "iv-bolus"
    cand = ((tt >= tt[imax]) if bolus else (tt > tt[imax])) & (tt >= dosing.infusion_duration) & (tt <= tt[last])
    lz, why = fit_lambda_z(tt[cand], c[cand])
    out.update(_lambda_z_fields(lz))
    if lz is None:
        notes += [(k, f"no λz: {why}") for k in ("lambda_z",) + _NEEDS_LAMBDA_Z]
    else:
        clast = out["clast"]
        auc_inf = auc_t + clast / lz.lambda_z
        aumc_inf = aumc_t + clast * out["tlast"] / lz.lambda_z + clast / lz.lambda_z ** 2
        out.update(auc_0_inf=auc_inf, aumc_0_inf=aumc_inf, auc_pct_extrap=100 * (auc_inf - auc_t) / auc_inf,
                   mrt=aumc_inf / auc_inf - dosing.infusion_duration / 2)
        if out["auc_pct_extrap"] > EXTRAPOLATION_LIMIT_PCT:
            flags.append(f"AUC0-inf is {out['auc_pct_extrap']:.0f} % extrapolated (> {EXTRAPOLATION_LIMIT_PCT:.0f} %): "
                         f"AUC0-inf, MRT, {label('cl', NCAResult(route=dosing.route), False)} and "
                         f"{label('vz', NCAResult(route=dosing.route), False)} are unreliable")
        if math.isfinite(dose):
            out["cl"] = dose / auc_inf * 1000.0  # mg / (ng·h/mL) = 1000 L/h
            out["vz"] = out["cl"] / lz.lambda_z
        else:
            notes += [("cl", "no dose amount"), ("vz", "no dose amount")]
    if dosing.tau is not None:
        _single_dose_tau(tt, c, dosing.tau, lz, out, notes)
    again = rises_again(tt, c)
    if np.isfinite(again):
        flags.append(f"the concentrations rise again at {again + td:g} h: if this subject had more than one dose, "
                     f"this single-dose analysis is wrong (give the dose records or tau)")
    return NCAResult(**out, flags=tuple(flags), notes=tuple(notes))


def _single_dose_tau(tt, c, tau: float, lz, out: dict, notes: list) -> None:
    """AUC0–τ (sample at τ within the edge tolerance) and the predicted accumulation of a single dose."""
    out["tau"] = tau
    near = np.flatnonzero(np.abs(tt - tau) <= EDGE_TOLERANCE * tau)
    if near.size:
        i1 = int(near[np.argmin(np.abs(tt[near] - tau))])
        pt, pc = _profile(tt[: i1 + 1], c[: i1 + 1], out["route"])
        pt[-1] = tau
        out["auc_tau"] = float(np.sum(areas(pt, pc)))
    else:
        notes.append(("auc_tau", f"no sample at tau ({tau:g} h after the dose)"))
    if lz is not None:
        out["accumulation_pred"] = 1.0 / (1.0 - math.exp(-lz.lambda_z * tau))

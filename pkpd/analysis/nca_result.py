"""The result of a non-compartmental analysis: values, units, names that follow the route, and the
reasons a quantity was not reported.

Names follow PKNCA where it has one (``auc_tau`` is PKNCA's ``aucint``/``auclast`` over the dosing
interval, ``cavg`` its ``cav``, ``fluctuation`` its ``deg.fluc``); clearance and volume are named by
route: ``CL``/``Vz`` after IV doses, ``CL/F``/``Vz/F`` after extravascular ones (the bioavailable
fraction F is unknown), ``CL(/F)`` when the route is not known, and ``CLss`` when computed from
AUCτ at steady state.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

#: Units of every numeric field (time h, concentration ng/mL, dose mg, clearance L/h, volume L).
UNITS = {
    "n_doses": "", "tau": "h", "dose": "mg", "cmax": "ng/mL", "tmax": "h", "cmin": "ng/mL",
    "ctrough": "ng/mL", "clast": "ng/mL", "tlast": "h", "auc_0_t": "ng*h/mL", "auc_0_inf": "ng*h/mL",
    "auc_pct_extrap": "%", "auc_tau": "ng*h/mL", "cavg": "ng/mL", "swing": "%", "fluctuation": "%",
    "accumulation": "", "accumulation_pred": "", "lambda_z": "1/h", "half_life": "h", "lambda_z_points": "",
    "lambda_z_r2_adj": "", "lambda_z_time_first": "h", "lambda_z_time_last": "h", "span_ratio": "",
    "aumc_0_inf": "ng*h^2/mL", "mrt": "h", "cl": "L/h", "vz": "L",
}

#: Short names for tables (``cl``/``vz`` by route: :func:`label`).
NAMES = {
    "n_doses": "doses", "tau": "tau", "dose": "dose", "cmax": "Cmax", "tmax": "Tmax", "cmin": "Cmin",
    "ctrough": "Ctrough", "clast": "Clast", "tlast": "Tlast", "auc_0_t": "AUC0-tlast", "auc_0_inf": "AUC0-inf",
    "auc_pct_extrap": "AUC extrap", "auc_tau": "AUCtau", "cavg": "Cavg", "swing": "swing",
    "fluctuation": "fluctuation", "accumulation": "Rac (AUCtau ratio)", "accumulation_pred": "Rac (lambda-z)",
    "lambda_z": "lambda-z", "half_life": "t1/2", "lambda_z_points": "lambda-z points",
    "lambda_z_r2_adj": "lambda-z R2adj", "lambda_z_time_first": "lambda-z from", "lambda_z_time_last": "lambda-z to",
    "span_ratio": "span ratio", "aumc_0_inf": "AUMC0-inf", "mrt": "MRT", "cl": "CL", "vz": "Vz",
}

#: AUC extrapolated beyond Tlast above which AUC0–∞ and what depends on it are flagged (the EMA
#: bioequivalence guideline, 2010, asks that AUC0–t cover at least 80 % of AUC0–∞).
EXTRAPOLATION_LIMIT_PCT = 20.0


@dataclass(frozen=True)
class NCAResult:
    """NCA of one subject (units: :data:`UNITS`; NaN where not reported — :meth:`why` says why).

    ``kind`` is ``single`` (one dose) or ``multiple`` (repeated dosing: interval quantities of the
    last dosing interval); ``route`` is a route class of :mod:`pkpd.analysis.nca_dosing`; ``flags``
    are warnings about reported values (e.g. AUC0–∞ > 20 % extrapolated); ``notes`` pairs a field with
    the reason it was not reported.  In multiple-dose results Tmax is counted from the last dose.
    """

    kind: str = "single"
    route: str = "unknown"
    n_doses: int = 1
    tau: float = math.nan
    dose: float = math.nan
    cmax: float = math.nan
    tmax: float = math.nan
    cmin: float = math.nan
    ctrough: float = math.nan
    clast: float = math.nan
    tlast: float = math.nan
    auc_0_t: float = math.nan
    auc_0_inf: float = math.nan
    auc_pct_extrap: float = math.nan
    auc_tau: float = math.nan
    cavg: float = math.nan
    swing: float = math.nan
    fluctuation: float = math.nan
    accumulation: float = math.nan
    accumulation_pred: float = math.nan
    lambda_z: float = math.nan
    half_life: float = math.nan
    lambda_z_points: int = 0
    lambda_z_r2_adj: float = math.nan
    lambda_z_time_first: float = math.nan
    lambda_z_time_last: float = math.nan
    span_ratio: float = math.nan
    aumc_0_inf: float = math.nan
    mrt: float = math.nan
    cl: float = math.nan
    vz: float = math.nan
    flags: tuple[str, ...] = ()
    notes: tuple[tuple[str, str], ...] = field(default=())

    def as_dict(self) -> dict:
        """Every field (``flags`` and ``notes`` included) as a plain dict."""
        return asdict(self)

    def values(self) -> dict[str, float]:
        """The numeric fields only, in table order."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in UNITS}

    def why(self, key: str) -> str:
        """Why ``key`` was not reported ('' when it was, or when it does not apply)."""
        return next((r for k, r in self.notes if k == key), "")


def label(key: str, result: NCAResult, unit: bool = True) -> str:
    """The table name of ``key`` for this result: clearance and volume named by route (and ``ss``
    when from AUCτ at steady state), Tmax counted from the last dose in multiple-dose results."""
    name = NAMES[key]
    if key in ("cl", "vz"):
        suffix = {"extravascular": "/F", "iv-bolus": "", "iv-infusion": ""}.get(result.route, "(/F)")
        name = ("CLss" if key == "cl" and result.kind == "multiple" else name) + suffix
    if key == "tmax" and result.kind == "multiple":
        name = "Tmax after last dose"
    u = UNITS[key]
    return f"{name} ({u})" if unit and u else name

"""Repeated-dose metrics of simulated concentration curves: trough, Cavg and AUCτ of the last dosing
interval, accumulation and the time to 90 % of steady state.

For a regimen whose administrations recur every τ (one dose record repeated, or several; the
sprays of one intranasal administration count once):

* ``auc_tau``: AUC over the last interval [t_last, t_last + τ] (linear up / log down on the output
  grid, the edges interpolated linearly); ``cavg`` = AUCτ/τ; ``ctrough`` = C(t_last + τ);
* ``accumulation``: AUCτ of the last interval over AUCτ of the first (dose-normalised when the
  amounts differ) — for a one-compartment IV bolus it is Σ_{j<n} e^(−jkτ) → 1/(1 − e^(−kτ));
* ``t90ss``: time from the first dose until the interval average Cavg_n reaches 90 % of its
  steady-state value.  For linear kinetics Cavg_n = AUC₁(0, nτ)/τ, a rising curve whose remaining
  gap shrinks by a constant factor per interval once one exponential dominates, so Cavg_ss is the
  Aitken extrapolation of the last three Cavg_n, and t90 is interpolated between interval ends
  linearly in log(1 − Cavg_n/Cavg_ss) — exact for one exponential (t90 = ln 10/k).  Needs equal
  doses at equal intervals and three intervals; a regimen starting at steady state has t90 = 0.

At an IV bolus time the output grid holds the post-dose value, so a window ending at a bolus takes
the pre-dose value extrapolated log-linearly from the two grid points before it.  Every function
works on arrays ``(..., time)``; :func:`typical_repeated` and :func:`population_repeated` map them
over a typical or population dataset.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
import numpy as np
import xarray as xr
from pkpd.analysis.nca_core import auc_linlog as auc
from pkpd.analysis.nca_dosing import dosing_from_regimen, dosing_interval
from pkpd.dosing.regimen import Regimen

#: The metrics, their units and long names (``<output>_<metric>`` in the datasets).
METRICS = {
    "ctrough": ("ng/mL", "concentration at the end of the last dosing interval"),
    "cavg": ("ng/mL", "average concentration over the last dosing interval"),
    "auc_tau": ("ng*h/mL", "AUC over the last dosing interval"),
    "accumulation": ("1", "accumulation ratio (AUCtau last / first interval)"),
    "t90ss": ("h", "time from the first dose to 90 % of steady-state Cavg"),
}
_TOL = 1e-9


@dataclass(frozen=True)
class Schedule:
    """A regimen's administrations as repeated dosing sees them (times h, amounts mg)."""

    times: np.ndarray
    amounts: np.ndarray
    tau: float | None
    why: str  # why the metrics cannot be computed ('' when they can)
    steady_state: bool
    bolus: bool  # IV boluses: the curve jumps at the dose times

    @property
    def regular(self) -> bool:
        """Equal amounts at equal intervals τ."""
        gaps = np.diff(self.times)
        return (self.tau is not None and bool(np.all(np.abs(gaps - self.tau) <= 1e-6 * self.tau))
                and bool(np.all(self.amounts == self.amounts[0])))


def schedule(reg: Regimen, weight: float = 70.0) -> Schedule:
    """The :class:`Schedule` of ``reg`` (``why`` says when it is not repeated dosing)."""
    d = dosing_from_regimen(reg, weight)
    times, amounts = np.asarray(d.times), np.asarray(d.amounts)
    if times.size < 2 and not d.steady_state:
        return Schedule(times, amounts, None, "one administration: not repeated dosing", False, False)
    tau, why = dosing_interval(times, d.tau)
    return Schedule(times, amounts, tau, why.replace("give tau", "no single dosing interval"), d.steady_state,
                    d.route == "iv-bolus")


def _value_at(t: np.ndarray, y: np.ndarray, b: float, left: bool) -> np.ndarray:
    """y at time b (linear interpolation); ``left``: the limit from the left (pre-dose at a bolus:
    log-linear extrapolation from the two grid points before b)."""
    i = int(np.searchsorted(t, b - _TOL * max(1.0, b)))
    if i < t.size and abs(t[i] - b) <= _TOL * max(1.0, b):
        if not left or i < 2:
            return y[..., i]
        y1, y2, t1, t2 = y[..., i - 2], y[..., i - 1], t[i - 2], t[i - 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            logx = y2 * np.exp(np.log(y2 / y1) * (b - t2) / (t2 - t1))
        linx = y2 + (y2 - y1) * (b - t2) / (t2 - t1)
        return np.where((y1 > 0) & (y2 > 0), logx, linx)
    w = (b - t[i - 1]) / (t[i] - t[i - 1])
    return y[..., i - 1] + w * (y[..., i] - y[..., i - 1])


def window_auc(t: np.ndarray, y: np.ndarray, a: float, b: float, bolus_at_b: bool = False) -> np.ndarray:
    """AUC of ``y`` (..., time) over [a, b] ⊆ [t0, t_end] (grid points inside, edges interpolated)."""
    inside = (t > a + _TOL * max(1.0, a)) & (t < b - _TOL * max(1.0, b))
    ya, yb = _value_at(t, y, a, False), _value_at(t, y, b, bolus_at_b)
    yy = np.concatenate([ya[..., None], y[..., inside], yb[..., None]], axis=-1)
    return auc(yy, np.concatenate([[a], t[inside], [b]]))


def _t90(t: np.ndarray, y: np.ndarray, s: Schedule) -> np.ndarray:
    """Time from the first dose to 90 % of steady-state Cavg (module docstring); NaN where the
    interval averages do not converge geometrically."""
    t0, tau = float(s.times[0]), float(s.tau)
    n = s.times.size
    cav = np.stack([window_auc(t, y, t0 + k * tau, t0 + (k + 1) * tau, s.bolus and k + 1 < n) / tau
                    for k in range(n)], axis=-1)
    d1, d2 = cav[..., -2] - cav[..., -3], cav[..., -1] - cav[..., -2]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = d2 / d1
        css = np.where(np.abs(d2) <= 1e-12 * np.abs(cav[..., -1]), cav[..., -1], cav[..., -1] + d2 * r / (1 - r))
        ok = ((r > 0) & (r < 1) & (d2 > 0)) | (np.abs(d2) <= 1e-12 * np.abs(cav[..., -1]))
        gap = np.log(np.clip(1 - cav / css[..., None], 1e-300, None))  # log(1 − f) at t0 + (k+1)τ
    gap = np.concatenate([np.zeros(gap.shape[:-1] + (1,)), gap], axis=-1)  # f = 0 at the first dose
    target = math.log(0.1)
    hit = gap <= target
    k = np.argmax(hit, axis=-1)
    found = np.any(hit, axis=-1) & ok & (k > 0)
    kk = np.maximum(k, 1)
    g0 = np.take_along_axis(gap, (kk - 1)[..., None], -1)[..., 0]
    g1 = np.take_along_axis(gap, kk[..., None], -1)[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        tt = (kk - 1 + (g0 - target) / (g0 - g1)) * tau
    return np.where(found, tt, np.nan)


def repeated_metrics(t: np.ndarray, y: np.ndarray, s: Schedule) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The :data:`METRICS` of curves ``y`` (..., time; ng/mL over ``t`` h) under schedule ``s``, and why
    a metric is NaN everywhere (metric → reason)."""
    nan = np.full(y.shape[:-1], np.nan)
    out = {m: nan.copy() for m in METRICS}
    if s.tau is None:
        return out, {m: s.why for m in METRICS}
    last, tau = float(s.times[-1]), float(s.tau)
    if t[-1] < last + tau - _TOL * max(1.0, last + tau):
        why = f"the simulation ends at {t[-1]:g} h, before the last dosing interval does ({last + tau:g} h)"
        return out, {m: why for m in METRICS}
    notes = {}
    out["ctrough"] = _value_at(t, y, last + tau, False)
    out["auc_tau"] = window_auc(t, y, last, last + tau)
    out["cavg"] = out["auc_tau"] / tau
    if s.steady_state:
        notes["accumulation"] = "the regimen starts at steady state"
        out["t90ss"] = np.zeros(y.shape[:-1])
    elif abs(s.times[1] - s.times[0] - tau) > 1e-6 * tau:
        notes["accumulation"] = notes["t90ss"] = "the first dosing interval differs from the last"
    else:
        first = window_auc(t, y, float(s.times[0]), float(s.times[0]) + tau, s.bolus)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["accumulation"] = (out["auc_tau"] / s.amounts[-1]) / (first / s.amounts[0])
        if not s.regular:
            notes["t90ss"] = "needs equal doses at equal intervals"
        elif s.times.size < 3:
            notes["t90ss"] = "needs at least 3 dosing intervals"
        else:
            out["t90ss"] = _t90(t, y, s)
    return out, notes


def _outputs(ds: xr.Dataset, suffix: str = "") -> list[str]:
    """The plasma concentration outputs (ng/mL) of a dataset."""
    return [n[: len(n) - len(suffix)] if suffix else n for n, v in ds.data_vars.items()
            if n.endswith(suffix) and v.attrs.get("quantity") == "plasma" and not n.endswith("_molar" + suffix)]


def typical_repeated(ds: xr.Dataset, regimens, weight: float = 70.0) -> tuple[xr.Dataset, dict]:
    """Repeated-dose metrics of a typical dataset (dims model × regimen), and the reasons per regimen
    name → {metric: why} for what is NaN.  ``regimens`` in the order of ``ds.regimen``."""
    t = ds.time.values
    out, notes = {}, {}
    scheds = [schedule(r, weight) for r in regimens]
    for name in _outputs(ds):
        y = ds[name].values
        vals = {m: np.full(y.shape[:2], np.nan) for m in METRICS}
        for ri, s in enumerate(scheds):
            res, why = repeated_metrics(t, y[:, ri], s)
            for m in METRICS:
                vals[m][:, ri] = res[m]
            notes[str(ds.regimen.values[ri])] = why
        for m, (unit, long) in METRICS.items():
            out[f"{name}_{m}"] = (("model", "regimen"), vals[m], {"units": unit, "long_name": f"{long}, {name}"})
    return xr.Dataset(out, coords={k: ds.coords[k] for k in ("model", "regimen")}), notes


def population_repeated(pop: xr.Dataset, regimens, weight: float = 70.0) -> tuple[xr.Dataset, dict]:
    """Repeated-dose metrics of a population dataset, and the reasons (regimen → {metric: why}).

    Full mode (trajectories ``<output>``): every metric per subject, ``<output>_<metric>`` (model ×
    regimen × subject).  Streaming mode keeps only per-time percentiles: the trough's percentiles
    are those curves at t_last + τ (``<output>_ctrough_percentiles``, model × regimen × quantile,
    within the streaming error bound); the other metrics need per-subject curves and are refused.
    """
    t = pop.time.values
    scheds = [schedule(r, weight) for r in regimens]
    out, notes = {}, {str(r): {} for r in pop.regimen.values}
    coords = {k: pop.coords[k] for k in ("model", "regimen")}
    for name in _outputs(pop):
        if name.endswith("_percentiles"):
            base = name[: -len("_percentiles")]
            if f"{base}_cmax" not in pop or base in pop:
                continue
            y = pop[name].values.astype(float)
            vals = np.full(y.shape[:3], np.nan)
            for ri, s in enumerate(scheds):
                res, why = repeated_metrics(t, y[:, ri], s)
                vals[:, ri] = res["ctrough"]
                reg = str(pop.regimen.values[ri])
                notes[reg].update(why)
                for m in METRICS:
                    if m != "ctrough" and m not in why:
                        notes[reg][m] = ("needs each subject's curve: run the population with "
                                         "[population] mode = \"full\"")
            out[f"{base}_ctrough_percentiles"] = (("model", "regimen", "quantile"), vals,
                                                  {"units": "ng/mL", "long_name": f"{METRICS['ctrough'][1]}, {base}"})
            coords["quantile"] = pop.coords["quantile"]
        elif name in pop and pop[name].dims[-1] == "time":
            y = pop[name].values.astype(float)
            vals = {m: np.full(y.shape[:3], np.nan) for m in METRICS}
            for ri, s in enumerate(scheds):
                res, why = repeated_metrics(t, y[:, ri], s)
                for m in METRICS:
                    vals[m][:, ri] = res[m]
                notes[str(pop.regimen.values[ri])].update(why)
            for m, (unit, long) in METRICS.items():
                out[f"{name}_{m}"] = (("model", "regimen", "subject"), vals[m],
                                      {"units": unit, "long_name": f"{long}, {name}"})
            coords["subject"] = pop.coords["subject"]
    return xr.Dataset(out, coords=coords), notes

"""Exposure summaries of simulated curves (NCA terms: Cmax, Tmax, AUC; with the regimens, the
repeated-dose metrics of :mod:`pkpd.analysis.repeated`: trough, Cavg, AUCτ, accumulation, t90ss).

AUC uses the linear-up / log-down trapezoidal rule on the output grid
(the standard NCA rule; with a 1-minute grid its error is far below the
model's uncertainty).
"""
from __future__ import annotations

import json
import re
import numpy as np
import xarray as xr
from pkpd.analysis.nca_core import auc_linlog
from pkpd.analysis.repeated import typical_repeated


def auc(c: np.ndarray, t: np.ndarray, axis: int = -1) -> np.ndarray:
    """Area under ``c`` over ``t`` (linear up, log down), along ``axis``.

    Parameters
    ----------
    c : ndarray
        Concentrations in any unit (ng/mL in pkpd datasets), with the time axis at ``axis``;
        NaN propagates.
    t : ndarray, shape (n_times,)
        Times, h, increasing.
    axis : int
        The time axis of ``c``.

    Returns
    -------
    ndarray
        AUC from ``t[0]`` to ``t[-1]`` in the unit of ``c`` × h (ng·h/mL for ng/mL), with the
        shape of ``c`` without ``axis``.
    """
    return auc_linlog(c, t, axis)


def summary(ds: xr.Dataset, regimens=None, weight: float | None = None) -> xr.Dataset:
    """Exposure summary of a typical-subject dataset, per model × regimen.

    Parameters
    ----------
    ds : xarray.Dataset
        A result of :func:`pkpd.simulate` (dims ``model × regimen × time``, time in h; plasma and
        effect-site concentrations in ng/mL, PD readouts with a ``category`` attribute).
    regimens : sequence of Regimen, optional
        The regimens of ``ds`` (in its order): adds the repeated-dose metrics of
        :mod:`pkpd.analysis.repeated` for every plasma concentration (``<var>_ctrough``,
        ``_cavg``, ``_auc_tau``, ``_accumulation``, ``_t90ss``; NaN for a single administration)
        and, in ``attrs["repeated_notes"]`` (JSON text, so that the dataset can be written to
        NetCDF), why a metric is NaN: regimen → {metric: reason}.
    weight : float, optional
        Body weight, kg, for mg/kg doses (default: the dataset's subject, else 70).

    Returns
    -------
    xarray.Dataset
        Dims ``model × regimen``: ``<var>_cmax`` (ng/mL) and ``<var>_tmax`` (h) of every plasma
        and effect-site concentration, ``<var>_auc`` AUC0–t of every plasma concentration
        (ng·h/mL, linear-up/log-down), ``nk_k_auc_ratio`` the norketamine/ketamine molar AUC0–t
        ratio (dimensionless; when both are simulated) and ``<readout>_peak`` each PD readout's
        peak (in the readout's unit).  NaN where a curve is all NaN.
    """
    t = ds.time.values
    out = {}
    for name, var in ds.data_vars.items():
        q = var.attrs.get("quantity")
        # what the tables need to label a column: species, PD model, readout name
        keep = {k: var.attrs[k] for k in ("species", "pd_model", "readout", "category") if k in var.attrs}
        if q in ("plasma", "effect") and not name.endswith("_molar"):
            y = var.values
            valid = ~np.all(np.isnan(y), axis=-1)
            imax = np.argmax(np.nan_to_num(y, nan=-np.inf), axis=-1)
            peak = np.max(np.where(np.isnan(y), -np.inf, y), axis=-1)  # -inf where all NaN: no warning
            out[f"{name}_cmax"] = (("model", "regimen"), np.where(valid, peak, np.nan),
                                   {"units": var.attrs["units"], "long_name": f"peak {var.attrs['long_name']}", **keep})
            out[f"{name}_tmax"] = (("model", "regimen"), np.where(valid, t[imax], np.nan),
                                   {"units": "h", "long_name": f"time of peak {var.attrs['long_name']}", **keep})
            if q == "plasma":
                out[f"{name}_auc"] = (("model", "regimen"), auc(y, t),
                                      {"units": "ng*h/mL", "long_name": f"AUC0-t of {var.attrs['long_name']}", **keep})
        elif "category" in var.attrs:
            out[f"{name}_peak"] = (("model", "regimen"), np.max(np.where(np.isnan(var.values), -np.inf, var.values), axis=-1),
                                   {"units": var.attrs["units"], "long_name": f"peak {var.attrs['long_name']}", **keep})
    s = xr.Dataset(out, coords={k: ds.coords[k] for k in ("model", "regimen", "route", "dose", "drug")
                                if k in ds.coords})
    if "ketamine_plasma_auc" in s and "norketamine_plasma_auc" in s:
        mk, mn = 237.73, 223.70
        with np.errstate(invalid="ignore", divide="ignore"):
            s["nk_k_auc_ratio"] = (s.norketamine_plasma_auc / mn) / (s.ketamine_plasma_auc / mk)
        s["nk_k_auc_ratio"].attrs = {"units": "1", "long_name": "norketamine/ketamine molar AUC0-t ratio"}
    if regimens is not None:
        if weight is None:
            found = re.search(r"WT=([0-9.eE+-]+)", str(ds.attrs.get("subject", "")))
            weight = float(found.group(1)) if found else 70.0
        rep, notes = typical_repeated(ds, regimens, weight)
        s = s.merge(rep)
        s.attrs["repeated_notes"] = json.dumps(notes)
    for v in s.data_vars.values():
        v.values[np.isinf(v.values)] = np.nan
    return s

"""A population run's arrays → the labelled :class:`xarray.Dataset` (units and long names)."""
from __future__ import annotations

import numpy as np
import xarray as xr

from pkpd.simulation.population_layout import pair
from pkpd.simulation.streaming import LOG_REL_ERROR, METRICS

_METRIC_UNITS = {"cmax": "{u}", "tmax": "h", "auc": "{u}*h", "time_above": "h", "onset": "h", "time_above_hi": "h"}
_THRESHOLD_METRICS = ("time_above", "onset", "time_above_hi")


def metric_variables(k: str, o, metrics: np.ndarray, thresholds: dict) -> dict:
    """``<output>_<metric>`` variables (model × regimen × subject) of one output."""
    data = {}
    for ii, mt in enumerate(METRICS):
        if mt in _THRESHOLD_METRICS and k not in thresholds:
            continue
        attrs = {"units": _METRIC_UNITS[mt].format(u=o.units), "long_name": f"{mt.replace('_', ' ')} of {o.long_name}",
                 **o.attrs}
        if mt in _THRESHOLD_METRICS:
            attrs["threshold"] = pair(thresholds[k])[1 if mt == "time_above_hi" else 0]
        data[f"{k}_{mt}"] = (("model", "regimen", "subject"), metrics[..., ii], attrs)
    return data


def percentile_variable(k: str, o, layouts, regimens, hists, q: np.ndarray, T: int) -> tuple:
    """``<output>_percentiles`` (model × regimen × quantile × time) from the streaming histograms."""
    pc = np.full((len(layouts), len(regimens), len(q), T), np.nan)
    for mi, lay in enumerate(layouts):
        names = [x.name for x in lay.outs]
        if k not in names:
            continue
        oi = names.index(k)
        for ri in range(len(regimens)):
            if all(lay.model.supports(rt) for rt in regimens[ri].routes):
                pc[mi, ri] = hists[(mi, ri)].percentiles(q)[oi]
    return (("model", "regimen", "quantile", "time"), pc,
            {"units": o.units, "long_name": f"percentiles of {o.long_name}",
             "method": "streaming histogram estimate; relative error < "
                       f"{LOG_REL_ERROR:.2%} for concentrations (see pkpd.simulation.streaming)", **o.attrs})


def assemble(*, models, regimens, population, layouts, all_outs, metrics, traj, hists, covs_out, cov_names,
             thresholds, quantiles, times, mode: str, n_dense: int, elapsed: float) -> xr.Dataset:
    """The population Dataset: metrics, percentiles (streaming) or trajectories (full) or neither
    (metrics), covariates."""
    q = np.asarray(quantiles, dtype=float)
    n = population.n
    data = {}
    for k, o in all_outs.items():
        data.update(metric_variables(k, o, metrics[k], thresholds))
        if mode == "streaming":
            data[f"{k}_percentiles"] = percentile_variable(k, o, layouts, regimens, hists, q, times.size)
        elif mode == "full":
            data[k] = (("model", "regimen", "subject", "time"), traj[k],
                       {"units": o.units, "long_name": o.long_name, **o.attrs})
    for k in cov_names:
        desc = dict(models[-1].params.all_covariates()).get(k, ("", 0))[0] if models else ""
        data[f"covariate_{k}"] = (("subject",), covs_out[k], {"units": "", "long_name": desc or k})
    return xr.Dataset(
        data,
        coords={
            "model": ("model", [m.name for m in models]),
            "regimen": ("regimen", [r.name for r in regimens]),
            "subject": ("subject", np.arange(n)),
            "quantile": ("quantile", q, {"units": "percent"}),
            "time": ("time", times, {"units": "h", "long_name": "time since first dose"}),
            "route": ("regimen", ["+".join(r.routes) for r in regimens]),
            "replicate": ("subject", population.replicate_of(0, n)),
        },
        attrs={"population_size": n, "seed": population.seed, "mode": mode, "iiv": int(population.iiv),
               "uncertainty_replicates": population.replicates, "dense_fallback_subject_regimens": n_dense,
               "elapsed_seconds": round(elapsed, 3)},
    )

"""Visual predictive check (VPC): do the observed percentiles fall inside what the model predicts?

The study is simulated ``replicates`` times: every observed ID gets, in every replicate, a new
virtual subject (its own covariates, new between-subject variability, the ID's regimen), observed
at the ID's observation times, with residual error added (the model's own, or ``prop``/``add``).  Observations are
binned by time, per route.  For each bin, the 5th, 50th and 95th percentiles of the observations
are compared with the distribution of the same percentiles across the simulated replicates: its
median and its ``ci`` interval (default 90 %) are the bands.  A model that describes the data puts
the observed percentiles inside the bands (about ``ci`` of them, by chance the rest).

Prediction correction (Bergstrand et al., AAPS J 2011; pcVPC): observed and simulated values are
scaled by ``PRED_bin / PRED``, PRED being the typical subject's prediction for the observation (no
between-subject variability, the ID's covariates and regimen) and ``PRED_bin`` its median in the
bin — this removes the spread that comes from different doses and times within a bin.

Simulations run on a fine output grid (``step``, default 1 min) and are read at the observation
times by linear interpolation.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import xarray as xr
from pkpd.dosing.observations import Observations
from pkpd.errors import PkpdError
from pkpd.simulation.observations import model_sigmas, observe
from pkpd.simulation.population import simulate_population
from pkpd.simulation.sampling import Population

QUANTILES = (5.0, 50.0, 95.0)


@dataclass(frozen=True)
class VPCSpec:
    """How the VPC is made.

    Attributes
    ----------
    replicates : int
        Simulated copies of the study (≥ 20).
    ci : float
        Level of the bands around each simulated percentile (0.5–0.99).
    bins : int or None
        Time bins per route; None: one per distinct observation time when there are at most 12,
        else 8 bins with equal numbers of observations.
    prediction_corrected : bool
    prop, add : float or None
        Residual error of a simulated observation, ``y · (1 + prop·ε₁) + add·ε₂`` (add in the
        output's unit), floored at 0 like measured concentrations; both None (default): the
        model's own ``[residual.SPECIES]`` for a plasma concentration
        (:func:`pkpd.simulation.observations.model_sigmas`), none for other outputs.
    seed : int
    step : float
        Output step of the simulations, h.
    """

    replicates: int = 200
    ci: float = 0.90
    bins: int | None = None
    prediction_corrected: bool = False
    prop: float | None = None
    add: float | None = None
    seed: int = 0
    step: float = 1 / 60

    def check(self) -> None:
        if not 20 <= self.replicates <= 100_000:
            raise PkpdError("replicates must be from 20 to 100000", field="replicates")
        if not 0.5 <= self.ci <= 0.99:
            raise PkpdError("the band level must be from 0.5 to 0.99", field="ci")
        if self.bins is not None and not 1 <= self.bins <= 100:
            raise PkpdError("bins must be from 1 to 100", field="bins")
        if any(v is not None and not 0 <= v < float("inf") for v in (self.prop, self.add)):
            raise PkpdError("residual errors prop and add must be finite and ≥ 0", field="prop")
        if not 0 < self.step <= 1:
            raise PkpdError("the simulation step must be in (0, 1] h", field="step")


def _covariate_table(obs: Observations, ids: list[int], reps: int) -> dict[str, np.ndarray] | None:
    """Covariate columns of ``ids`` repeated ``reps`` times (subject k·len(ids) + j is ID j)."""
    names = sorted({k for i in ids for k in obs.covariates.get(i, {})})
    if not names:
        return None
    defaults = {"WT": 70.0, "AGE": 40.0, "FEMALE": 0.0}
    return {k: np.tile([obs.covariates.get(i, {}).get(k, defaults.get(k, 0.0)) for i in ids], reps) for k in names}


def _simulate_group(model, pd, regimen, obs, ids, n_sub, spec, variable, iiv, seed):
    """Trajectories of ``n_sub`` × len(ids) subjects (ID j in positions j, j + len(ids), …):
    (times, values (subjects, times))."""
    horizon = max(float(obs.time[np.isin(obs.id, ids)].max()), spec.step) + spec.step
    pop = Population(n=n_sub * len(ids), seed=seed, table=_covariate_table(obs, ids, n_sub), iiv=iiv)
    ds = simulate_population(model, regimen, pop, horizon=horizon, step=spec.step, pd=pd, mode="full",
                             dtype=np.float64, progress=False)
    if variable not in ds:
        outs = sorted(v for v in ds.data_vars if ds[v].dims[-1] == "time" and "subject" in ds[v].dims)
        raise PkpdError(f"unknown output {variable!r} (outputs: {', '.join(outs)})", field="output")
    return ds.time.values, ds[variable].values[0, 0]


def simulate_observations(obs: Observations, model, spec: VPCSpec, pd=(), variable: str = "ketamine_plasma"):
    """Simulated observations and typical predictions at every observation.

    Returns
    -------
    sim : ndarray, shape (replicates, n_obs)
        With residual error.
    pred : ndarray, shape (n_obs,)
        Typical subject (no between-subject variability), the ID's covariates and regimen.
    curves : list of dict
        Per regimen: ``regimen`` (name), ``route``, ``time`` (h), ``subjects`` (simulated
        trajectories, subjects × times, without residual error), ``typical`` (the typical
        subject's curve; median over the IDs' covariates), ``ids``.
    """
    spec.check()
    ss = [i for i in obs.ids if any(d.steady_state for d in obs.regimens[i].doses)]
    if ss:
        raise PkpdError(f"ID(s) {', '.join(map(str, ss[:5]))}: steady-state doses (SS=1) are not supported in a "
                        f"VPC yet (populations start from zero); leave those IDs out", file=obs.path, field="SS")
    R, n = spec.replicates, obs.id.size
    sim, pred = np.full((R, n), np.nan), np.full(n, np.nan)
    groups: dict[str, list[int]] = {}
    for i in obs.ids:
        groups.setdefault(repr(obs.regimens[i].doses), []).append(i)  # the same doses: one population run
    curves = []
    for gi, ids in enumerate(groups.values()):
        reg = obs.regimens[ids[0]]
        t, y = _simulate_group(model, pd, reg, obs, ids, R, spec, variable, True, spec.seed * 1000 + gi)
        tp, yp = _simulate_group(model, pd, reg, obs, ids, 1, spec, variable, False, 0)
        for j, i in enumerate(ids):
            rows = np.flatnonzero(obs.id == i)
            for k in range(R):
                sim[k, rows] = np.interp(obs.time[rows], t, y[k * len(ids) + j])
            pred[rows] = np.interp(obs.time[rows], tp, yp[j])
        curves.append({"regimen": reg.name, "route": "+".join(reg.routes), "time": t, "subjects": y, "ids": ids,
                       "typical": np.interp(t, tp, np.median(yp, axis=0))})
    rng = np.random.default_rng([spec.seed, 4242])
    sim = observe(sim, residual_sigmas(model, variable, spec), rng.standard_normal(sim.shape),
                  rng.standard_normal(sim.shape))
    return sim, pred, curves


def residual_sigmas(model, variable: str, spec: VPCSpec) -> tuple[float, float, float]:
    """(proportional, additive, exponential) SDs of simulated observations of ``variable``: the
    spec's ``prop``/``add`` when given, else the model's residual error of a plasma concentration
    (none for effect sites and readouts)."""
    species = variable[:-len("_plasma")] if variable.endswith("_plasma") else None
    if species is None or spec.prop is not None or spec.add is not None:
        return (float(spec.prop or 0.0), float(spec.add or 0.0), 0.0)
    return model_sigmas(model, species)


def time_bins(t: np.ndarray, bins: int | None) -> np.ndarray:
    """Bin index of each time: one bin per distinct time (≤ 12 of them, ``bins`` None), else
    ``bins`` (default 8) bins holding equal numbers of observations."""
    u = np.unique(t)
    if bins is None and u.size <= 12:
        return np.searchsorted(u, t)
    k = min(bins or 8, u.size)
    edges = np.unique(np.quantile(t, np.linspace(0, 1, k + 1)[1:-1]))
    return np.searchsorted(edges, t, side="right")


def vpc(obs: Observations, model, spec: VPCSpec = VPCSpec(), pd=(), variable: str = "ketamine_plasma",
        simulated=None) -> xr.Dataset:
    """The VPC of ``obs`` (with every ID's regimen) against ``model``.

    Parameters
    ----------
    obs : Observations
        With regimens (:func:`pkpd.dosing.observations.assign_regimens` for a tidy file).
    model : Model
    spec : VPCSpec
    pd : sequence of PDModel
        For effect-site or readout observations.
    variable : str
        What DV is: ``ketamine_plasma`` (ng/mL; default), ``norketamine_plasma``, an effect site
        or a readout.
    simulated : tuple, optional
        The result of :func:`simulate_observations` for these arguments, when already computed.

    Returns
    -------
    xarray.Dataset
        Per route (one VPC each) × bin × quantile: ``observed`` percentiles, simulated
        ``sim_median``, ``sim_lo``, ``sim_hi`` (the ``ci`` band), ``inside`` (1 where the observed
        percentile lies in its band); per route × bin: ``time`` (median time of the bin, h),
        ``time_lo``/``time_hi``, ``n_obs``.  Attributes: ``fraction_inside`` (all routes) and the
        settings.
    """
    missing = [i for i in obs.ids if i not in obs.regimens]
    if missing:
        raise PkpdError(f"IDs without a regimen: {missing[:5]}", file=obs.path)
    sim, pred = (simulated if simulated is not None else simulate_observations(obs, model, spec, pd, variable))[:2]
    routes = list(dict.fromkeys(str(r) for r in obs.route))
    nb = max(int(time_bins(obs.time[obs.route == r], spec.bins).max()) + 1 for r in routes)
    Q, R = len(QUANTILES), spec.replicates
    shape = (len(routes), nb, Q)
    out = {k: np.full(shape, np.nan) for k in ("observed", "sim_median", "sim_lo", "sim_hi")}
    tb = {k: np.full((len(routes), nb), np.nan) for k in ("time", "time_lo", "time_hi", "n_obs")}
    lo_q, hi_q = 50 * (1 - spec.ci), 50 * (1 + spec.ci)
    for ri, r in enumerate(routes):
        sel = np.flatnonzero(obs.route == r)
        b = time_bins(obs.time[sel], spec.bins)
        for bi in range(int(b.max()) + 1):
            rows = sel[b == bi]
            if rows.size == 0:
                continue
            dv, s = obs.dv[rows], sim[:, rows]
            if spec.prediction_corrected:
                factor = np.where(pred[rows] > 0, np.median(pred[rows]) / np.where(pred[rows] > 0, pred[rows], 1), 1)
                dv, s = dv * factor, s * factor
            out["observed"][ri, bi] = np.percentile(dv, QUANTILES)
            sp = np.percentile(s, QUANTILES, axis=1)  # (Q, R)
            out["sim_median"][ri, bi] = np.median(sp, axis=1)
            out["sim_lo"][ri, bi] = np.percentile(sp, lo_q, axis=1)
            out["sim_hi"][ri, bi] = np.percentile(sp, hi_q, axis=1)
            t = obs.time[rows]
            tb["time"][ri, bi], tb["time_lo"][ri, bi], tb["time_hi"][ri, bi] = np.median(t), t.min(), t.max()
            tb["n_obs"][ri, bi] = rows.size
    inside = (out["observed"] >= out["sim_lo"]) & (out["observed"] <= out["sim_hi"])
    valid = ~np.isnan(out["observed"])
    dims3, dims2 = ("route", "bin", "quantile"), ("route", "bin")
    ds = xr.Dataset({**{k: (dims3, v, {"units": "ng/mL" if variable.endswith("_plasma") else "",
                                        "long_name": _LONG[k]}) for k, v in out.items()},
                     "inside": (dims3, np.where(valid, inside, np.nan), {"units": "1",
                                "long_name": "observed percentile inside its simulated band"}),
                     **{k: (dims2, v, {"units": "1" if k == "n_obs" else "h", "long_name": _LONG[k]})
                        for k, v in tb.items()}},
                    coords={"route": routes, "bin": np.arange(nb), "quantile": list(QUANTILES)})
    sig = residual_sigmas(model, variable, spec)
    ds.attrs.update({"model": model.name, "variable": variable, "replicates": R, "ci": spec.ci,
                     "prediction_corrected": int(spec.prediction_corrected), "residual_proportional": sig[0],
                     "residual_additive": sig[1], "residual_exponential": sig[2],
                     "observations": obs.id.size, "ids": len(obs.ids), "data_file": obs.path,
                     "fraction_inside": float(np.mean(inside[valid])) if valid.any() else float("nan")})
    return ds


_LONG = {"observed": "observed percentile", "sim_median": "median of the simulated percentile",
         "sim_lo": "lower end of the band of the simulated percentile",
         "sim_hi": "upper end of the band of the simulated percentile", "time": "median time in the bin",
         "time_lo": "first time in the bin", "time_hi": "last time in the bin", "n_obs": "observations in the bin"}

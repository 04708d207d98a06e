"""Sampled observations of a population run: plasma concentrations at chosen sampling times,
true and with each model's residual error (:mod:`pkpd.simulation.observations`).

Optional (``simulate_population(observation_times=…)``, scenario ``[population]
observation_times``).  The sampling times are merged into the output grid, so the true values are
the solver's exact values, not interpolations.  Adds, per observable output ``<species>_plasma``,
``<species>_plasma_sampled`` (true, ng/mL) and ``<species>_plasma_observed`` (with residual error,
ng/mL), dims model × regimen × subject × observation_time.
"""
from __future__ import annotations

import numpy as np
import xarray as xr
from pkpd.errors import PkpdError
from pkpd.models.common import SPECIES
from pkpd.simulation.observations import model_sigmas, observe, residual_normals


def checked_times(observation_times, horizon: float) -> np.ndarray:
    """Sampling times (h): finite, in [0, horizon], increasing without repeats."""
    t = np.asarray(list(observation_times), dtype=float)
    if t.ndim != 1 or not np.all(np.isfinite(t)) or np.any(t < 0) or np.any(t > horizon + 1e-9):
        raise PkpdError(f"observation times must lie between 0 and the horizon ({horizon:g} h)",
                        field="population.observation_times")
    if np.any(np.diff(t) <= 0):
        raise PkpdError("observation times must increase", field="population.observation_times")
    return t


class Observations:
    """Fills the sampled and observed arrays chunk by chunk (subjects ``start:stop``)."""

    def __init__(self, models, layouts, n_regimens: int, n: int, obs_times: np.ndarray, times: np.ndarray):
        self.t = obs_times
        self.cols = np.array([int(np.argmin(np.abs(times - x))) for x in obs_times], dtype=np.int64)
        if not np.allclose(times[self.cols], obs_times, rtol=0, atol=1e-9 * max(1.0, float(obs_times.max(initial=0)))):
            raise AssertionError("observation times are not on the output grid")
        self.names = [o.name for lay in layouts for o in lay.outs if o.quantity == "plasma"]
        self.names = list(dict.fromkeys(self.names))
        self.species = {o.name: o.species for lay in layouts for o in lay.outs if o.quantity == "plasma"}
        # every observable species of every model needs its residual error (refused otherwise)
        self.sigmas = [{o.name: model_sigmas(m, o.species) for o in lay.outs if o.quantity == "plasma"}
                       for m, lay in zip(models, layouts)]
        shape = (len(models), n_regimens, n, obs_times.size)
        self.sampled = {k: np.full(shape, np.nan) for k in self.names}
        self.observed = {k: np.full(shape, np.nan) for k in self.names}

    def add(self, ch, mi: int, lay, start: int, stop: int, seed: int) -> None:
        """One solved chunk of model ``mi`` (:class:`pkpd.simulation.population_chunk.Chunk`): its
        values at the kept time indices, which include :attr:`cols`."""
        if not ch.rix:
            return
        z = residual_normals(seed, start, stop, self.t.size)
        out_names = [o.name for o in lay.outs]
        at = np.searchsorted(ch.keep_at, self.cols)  # the solver kept these time indices (and the last)
        S = stop - start
        for name, sig in self.sigmas[mi].items():
            oi, si = out_names.index(name), SPECIES.index(self.species[name])
            for j, ri in enumerate(ch.rix):
                c = ch.kept[j * S:(j + 1) * S, oi][:, at]
                self.sampled[name][mi, ri, start:stop] = c
                self.observed[name][mi, ri, start:stop] = observe(c, sig, z[:, si, :, 0], z[:, si, :, 1])

    def add_to(self, ds: xr.Dataset, models) -> xr.Dataset:
        """The dataset with the sampled and observed variables and the ``observation_time`` axis."""
        dims = ("model", "regimen", "subject", "observation_time")
        data = {}
        for k in self.names:
            how = "; ".join(f"{m.name}: {m.residual[self.species[k]].describe()}" for m in models
                            if self.species[k] in m.residual)
            data[f"{k}_sampled"] = (dims, self.sampled[k], {"units": "ng/mL", "species": self.species[k],
                                    "long_name": f"{self.species[k]} plasma concentration at the sampling times "
                                                 "(true: no residual error)"})
            data[f"{k}_observed"] = (dims, self.observed[k], {
                "units": "ng/mL", "species": self.species[k], "residual_error": how,
                "long_name": f"simulated {self.species[k]} plasma measurements (with residual error; "
                             "values below 0 reported as 0)"})
        return ds.assign_coords(observation_time=("observation_time", self.t, {"units": "h"})).assign(data)

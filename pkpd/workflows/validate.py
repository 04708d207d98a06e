"""``pkpd validate``: predicted against observed trial event rates, on a calibration set and a
held-out set that nothing is ever fitted to.

For every trial and PD model: simulate one session of the trial's regimen in a virtual population
(with parameter-uncertainty replicates), take each patient's peak of the PD model's readout of the
endpoint's category (within the trial's assessment window), and turn it into the once-per-patient
incidence over the trial's course with the endpoint's observation model and its tolerance model
(:mod:`pkpd.analysis.endpoints`).  Three intervals are kept apart:

* **Monte Carlo error** of the predicted proportion (Wilson 95 % on the simulated patients): shrinks
  with more simulated patients;
* **parameter uncertainty** (5–95 % across replicates drawn from the published CIs, each replicate
  with its own draw of the endpoint's assumed ranges — between-patient SD, tolerance half-life,
  background rate where the row has no control arm — widened by the calibrated threshold's and
  attenuation's ranges, one at a time): does not shrink with more patients;
* the **predictive interval** of the *observed* rate in a trial of that size (2.5–97.5 % of binomial
  draws over the parameter uncertainty): what a held-out row is checked against.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pkpd.analysis.endpoint_uncertainty import parameter_interval, replicate_incidence
from pkpd.analysis.endpoints import assessment_grid, default_background, incidence, observation_model
from pkpd.analysis.tradeoff import wilson
from pkpd.dosing.regimen import Regimen
from pkpd.errors import PkpdError
from pkpd.models.drugs import article, dose_fraction, resolve_drug
from pkpd.models.endpoints import EndpointDef
from pkpd.models.load import load_model
from pkpd.scenario.trials import Trial, TrialsFile
from pkpd.simulation.population import simulate_population
from pkpd.simulation.sampling import Population

_PREDICTIVE_DRAWS = 400  # binomial draws per (replicate, threshold) for the predictive interval


@dataclass(frozen=True)
class Simulated:
    """One trial simulated with one PD model: per-patient peaks, replicate ids, threshold normals."""

    trial: Trial
    pd: str
    readout: str
    peaks: np.ndarray
    replicate: np.ndarray
    z: np.ndarray
    background: float


@dataclass(frozen=True)
class Prediction:
    """Predicted against observed incidence for one trial and PD model (fractions 0–1)."""

    trial: Trial
    pd: str
    readout: str
    predicted: float
    mc: tuple[float, float]
    parameter: tuple[float, float]
    predictive: tuple[float, float]
    observed: float
    observed_ci: tuple[float, float]
    background: float
    tolerance: bool = False  # the tolerance model (attenuation over sessions) was on

    @property
    def label(self) -> str:
        """Endpoint and the model whose threshold drives it (a PD model, or a PK model for exposure)."""
        return f"{self.trial.endpoint} · {self.pd}"

    @property
    def inside(self) -> bool:
        """The observed rate lies inside the predictive interval."""
        return self.predictive[0] <= self.observed <= self.predictive[1]


def simulate_trials(tf: TrialsFile, endpoints: dict[str, EndpointDef], progress=None) -> list[Simulated]:
    """Simulate every trial once per PD model of the file (one session each)."""
    pds = [load_model(p) for p in tf.pd]
    for i, t in enumerate(tf.trials):  # every row checked before anything is simulated
        if t.endpoint not in endpoints:
            raise PkpdError(f"unknown endpoint {t.endpoint!r} (known: {', '.join(endpoints)})",
                            file=str(tf.path), field=f"trials[{i}].endpoint")
        _check_window(t, endpoints[t.endpoint], str(tf.path), i)
    out = []
    for i, t in enumerate(tf.trials):
        ep = endpoints[t.endpoint]
        pk = load_model(t.pk)
        weight = t.weight if t.weight is not None else tf.weight
        covs = {"WT": weight} if weight is not None else {}
        pop = Population(n=tf.subjects, seed=tf.seed + i, covariates=covs, replicates=tf.replicates)
        regs = [_as_given_to(r, t.drug, pk) for r in t.regimens]
        # the peak up to the assessment time (an analgesia responder at 15 min) or over the whole session
        horizon, step = assessment_grid(ep, tf.horizon, tf.step, t.window)
        ds = simulate_population(pk, regs, pop, horizon=horizon, step=step, pd=pds, mode="streaming",
                                 progress=progress)
        # flexible dosing: patients split equally among the regimens (subject i gets regimen i mod k)
        take = np.arange(tf.subjects) % len(regs)
        z = np.random.default_rng([tf.seed, i, 7]).standard_normal(tf.subjects)
        bg = t.control.rate if t.control is not None else default_background(ep, t.course)
        for key, var in _drivers(ep, pk, pds, ds, f"{tf.path}: trials[{i}]"):
            peaks = ds[f"{var}_cmax"].values[0][take, np.arange(tf.subjects)]
            out.append(Simulated(t, key, var, peaks, ds.replicate.values, z, bg))
    return out


def _check_window(t: Trial, ep: EndpointDef, path: str, i: int) -> None:
    """A calibration row is read at its endpoint's assessment time (the time the tradeoff reads the
    endpoint at), so a different window would calibrate one definition and use another."""
    if t.set == "calibration" and ep.assessment is not None and t.window is not None \
            and abs(t.window - ep.assessment) > 1e-9:
        raise PkpdError(f"a calibration row of {ep.name!r} must be assessed at the endpoint's assessment time "
                        f"({ep.assessment * 60:g} min, models/endpoints/endpoints.toml), not {t.window * 60:g} min",
                        file=path, field=f"trials[{i}].window")


def _drivers(ep: EndpointDef, pk, pds, ds, where: str) -> list[tuple[str, str]]:
    """(threshold key, population output) pairs driving an endpoint: each PD model's first readout of
    the endpoint's category, or for an exposure endpoint the PK model's concentration output."""
    if ep.empirical:
        if f"{ep.output}_cmax" not in ds:
            raise PkpdError(f"{where}: endpoint {ep.name!r} needs output {ep.output!r}, which {pk.name!r} lacks")
        return [(pk.name, ep.output)]
    out = []
    for p in pds:
        rd = next((r for r in p.readouts if r.category == ep.category), None)
        if rd is not None:
            out.append((p.name, f"{rd.name}_{p.name}"))
    return out


def _as_given_to(reg, drug: str, pk):
    """The regimen with what the trial gave stated on every dose (``Dose.drug``): the dosing layer
    gives an S-ketamine model the S-enantiomer half of a racemic dose (Olofsen 2022: R-ketamine
    contributed to neither antinociception nor external perception, so the S half is what drives
    these readouts) and refuses a form the model cannot hold."""
    given = resolve_drug(drug)
    try:
        dose_fraction(given, pk.drug, repr(pk.name))
    except PkpdError:
        raise PkpdError(f"{article(given)} {drug} trial cannot run on {pk.name!r}, a {pk.drug} model: name "
                        f"{article(given)} {given} PK model for it (trials[].pk)") from None
    return Regimen(reg.name, tuple(replace(d, drug=given) for d in reg.doses))


def predict(sims: list[Simulated], endpoints: dict[str, EndpointDef], seed: int = 0,
            assumed: bool = True) -> list[Prediction]:
    """Predictions with Monte Carlo, parameter and predictive intervals for every simulated trial
    (``assumed=False``: the endpoints' assumed numbers not drawn, for the before/after in the doc)."""
    rng = np.random.default_rng([seed, 99])
    out = []
    for s in sims:
        ep = endpoints[s.trial.endpoint]
        p_all = incidence(s.peaks, observation_model(ep, s.pd), s.trial.course, s.background, s.z)
        point = float(np.nanmean(p_all))
        n = int(np.isfinite(p_all).sum())
        mc = tuple(float(x) for x in wilson(np.array(point * n), n))
        # (calibrated ends, replicates), each replicate with its draw of the assumed ranges; a trial's own
        # control arm is its background (fixed), else the endpoint's assumed one is drawn
        per = replicate_incidence(s.peaks, s.replicate, ep, s.pd, s.trial.course, s.background, s.z, seed,
                                  own_background=s.trial.control is None, assumed=assumed)
        parameter = parameter_interval(per)
        N = s.trial.active.n
        draws = rng.binomial(N, np.clip(np.repeat(per.ravel(), _PREDICTIVE_DRAWS), 0, 1)) / N
        predictive = (float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5)))
        obs = s.trial.active
        ci = tuple(float(x) for x in wilson(np.array(obs.events), obs.n))
        out.append(Prediction(s.trial, s.pd, s.readout, point, mc, parameter, predictive, obs.rate, ci,
                              s.background, ep.attenuation(s.pd) is not None))
    return out

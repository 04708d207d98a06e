"""Calibrated clinical endpoints as the cost and benefit of a trade-off: P(dissociation adverse event
at least once over a treatment course, with the tolerance model) and P(analgesia responder in a
session), beside the readout-level probabilities of :mod:`pkpd.analysis.tradeoff`.

Each simulated subject's per-session readout peak (the PD model's psychotomimetic or analgesia
readout over the simulated session) goes through the endpoint's observation model
(:mod:`pkpd.analysis.endpoints`, numbers in ``models/endpoints/endpoints.toml``).  Three intervals,
as in ``pkpd validate``:

* ``…_lo``/``…_hi``: Monte Carlo error (Wilson 95 % on the simulated subjects);
* ``…_unc_lo``/``…_unc_hi``: parameter uncertainty — 5–95 % across the PK/PD replicates, each with
  its draw of the assumed ranges (between-patient SD, tolerance half-life, background rate;
  :mod:`pkpd.analysis.endpoint_uncertainty`), widened by the calibrated threshold's and attenuation's
  ranges.

Each endpoint is read the way ``pkpd validate`` calibrated it (:func:`assessment_grid`): the
responder endpoint at its readout's peak up to its assessment time (15 min after the first dose),
the dissociation endpoint at the session's peak.  The caller passes the population run of each
(``by_endpoint``); a run over the whole session serves an endpoint without an assessment time.
"""
from __future__ import annotations

import math
import numpy as np
import xarray as xr

from pkpd.analysis.clinical_spec import BENEFIT_LABEL, COST_LABEL, ClinicalSpec
from pkpd.analysis.endpoint_uncertainty import parameter_interval, replicate_incidence
from pkpd.analysis.endpoints import Course, default_background, incidence, observation_model
from pkpd.analysis.tradeoff import Pair, wilson
from pkpd.errors import PkpdError
from pkpd.models.endpoints import EndpointDef

def check_endpoints(spec: ClinicalSpec, endpoints: dict[str, EndpointDef], file: str | None = None) -> None:
    """One :class:`PkpdError` when the cost or benefit is not a known endpoint of the right category."""
    for key, name, cat in (("cost", spec.cost, "psychotomimetic"), ("benefit", spec.benefit, "analgesia")):
        if name not in endpoints:
            raise PkpdError(f"unknown endpoint {name!r} (known: {', '.join(sorted(endpoints))})", file=file,
                            field=f"tradeoff.clinical.{key}")
        if endpoints[name].category != cat:
            raise PkpdError(f"endpoint {name!r} is a {endpoints[name].category} endpoint, not {cat}", file=file,
                            field=f"tradeoff.clinical.{key}")


def _pd_of(pair: Pair, category: str) -> str:
    return pair.analgesia_pd if category == "analgesia" else pair.psychotomimetic_pd


def _summary(peaks, rep, ep: EndpointDef, pd: str, course: Course, z, seed: int) -> tuple:
    """(point, Wilson lo, hi, parameter lo, hi) of an incidence over a population (fractions): the
    point and its Monte Carlo error at the values as written, the parameter-uncertainty interval over
    the replicates (each with its draw of the assumed numbers) and the calibrated ends."""
    p = incidence(peaks, observation_model(ep, pd), course, default_background(ep, course), z)
    ok = np.isfinite(p)
    if not ok.any():
        return (math.nan,) * 5
    point, n = float(np.mean(p[ok])), int(ok.sum())
    lo, hi = (float(x) for x in wilson(np.array(point * n), n))
    per = replicate_incidence(peaks, rep, ep, pd, course, default_background(ep, course), z, seed)
    return (point, lo, hi, *parameter_interval(per))


def ceiling_note(p: np.ndarray, ep: EndpointDef) -> str:
    """Words when P(responder) is at its ceiling (≥ 95 %) for some regimens ("" when for none): there it
    cannot separate regimens.  The calibrated threshold sits at the foot of the volunteer analgesia
    readout (the calibration row's readout has barely risen at its assessment time), so any larger
    exposure at that time makes nearly every simulated patient a responder."""
    ok = np.isfinite(p)
    k, n = int(np.sum(p[ok] >= 0.95)), int(ok.sum())
    if k == 0:
        return ""
    when = f"{ep.assessment * 60:g} min after the first dose" if ep.assessment is not None else "at the session's peak"
    return (f"{BENEFIT_LABEL} ({ep.name}, read {when} as calibrated) is at its ceiling (≥ 95 %) for {k} of {n} "
            "regimen × model points: its threshold, calibrated to emergency-department trial rates, sits at the "
            "foot of the volunteer analgesia readout, so at those doses nearly every simulated patient counts and "
            "it does not separate regimens (docs/validation.md: how its held-out rows fare); read it as an upper "
            "bound")


def slow_route_note(ds: xr.Dataset, ep: EndpointDef) -> str:
    """Words when an oral regimen is read at an early assessment time ("" otherwise): absorbed over
    hours, it has barely reached the effect site then, so its responder share is mostly background."""
    routes = {str(r) for r in np.ravel(ds.route.values)} if "route" in ds.coords else set()
    if ep.assessment is None or ep.assessment > 1.0 or not any("oral" in r for r in routes):
        return ""
    return (f"{BENEFIT_LABEL} is read {ep.assessment * 60:g} min after the first dose, as calibrated on intranasal "
            "emergency-department data; an oral dose is absorbed over hours, so its responder share at that time "
            f"is mostly the assumed background ({ep.background.value:.0%}) and says nothing about its analgesia "
            "later in the session")


def clinical_summaries(ds: xr.Dataset, pairs: list[Pair], endpoints: dict[str, EndpointDef], spec: ClinicalSpec,
                       seed: int = 0, by_endpoint: dict | None = None) -> xr.Dataset:
    """``p_benefit`` (pair × model × regimen) and ``p_cost`` (pair × model × regimen × schedule), each
    with ``_lo/_hi`` (Monte Carlo) and ``_unc_lo/_unc_hi`` (parameter uncertainty); NaN where the
    endpoint has no threshold for a pair's PD model (the attribute ``clinical_notes`` says which).

    ``by_endpoint``: endpoint name → the population run (same subjects and regimens as ``ds``) over
    that endpoint's :func:`assessment_grid`; endpoints not in it are read from ``ds``."""
    check_endpoints(spec, endpoints)
    runs = {spec.benefit: ds, spec.cost: ds, **(by_endpoint or {})}
    P, M, R, S = len(pairs), ds.sizes["model"], ds.sizes["regimen"], len(spec.schedules)
    rep = np.asarray(ds.replicate.values) if "replicate" in ds.coords else np.zeros(ds.sizes["subject"], int)
    z = np.random.default_rng([seed, 15]).standard_normal(ds.sizes["subject"])  # the same patients at every dose
    names = ("", "_lo", "_hi", "_unc_lo", "_unc_hi")
    ben = {k: np.full((P, M, R), np.nan) for k in names}
    cost = {k: np.full((P, M, R, S), np.nan) for k in names}
    notes = []
    for pi, pair in enumerate(pairs):
        b_ep, c_ep = endpoints[spec.benefit], endpoints[spec.cost]
        b_pd, c_pd = _pd_of(pair, "analgesia"), _pd_of(pair, "psychotomimetic")
        have_b, have_c = b_pd in b_ep.thresholds, c_pd in c_ep.thresholds
        for ep, pd, ok in ((b_ep, b_pd, have_b), (c_ep, c_pd, have_c)):
            if not ok:
                notes.append(f"{ep.name} has no calibrated threshold for {pd}: no clinical probability for {pair.label}")
        for mi in range(M):
            for ri in range(R):
                if have_b:
                    peaks = runs[spec.benefit][f"{pair.analgesia}_cmax"].values[mi, ri]
                    vals = _summary(peaks, rep, b_ep, b_pd, Course(1), z, seed)
                    for k, v in zip(names, vals):
                        ben[k][pi, mi, ri] = v
                if have_c:
                    peaks = runs[spec.cost][f"{pair.psychotomimetic}_cmax"].values[mi, ri]
                    for si, course in enumerate(spec.schedules):
                        vals = _summary(peaks, rep, c_ep, c_pd, course, z, seed)
                        for k, v in zip(names, vals):
                            cost[k][pi, mi, ri, si] = v
    notes += [n for n in (ceiling_note(ben[""], endpoints[spec.benefit]),
                          slow_route_note(ds, endpoints[spec.benefit])) if n]
    dims3, dims4 = ("pair", "model", "regimen"), ("pair", "model", "regimen", "schedule")
    out = {f"p_benefit{k}": (dims3, v, {"units": "1", "long_name": f"{BENEFIT_LABEL} ({spec.benefit})"})
           for k, v in ben.items()}
    out.update({f"p_cost{k}": (dims4, v, {"units": "1", "long_name": f"{COST_LABEL} ({spec.cost})"})
                for k, v in cost.items()})
    return xr.Dataset(out, coords={"pair": [p.label for p in pairs], "model": ds.model.values,
                                   "regimen": ds.regimen.values,
                                   "schedule": [c.label() for c in spec.schedules]},
                      attrs={"clinical": spec.describe(endpoints[spec.benefit].assessment),
                             "clinical_notes": " | ".join(notes),
                             **({"benefit_assessment_h": endpoints[spec.benefit].assessment}
                                if endpoints[spec.benefit].assessment is not None else {})})

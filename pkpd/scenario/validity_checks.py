"""A scenario against its models' ``[validity]`` ranges: one warning per model, or a refusal.

:func:`covariate_checks` runs when the scenario is loaded: the typical subject (``[subject]``)
and the ``[population]`` subjects (the first 20 000 of them, drawn exactly as the run will draw
them) against each model's covariate ranges.  :func:`concentration_checks` runs after the
typical-subject simulation: plasma peaks against a PK model's concentration range, effect-site
peaks against a PD model's.  With ``[scenario] validity = "refuse"`` the same findings are
errors (exit 2, nothing written).
"""
from __future__ import annotations

import warnings
import numpy as np
import xarray as xr
from pkpd.errors import Collector
from pkpd.models.validity import concentration_problems, covariate_problems, message
from pkpd.simulation.sampling import sample_covariates
from pkpd.scenario.spec import PopulationSpec


#: Population subjects checked against covariate ranges (the run's own first subjects).
SAMPLE = 20_000


def covariate_checks(models, pds, subject: dict[str, float], population: PopulationSpec | None,
                     policy: str, col: Collector) -> tuple[str, ...]:
    """Warnings (or, with ``policy == "refuse"``, errors in ``col``) for subjects outside ranges."""
    out = []
    sample = _population_sample(models, pds, population)
    for m in list(models) + list(pds):
        if m.validity is None or not m.validity.covariates:
            continue
        typical = {k: np.array([subject.get(k, d)]) for k, (_, d) in m.params.all_covariates().items()}
        problems = covariate_problems(m.validity, typical, "typical subject")
        if sample:
            problems += covariate_problems(m.validity, sample, "population")
        if problems:
            out.append(_report(m, problems, policy, col, "scenario"))
    return tuple(w for w in out if w)


def _population_sample(models, pds, population: PopulationSpec | None) -> dict[str, np.ndarray]:
    """The covariates of the run's first subjects (empty without a population)."""
    if population is None:
        return {}
    pop = population.population
    names = sorted({c for m in list(models) + list(pds) for c in m.params.all_covariates()})
    return sample_covariates(pop, 0, min(pop.n, SAMPLE), names)


def concentration_checks(scenario, ds: xr.Dataset) -> tuple[str, ...]:
    """Warnings for typical-subject peaks outside a model's concentration ranges.

    Raises
    ------
    PkpdError
        Instead, when ``scenario.validity == "refuse"``.
    """
    col = Collector(scenario.path)
    out = []
    for mi, m in enumerate(scenario.models):
        problems = _peaks_outside(m, ds, mi, {sp: [f"{sp}_plasma"] for sp in m.species}, m.name)
        if problems:
            out.append(_report(m, problems, scenario.validity, col, "scenario.models"))
        for p in scenario.pd:
            by_species: dict[str, list[str]] = {}
            for e in p.effects:
                by_species.setdefault(e.species, []).append(p.effect_name(e.name))
            problems = _peaks_outside(p, ds, mi, by_species, f"{m.name} → {p.name}")
            if problems:
                out.append(_report(p, problems, scenario.validity, col, "scenario.pd"))
    col.raise_if_any()
    return tuple(dict.fromkeys(out))


def _peaks_outside(model, ds: xr.Dataset, mi: int, variables: dict[str, list[str]], what: str) -> list[str]:
    """Per species, the highest typical peak over regimens (ng/mL outputs) against the ranges."""
    v = model.validity
    if v is None or not v.concentrations:
        return []
    out = []
    for sp, names in variables.items():
        names = [n for n in names if n in ds]
        if sp not in v.concentrations or not names:
            continue
        stack = np.stack([ds[n].isel(model=mi).values for n in names])  # names × regimen × time
        if np.all(np.isnan(stack)):
            continue
        with warnings.catch_warnings():  # a regimen the model cannot give is all NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            peaks = np.nanmax(stack, axis=(0, 2))
        ri = int(np.nanargmax(peaks))
        found = concentration_problems(v, {sp: float(peaks[ri]) / 1000.0}, f"{what}, typical subject,")
        out += [f"{x} (regimen {str(ds.regimen.values[ri])!r})" for x in found]
    return out


def _report(model, problems: list[str], policy: str, col: Collector, field: str) -> str:
    """The warning for one model, or an error in ``col`` when the scenario refuses."""
    text = message(model, problems)
    if policy == "refuse":
        col.add(text + " (refused: [scenario] validity = \"refuse\")", field)
        return ""
    return text


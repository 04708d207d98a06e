"""Checks across tables: what no single table of a scenario can check on its own.

* population thresholds must name outputs of the listed models (``[population]`` × ``[scenario]``),
  and sampled observations need times within the horizon and each model's residual error;
* trade-off readout pairs must exist in the PD models (``[tradeoff]`` × ``[scenario]``);
* every regimen needs a model with its routes, doses after the horizon are flagged, and PK/PD
  model pairings are checked (``[[regimens]]`` × ``[scenario]`` × ``[time]`` × ``[pairing]``);
  routes a model lacks and accepted pairings become one-line notes (:func:`scenario_notes`);
* a covariate file must give every covariate the models (and mg/kg doses) use, unless
  ``[population]`` gives it a distribution (``[population]`` × ``[scenario]`` × ``[[regimens]]``);
* every dose's drug must be one each PK model can represent, and PK/PD pairs of different ketamine
  forms need the PD file's ``[enantiomers]`` conversion (:func:`drug_checks`).
"""
from __future__ import annotations

from pkpd.analysis.tradeoff import TradeoffSpec, pairs_for
from pkpd.dosing.regimen import Regimen
from pkpd.errors import Collector, PkpdError
from pkpd.dosing.drug_doses import dose_notes, dose_problems
from pkpd.models.pairing import pairing_messages, pairing_notes, pairing_problems
from pkpd.scenario.spec import PopulationSpec, TimeGrid


def output_names(models, pds) -> set[str]:
    """Every output name a population run of these models gives (plasma, effect sites, readouts)."""
    outs = {f"{sp}_plasma" for m in models for sp in m.species}
    outs |= {p.effect_name(e.name) for p in pds for e in p.effects}
    outs |= {f"{r.name}_{p.name}" for p in pds for r in p.readouts}
    return outs


def check_thresholds(spec: PopulationSpec, models, pds, col: Collector) -> None:
    """Each ``[population] thresholds`` key must be an output of the models."""
    outs = output_names(models, pds)
    for k in spec.thresholds:
        if k not in outs:
            col.add(f"unknown output {k!r} (outputs: {', '.join(sorted(outs))})", f"population.thresholds.{k}")


def used_covariates(m) -> set[str]:
    """Covariates a model's parameters and derived values use (WT too for per-kg parameters)."""
    pset = m.params
    names = set()
    for p in pset.parameters.values():
        if p.covariate is not None:
            names |= set(p.covariate.names)
        if p.per_kg:
            names.add("WT")
    for e in pset.derived.values():
        names |= set(e.names)
    return names & set(pset.all_covariates())


def check_covariate_file(spec: PopulationSpec, models, pds, regimens, col: Collector) -> None:
    """With ``covariates_file``, every covariate the models use (and WT for mg/kg doses) must come
    from the file or a ``[population]`` distribution: a missing column is an error, not a default."""
    pop = spec.population
    if not pop.table:
        return
    given = set(pop.table) | set(pop.covariates)
    need: dict[str, list[str]] = {}
    for m in list(models) + list(pds):
        for c in sorted(used_covariates(m) - given):
            need.setdefault(c, []).append(m.name)
    if "WT" not in given and any((d.amount or d.rate).per_kg for r in regimens for d in r.doses):
        need.setdefault("WT", []).append("mg/kg doses")
    for c, users in sorted(need.items()):
        col.add(f"the covariate file has no {c} column, which {', '.join(users)} use(s) (columns: "
                f"{', '.join(sorted(pop.table))}); add the column or give it in [population] instead of the "
                f"default", "population.covariates_file")
def check_observations(spec: PopulationSpec, models, grid: TimeGrid, col: Collector) -> None:
    """``[population] observation_times`` must lie within the horizon, and every model needs a
    residual error (``[residual.SPECIES]``) for each species it observes."""
    if not spec.observation_times:
        return
    if spec.observation_times[-1] > grid.horizon:
        col.add(f"observation times must lie within the horizon ({grid.horizon:g} h)", "population.observation_times")
    for m in models:
        for sp in m.species:
            if sp not in m.residual:
                col.add(f"model {m.name!r} ({m.path}) gives no residual error for {sp}: simulated observations need "
                        f"a [residual.{sp}] section in the model file", "population.observation_times")


def check_pairs(spec: TradeoffSpec, pds, col: Collector) -> None:
    """With PD models listed, the trade-off's analgesia/psychotomimetic pairs must be found in them."""
    if not pds:
        return
    try:
        pairs_for(tuple(pds), spec)
    except PkpdError as e:
        col.catch(e)


def dosing_checks(models, pds, regimens: tuple[Regimen, ...], grid: TimeGrid | None,
                  col: Collector, accept=()) -> tuple[str, ...]:
    """Routes, horizon and model pairings: errors go to ``col``, warnings are returned.

    A regimen no model can give is an error; doses after the horizon and PK/PD pairing caveats
    not in ``accept`` (``"PK/PD"`` pairings) are warnings.  What a model cannot give is skipped
    for it and said once in :func:`scenario_notes`.
    """
    warnings = []
    for r in regimens:
        if models and all(not m.supports(rt) for m in models for rt in r.routes):
            col.add(f"no model in this scenario supports route(s) {', '.join(r.routes)}", "regimens")
        if grid and max(d.last_time() for d in r.doses) > grid.horizon:
            warnings.append(f"regimen {r.name!r} doses after the horizon ({grid.horizon:g} h); those are not seen")
    warnings += pairing_messages(models, pds, accept)[0]
    return tuple(warnings)


def scenario_notes(models, pds, regimens: tuple[Regimen, ...], accept=()) -> tuple[str, ...]:
    """One line per model that lacks routes (the regimens it skips) and per accepted pairing."""
    notes = []
    for m in models:
        skipped = [r for r in regimens if not all(m.supports(rt) for rt in r.routes)]
        if skipped:
            missing = sorted({rt for r in skipped for rt in r.routes if not m.supports(rt)})
            notes.append(f"{m.name} has no {', '.join(missing)} route: skipped for "
                         f"{', '.join(repr(r.name) for r in skipped)}")
    return tuple(notes) + tuple(pairing_messages(models, pds, accept)[1])


def drug_checks(models, pds, regimens: tuple[Regimen, ...], col: Collector) -> tuple[str, ...]:
    """What is given against what the models describe: errors go to ``col``, notes are returned.

    Errors: a dose a PK model cannot represent (esketamine into a racemic model), a PK/PD pair of
    different forms without an ``[enantiomers]`` conversion (naming both files), and a dose without
    a drug when the PK models describe different forms (it would be a different drug in each).
    Notes: every conversion the run makes (racemic → the S half, no drug → the model's form, PK
    concentrations converted for a PD model).
    """
    forms = {m.drug for m in models}
    for i, r in enumerate(regimens):
        if None in r.drugs and len(forms) > 1:
            which = "; ".join(f"{m.name}: {m.drug}" for m in models)
            col.add(f"regimen {r.name!r} does not say what is given and the models describe different forms "
                    f"({which}): add drug = \"esketamine\" or \"racemic\"", f"regimens[{i}]")
    notes = []
    for m in models:
        for i, problem in dose_problems(m, regimens):
            col.add(problem, f"regimens[{i}]")
        if len(forms) == 1:
            notes += dose_notes(m, regimens)
        else:
            notes += [n for n in dose_notes(m, regimens) if "no drug stated" not in n]
        for p in pds:
            for problem in pairing_problems(m, p):
                col.add(problem, "scenario.pd")
            notes += pairing_notes(m, p)
    return tuple(dict.fromkeys(notes))

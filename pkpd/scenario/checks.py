"""Checks across tables: what no single table of a scenario can check on its own.

* population thresholds must name outputs of the listed models (``[population]`` × ``[scenario]``);
* trade-off readout pairs must exist in the PD models (``[tradeoff]`` × ``[scenario]``);
* every regimen needs a model with its routes, doses after the horizon are flagged, and PK/PD
  model pairings are checked (``[[regimens]]`` × ``[scenario]`` × ``[time]``);
* a covariate file must give every covariate the models (and mg/kg doses) use, unless
  ``[population]`` gives it a distribution (``[population]`` × ``[scenario]`` × ``[[regimens]]``).
"""
from __future__ import annotations

from pkpd.analysis.tradeoff import TradeoffSpec, pairs_for
from pkpd.dosing.regimen import Regimen
from pkpd.errors import Collector, PkpdError
from pkpd.models.pairing import pairing_warnings
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


def check_pairs(spec: TradeoffSpec, pds, col: Collector) -> None:
    """With PD models listed, the trade-off's analgesia/psychotomimetic pairs must be found in them."""
    if not pds:
        return
    try:
        pairs_for(tuple(pds), spec)
    except PkpdError as e:
        col.catch(e)


def dosing_checks(models, pds, regimens: tuple[Regimen, ...], grid: TimeGrid | None,
                  col: Collector) -> tuple[str, ...]:
    """Routes, horizon and model pairings: errors go to ``col``, warnings are returned.

    A regimen no model can give is an error; one that some model cannot give is a warning (that
    model's results are NaN for it), as are doses after the horizon and PK/PD pairing caveats.
    """
    warnings = []
    for m in models:
        for r in regimens:
            missing = [rt for rt in r.routes if not m.supports(rt)]
            if missing:
                warnings.append(f"model {m.name} has no {', '.join(missing)} route: regimen {r.name!r} "
                                f"is left empty (NaN) for it")
    for r in regimens:
        if models and all(not m.supports(rt) for m in models for rt in r.routes):
            col.add(f"no model in this scenario supports route(s) {', '.join(r.routes)}", "regimens")
        if grid and max(d.last_time() for d in r.doses) > grid.horizon:
            warnings.append(f"regimen {r.name!r} doses after the horizon ({grid.horizon:g} h); those are not seen")
    for m in models:
        for p in pds:
            warnings += pairing_warnings(m, p)
    return tuple(warnings)

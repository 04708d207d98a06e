"""Checks across tables: what no single table of a scenario can check on its own.

* population thresholds must name outputs of the listed models (``[population]`` × ``[scenario]``),
  and sampled observations need times within the horizon and each model's residual error;
* trade-off readout pairs must exist in the PD models (``[tradeoff]`` × ``[scenario]``);
* every regimen needs a model with its routes, doses after the horizon are flagged, and PK/PD
  model pairings are checked (``[[regimens]]`` × ``[scenario]`` × ``[time]`` × ``[pairing]``);
  routes a model lacks and accepted pairings become one-line notes (:func:`scenario_notes`).
"""
from __future__ import annotations

from pkpd.analysis.tradeoff import TradeoffSpec, pairs_for
from pkpd.dosing.regimen import Regimen
from pkpd.errors import Collector, PkpdError
from pkpd.models.pairing import pairing_messages
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

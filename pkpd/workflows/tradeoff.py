"""``pkpd tradeoff`` (dose sweeps and Pareto frontiers) and ``pkpd optimize`` (constrained dose)."""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
import numpy as np
from pkpd.errors import PkpdError
from pkpd.output.tables import format_table
from pkpd.output.files import csv_text, with_provenance
from pkpd.output.figures import png_bytes
from pkpd.output.output_set import OutputSet
from pkpd.simulation.sampling import Population
from pkpd.workflows.run import scenario_stem, tradeoff_setup
from pkpd.simulation.population import simulate_population
from pkpd.output.analysis_figures import frontier_figure
from pkpd.analysis.dosefinding import pareto_mask, sweep_regimens
from pkpd.analysis.tradeoff import evaluate, thresholds_for
from pkpd.analysis.dosefinding import optimize


DEFAULT_SWEEP = {"dose": [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0]}


DEFAULT_N = 500


def _population(sc, spec) -> Population:
    """The subjects of a trade-off or optimisation: the scenario's population (or a default one)
    with ``[tradeoff] n`` subjects (default: at most 2000 of the population's)."""
    base = sc.population.population if sc.population is not None else Population(n=DEFAULT_N, seed=0)
    n = spec.n or (min(base.n, 2000) if sc.population is not None else DEFAULT_N)
    return replace(base, n=n)


def _setup(sc):
    setup = tradeoff_setup(sc)
    if setup is None:
        raise PkpdError("the scenario's PD models give no analgesia + psychotomimetic readout pair: add e.g. "
                        "pd = [\"olofsen_2022\"] under [scenario]", file=str(sc.path), field="scenario.pd")
    return setup


def run_tradeoff(sc, quiet: bool = False) -> list[Path]:
    spec, pairs = _setup(sc)
    sweep = spec.sweep or DEFAULT_SWEEP
    variants, meta = sweep_regimens(sc.regimens, sweep)
    pop = _population(sc, spec)
    if not quiet:
        print(f"{sc.title}: sweeping {', '.join(sweep)} → {len(variants)} regimens × {len(sc.models)} model(s) × "
              f"{pop.n:,} subjects", file=sys.stderr)
    ds = simulate_population(sc.models, variants, pop, horizon=sc.time.horizon, step=sc.time.step, pd=sc.pd,
                             mode="streaming", thresholds=thresholds_for(pairs, spec),
                             progress=None if not quiet else False, solver=sc.solver)
    tr = evaluate(ds, pairs, spec)
    header = ["PD", "model", "base regimen", "point", "P(adequate)", "P(psychotomimetic)", "P(success)",
              "on frontier"]
    rows = []
    for pi, pl in enumerate(tr.pair.values):
        for mi, m in enumerate(tr.model.values):
            for base in dict.fromkeys(x["base"] for x in meta):
                idx = [i for i, x in enumerate(meta) if x["base"] == base]
                x = tr.p_exceed.values[pi, mi, idx]
                y = tr.p_adequate.values[pi, mi, idx]
                front = pareto_mask(x, y)
                for j, i in enumerate(idx):
                    if np.isnan(x[j]):
                        continue
                    rows.append([str(pl), str(m), base, variants[i].name[len(base):].strip(" []") or "as given",
                                 f"{y[j]:.1%}", f"{x[j]:.1%}", f"{tr.p_success.values[pi, mi, i]:.1%}",
                                 "yes" if front[j] else ""])
    fig = frontier_figure(tr, meta, f"{sc.title}: analgesia vs psychotomimetic exposure ({pop.n:,} subjects per point)")
    stem = scenario_stem(sc)
    out = OutputSet(sc.output_dir)
    out.add_text(f"{stem}_frontier.csv", csv_text(header, rows))
    out.add_netcdf(f"{stem}_frontier.nc", with_provenance(tr, sc, sc.models, sc.pd))
    out.add_bytes(f"{stem}_frontier.png", png_bytes(fig))
    files = out.commit()
    if not quiet:
        print(spec.describe())
        print(format_table(header, [r for r in rows if r[-1] == "yes"], numeric_from=4))
        print("(frontier points only; every point is in the CSV)")
    return files


def run_optimize(sc, quiet: bool = False) -> list[Path]:
    spec, pairs = _setup(sc)
    pop = _population(sc, spec)
    if not quiet:
        print(f"{sc.title}: largest dose with ≤ {spec.cap:.0%} of {pop.n:,} subjects above the psychotomimetic "
              f"level, per regimen (dose multiples {spec.dose_bounds[0]:g}–{spec.dose_bounds[1]:g})", file=sys.stderr)
    res = optimize(sc.models, sc.regimens, sc.pd, pop, spec, horizon=sc.time.horizon, step=sc.time.step)
    header = ["regimen", "PD", "model", "dose", "P(adequate)", "P(psychotomimetic)", "binding constraint",
              "sensitivity (cap ± 5 points)"]
    rows = [[o.regimen, o.pair, o.model, o.dose_text, f"{o.p_adequate:.1%}", f"{o.p_exceed:.1%}", o.binding,
             o.sensitivity] for o in res]
    out = OutputSet(sc.output_dir)
    out.add_text(f"{scenario_stem(sc)}_optimum.csv", csv_text(header, rows))
    files = out.commit()
    if not quiet:
        print(spec.describe())
        print(format_table(header[:7], [r[:7] for r in rows], numeric_from=None))
        for o in res:
            if o.sensitivity:
                print(f"  {o.regimen} / {o.pair} / {o.model}: {o.sensitivity}")
    return files

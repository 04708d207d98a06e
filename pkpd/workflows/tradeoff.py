"""``pkpd tradeoff`` (dose sweeps and Pareto frontiers) and ``pkpd optimize`` (constrained dose)."""
from __future__ import annotations

import sys
import textwrap
from dataclasses import replace
from pathlib import Path
import matplotlib.pyplot as plt
import numpy as np
from pkpd.errors import PkpdError
from pkpd.output.text_table import WIDTH, render_grouped
from pkpd.output.files import csv_text, with_provenance, write_figure, write_netcdf, write_text
from pkpd.simulation.sampling import Population
from pkpd.workflows.run import tradeoff_setup
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
        print(textwrap.fill(f"{sc.title}: sweeping {', '.join(sweep)} → {len(variants)} regimens × "
                            f"{len(sc.models)} model(s) × {pop.n:,} subjects", WIDTH), file=sys.stderr)
    ds = simulate_population(sc.models, variants, pop, horizon=sc.time.horizon, step=sc.time.step, pd=sc.pd,
                             mode="streaming", thresholds=thresholds_for(pairs, spec),
                             progress=None if not quiet else False, solver=sc.solver)
    tr = evaluate(ds, pairs, spec)
    header = ["PD", "model", "base regimen", "point", "P(adequate analgesia)", "P(unacceptable psychotomimetic)",
              "P(success)", "on frontier"]
    rows, csv_rows = [], []
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
                    key = [str(pl), str(m), base, variants[i].name[len(base):].strip(" []") or "as given"]
                    ps = (y[j], x[j], tr.p_success.values[pi, mi, i])
                    rows.append(key + [f"{p:.1%}" for p in ps] + ["yes" if front[j] else ""])
                    csv_rows.append(key + [f"{p:.6g}" for p in ps] + [str(int(front[j]))])
    fig = frontier_figure(tr, meta, f"{sc.title}: analgesia vs psychotomimetic exposure ({pop.n:,} subjects per point)")
    stem = Path(sc.path).stem
    out = sc.output_dir
    csv_header = ["pd", "model", "base_regimen", "point", "p_adequate", "p_exceed", "p_success", "on_frontier"]
    files = [write_text(out / f"{stem}_frontier.csv", csv_text(csv_header, csv_rows)),
             write_netcdf(with_provenance(tr, sc, sc.models, sc.pd), out / f"{stem}_frontier.nc"),
             write_figure(fig, out / f"{stem}_frontier.png")]
    plt.close(fig)
    if not quiet:
        print(textwrap.fill(spec.describe(), WIDTH))
        print(render_grouped(header[:-1], [r[:-1] for r in rows if r[-1] == "yes"], 2, numeric_from=4))
        print("(frontier points only; every point is in the CSV)")
    return files


def run_optimize(sc, quiet: bool = False) -> list[Path]:
    spec, pairs = _setup(sc)
    pop = _population(sc, spec)
    if not quiet:
        print(textwrap.fill(f"{sc.title}: largest dose with ≤ {spec.cap:.0%} of {pop.n:,} subjects above the "
                            f"psychotomimetic level, per regimen (dose multiples {spec.dose_bounds[0]:g}–"
                            f"{spec.dose_bounds[1]:g})", WIDTH), file=sys.stderr)
    res = optimize(sc.models, sc.regimens, sc.pd, pop, spec, horizon=sc.time.horizon, step=sc.time.step)
    header = ["regimen", "PD", "model", "dose", "P(adequate analgesia)", "P(unacceptable psychotomimetic)",
              "binding constraint"]
    rows = [[o.regimen, o.pair, o.model, o.dose_text, f"{o.p_adequate:.1%}", f"{o.p_exceed:.1%}", o.binding]
            for o in res]
    csv_header = ["regimen", "pd", "model", "dose_multiple", "dose", "p_adequate", "p_exceed", "binding_constraint",
                  "sensitivity"]
    csv_rows = [[o.regimen, o.pair, o.model, f"{o.multiple:.6g}", o.dose_text, f"{o.p_adequate:.6g}",
                 f"{o.p_exceed:.6g}", o.binding, o.sensitivity] for o in res]
    stem = Path(sc.path).stem
    files = [write_text(sc.output_dir / f"{stem}_optimum.csv", csv_text(csv_header, csv_rows))]
    if not quiet:
        print(textwrap.fill(spec.describe(), WIDTH))
        print(render_grouped(header, rows, 1, numeric_from=4, joiner=""))
        for o in res:
            if o.sensitivity:
                print(textwrap.fill(f"{o.regimen} / {o.pair} / {o.model}: {o.sensitivity}", WIDTH,
                                    initial_indent="  ", subsequent_indent="    "))
    return files

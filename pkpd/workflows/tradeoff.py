"""``pkpd tradeoff`` (dose sweeps and Pareto frontiers) and ``pkpd optimize`` (constrained dose)."""
from __future__ import annotations

import sys
import textwrap
from dataclasses import replace
from pathlib import Path
import numpy as np
import xarray as xr
from pkpd.errors import PkpdError
from pkpd.output.text_table import WIDTH, render_grouped
from pkpd.output.files import csv_text, with_provenance
from pkpd.output.output_set import OutputSet
from pkpd.output.figures import png_bytes
from pkpd.output.tradeoff_report import tradeoff_report
from pkpd.output.validation_figures import validation_figure
from pkpd.models.endpoints import load_endpoints
from pkpd.scenario.trials import DEFAULT_TRIALS, load_trials
from pkpd.workflows.validate import predict, simulate_trials
from pkpd.simulation.sampling import Population
from pkpd.workflows.run import scenario_stem, tradeoff_setup
from pkpd.simulation.population import simulate_population
from pkpd.output.analysis_figures import dose_response_figure, frontier_figure
from pkpd.analysis.dosefinding import pareto_mask, sweep_regimens
from pkpd.analysis.tradeoff import evaluate, thresholds_for
from pkpd.analysis.products import choose, ladder
from pkpd.analysis.clinical import check_endpoints
from pkpd.analysis.clinical_spec import BENEFIT_LABEL, COST_LABEL
from pkpd.workflows.clinical_tables import (CSV_COLUMNS, cells, clinical_axes, clinical_dataset, clinical_optimum,
                                            figure_view)


DEFAULT_SWEEP = {"dose": [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0]}


DEFAULT_N = 500


def _population(sc, spec) -> Population:
    """The subjects of a trade-off or optimisation: the scenario's population (or a default one)
    with ``[tradeoff] n`` subjects (default: at most 2000 of the population's, at least 100 per
    replicate) and parameter uncertainty on (``[tradeoff] replicates``, default 20) unless the
    population already has replicates or the scenario turns them off (``replicates = 0``)."""
    base = sc.population.population if sc.population is not None else Population(n=DEFAULT_N, seed=0)
    reps = base.replicates or spec.replicates
    n = spec.n or max(min(base.n, 2000) if sc.population is not None else DEFAULT_N, 100 * reps)
    return replace(base, n=n, replicates=reps)


def _noise_note(tr) -> str:
    """Words when the parameter-uncertainty band is mostly Monte Carlo noise (too few subjects
    per replicate): the median share of the replicate spread that binomial noise explains."""
    vals = []
    for k in ("adequate", "exceed"):
        if f"p_{k}_mc_share" in tr:  # only where the probability is away from 0 and 1
            p, share = tr[f"p_{k}"].values.ravel(), tr[f"p_{k}_mc_share"].values.ravel()
            vals.append(share[(p > 0.05) & (p < 0.95) & np.isfinite(share)])
    vals = np.concatenate(vals) if vals else np.array([])
    if vals.size == 0:
        return ""
    med = float(np.median(vals))
    per = tr.attrs["population_size"] / max(tr.attrs["uncertainty_replicates"], 1)
    if med < 0.5:
        return (f"parameter-uncertainty bands: binomial noise explains a median {med:.0%} of the spread across "
                f"replicates ({per:.0f} subjects per replicate), so they show parameter uncertainty")
    return (f"parameter-uncertainty bands are mostly Monte Carlo noise (binomial noise explains a median "
            f"{min(med, 1):.0%} of the spread across replicates at {per:.0f} subjects per replicate): raise "
            "[tradeoff] n, or add CIs to the models")


def _setup(sc):
    setup = tradeoff_setup(sc)
    if setup is None:
        raise PkpdError("the scenario's PD models give no analgesia + psychotomimetic readout pair: add e.g. "
                        "pd = [\"olofsen_2022\"] under [scenario]", file=str(sc.path), field="scenario.pd")
    check_endpoints(setup[0].clinical, load_endpoints(), str(sc.path))  # before any simulation
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
    cl = clinical_dataset(ds, pairs, spec, sc, variants, pop)
    weight = _typical_weight(sc)
    header, csv_header, rows, csv_rows = _frontier_rows(tr, cl, meta, variants, weight)
    fig = frontier_figure(tr, meta, f"{sc.title}: analgesia vs psychotomimetic exposure ({pop.n:,} subjects per "
                          f"point; doses per session at {weight:g} kg)", cap=spec.cap,
                          min_adequate=spec.min_adequate or None, doses_mg=[v.total(weight) for v in variants])
    stem = scenario_stem(sc)
    png = png_bytes(fig)
    doses = [v.total(weight) for v in variants]
    dr_png = png_bytes(dose_response_figure(tr, meta, doses, cap=spec.cap))
    notes = [p.note for p in pairs if p.note] + [x for x in [_noise_note(tr), *cl.attrs["clinical_notes"].split(" | ")]
                                                 if x]
    cl_png = png_bytes(frontier_figure(
        figure_view(cl, tr), meta, f"{sc.title}: calibrated clinical endpoints ({pop.n:,} subjects per point; "
        f"doses per session at {weight:g} kg)", cap=spec.clinical.max_cost, min_adequate=spec.clinical.min_benefit or None,
        doses_mg=[v.total(weight) for v in variants], axes_vars=clinical_axes(cl)))
    report = tradeoff_report(sc, spec.describe() + "; " + cl.attrs["clinical"], notes,
                             (header[:-1], [r[:-1] for r in rows if r[-1] == "yes"]), png, _validation_summary(),
                             dose_response_png=dr_png, clinical_png=cl_png)
    out = OutputSet(sc.output_dir)
    out.add_text(f"{stem}_frontier.csv", csv_text(csv_header, csv_rows))
    both = xr.merge([tr, cl], compat="override", combine_attrs="drop_conflicts")
    out.add_netcdf(f"{stem}_frontier.nc", with_provenance(both, sc, sc.models, sc.pd))
    out.add_bytes(f"{stem}_frontier.png", png)
    out.add_bytes(f"{stem}_clinical_frontier.png", cl_png)
    out.add_bytes(f"{stem}_dose_response.png", dr_png)
    out.add_text(f"{stem}_frontier_report.html", report)
    files = out.commit()
    if not quiet:
        print(textwrap.fill(spec.describe(), WIDTH))
        print(textwrap.fill(cl.attrs["clinical"], WIDTH))
        for n in notes:
            print(textwrap.fill(f"note: {n}", WIDTH, subsequent_indent="    "))
        print(render_grouped([*header[:5], "readout: P(adequate analgesia)", "readout: P(unacceptable "
                              "psychotomimetic)", "readout: P(success)", "clinical: " + BENEFIT_LABEL,
                              "clinical: " + COST_LABEL], [r[:-1] for r in rows if r[-1] == "yes"], 2, numeric_from=4))
        print(textwrap.fill("(frontier points only, frontier of the readout-level probabilities; every point is in "
                            "the CSV; clinical cells: point [parameter uncertainty 5–95 %])", WIDTH))
    return files


def _frontier_rows(tr, cl, meta, variants, weight):
    """Display and CSV rows of every sweep point: readout-level probabilities and the clinical ones
    (display: percentages; CSV: fractions 0–1, one number per cell), frontier marked."""
    header = ["PD", "model", "base regimen", "point", f"dose mg ({weight:g} kg)", "P(adequate)",
              "P(psychotomimetic)", "P(success)", BENEFIT_LABEL, COST_LABEL, "on frontier"]
    csv_header = header[:8] + CSV_COLUMNS + ["on frontier"]
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
                    shown, raw = cells(cl, pi, mi, i)
                    mark = ["yes" if front[j] else ""]
                    rows.append(key + [f"{variants[i].total(weight):.3g}"] + [f"{p:.1%}" for p in ps] + shown + mark)
                    csv_rows.append(key + [f"{variants[i].total(weight):.6g}"] + [f"{p:.6g}" for p in ps] + raw + mark)
    return header, csv_header, rows, csv_rows


def run_optimize(sc, quiet: bool = False) -> list[Path]:
    """Per base regimen, PD pair and PK model: the product-sized regimen (28-mg devices, oral steps,
    IV mg/kg steps) with the most adequate analgesia under the psychotomimetic cap and at least
    ``min_adequate`` of it — or the sentence saying that none exists among the candidates.  With a
    clinical target (``[tradeoff] clinical.max_cost``, ``--max-dissociation-ae``) also, per visit
    schedule, the candidate with the most analgesia responders whose dissociation-AE incidence over
    that course (tolerance model) stays under it."""
    spec, pairs = _setup(sc)
    pop = _population(sc, spec)
    weight = _typical_weight(sc)
    ladders = [ladder(base, spec.products, spec.dose_bounds, weight) for base in sc.regimens]
    variants = [c.regimen for lad in ladders for c in lad]
    c = spec.clinical
    if not quiet:
        print(textwrap.fill(f"{sc.title}: {len(variants)} candidate regimens (28-mg devices, oral steps of "
                            f"{spec.products.oral_step_mg:g} mg, IV steps of {spec.products.iv_step_mg_per_kg:g} "
                            f"mg/kg) × {len(c.schedules)} visit schedule(s) × {len(sc.models)} model(s) × "
                            f"{pop.n:,} subjects; cap {spec.cap:.0%}, analgesia target ≥ {spec.min_adequate:.0%}"
                            + (f"; clinical: {COST_LABEL} ≤ {c.max_cost:.0%}, {BENEFIT_LABEL} ≥ {c.min_benefit:.0%}"
                               if c.max_cost is not None else ""), WIDTH), file=sys.stderr)
    ds = simulate_population(sc.models, variants, pop, horizon=sc.time.horizon, step=sc.time.step, pd=sc.pd,
                             mode="streaming", thresholds=thresholds_for(pairs, spec),
                             progress=None if not quiet else False, solver=sc.solver)
    tr = evaluate(ds, pairs, spec)
    cl = clinical_dataset(ds, pairs, spec, sc, variants, pop)
    header, rows, csv_header, csv_rows = _readout_choices(tr, cl, sc, ladders, spec)
    out = OutputSet(sc.output_dir)
    out.add_text(f"{scenario_stem(sc)}_optimum.csv", csv_text(csv_header, csv_rows))
    clinical = clinical_optimum(cl, sc, ladders, spec, weight) if c.max_cost is not None else None
    if clinical is not None:
        out.add_text(f"{scenario_stem(sc)}_optimum_clinical.csv", csv_text(clinical[2], clinical[3]))
    files = out.commit()
    if not quiet:
        print(textwrap.fill(spec.describe(), WIDTH))
        print(textwrap.fill(f"(doses per session at the typical weight {weight:g} kg; candidates searched: "
                            + "; ".join(f"{b.name}: {lad[0].label} … {lad[-1].label}"
                                        for b, lad in zip(sc.regimens, ladders) if lad) + ")", WIDTH))
        print(render_grouped([*header[:4], "dose (mg)", "dose (mg/kg)", "readout: P(adequate analgesia)",
                              "readout: P(unacceptable psychotomimetic)"], [r[:8] for r in rows], 1, numeric_from=4,
                             joiner=""))
        print("(the clinical probabilities of these choices are in the CSV)")
        for r in rows:
            print(f"  {r[0]} / {r[1]} / {r[2]}:")
            print(textwrap.fill(r[10], WIDTH, initial_indent="    ", subsequent_indent="    "))
        if clinical is not None:
            _print_clinical(clinical[0], clinical[1], spec, cl.attrs)
    return files


def _readout_choices(tr, cl, sc, ladders, spec):
    """The readout-level choice per base regimen, PD pair and PK model, with the chosen candidate's
    clinical probabilities over the first visit schedule beside it."""
    header = ["regimen", "PD", "model", "choice", "dose mg", "mg/kg", "P(adequate)", "P(psychotomimetic)",
              BENEFIT_LABEL, COST_LABEL, "why"]
    csv_header = header[:8] + CSV_COLUMNS + ["why"]
    rows, csv_rows, k = [], [], 0
    for base, lad in zip(sc.regimens, ladders):
        idx = list(range(k, k + len(lad)))
        k += len(lad)
        for pi, pl in enumerate(tr.pair.values):
            for mi, m in enumerate(tr.model.values):
                a, x = tr.p_adequate.values[pi, mi, idx], tr.p_exceed.values[pi, mi, idx]
                if np.all(np.isnan(x)):
                    continue
                ch = choose(a, x, spec.cap, spec.min_adequate)
                key = [base.name, str(pl), str(m)]
                if ch.index is None:
                    rows.append(key + ["none"] + [""] * 6 + [ch.reason])
                    csv_rows.append(key + ["none"] + [""] * 10 + [ch.reason])
                    continue
                c = lad[ch.index]
                shown, raw = cells(cl, pi, mi, idx[ch.index])
                rows.append(key + [c.label, f"{c.dose_mg:.3g}", f"{c.dose_mg_per_kg:.3g}", f"{a[ch.index]:.1%}",
                                   f"{x[ch.index]:.1%}", *shown, ch.reason])
                # the CSV: the same columns, probabilities as fractions 0–1 (one number per cell)
                csv_rows.append(key + [c.label] + [f"{v:.6g}" for v in (c.dose_mg, c.dose_mg_per_kg, a[ch.index],
                                                                       x[ch.index])] + raw + [ch.reason])
    return header, rows, csv_header, csv_rows


def _print_clinical(header, rows, spec, attrs) -> None:
    c = spec.clinical
    print()
    for n in filter(None, attrs["clinical_notes"].split(" | ")):
        print(textwrap.fill(f"note: {n}", WIDTH, subsequent_indent="    "))
    print(textwrap.fill(f"Clinical targets: {COST_LABEL} ≤ {c.max_cost:.0%} over each visit schedule (tolerance "
                        f"model), {BENEFIT_LABEL} ≥ {c.min_benefit:.0%}; cells: point [parameter uncertainty "
                        "5–95 %]; schedules: N sessions every T.  "
                        + c.describe(attrs.get("benefit_assessment_h"), per_row=True), WIDTH))
    print(render_grouped([*header[:5], "dose (mg)", "dose (mg/kg)", *header[7:9]], [r[:9] for r in rows], 1,
                         numeric_from=5, joiner=""))
    for why in dict.fromkeys(r[9] for r in rows):  # each reason once, with the rows it explains
        which = [r for r in rows if r[9] == why]
        where = "every row" if len(which) == len(rows) else "; ".join(" / ".join(r[:4]) for r in which)
        print(textwrap.fill(f"{why}: {where}", WIDTH, initial_indent="  ", subsequent_indent="    "))


def _validation_summary() -> tuple[bytes, list[str]] | None:
    """The shipped validation (figure and coverage lines), or None where the trials file is absent."""
    path = DEFAULT_TRIALS
    if not path.is_file():
        return None
    tf = load_trials(path)
    eps = load_endpoints()
    preds = predict(simulate_trials(tf, eps, progress=False), eps, seed=tf.seed)
    lines = []
    for label in dict.fromkeys(p.label for p in preds):
        held = [p for p in preds if p.label == label and p.trial.set == "held-out"]
        lines.append(f"{label}: {sum(p.inside for p in held)} of {len(held)} held-out observed rates inside the "
                     "predictive 95 % interval")
    return png_bytes(validation_figure(preds, tf.title)), lines


def _typical_weight(sc) -> float:
    """The population's typical body weight, kg (the mean or median of its weight distribution)."""
    pop = sc.population.population if sc.population is not None else None
    d = pop.covariates.get("WT") if pop is not None else None
    return float(d.a) if d is not None and d.kind in ("constant", "normal", "lognormal") else 70.0

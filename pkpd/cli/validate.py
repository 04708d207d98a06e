"""``pkpd validate``: predicted against observed trial event rates (calibration and held-out sets)."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

from pkpd.cli.common import print_written
from pkpd.models.endpoints import endpoints_file, load_endpoints
from pkpd.output.figures import png_bytes
from pkpd.output.output_set import OutputSet
from pkpd.output.files import write_bytes, write_text
from pkpd.output.tables import format_table
from pkpd.output.validation_figures import validation_figure
from pkpd.output.validation_report import validation_markdown, validation_rows
from pkpd.scenario.trials import DEFAULT_TRIALS, load_trials
from pkpd.workflows.calibration import calibrate, calibration_toml, with_fitted, without_tolerance, write_fitted
from pkpd.workflows.validate import predict, simulate_trials

NAME = "validate"
EXAMPLES = ("pkpd validate                             predicted vs observed trial rates, held-out set apart",
            "pkpd validate --calibrate --write         refit endpoint thresholds to the calibration rows")


def add_parser(sub) -> None:
    v = sub.add_parser(NAME, help="compare predicted with observed trial event rates",
                       description="Simulates every trial of a trials file (default: the shipped "
                                   "scenarios/validation/trials.toml) with each PD model and prints predicted "
                                   "incidence (Monte Carlo, parameter-uncertainty and predictive intervals) against "
                                   "the observed rate (Wilson 95 %), the calibration rows apart from the held-out rows "
                                   "that nothing is fitted to.  Writes validation.csv and validation.png.")
    v.add_argument("trials", nargs="?", default=str(DEFAULT_TRIALS), help="trials file (TOML)")
    v.add_argument("--calibrate", action="store_true",
                   help="fit each endpoint threshold to the calibration rows and print the lines for "
                        "models/endpoints/endpoints.toml (held-out rows are not read)")
    v.add_argument("--write", action="store_true",
                   help="with --calibrate: write the fitted thresholds into models/endpoints/endpoints.toml")
    v.add_argument("--doc", metavar="MD", help="also write the table and figure as Markdown (docs/validation.md)")
    v.add_argument("-o", "--output", metavar="DIR", default="results/validation")


def run(args) -> int:
    tf = load_trials(args.trials)
    endpoints = load_endpoints()
    sims = simulate_trials(tf, endpoints, progress=False)
    if args.calibrate:
        fitted = calibrate(sims, endpoints)
        print(calibration_toml(fitted))
        if args.write:
            path = endpoints_file()
            print_written([write_text(path, write_fitted(path.read_text(encoding="utf-8"), fitted))])
        return 0
    preds = predict(sims, endpoints, seed=tf.seed)
    print(textwrap.fill("Incidence in % of patients; MC ± Monte Carlo error (shrinks with more simulated patients); "
                        "param. parameter uncertainty (5–95 %: PK/PD CIs, the calibrated ranges and the assumed "
                        "ranges — between-patient SD, tolerance half-life, placebo rate — drawn per replicate); "
                        "pred. 95: 95 % predictive interval for a trial of the observed size.", 100))
    for name in dict.fromkeys(p.trial.endpoint for p in preds):
        e = endpoints[name]
        if e.half_life is not None and e.attenuations:
            print(textwrap.fill(f"{name} over a course: tolerance model on (attenuation δ "
                                + ", ".join(f"{k} {g.value:.3g}" for k, g in e.attenuations.items())
                                + f"; tolerance half-life {e.half_life.value:g} days, {e.half_life.grade})", 100))
    for label in dict.fromkeys(p.label for p in preds):
        header, rows = validation_rows([p for p in preds if p.label == label], with_pd=False)
        print(f"\n{label}:")
        print(format_table(header, rows, numeric_from=2))
    print()
    _print_coverage(preds)
    fig_png = png_bytes(validation_figure(preds, tf.title))
    out = OutputSet(args.output)
    out.add_text("validation.csv", _csv(preds))
    out.add_bytes("validation.png", fig_png)
    files = out.commit()
    if args.doc:
        doc = Path(args.doc)
        files.append(write_bytes(doc.with_suffix(".png"), fig_png))
        # before/after the tolerance model: the same calibration rows refitted without it
        plain = without_tolerance(endpoints)
        before = predict(sims, with_fitted(plain, calibrate(sims, plain)), seed=tf.seed)
        fixed = predict(sims, endpoints, seed=tf.seed, assumed=False)  # the assumed ranges not drawn
        files.append(write_text(doc, validation_markdown(tf, preds, endpoints, doc.with_suffix(".png").name,
                                                         without_tolerance=before, assumed_fixed=fixed)))
    print_written(files)
    return 0


def _print_coverage(preds) -> None:
    for label in dict.fromkeys(p.label for p in preds):
        held = [p for p in preds if p.label == label and p.trial.set == "held-out"]
        inside = [p for p in held if p.inside]
        miss = ", ".join(f"{p.trial.id} ({'over' if p.predicted > p.observed else 'under'})"
                         for p in held if not p.inside)
        print(textwrap.fill(f"{label}: {len(inside)}/{len(held)} held-out observed rates inside the predictive "
                            f"95 % interval" + (f"; missed: {miss}" if miss else ""), 100, subsequent_indent="  "))


def _csv(preds) -> str:
    cols = ["trial", "set", "endpoint", "model", "sessions", "interval_days", "prior_sessions", "window_h",
            "tolerance_model", "observed", "observed_lo", "observed_hi", "background",
            "predicted", "mc_lo", "mc_hi", "parameter_p5", "parameter_p95", "predictive_lo", "predictive_hi",
            "inside", "source"]
    lines = [",".join(cols)]
    for p in preds:
        vals = [p.trial.id, p.trial.set, p.trial.endpoint, p.pd, p.trial.sessions, p.trial.interval, p.trial.prior,
                "" if p.trial.window is None else p.trial.window, int(p.tolerance), p.observed, *p.observed_ci, p.background,
                p.predicted, *p.mc, *p.parameter, *p.predictive, int(p.inside), p.trial.source]
        lines.append(",".join(_cell(v) for v in vals))
    return "\n".join(lines) + "\n"


def _cell(v) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    s = str(v)
    return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"\n') else s

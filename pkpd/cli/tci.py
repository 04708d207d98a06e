"""``pkpd tci``: a target-controlled infusion profile (plasma or effect-site targeting)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pkpd import units
from pkpd.analysis.tci import tci, tci_population
from pkpd.cli.common import print_pairing, print_written
from pkpd.errors import PkpdError
from pkpd.models.load import load_model
from pkpd.models.pd import PDModel
from pkpd.models.pk import Model
from pkpd.output.analysis_figures import tci_figure
from pkpd.output.figures import png_bytes
from pkpd.output.files import csv_text, write_bytes, write_text
from pkpd.output.tables import format_table
from pkpd.simulation.sampling import CovariateDist, Population

NAME = "tci"
EXAMPLES = ("pkpd tci --model domino --target '300 ng/mL' --duration '60 min'   plasma-targeted infusion profile",)
HEADER = ["min", "rate mg/h", "plasma ng/mL", "effect ng/mL"]


def add_parser(sub) -> None:
    tc = sub.add_parser(NAME, help="target-controlled infusion profile (plasma or effect-site targeting)",
                        description="Computes the infusion profile that reaches and holds a target ketamine "
                                    "concentration (pump update every --interval), prints it per minute and writes "
                                    "tci.csv and tci.png.")
    tc.add_argument("--model", default="domino")
    tc.add_argument("--target", required=True, help="e.g. '300 ng/mL' or '1 ug/mL'")
    tc.add_argument("--duration", default="60 min")
    tc.add_argument("--mode", choices=["plasma", "effect"], default="plasma")
    tc.add_argument("--pd", default="olofsen_2022", help="PD model giving the effect site (effect mode)")
    tc.add_argument("--weight", default="70 kg")
    tc.add_argument("--interval", default="10 s", help="pump update interval")
    tc.add_argument("--max-rate", default="1200 mg/h")
    tc.add_argument("--population", type=int, default=0, metavar="N",
                    help="also give the profile to N simulated subjects and draw their 5–95 %% band")
    tc.add_argument("-o", "--output", metavar="DIR", default="results/tci")


def run(args) -> int:
    m = load_model(args.model)
    if not isinstance(m, Model):
        raise PkpdError(f"{args.model!r} is not a PK model", field="--model")
    target = units.parse(args.target, "concentration", "--target").value * 1000.0
    dur = units.parse(args.duration, "time", "--duration").value
    dt = units.parse(args.interval, "time", "--interval").value
    wt = units.parse(args.weight, "weight", "--weight").value
    mx = units.parse(args.max_rate, "rate", "--max-rate").value
    pd = load_model(args.pd) if args.mode == "effect" else None
    if isinstance(pd, PDModel):
        print_pairing([m], [pd])
    r = tci(m, target, dur, mode=args.mode, pd=pd, subject={"WT": wt}, interval_h=dt, max_rate_mg_h=mx)
    rows = [[f"{t * 60:.2f}", f"{rate:.3f}", f"{c:.2f}", "" if np.isnan(e) else f"{e:.2f}"]
            for t, rate, c, e in zip(r.time[:-1], r.rate, r.plasma[:-1], r.effect[:-1])]
    per_min = [row for row, t in zip(rows, r.time[:-1]) if abs(t * 60 - round(t * 60)) < 1e-9][:15]
    print(format_table(HEADER, per_min, numeric_from=0))
    print(f"total {r.total_mg:.1f} mg over {dur * 60:g} min ({args.mode} targeting, {m.name})")
    bands = [_population_band(args, m, r, pd, wt, dur)] if args.population else None
    fig = tci_figure([r], f"TCI {m.name}, {args.mode} target {target:g} ng/mL", bands)
    out = Path(args.output)
    print_written([write_text(out / "tci.csv", csv_text(HEADER, rows)), write_bytes(out / "tci.png", png_bytes(fig))])
    return 0


def _population_band(args, m, r, pd, wt, dur) -> dict:
    """The profile given to ``--population`` simulated subjects: their 5/50/95 % plasma band."""
    if not 10 <= args.population <= 100_000:
        raise PkpdError("--population must be from 10 to 100000")
    pop = Population(n=args.population, seed=0, covariates={"WT": CovariateDist("constant", wt)})
    band = tci_population(m, r, pop, pd=pd)
    late = band["time"] >= min(dur, 0.25)
    p5, p50, p95 = band["plasma"][:, late]
    print(f"{args.population} subjects given this profile: plasma 5–95 % {np.nanmin(p5):.0f}–{np.nanmax(p95):.0f}"
          f" ng/mL (median {np.nanmedian(p50):.0f}) after the first 15 min")
    return band

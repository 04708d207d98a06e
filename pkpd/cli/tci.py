"""``pkpd tci``: a target-controlled infusion profile (plasma or effect-site targeting)."""
from __future__ import annotations

import numpy as np

from pkpd import units
from pkpd.output.files import check_folder
from pkpd.analysis.tci import tci, tci_population
from pkpd.cli.common import print_pairing, print_written
from pkpd.errors import PkpdError
from pkpd.models.load import load_model
from pkpd.models.pd import PDModel
from pkpd.models.pk import Model
from pkpd.output.analysis_figures import tci_figure
from pkpd.output.figures import png_bytes
from pkpd.output.output_set import OutputSet
from pkpd.output.tci_table import profile_csv, terminal_text
from pkpd.simulation.sampling import CovariateDist, Population

NAME = "tci"
EXAMPLES = ("pkpd tci --model domino --target '300 ng/mL' --duration '60 min'   plasma-targeted infusion profile",
            "pkpd tci --mode effect --target '300 ng/mL' --target '500 ng/mL@30min' --concentration '10 mg/mL'")


def add_parser(sub) -> None:
    tc = sub.add_parser(
        NAME, help="target-controlled infusion profile (plasma or effect-site targeting)",
        description="Computes the infusion profile that reaches and holds target ketamine concentrations for the "
                    "typical subject (pump update every --interval): plasma targeting after Jacobs 1990; "
                    "effect-site targeting after Shafer & Gregg 1992 for each rise (effect-site peak at the "
                    "target), then plasma steered so that the effect site settles on the target without "
                    "overshoot and the rate changes smoothly.  Prints the whole time course (condensed) and "
                    "writes tci.csv (every pump interval) and tci.png.")
    tc.add_argument("--model", default="domino")
    tc.add_argument("--target", required=True, action="append", metavar="CONC[@TIME]",
                    help="target, e.g. '300 ng/mL'; repeat with a start time for changes: '500 ng/mL@30min'")
    tc.add_argument("--duration", default="60 min")
    tc.add_argument("--mode", choices=["plasma", "effect"], default="plasma")
    tc.add_argument("--pd", default="olofsen_2022", help="PD model giving the effect site (effect mode)")
    tc.add_argument("--weight", default="70 kg")
    tc.add_argument("--interval", default="10 s", help="pump update interval")
    tc.add_argument("--max-rate", default="1200 mg/h", help="pump limit, mg/h (or mL/h with --concentration)")
    tc.add_argument("--concentration", metavar="CONC", help="drug solution, e.g. '10 mg/mL': rates also in mL/h")
    tc.add_argument("--population", type=int, default=0, metavar="N",
                    help="also give the profile to N simulated subjects and draw their 5–95 %% band")
    tc.add_argument("-o", "--output", metavar="DIR", default="results/tci")


def parse_targets(texts: list[str]) -> list[tuple[float, float]]:
    """(time h, ng/mL) from 'CONC' or 'CONC@TIME' texts; the first without a time starts at 0."""
    out = []
    for i, text in enumerate(texts):
        conc, _, when = text.partition("@")
        c = units.parse(conc.strip(), "concentration", "--target").value * 1000.0  # mg/L → ng/mL
        if when.strip():
            t = units.parse(when.strip(), "time", "--target").value
        elif i == 0:
            t = 0.0
        else:
            raise PkpdError(f"{text!r}: a second target needs its start time, e.g. '{conc.strip()}@30min'",
                            field="--target")
        out.append((t, c))
    return out


def _pump_limit(text: str, conc_mg_ml: float | None) -> float:
    """--max-rate in mg/h (a volume rate needs the drug concentration)."""
    if "ml/h" in text.replace(" ", "").lower():
        if conc_mg_ml is None:
            raise PkpdError("a --max-rate in mL/h needs the drug --concentration", field="--max-rate")
        try:
            ml_h = units.registry().Quantity(text).to("mL/h").magnitude
        except Exception:  # pint raises several kinds for bad text
            raise PkpdError(f"cannot read {text!r} as a rate in mL/h", field="--max-rate") from None
        return float(ml_h) * conc_mg_ml
    return units.parse(text, "rate", "--max-rate").value


def run(args) -> int:
    check_folder(args.output)
    m = load_model(args.model)
    if not isinstance(m, Model):
        raise PkpdError(f"{args.model!r} is not a PK model", field="--model")
    targets = parse_targets(args.target)
    dur = units.parse(args.duration, "time", "--duration").value
    dt = units.parse(args.interval, "time", "--interval").value
    wt = units.parse(args.weight, "weight", "--weight").value
    conc = units.parse(args.concentration, "concentration", "--concentration").value / 1000.0 \
        if args.concentration else None  # mg/L → mg/mL
    mx = _pump_limit(args.max_rate, conc)
    pd = load_model(args.pd) if args.mode == "effect" else None
    if isinstance(pd, PDModel):  # effect-site targets are in the PD model's drug terms (racemic PK → S: 0.5×)
        print_pairing([m], [pd])
    if args.population and not 10 <= args.population <= 100_000:
        raise PkpdError("--population must be from 10 to 100000", field="--population")
    r = tci(m, targets, dur, mode=args.mode, pd=pd, subject={"WT": wt}, interval_h=dt, max_rate_mg_h=mx)
    where = f"{args.mode} targeting, {m.name}" + (f" + {pd.name}" if pd else "") + f", {wt:g} kg"
    print(f"TCI: {where}")
    print(f"pump update every {dt * 3600:g} s, limit {mx:g} mg/h" + (f" ({mx / conc:g} mL/h at {conc:g} mg/mL)" if conc else ""))
    print("targets: " + ", ".join(f"{c:g} ng/mL from {t * 60:g} min" for t, c in r.changes))
    print(terminal_text(r, conc))
    print(f"total {r.total_mg:.1f} mg" + (f" ({r.total_mg / conc:.1f} mL)" if conc else "")
          + f" over {dur * 60:g} min; rows: the pump until the next row (mean rate, lowest–highest)")
    bands = [_population_band(args.population, m, r, pd, wt, dur)] if args.population else None
    fig = tci_figure([r], f"TCI {m.name}, {args.mode} targeting", bands, conc)
    out = OutputSet(args.output)
    out.add_text("tci.csv", profile_csv(r, conc))
    out.add_bytes("tci.png", png_bytes(fig))
    print_written(out.commit())
    return 0


def _population_band(n: int, m, r, pd, wt, dur) -> dict:
    """The profile given to ``n`` simulated subjects: their 5/50/95 % plasma band."""
    pop = Population(n=n, seed=0, covariates={"WT": CovariateDist("constant", wt)})
    band = tci_population(m, r, pop, pd=pd)
    late = band["time"] >= min(dur, 0.25)
    p5, p50, p95 = band["plasma"][:, late]
    print(f"{n} subjects given this profile: plasma 5–95 % {np.nanmin(p5):.0f}–{np.nanmax(p95):.0f}"
          f" ng/mL (median {np.nanmedian(p50):.0f}) after the first 15 min")
    return band

"""``pkpd optimize``: the dose that maximises analgesia under a psychotomimetic cap."""
from __future__ import annotations

import math
from dataclasses import replace

from pkpd.analysis.tradeoff import TradeoffSpec
from pkpd.errors import PkpdError
from pkpd.output.files import check_folder
from pkpd.cli.common import print_warnings, print_written
from pkpd.scenario.load import load_scenario
from pkpd.scenario.schedules import parse_schedules
from pkpd.workflows.tradeoff import run_optimize

NAME = "optimize"
EXAMPLES = ("pkpd optimize scenarios/tradeoff.toml     best 28-mg device count / oral / IV dose under a cap",
            "pkpd optimize scenarios/tradeoff.toml --max-dissociation-ae 0.3 --schedules '8 every 3.5 d, 4 every 7 d'"
            "   clinical targets per visit schedule")


def add_parser(sub) -> None:
    o = sub.add_parser(NAME, help="the product-sized dose with the most analgesia under a psychotomimetic cap",
                       description="Per regimen, PD and PK model: simulates a ladder of regimens in the units "
                                   "people give — whole 28-mg nasal-spray devices (1–3), oral doses in steps of "
                                   "[tradeoff] products.oral_step (5 mg), IV doses in steps of products.iv_step "
                                   "(0.05 mg/kg) within dose_bounds — and picks the one with the most adequate "
                                   "analgesia while at most [tradeoff] cap (10 %) of subjects reach the "
                                   "psychotomimetic level and at least min_adequate have adequate analgesia; "
                                   "otherwise it says that no candidate qualifies.  Beside it, the calibrated "
                                   "clinical endpoints of the choice: P(analgesia responder) and P(dissociation "
                                   "adverse event over the course, with the tolerance model).  With "
                                   "--max-dissociation-ae it also picks, per visit schedule, the candidate with the "
                                   "most responders under that clinical cap.  Doses in mg and mg/kg at the "
                                   "typical weight.  Writes <stem>_optimum.csv (and <stem>_optimum_clinical.csv).")
    o.add_argument("scenario")
    o.add_argument("-o", "--output", metavar="DIR", help="output folder")
    o.add_argument("-q", "--quiet", action="store_true")
    o.add_argument("--max-dissociation-ae", metavar="P", type=str,
                   help="clinical cap: at most this fraction of patients with a dissociation adverse event over the "
                        "course (0–1; [tradeoff] clinical.max_cost)")
    o.add_argument("--min-responder", metavar="P", type=str,
                   help="clinical target: at least this fraction of analgesia responders (0–1; clinical.min_benefit)")
    o.add_argument("--schedules", metavar="LIST",
                   help="visit schedules to search, comma-separated: '8 every 3.5 d, 4 every 7 d, 1' "
                        "([tradeoff] clinical.schedules; default twice weekly for 4 weeks)")


def _fraction(text: str | None, flag: str) -> float | None:
    if text is None:
        return None
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not 0 <= v <= 1:
        raise PkpdError(f"{text!r}: must be a fraction of patients from 0 to 1", field=flag)
    return v


def run(args) -> int:
    cap = _fraction(args.max_dissociation_ae, "--max-dissociation-ae")
    floor = _fraction(args.min_responder, "--min-responder")
    schedules = parse_schedules(args.schedules, "--schedules") if args.schedules is not None else None
    sc = load_scenario(args.scenario, output_dir=args.output)
    check_folder(sc.output_dir)
    print_warnings(sc.warnings, sc.notes)
    spec = sc.tradeoff or TradeoffSpec()
    clin = spec.clinical
    if floor is not None and cap is None and clin.max_cost is None:
        raise PkpdError("--min-responder is a target of the clinical search: give --max-dissociation-ae too",
                        field="--min-responder")
    clin = replace(clin, **{k: v for k, v in (("max_cost", cap), ("min_benefit", floor), ("schedules", schedules))
                            if v is not None})
    sc = replace(sc, tradeoff=replace(spec, clinical=clin))
    print_written(run_optimize(sc, quiet=args.quiet))
    return 0

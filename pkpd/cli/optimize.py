"""``pkpd optimize``: the dose that maximises analgesia under a psychotomimetic cap."""
from __future__ import annotations

from pkpd.output.files import check_folder
from pkpd.cli.common import print_warnings, print_written
from pkpd.scenario.load import load_scenario
from pkpd.workflows.tradeoff import run_optimize

NAME = "optimize"
EXAMPLES = ("pkpd optimize scenarios/tradeoff.toml     best 28-mg device count / oral / IV dose under a cap",)


def add_parser(sub) -> None:
    o = sub.add_parser(NAME, help="the product-sized dose with the most analgesia under a psychotomimetic cap",
                       description="Per regimen, PD and PK model: simulates a ladder of regimens in the units "
                                   "people give — whole 28-mg nasal-spray devices (1–3), oral doses in steps of "
                                   "[tradeoff] products.oral_step (5 mg), IV doses in steps of products.iv_step "
                                   "(0.05 mg/kg) within dose_bounds — and picks the one with the most adequate "
                                   "analgesia while at most [tradeoff] cap (10 %) of subjects reach the "
                                   "psychotomimetic level and at least min_adequate have adequate analgesia; "
                                   "otherwise it says that no candidate qualifies.  Doses in mg and mg/kg at the "
                                   "typical weight.  Writes <stem>_optimum.csv.")
    o.add_argument("scenario")
    o.add_argument("-o", "--output", metavar="DIR", help="output folder")
    o.add_argument("-q", "--quiet", action="store_true")


def run(args) -> int:
    sc = load_scenario(args.scenario, output_dir=args.output)
    check_folder(sc.output_dir)
    print_warnings(sc.warnings, sc.notes)
    print_written(run_optimize(sc, quiet=args.quiet))
    return 0

"""``pkpd optimize``: the dose that maximises analgesia under a psychotomimetic cap."""
from __future__ import annotations

from pkpd.cli.common import print_warnings, print_written
from pkpd.scenario.load import load_scenario
from pkpd.workflows.tradeoff import run_optimize

NAME = "optimize"
EXAMPLES = ("pkpd optimize scenarios/tradeoff.toml     largest dose per route under a psychotomimetic cap",)


def add_parser(sub) -> None:
    o = sub.add_parser(NAME, help="find the dose that maximises analgesia under a psychotomimetic cap",
                       description="Per regimen, PD and PK model: the largest dose multiple keeping the fraction "
                                   "of subjects with an unacceptable psychotomimetic effect at or below [tradeoff] "
                                   "cap (default 10 %), found with scipy.optimize.brentq on the same simulated "
                                   "subjects at every dose; reports the binding constraint and how the optimum "
                                   "moves when the cap changes by ±5 points.  Writes <stem>_optimum.csv.")
    o.add_argument("scenario")
    o.add_argument("-o", "--output", metavar="DIR", help="output folder")
    o.add_argument("-q", "--quiet", action="store_true")


def run(args) -> int:
    sc = load_scenario(args.scenario, output_dir=args.output)
    print_warnings(sc.warnings, sc.notes)
    print_written(run_optimize(sc, quiet=args.quiet))
    return 0

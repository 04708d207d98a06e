"""``pkpd tradeoff``: sweep doses (durations, sprays) and draw the Pareto frontier."""
from __future__ import annotations

from pkpd.output.files import check_folder
from pkpd.cli.common import print_warnings, print_written
from pkpd.scenario.load import load_scenario
from pkpd.workflows.tradeoff import run_tradeoff

NAME = "tradeoff"
EXAMPLES = ("pkpd tradeoff scenarios/tradeoff.toml     dose sweep → Pareto frontier, analgesia vs "
            "psychotomimetic",)


def add_parser(sub) -> None:
    t = sub.add_parser(NAME, help="sweep doses (or durations, sprays) and draw the Pareto frontier",
                       description="For every regimen, sweep the [tradeoff] sweep parameters (default: dose × "
                                   "0.25–4), simulate a population at each point and draw P(adequate analgesia) "
                                   "against P(unacceptable psychotomimetic effect), one curve per regimen, one "
                                   "panel per PD and PK model.  Writes <stem>_frontier.csv/.nc/.png.")
    t.add_argument("scenario")
    t.add_argument("-o", "--output", metavar="DIR", help="output folder")
    t.add_argument("-q", "--quiet", action="store_true")


def run(args) -> int:
    sc = load_scenario(args.scenario, output_dir=args.output)
    check_folder(sc.output_dir)
    print_warnings(sc.warnings, sc.notes)
    print_written(run_tradeoff(sc, quiet=args.quiet))
    return 0

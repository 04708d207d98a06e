"""``pkpd check``: load and validate a scenario and its models without simulating."""
from __future__ import annotations

from pkpd.cli.common import print_warnings
from pkpd.scenario.load import load_scenario

NAME = "check"
EXAMPLES = ("pkpd check scenarios/routes.toml          only validate the scenario and its models",)


def add_parser(sub) -> None:
    c = sub.add_parser(NAME, help="validate a scenario and the models it uses",
                       description="Load and check a scenario and its models without simulating.")
    c.add_argument("scenario")


def run(args) -> int:
    sc = load_scenario(args.scenario)
    print_warnings(sc.warnings, sc.notes)
    print(f"{args.scenario}: OK — {len(sc.models)} model(s), {len(sc.pd)} PD model(s), "
          f"{len(sc.regimens)} regimen(s)")
    return 0

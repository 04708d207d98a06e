"""``pkpd run``: simulate a scenario file and write its results."""
from __future__ import annotations

import argparse
import sys
import textwrap

from pkpd.cli.common import WIDTH, add_set_option, print_run_tables, print_warnings, print_written
from pkpd.models.overrides import assignments_to_overrides
from pkpd.output.files import check_folder
from pkpd.scenario.load import load_scenario
from pkpd.workflows.run import run_population, run_scenario, write_outputs

NAME = "run"
EXAMPLES = ("pkpd run scenarios/routes.toml            simulate, write NetCDF + CSV + PNG, print a summary",
            "pkpd run scenarios/routes.toml -o out/    the same, into out/",
            "pkpd run scenarios/routes.toml --set perez_ruixo_2021.Vc='250 L'   one typical value changed")


def add_parser(sub) -> None:
    r = sub.add_parser(NAME, help="simulate a scenario file and write results",
                       description="Simulate a scenario: writes <stem>.nc (xarray/NetCDF with provenance), "
                                   "<stem>_summary.csv and one PNG per model, and prints a summary table.",
                       epilog="Concentrations are in ng/mL (and nmol/mL in the NetCDF); times in hours.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("scenario", help="scenario file (TOML), e.g. scenarios/routes.toml")
    r.add_argument("-o", "--output", metavar="DIR", help="output folder (default: the scenario's "
                   "[output].directory, else results/<scenario name>)")
    add_set_option(r)
    r.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    r.add_argument("-q", "--quiet", action="store_true", help="print only the files written")


def run(args) -> int:
    overrides = assignments_to_overrides(args.set)
    sc = load_scenario(args.scenario, output_dir=args.output).with_overrides(overrides, "--set")
    check_folder(sc.output_dir)  # an unusable folder is said now, not after the simulation
    print_warnings(sc.warnings, sc.notes)
    if not args.quiet:
        print(textwrap.fill(f"{sc.title}: {len(sc.models)} model(s) × {len(sc.regimens)} regimen(s), "
                            f"{sc.time.horizon:g} h at {sc.time.step * 60:g}-min steps", WIDTH), file=sys.stderr)
    ds = run_scenario(sc)
    print_warnings(ds.attrs.get("validity_warnings", "").splitlines())
    pop = run_population(sc, progress=None if not args.quiet else False)
    res = write_outputs(sc, ds, figures=not args.no_figures, pop=pop)
    if not args.quiet:
        print_run_tables(sc, res, pop)
    print_written(res.files)
    return 0

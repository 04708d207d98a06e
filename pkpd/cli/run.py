"""``pkpd run``: simulate a scenario file and write its results."""
from __future__ import annotations

import argparse
import sys

from pkpd.output.files import check_folder
from pkpd.cli.common import print_warnings, print_written
from pkpd.output.evidence import evidence_text
from pkpd.scenario.load import load_scenario
from pkpd.workflows.run import run_population, run_scenario, write_outputs

NAME = "run"
EXAMPLES = ("pkpd run scenarios/routes.toml            simulate, write NetCDF + CSV + PNG, print a summary",
            "pkpd run scenarios/routes.toml -o out/    the same, into out/")


def add_parser(sub) -> None:
    r = sub.add_parser(NAME, help="simulate a scenario file and write results",
                       description="Simulate a scenario: writes <stem>.nc (xarray/NetCDF with provenance), "
                                   "<stem>_summary.csv and one PNG per model, and prints a summary table.",
                       epilog="Concentrations are in ng/mL (and nmol/mL in the NetCDF); times in hours.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("scenario", help="scenario file (TOML), e.g. scenarios/routes.toml")
    r.add_argument("-o", "--output", metavar="DIR", help="output folder (default: the scenario's "
                   "[output].directory, else results/<scenario name>)")
    r.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    r.add_argument("-q", "--quiet", action="store_true", help="print only the files written")


def run(args) -> int:
    sc = load_scenario(args.scenario, output_dir=args.output)
    check_folder(sc.output_dir)  # an unusable folder is said now, not after the simulation
    print_warnings(sc.warnings, sc.notes)
    if not args.quiet:
        print(f"{sc.title}: {len(sc.models)} model(s) × {len(sc.regimens)} regimen(s), "
              f"{sc.time.horizon:g} h at {sc.time.step * 60:g}-min steps", file=sys.stderr)
    ds = run_scenario(sc)
    print_warnings(ds.attrs.get("validity_warnings", "").splitlines())
    pop = run_population(sc, progress=None if not args.quiet else False)
    res = write_outputs(sc, ds, figures=not args.no_figures, pop=pop)
    if not args.quiet:
        _print_tables(sc, res, pop)
    print_written(res.files)
    return 0


def _print_tables(sc, res, pop) -> None:
    print()
    print("Typical subject:")
    print(res.table)
    if pop is not None:
        print()
        print("Population:", res.population_table)
    if res.tradeoff is not None:
        print()
        print("Analgesia vs psychotomimetic effect:", res.tradeoff_table)
    print()
    print(("Population: between-subject variability" + (" and parameter uncertainty" if pop is not None and
           sc.population.population.replicates else "") if pop is not None else "Typical subject only")
          + "; see the model citations and assumptions.")
    print(evidence_text())

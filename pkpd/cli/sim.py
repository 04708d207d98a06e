"""``pkpd sim``: a one-line run — a model and a regimen in compact notation, no scenario file."""
from __future__ import annotations

import argparse
import shlex
import sys

from pkpd.output.files import check_folder
from pkpd.cli.common import add_set_option, print_run_tables, print_warnings, print_written
from pkpd.models.overrides import assignments_to_overrides
from pkpd.scenario.quick import quick_scenario
from pkpd.workflows.run import run_population, run_scenario, write_outputs

NAME = "sim"
EXAMPLES = ('pkpd sim perez_ruixo_2021 "56 mg IN" --hours 24   a one-line run: summary + files in results/sim',
            'pkpd sim perez_ruixo_2021 "56 mg IN" --pd olofsen_2022 --set olofsen_2022.C50="150 ng/mL"',
            'pkpd sim domino "0.5 mg/kg IV over 40 min" --population 500 -o out/')


def add_parser(sub) -> None:
    s = sub.add_parser(NAME, help="one-line run: MODEL \"REGIMEN\" (compact notation), no scenario file",
                       description="Simulate one PK model (and optional PD models) under one regimen written in "
                                   "compact notation, print the summary and write the usual files (sim.nc, "
                                   "sim_summary.csv, PNG figures, sim_report.html).  The equivalent scenario file "
                                   "is stored in the NetCDF attributes (scenario_text).",
                       epilog="Regimen notation: '56 mg IN', '28 mg IN x2 every 5 min', '0.5 mg/kg IV over 40 min', "
                              "'50 mg PO every 8 h x21', '100 mg PO every 24 h x7 then 50 mg every 12 h x20', "
                              "'50 mg PO every 12 h x5 SS'.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("model", metavar="MODEL", help="PK model: library name (see 'pkpd models') or file")
    s.add_argument("regimen", metavar="REGIMEN", help="regimen in compact notation, e.g. \"56 mg IN\"")
    s.add_argument("--pd", action="append", default=[], metavar="PD_MODEL", help="PD model to attach (repeatable)")
    add_set_option(s)
    s.add_argument("--hours", default="24", metavar="TIME", help="horizon: hours or a time with a unit "
                   "(default 24)")
    s.add_argument("--step", default="1 min", metavar="TIME", help="output step (default '1 min')")
    s.add_argument("--weight", default="70 kg", help="typical subject's weight (default '70 kg')")
    s.add_argument("--population", type=int, default=0, metavar="N",
                   help="also simulate N subjects (between-subject variability; percentile bands)")
    s.add_argument("--seed", type=int, default=1, help="seed of the population (default 1)")
    s.add_argument("-o", "--output", metavar="DIR", help="output folder (default results/sim)")
    s.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    s.add_argument("-q", "--quiet", action="store_true", help="print only the files written")


def run(args) -> int:
    command = "pkpd sim " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if sys.argv[1:2] == ["sim"] else ""
    sc = quick_scenario(args.model, args.regimen, pd=args.pd, hours=args.hours, step=args.step,
                        weight=args.weight, population=args.population, seed=args.seed, output_dir=args.output,
                        overrides=assignments_to_overrides(args.set), command=command)
    check_folder(sc.output_dir)  # an unusable folder is said now, not after the simulation
    print_warnings(sc.warnings, sc.notes)
    ds = run_scenario(sc)
    pop = run_population(sc, progress=None if not args.quiet else False)
    res = write_outputs(sc, ds, figures=not args.no_figures, pop=pop)
    if not args.quiet:
        print_run_tables(sc, res, pop)
    print_written(res.files)
    return 0

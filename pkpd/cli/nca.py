"""``pkpd nca``: non-compartmental analysis of concentration data (CSV)."""
from __future__ import annotations

from pkpd.cli.common import print_written
from pkpd.workflows.nonmem import run_nca

NAME = "nca"
EXAMPLES = ("pkpd nca trial_sim.csv                    non-compartmental analysis per ID",)


def add_parser(sub) -> None:
    n = sub.add_parser(NAME, help="non-compartmental analysis of concentration data (CSV)",
                       description="NCA per ID: Cmax, Tmax, AUC0-t and AUC0-inf (linear-up/log-down), lambda-z "
                                   "(best adjusted R2, >= 3 points after Cmax), t1/2, MRT, CL(/F), Vz(/F).  Reads a "
                                   "NONMEM-style CSV (dose rows give the dose) or plain TIME/DV columns.  Times in h, "
                                   "concentrations in ng/mL, doses in mg.")
    n.add_argument("data", help="CSV file")
    n.add_argument("--time", default="TIME", help="time column (default TIME)")
    n.add_argument("--conc", default="DV", help="concentration column (default DV)")
    n.add_argument("--id", default="ID", help="subject column (default ID; absent → one subject)")
    n.add_argument("--dose", type=float, help="dose in mg for CL and Vz (default: the AMT of dose rows)")
    n.add_argument("--iv-bolus", action="store_true", help="include Cmax in the lambda-z fit (IV bolus data)")
    n.add_argument("--lloq", type=float, default=0.0, help="concentrations at or below this are BLQ")
    n.add_argument("-o", "--output", metavar="CSV", help="also write the table to this CSV")


def run(args) -> int:
    print(run_nca(args.data, args.time, args.conc, args.id, args.dose, args.iv_bolus, args.lloq, args.output))
    if args.output:
        print_written([args.output])
    return 0

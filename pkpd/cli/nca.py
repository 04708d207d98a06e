"""``pkpd nca``: non-compartmental analysis of concentration data (CSV), single or multiple dose."""
from __future__ import annotations

from pkpd import units
from pkpd.cli.common import print_written
from pkpd.errors import PkpdError
from pkpd.workflows.nca_run import run_nca

NAME = "nca"
EXAMPLES = ("pkpd nca trial_sim.csv                    non-compartmental analysis per ID",
            "pkpd nca ss.csv --tau '12 h' --steady-state   one steady-state dosing interval")
ROUTES = ("iv-bolus", "iv-infusion", "extravascular")


def add_parser(sub) -> None:
    n = sub.add_parser(
        NAME, help="non-compartmental analysis of concentration data (CSV)",
        description="NCA per ID, PKNCA conventions.  One dose: Cmax, Tmax, Tlast, Clast, AUC0-tlast and AUC0-inf "
                    "(linear-up/log-down; flagged when > 20 %% extrapolated), lambda-z (best adjusted R2, >= 3 "
                    "points after Cmax; R2adj, points and span reported), t1/2, MRT, CL and Vz (CL/F, Vz/F for "
                    "extravascular doses).  Several doses (from the dose rows) or --steady-state: the last dosing "
                    "interval tau (detected from the doses or --tau): AUCtau, Cmin, Ctrough, Cavg, swing, "
                    "fluctuation, accumulation (observed and from lambda-z), CLss(/F) when the interval is at "
                    "steady state.  Reads a NONMEM-style CSV (dose rows give doses, CMT the route, RATE infusions, "
                    "II/ADDL/SS repeats) or plain TIME/DV columns (one dose at time 0).  Times in h, "
                    "concentrations in ng/mL, doses in mg.  A quantity the data cannot support is left empty "
                    "and the reason printed.")
    n.add_argument("data", help="CSV file")
    n.add_argument("--time", default="TIME", help="time column (default TIME)")
    n.add_argument("--conc", default="DV", help="concentration column (default DV)")
    n.add_argument("--id", default="ID", help="subject column (default ID; absent → one subject)")
    n.add_argument("--dose", type=float, help="dose in mg for CL and Vz (default: the AMT of the dose rows)")
    n.add_argument("--route", choices=ROUTES, help="route class (default: from CMT/RATE of the dose rows)")
    n.add_argument("--iv-bolus", action="store_true", help="same as --route iv-bolus")
    n.add_argument("--tau", metavar="TIME", help="dosing interval, e.g. '12 h' (default: detected from the doses)")
    n.add_argument("--steady-state", action="store_true",
                   help="the subjects were at steady state (dosing every --tau) before the first dose in the data")
    n.add_argument("--lloq", type=float, default=0.0, help="concentrations at or below this are BLQ (ng/mL)")
    n.add_argument("-o", "--output", metavar="CSV", help="also write the results to this CSV (one row per ID)")


def run(args) -> int:
    route = "iv-bolus" if args.iv_bolus else args.route
    if args.iv_bolus and args.route not in (None, "iv-bolus"):
        raise PkpdError("contradicts --iv-bolus", field="--route " + args.route)
    tau = units.parse(args.tau, "time", "--tau").value if args.tau else None
    if tau is not None and not tau > 0:
        raise PkpdError("the dosing interval must be longer than 0 h", field="--tau")
    if args.dose is not None and not args.dose > 0:
        raise PkpdError("must be a positive amount in mg", field="--dose")
    print(run_nca(args.data, args.time, args.conc, args.id, args.dose, route, args.lloq, tau, args.steady_state,
                  args.output))
    if args.output:
        print_written([args.output])
    return 0

"""``pkpd vpc``: observed concentrations against a model — overlay figure and visual predictive check."""
from __future__ import annotations

import argparse

from pkpd import units
from pkpd.analysis.vpc import VPCSpec
from pkpd.cli.common import print_pairing, print_written
from pkpd.models.load import load_model
from pkpd.models.pd import PDModel
from pkpd.models.pk import Model
from pkpd.workflows.vpc import run_vpc

NAME = "vpc"
EXAMPLES = ("pkpd vpc obs.csv --model perez_ruixo_2021 --prop 0.2       VPC of NONMEM records with DV",
            'pkpd vpc obs.csv --model domino --regimen "0.5 mg/kg IV over 40 min" --pc   a tidy ID,TIME,DV file')


def add_parser(sub) -> None:
    v = sub.add_parser(NAME, help="observed data against a model: overlay and visual predictive check (VPC)",
                       description="Reads observations — NONMEM-style records with DV (doses from the file) or a "
                                   "tidy CSV ID,TIME,DV[,ROUTE] (doses from --regimen, matched by ROUTE) — simulates "
                                   "the study --replicates times with the model's between-subject variability and "
                                   "residual error (or --prop/--add), and compares the observed 5th/50th/95th percentiles "
                                   "per time bin with the simulated bands, one VPC per route.  Writes vpc.nc, "
                                   "vpc.csv, vpc.png and vpc_observed.png (observations over the typical curve and "
                                   "the 5–95 % band of simulated subjects).",
                       epilog="TIME in hours, DV in ng/mL (for concentrations).  DV '.' is skipped.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("data", help="observations: NONMEM-style CSV with DV, or tidy CSV ID,TIME,DV[,ROUTE]")
    v.add_argument("--model", required=True, help="PK model (see 'pkpd models')")
    v.add_argument("--pd", action="append", default=[], help="PD model(s), for effect-site or readout DV")
    v.add_argument("--regimen", action="append", default=[], metavar="NOTATION",
                   help="the regimen of a tidy file, in compact notation (one per ROUTE; repeatable)")
    v.add_argument("--output-variable", default="ketamine_plasma",
                   help="what DV is: ketamine_plasma (default), norketamine_plasma, an effect site or readout")
    v.add_argument("--replicates", type=int, default=200, help="simulated copies of the study (default 200)")
    v.add_argument("--ci", type=float, default=0.90, help="band level (default 0.90)")
    v.add_argument("--bins", type=int, default=None, help="time bins per route (default: by nominal time)")
    v.add_argument("--pc", action="store_true", help="prediction-corrected VPC (Bergstrand 2011)")
    v.add_argument("--prop", type=float, default=None, help="proportional residual error (SD, e.g. 0.2), "
                   "replacing the model's own [residual.SPECIES] (the default)")
    v.add_argument("--add", type=float, default=None, help="additive residual error (SD, ng/mL), as --prop")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--step", default="1 min", help="simulation output step (default '1 min')")
    v.add_argument("--log", action="store_true", help="log concentration axes")
    v.add_argument("-o", "--output", metavar="DIR", default="results/vpc", help="output folder")


def run(args) -> int:
    m, pds = load_model(args.model), [load_model(p) for p in args.pd]
    if isinstance(m, Model) and all(isinstance(p, PDModel) for p in pds):
        print_pairing([m], pds)
    spec = VPCSpec(replicates=args.replicates, ci=args.ci, bins=args.bins, prediction_corrected=args.pc,
                   prop=args.prop, add=args.add, seed=args.seed, step=units.parse(args.step, "time", "--step").value)
    res = run_vpc(args.data, args.model, pd=args.pd, regimens=args.regimen, spec=spec,
                  variable=args.output_variable, out_dir=args.output, log_scale=args.log)
    print(res.table)
    print_written(res.files)
    return 0

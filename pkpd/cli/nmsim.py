"""``pkpd nmsim``: simulate a NONMEM-style dataset and write DV back."""
from __future__ import annotations

from pkpd.cli.common import print_pairing, print_written
from pkpd.errors import PkpdError
from pkpd.models.load import load_model
from pkpd.models.pd import PDModel
from pkpd.models.pk import Model
from pkpd.workflows.nonmem import run_nmsim

NAME = "nmsim"
EXAMPLES = ("pkpd nmsim trial.csv --model fanta_otto_2021   simulate a NONMEM-style dataset, write DV back",)


def add_parser(sub) -> None:
    s2 = sub.add_parser(NAME, help="simulate a NONMEM-style dataset and write DV back",
                        description="Reads dosing records (EVID 1) and observation rows (EVID 0) per ID, "
                                    "simulates each ID (covariates WT/AGE/SEX from its first row) and writes the "
                                    "same dataset with DV filled in (ng/mL): simulated measurements with the "
                                    "model's residual error (or --prop/--add).  Steady state (SS=1) is exact.")
    s2.add_argument("data")
    s2.add_argument("--model", required=True, help="PK model (see 'pkpd models')")
    s2.add_argument("--pd", action="append", default=[], help="PD model(s) for effect-site outputs")
    s2.add_argument("--output-variable", default="ketamine_plasma",
                    help="what DV is: ketamine_plasma (default), norketamine_plasma or an effect site")
    s2.add_argument("-o", "--output", metavar="CSV", help="output file (default: DATA_sim.csv)")
    s2.add_argument("--iiv", action="store_true", help="draw between-subject variability per ID")
    s2.add_argument("--seed", type=int, default=0)
    s2.add_argument("--prop", type=float, default=None,
                    help="proportional residual error (SD, e.g. 0.2); with --add, replaces the model's "
                         "[residual] error model (default: the model's published σ; --prop 0 --add 0: true values)")
    s2.add_argument("--add", type=float, default=None, help="additive residual error (SD, ng/mL); see --prop")


def run(args) -> int:
    if any(v is not None and not (0 <= v < float("inf")) for v in (args.prop, args.add)):
        raise PkpdError("--prop and --add must be finite and ≥ 0")
    pk, pds = load_model(args.model), [load_model(p) for p in args.pd]
    if isinstance(pk, Model) and all(isinstance(p, PDModel) for p in pds):
        print_pairing([pk], pds)
    path = run_nmsim(args.data, args.model, args.pd, args.output_variable, args.output,
                     args.iiv, args.seed, args.prop, args.add)
    print_written([path])
    return 0

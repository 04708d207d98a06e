"""Command line: ``pkpd run``, ``pkpd check``, ``pkpd models``.

Every user error ends in one line on stderr naming the file, the field and the
problem, and exit status 2 — never a traceback.
"""
from __future__ import annotations

import argparse
import sys
import textwrap

from . import __version__
from .errors import PkpdError

EXAMPLES = """\
examples:
  pkpd run scenarios/routes.toml            simulate, write NetCDF + CSV + PNG, print a summary
  pkpd run scenarios/routes.toml -o out/    the same, into out/
  pkpd check scenarios/routes.toml          only validate the scenario and its models
  pkpd models                               list the literature model library
  pkpd models show perez_ruixo_2021         parameters with units, sources and assumption flags
  pkpd tradeoff scenarios/tradeoff.toml     dose sweep → Pareto frontier of analgesia vs psychotomimetic effect
  pkpd optimize scenarios/tradeoff.toml     largest dose per route under a psychotomimetic cap
  pkpd nmsim trial.csv --model fanta_otto_2021   simulate a NONMEM-style dataset, write DV back
  pkpd nca trial_sim.csv                    non-compartmental analysis per ID
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pkpd",
        description=textwrap.dedent("""\
            Ketamine PK/PD simulator: how much analgesia a regimen gives, at what
            psychotomimetic cost, and how sure we can be.  A scenario file (TOML) names
            the models, the subject, the regimens (IV, oral, intranasal) and the time grid;
            models are literature files with a citation and grade for every number."""),
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"pkpd {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="simulate a scenario file and write results",
                       description="Simulate a scenario: writes <stem>.nc (xarray/NetCDF with provenance), "
                                   "<stem>_summary.csv and one PNG per model, and prints a summary table.",
                       epilog="Concentrations are in ng/mL (and nmol/mL in the NetCDF); times in hours.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("scenario", help="scenario file (TOML), e.g. scenarios/routes.toml")
    r.add_argument("-o", "--output", metavar="DIR", help="output folder (default: the scenario's "
                   "[output].directory, else results/<scenario name>)")
    r.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    r.add_argument("-q", "--quiet", action="store_true", help="print only the files written")

    c = sub.add_parser("check", help="validate a scenario and the models it uses",
                       description="Load and check a scenario and its models without simulating.")
    c.add_argument("scenario")

    t = sub.add_parser("tradeoff", help="sweep doses (or durations, sprays) and draw the Pareto frontier",
                       description="For every regimen, sweep the [tradeoff] sweep parameters (default: dose × "
                                   "0.25–4), simulate a population at each point and draw P(adequate analgesia) "
                                   "against P(unacceptable psychotomimetic effect), one curve per regimen, one "
                                   "panel per PD and PK model.  Writes <stem>_frontier.csv/.nc/.png.")
    t.add_argument("scenario")
    t.add_argument("-o", "--output", metavar="DIR", help="output folder")
    t.add_argument("-q", "--quiet", action="store_true")
    o = sub.add_parser("optimize", help="find the dose that maximises analgesia under a psychotomimetic cap",
                       description="Per regimen, PD and PK model: the largest dose multiple keeping the fraction "
                                   "of subjects with an unacceptable psychotomimetic effect at or below [tradeoff] "
                                   "cap (default 10 %), found with scipy.optimize.brentq on the same simulated "
                                   "subjects at every dose; reports the binding constraint and how the optimum "
                                   "moves when the cap changes by ±5 points.  Writes <stem>_optimum.csv.")
    o.add_argument("scenario")
    o.add_argument("-o", "--output", metavar="DIR", help="output folder")
    o.add_argument("-q", "--quiet", action="store_true")

    n = sub.add_parser("nca", help="non-compartmental analysis of concentration data (CSV)",
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
    s2 = sub.add_parser("nmsim", help="simulate a NONMEM-style dataset and write DV back",
                        description="Reads dosing records (EVID 1) and observation rows (EVID 0) per ID, "
                                    "simulates each ID (covariates WT/AGE/SEX from its first row) and writes the "
                                    "same dataset with DV filled in (ng/mL).  Steady state (SS=1) is exact.")
    s2.add_argument("data")
    s2.add_argument("--model", required=True, help="PK model (see 'pkpd models')")
    s2.add_argument("--pd", action="append", default=[], help="PD model(s) for effect-site outputs")
    s2.add_argument("--output-variable", default="ketamine_plasma",
                    help="what DV is: ketamine_plasma (default), norketamine_plasma or an effect site")
    s2.add_argument("-o", "--output", metavar="CSV", help="output file (default: DATA_sim.csv)")
    s2.add_argument("--iiv", action="store_true", help="draw between-subject variability per ID")
    s2.add_argument("--seed", type=int, default=0)
    s2.add_argument("--prop", type=float, default=0.0, help="proportional residual error (SD, e.g. 0.2)")
    s2.add_argument("--add", type=float, default=0.0, help="additive residual error (SD, ng/mL)")

    w = sub.add_parser("sweep", help="parameter sweep (grid, LHS, Sobol; Sobol indices), locally or on Dask",
                       description="Runs the scenario's [sweep]: one population run per design point, reduced to "
                                   "metrics (median Cmax/AUC, P(adequate), P(psychotomimetic), P(success)).  Points "
                                   "are saved one by one in <stem>_sweep/ so an interrupted sweep resumes where it "
                                   "stopped.  Writes <stem>_sweep.nc (and, for design = \"saltelli\", Sobol "
                                   "indices and <stem>_sobol.png).",
                       epilog="Dask: --workers N starts a local cluster for the run; --scheduler tcp://HOST:8786 "
                              "uses an existing one (start it with 'dask scheduler' and 'dask worker "
                              "tcp://HOST:8786' on each machine; every worker needs pkpd installed and the "
                              "scenario and model files at the same path).",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    w.add_argument("scenario")
    w.add_argument("-o", "--output", metavar="DIR", help="output folder")
    g = w.add_mutually_exclusive_group()
    g.add_argument("--workers", type=int, metavar="N", help="run on a local Dask cluster of N worker processes")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask scheduler")
    w.add_argument("--fresh", action="store_true", help="discard saved points and start over")
    w.add_argument("-q", "--quiet", action="store_true")

    x = sub.add_parser("explore", help="interactive explorer in the browser (teaching)",
                       description="Starts a local web app (Panel/Bokeh) and opens it: sliders for model, route, "
                                   "dose, infusion duration, sprays, weight and PD model; concentrations with a "
                                   "200-subject band and the therapeutic window, effects over time, and the "
                                   "hysteresis loop, re-simulated on every change.  In Jupyter: "
                                   "'import panel as pn; pn.extension(); from pkpd.explore import app; app()'.",
                       epilog="Needs the optional 'explore' extra (installed by the README's set-up command).")
    x.add_argument("--port", type=int, default=5006)
    x.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    x.add_argument("--save", metavar="DIR", help="render the panels to PNG in DIR instead of serving")
    x.add_argument("--model", default="perez_ruixo_2021")
    x.add_argument("--pd", default="olofsen_2022")
    x.add_argument("--route", default="intranasal")
    x.add_argument("--dose", type=float, default=28.0, help="mg per administration (per spray)")

    dm = sub.add_parser("demo", help="teaching gallery: classic figures with explanations",
                        description="Reproduces a classic teaching figure (route comparison, bolus vs infusion, "
                                    "effect-site lag, context-sensitive half-time, population variability, the "
                                    "trade-off, TCI), prints its explanation and writes NAME.png.")
    dm.add_argument("name", nargs="?", help="demo name (see --list)")
    dm.add_argument("--list", action="store_true", help="list the demos")
    dm.add_argument("--all", action="store_true", help="render every demo (and docs/gallery.md with -o docs/gallery)")
    dm.add_argument("-o", "--output", metavar="DIR", default="results/demos")
    tc = sub.add_parser("tci", help="target-controlled infusion profile (plasma or effect-site targeting)",
                        description="Computes the infusion profile that reaches and holds a target ketamine "
                                    "concentration (pump update every --interval), prints it per minute and writes "
                                    "tci.csv and tci.png.")
    tc.add_argument("--model", default="domino")
    tc.add_argument("--target", required=True, help="e.g. '300 ng/mL' or '1 ug/mL'")
    tc.add_argument("--duration", default="60 min")
    tc.add_argument("--mode", choices=["plasma", "effect"], default="plasma")
    tc.add_argument("--pd", default="olofsen_2022", help="PD model giving the effect site (effect mode)")
    tc.add_argument("--weight", default="70 kg")
    tc.add_argument("--interval", default="10 s", help="pump update interval")
    tc.add_argument("--max-rate", default="1200 mg/h")
    tc.add_argument("--population", type=int, default=0, metavar="N",
                    help="also give the profile to N simulated subjects and draw their 5–95 %% band")
    tc.add_argument("-o", "--output", metavar="DIR", default="results/tci")

    m = sub.add_parser("models", help="list the model library, or show one model",
                       description="Without arguments: list every PK and PD model. "
                                   "'pkpd models show NAME' prints its parameters with units and provenance.")
    m.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    m.add_argument("name", nargs="?", help="model name (for show)")
    return p


def _interrupt(signum, frame):
    # SIGTERM (kill) unwinds like Ctrl-C, so a file being written is removed, not left half-written;
    # the flag survives where the exception is swallowed (a C callback) and is checked later
    from .outputs import SIGNALS
    SIGNALS.append(signum)
    raise KeyboardInterrupt


def main(argv=None) -> int:
    import signal
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    from .outputs import SIGNALS
    SIGNALS.clear()
    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _interrupt)
    except ValueError:  # not the main thread (e.g. called from a worker): leave signals alone
        pass
    try:
        from . import commands as c
        from .outputs import check_interrupt
        code = {"run": c.run, "check": c.check, "models": c.models, "tradeoff": c.tradeoff,
                "optimize": c.tradeoff, "nca": c.nca, "nmsim": c.nmsim, "sweep": c.sweep, "explore": c.explore,
                "demo": c.demo, "tci": c.tci}[args.command](args)
        check_interrupt()
        return code
    except PkpdError as e:
        print(f"pkpd: error: {e.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from .outputs import WRITTEN
        saved = "; saved: " + ", ".join(str(p) for p in WRITTEN) if WRITTEN else "; nothing was saved"
        print(f"pkpd: interrupted — no partial file was left (each file is written whole or not at all){saved}",
              file=sys.stderr)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())

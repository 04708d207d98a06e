"""Command line: ``pkpd run``, ``pkpd check``, ``pkpd models``.

Every user error ends in one line on stderr naming the file, the field and the
problem, and exit status 2 — never a traceback.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
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


def _run(args) -> int:
    from .run import run_population, run_scenario, write_outputs
    from .scenario import load_scenario
    sc = load_scenario(args.scenario, output_dir=args.output)
    for w in sc.warnings:
        print(f"pkpd: warning: {w}", file=sys.stderr)
    if not args.quiet:
        print(f"{sc.title}: {len(sc.models)} model(s) × {len(sc.regimens)} regimen(s), "
              f"{sc.time.horizon:g} h at {sc.time.step * 60:g}-min steps", file=sys.stderr)
    ds = run_scenario(sc)
    pop = run_population(sc, progress=None if not args.quiet else False)
    res = write_outputs(sc, ds, figures=not args.no_figures, pop=pop)
    if not args.quiet:
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
              + "; the evidence for ketamine is of low certainty: see the model citations and assumptions.")
    print("wrote:")
    for f in res.files:
        print(f"  {f}")
    return 0


def _tradeoff(args) -> int:
    from .scenario import load_scenario
    from .tradeoff_cli import run_optimize, run_tradeoff
    sc = load_scenario(args.scenario, output_dir=args.output)
    for w in sc.warnings:
        print(f"pkpd: warning: {w}", file=sys.stderr)
    files = (run_tradeoff if args.command == "tradeoff" else run_optimize)(sc, quiet=args.quiet)
    print("wrote:")
    for f in files:
        print(f"  {f}")
    return 0


def _sweep(args) -> int:
    from pathlib import Path
    from .outputs import write_bytes, write_netcdf
    from .scenario import load_scenario
    from .sweep import run_sweep, tornado_figure
    sc = load_scenario(args.scenario, output_dir=args.output)
    if sc.sweep is None:
        raise PkpdError("the scenario has no [sweep] table (see 'pkpd sweep --help' and scenarios/sweep.toml)",
                        file=str(sc.path))
    if args.workers is not None and not 1 <= args.workers <= 512:
        raise PkpdError("--workers must be from 1 to 512")
    ds = run_sweep(sc, sc.sweep, workers=args.workers, scheduler=args.scheduler, fresh=args.fresh,
                   progress=None if not args.quiet else False)
    stem = Path(sc.path).stem
    files = [write_netcdf(ds, sc.output_dir / f"{stem}_sweep.nc")]
    if "S1" in ds:
        import io
        import matplotlib.pyplot as plt
        fig = tornado_figure(ds, f"{sc.title}: Sobol indices of {sc.sweep.sensitivity}")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        plt.close(fig)
        files.append(write_bytes(sc.output_dir / f"{stem}_sobol.png", buf.getvalue()))
        if not args.quiet:
            for mi, m in enumerate(ds.model.values):
                for ri, r in enumerate(ds.regimen.values):
                    print(f"{m} / {r}: " + ", ".join(
                        f"{p} S1 {ds.S1.values[mi, ri, k]:.2f}±{ds.S1_conf.values[mi, ri, k]:.2f} "
                        f"ST {ds.ST.values[mi, ri, k]:.2f}" for k, p in enumerate(ds.parameter.values)))
    if not args.quiet:
        print(f"{ds.sizes['point']} points ({ds.attrs['points_run_now']} run now, "
              f"{ds.attrs['elapsed_seconds_now']:.1f} s, {ds.attrs['executor']})")
    print("wrote:")
    for f in files:
        print(f"  {f}")
    return 0


def _explore(args) -> int:
    from .explore import State, save_panels, serve
    s = State(model=args.model, pd=args.pd, route=args.route, dose_mg=args.dose)
    if args.save:
        files = save_panels(s, args.save)
        print("wrote:")
        for f in files:
            print(f"  {f}")
        return 0
    try:
        import panel  # noqa: F401  (only to check that the optional extra is installed)
    except ImportError:
        raise PkpdError("the explorer needs Panel: pip install -e '.[explore]'") from None
    print(f"pkpd explorer on http://localhost:{args.port}/  (Ctrl-C to stop)", file=sys.stderr)
    serve(args.port, show=not args.no_browser)
    return 0


def _demo(args) -> int:
    from pathlib import Path
    from .demos import DEMOS, gallery_markdown, run_demo
    from .outputs import write_text
    if args.list or (not args.name and not args.all):
        for name, d in DEMOS.items():
            print(f"  {name:<28} {d.title}")
        return 0
    names = list(DEMOS) if args.all else [args.name]
    files = []
    for n in names:
        text, path = run_demo(n, args.output)
        print(f"{DEMOS[n].title}: {text}\n")
        files.append(path)
    if args.all and Path(args.output).name == "gallery":
        files.append(write_text(Path(args.output).parent / "gallery.md", gallery_markdown({})))
    print("wrote:")
    for f in files:
        print(f"  {f}")
    return 0


def _tci(args) -> int:
    import io
    from pathlib import Path
    from . import units
    from .model import Model, load_model
    from .outputs import csv_text, write_bytes, write_text
    from .tci import tci, tci_figure
    m = load_model(args.model)
    if not isinstance(m, Model):
        raise PkpdError(f"{args.model!r} is not a PK model", field="--model")
    target = units.parse(args.target, "concentration", "--target").value * 1000.0
    dur = units.parse(args.duration, "time", "--duration").value
    dt = units.parse(args.interval, "time", "--interval").value
    wt = units.parse(args.weight, "weight", "--weight").value
    mx = units.parse(args.max_rate, "rate", "--max-rate").value
    pd = load_model(args.pd) if args.mode == "effect" else None
    r = tci(m, target, dur, mode=args.mode, pd=pd, subject={"WT": wt}, interval_h=dt, max_rate_mg_h=mx)
    rows = [[f"{t * 60:.2f}", f"{rate:.3f}", f"{c:.2f}", "" if np.isnan(e) else f"{e:.2f}"]
            for t, rate, c, e in zip(r.time[:-1], r.rate, r.plasma[:-1], r.effect[:-1])]
    per_min = [row for row, t in zip(rows, r.time[:-1]) if abs(t * 60 - round(t * 60)) < 1e-9][:15]
    from .metrics import format_table
    header = ["min", "rate mg/h", "plasma ng/mL", "effect ng/mL"]
    print(format_table(header, per_min, numeric_from=0))
    print(f"total {r.total_mg:.1f} mg over {dur * 60:g} min ({args.mode} targeting, {m.name})")
    import matplotlib.pyplot as plt
    bands = None
    if args.population:
        from .population import CovariateDist, Population
        from .tci import tci_population
        if not 10 <= args.population <= 100_000:
            raise PkpdError("--population must be from 10 to 100000")
        pop = Population(n=args.population, seed=0, covariates={"WT": CovariateDist("constant", wt)})
        bands = [tci_population(m, r, pop, pd=pd)]
        late = bands[0]["time"] >= min(dur, 0.25)
        p5, p50, p95 = bands[0]["plasma"][:, late]
        print(f"{args.population} subjects given this profile: plasma 5–95 % {np.nanmin(p5):.0f}–{np.nanmax(p95):.0f}"
              f" ng/mL (median {np.nanmedian(p50):.0f}) after the first 15 min")
    fig = tci_figure([r], f"TCI {m.name}, {args.mode} target {target:g} ng/mL", bands)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    out = Path(args.output)
    files = [write_text(out / "tci.csv", csv_text(header, rows)), write_bytes(out / "tci.png", buf.getvalue())]
    print("wrote:")
    for f in files:
        print(f"  {f}")
    return 0


def _nca(args) -> int:
    from .nm_cli import run_nca
    print(run_nca(args.data, args.time, args.conc, args.id, args.dose, args.iv_bolus, args.lloq, args.output))
    if args.output:
        print(f"wrote:\n  {args.output}")
    return 0


def _nmsim(args) -> int:
    from .nm_cli import run_nmsim
    if args.prop < 0 or args.add < 0:
        raise PkpdError("--prop and --add must be ≥ 0")
    path = run_nmsim(args.data, args.model, args.pd, args.output_variable, args.output,
                     args.iiv, args.seed, args.prop, args.add)
    print(f"wrote:\n  {path}")
    return 0


def _check(args) -> int:
    from .scenario import load_scenario
    sc = load_scenario(args.scenario)
    for w in sc.warnings:
        print(f"pkpd: warning: {w}", file=sys.stderr)
    print(f"{args.scenario}: OK — {len(sc.models)} model(s), {len(sc.pd)} PD model(s), "
          f"{len(sc.regimens)} regimen(s)")
    return 0


def _models(args) -> int:
    from .describe import describe_model, list_models
    if args.action == "show":
        if not args.name:
            raise PkpdError("'pkpd models show' needs a model name (see 'pkpd models')")
        print(describe_model(args.name))
    else:
        print(list_models())
    return 0


def _terminate(signum, frame):
    # SIGTERM (kill) unwinds like Ctrl-C, so a file being written is removed, not left half-written
    raise KeyboardInterrupt


def main(argv=None) -> int:
    import signal
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (e.g. called from a worker): leave signals alone
        pass
    try:
        return {"run": _run, "check": _check, "models": _models, "tradeoff": _tradeoff,
                "optimize": _tradeoff, "nca": _nca, "nmsim": _nmsim, "sweep": _sweep, "explore": _explore, "demo": _demo,
                "tci": _tci}[args.command](args)
    except PkpdError as e:
        print(f"pkpd: error: {e.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from .outputs import WRITTEN
        saved = "; saved: " + ", ".join(str(p) for p in WRITTEN) if WRITTEN else "; nothing was saved"
        print(f"pkpd: interrupted — no partial file was left (each file is written whole or not at all){saved}",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``pkpd sweep``: a parameter sweep (grid, LHS, Sobol, Saltelli), locally or on Dask."""
from __future__ import annotations

import argparse
import textwrap

from pkpd.cli.common import WIDTH, print_warnings, print_written
from pkpd.errors import PkpdError
from pkpd.output.analysis_figures import tornado_figure
from pkpd.output.figures import png_bytes
from pkpd.output.files import check_folder
from pkpd.output.output_set import OutputSet
from pkpd.scenario.load import load_scenario
from pkpd.workflows.run import scenario_stem
from pkpd.workflows.sweep import run_sweep

NAME = "sweep"
EXAMPLES = ("pkpd sweep scenarios/sweep.toml           Sobol indices of the [sweep] parameters, resumable",
            "pkpd sweep scenarios/sweep.toml --workers 2   the same on a local Dask cluster")


def add_parser(sub) -> None:
    w = sub.add_parser(NAME, help="parameter sweep (grid, LHS, Sobol; Sobol indices), locally or on Dask",
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


def run(args) -> int:
    sc = load_scenario(args.scenario, output_dir=args.output)
    check_folder(sc.output_dir)
    print_warnings(sc.warnings, sc.notes)
    if sc.sweep is None:
        raise PkpdError("the scenario has no [sweep] table (see 'pkpd sweep --help' and scenarios/sweep.toml)",
                        file=str(sc.path))
    if args.workers is not None and not 1 <= args.workers <= 512:
        raise PkpdError("--workers must be from 1 to 512")
    ds = run_sweep(sc, sc.sweep, workers=args.workers, scheduler=args.scheduler, fresh=args.fresh,
                   progress=None if not args.quiet else False)
    print_warnings([w for w in ds.attrs.get("store_warnings", "").split("\n") if w])
    stem = scenario_stem(sc)
    out = OutputSet(sc.output_dir)
    out.add_netcdf(f"{stem}_sweep.nc", ds)
    if "S1" in ds:
        fig = tornado_figure(ds, f"{sc.title}: Sobol indices of {sc.sweep.sensitivity}")
        out.add_bytes(f"{stem}_sobol.png", png_bytes(fig))
    files = out.commit()
    if "S1" in ds and not args.quiet:
        _print_indices(ds)
    if not args.quiet:
        print(f"{ds.sizes['point']} points ({ds.attrs['points_run_now']} run now, "
              f"{ds.attrs['elapsed_seconds_now']:.1f} s, {ds.attrs['executor']})")
    print_written(files)
    return 0


def _print_indices(ds) -> None:
    for mi, m in enumerate(ds.model.values):
        for ri, r in enumerate(ds.regimen.values):
            print(textwrap.fill(f"{m} / {r}: " + ", ".join(
                f"{p} S1 {ds.S1.values[mi, ri, k]:.2f}±{ds.S1_conf.values[mi, ri, k]:.2f} "
                f"ST {ds.ST.values[mi, ri, k]:.2f}" for k, p in enumerate(ds.parameter.values)), WIDTH,
                subsequent_indent="    "))

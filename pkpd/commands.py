"""The implementation of each ``pkpd`` command (the parser and dispatch live in :mod:`pkpd.cli`)."""
from __future__ import annotations

import sys

import numpy as np

from .errors import PkpdError


def run(args) -> int:
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


def tradeoff(args) -> int:
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


def sweep(args) -> int:
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


def explore(args) -> int:
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


def demo(args) -> int:
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


def tci(args) -> int:
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


def nca(args) -> int:
    from .nm_cli import run_nca
    print(run_nca(args.data, args.time, args.conc, args.id, args.dose, args.iv_bolus, args.lloq, args.output))
    if args.output:
        print(f"wrote:\n  {args.output}")
    return 0


def nmsim(args) -> int:
    from .nm_cli import run_nmsim
    if args.prop < 0 or args.add < 0:
        raise PkpdError("--prop and --add must be ≥ 0")
    path = run_nmsim(args.data, args.model, args.pd, args.output_variable, args.output,
                     args.iiv, args.seed, args.prop, args.add)
    print(f"wrote:\n  {path}")
    return 0


def check(args) -> int:
    from .scenario import load_scenario
    sc = load_scenario(args.scenario)
    for w in sc.warnings:
        print(f"pkpd: warning: {w}", file=sys.stderr)
    print(f"{args.scenario}: OK — {len(sc.models)} model(s), {len(sc.pd)} PD model(s), "
          f"{len(sc.regimens)} regimen(s)")
    return 0


def models(args) -> int:
    from .describe import describe_model, list_models
    if args.action == "show":
        if not args.name:
            raise PkpdError("'pkpd models show' needs a model name (see 'pkpd models')")
        print(describe_model(args.name))
    else:
        print(list_models())
    return 0

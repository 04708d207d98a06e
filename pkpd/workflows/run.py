"""Run a scenario end to end: simulate, summarise, draw, then write every file."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import numpy as np
import xarray as xr
from pkpd.analysis.metrics import summary
from pkpd.output.tables import summary_rows, terminal_table
from pkpd.output.files import csv_text, with_provenance, write_bytes, write_netcdf, write_text
from pkpd.scenario.spec import Scenario
from pkpd.simulation.typical import simulate
from pkpd.errors import PkpdError
from pkpd.analysis.tradeoff import TradeoffSpec, pairs_for
from pkpd.simulation.population import simulate_population
from pkpd.output.tables import format_table
from pkpd.analysis.tradeoff import thresholds_for
from pkpd.output.figures import comparison_figure, concentration_figure, hysteresis_figure
from pkpd.analysis.tradeoff import evaluate, table_rows
from pkpd.output.population_figures import band_figure, effect_band_figure
from pkpd.output.tables import population_rows, population_table
from pkpd.output.report import build_report
from pkpd.output.figures import png_bytes


def run_scenario(scenario: Scenario) -> xr.Dataset:
    """Simulate a checked scenario; the Dataset carries its provenance in ``attrs``."""
    ds = simulate(scenario.models, scenario.regimens, horizon=scenario.time.horizon, step=scenario.time.step,
                  subject=scenario.subject, pd=scenario.pd, solver=scenario.solver)
    return with_provenance(ds, scenario, scenario.models, scenario.pd)


@dataclass(frozen=True)
class RunResult:
    dataset: xr.Dataset
    summary: xr.Dataset
    table: str
    files: tuple[Path, ...]
    population: xr.Dataset | None = None
    population_table: str = ""
    tradeoff: xr.Dataset | None = None
    tradeoff_table: str = ""


def tradeoff_setup(scenario: Scenario):
    """(spec, pairs) for the analgesia/psychotomimetic trade-off, or None when the scenario's PD
    models have no analgesia + psychotomimetic pair."""
    spec = scenario.tradeoff or TradeoffSpec()
    try:
        return spec, pairs_for(tuple(scenario.pd), spec)
    except PkpdError:
        if scenario.tradeoff is not None:
            raise
        return None


def run_population(scenario: Scenario, progress: bool | None = None) -> xr.Dataset | None:
    """The scenario's ``[population]`` run (None without one), with provenance."""
    spec = scenario.population
    if spec is None:
        return None
    thresholds = dict(spec.thresholds)
    setup = tradeoff_setup(scenario)
    if setup is not None:
        for k, v in thresholds_for(setup[1], setup[0]).items():
            thresholds.setdefault(k, v)
    ds = simulate_population(scenario.models, scenario.regimens, spec.population, horizon=scenario.time.horizon,
                             step=scenario.time.step, pd=scenario.pd, mode=spec.mode,
                             dtype=np.dtype(spec.precision), chunk=spec.chunk, thresholds=thresholds,
                             progress=progress, solver=scenario.solver)
    return with_provenance(ds, scenario, scenario.models, scenario.pd)



def write_outputs(scenario: Scenario, ds: xr.Dataset, figures: bool = True,
                  pop: xr.Dataset | None = None) -> RunResult:
    """Compute summaries, figures and the HTML report, then write every file atomically.

    Everything is computed before the first file is written, so a failure leaves no files.
    """
    s = summary(ds)
    header, rows = summary_rows(s)
    table = terminal_table(s)
    draw = figures and ("png" in scenario.formats or "html" in scenario.formats)
    figs: list[tuple[str, str, bytes]] = []  # (file suffix, caption, png)
    if draw:
        for m in scenario.models:
            figs.append((m.name, f"Typical subject, {m.name}: concentrations and PD readouts",
                         png_bytes(concentration_figure(ds, m.name, f"{scenario.title} — {m.name}", scenario.log_scale))))
            if scenario.pd:
                f = hysteresis_figure(ds, m.name)
                if f is not None:
                    figs.append((f"{m.name}_hysteresis", f"Effect vs plasma concentration ({m.name}): "
                                 "the loop is the blood–effect-site lag", png_bytes(f)))
        if len(scenario.models) > 1:
            for var in ("ketamine_plasma", "norketamine_plasma"):
                if var in ds and not np.all(np.isnan(ds[var].values)):
                    figs.append((f"models_{var}", f"Model comparison: {ds[var].attrs['long_name']}",
                                 png_bytes(comparison_figure(ds, var, f"{scenario.title}: {ds[var].attrs['long_name']}"))))
    ptable, pcsv, prows = "", None, None
    tr, ttable, tcsv, trows, tdef = None, "", None, None, ""
    setup = tradeoff_setup(scenario) if pop is not None else None
    if setup is not None:
        tr = evaluate(pop, setup[1], setup[0])
        trows = table_rows(tr)
        tdef = setup[0].describe()
        ttable = f"{tdef}\ncells: % of subjects [Wilson 95 % interval]\n" + format_table(*trows, numeric_from=3)
        tcsv = csv_text(*trows)
    if pop is not None:
        ptable = population_table(pop)
        prows = population_rows(pop)
        pcsv = csv_text(*prows)
        if draw:
            for m in scenario.models:
                figs.append((f"{m.name}_population", f"Population percentile bands, {m.name}",
                             png_bytes(band_figure(pop, m.name))))
                for pair in (setup[1] if setup else []):
                    if f"{pair.analgesia}_cmax" in pop:
                        figs.append((f"{m.name}_effects_{pair.label.replace(' ', '')}",
                                     f"Analgesia and psychotomimetic readouts ({pair.label}), median and 5–95 %",
                                     png_bytes(effect_band_figure(pop, m.name, pair.analgesia, pair.psychotomimetic))))
    report = None
    if "html" in scenario.formats:
        report = build_report(scenario, (header, rows), prows, trows, [(c, b) for _, c, b in figs], tdef)
    out = scenario.output_dir
    stem = Path(scenario.path).stem if scenario.path else "pkpd"
    files = []
    if "netcdf" in scenario.formats:
        files.append(write_netcdf(ds, out / f"{stem}.nc"))
        if pop is not None:
            files.append(write_netcdf(pop, out / f"{stem}_population.nc"))
        if tr is not None:
            files.append(write_netcdf(tr, out / f"{stem}_tradeoff.nc"))
    if "csv" in scenario.formats:
        files.append(write_text(out / f"{stem}_summary.csv", csv_text(header, rows)))
        if pcsv is not None:
            files.append(write_text(out / f"{stem}_population_summary.csv", pcsv))
        if tcsv is not None:
            files.append(write_text(out / f"{stem}_tradeoff.csv", tcsv))
    if "png" in scenario.formats:
        for suffix, _, png in figs:
            files.append(write_bytes(out / f"{stem}_{suffix}.png", png))
    if report is not None:
        files.append(write_text(out / f"{stem}_report.html", report))
    return RunResult(ds, s, table, tuple(files), pop, ptable, tr, ttable)

"""Run a scenario end to end: simulate, summarise, draw, then write every file.

:func:`run_scenario` simulates the typical subject, :func:`run_population` the ``[population]``
run, :func:`write_outputs` computes tables, figures and the report and then writes every file
(atomically, nothing before everything is computed).  :func:`tradeoff_setup` gives the
analgesia/psychotomimetic pairs the other workflows evaluate.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import numpy as np
import xarray as xr
from pkpd.errors import PkpdError
from pkpd.simulation.typical import simulate
from pkpd.simulation.population import simulate_population
from pkpd.analysis.metrics import summary
from pkpd.analysis.tradeoff import TradeoffSpec, evaluate, pairs_for, table_rows, thresholds_for
from pkpd.scenario.spec import Scenario
from pkpd.output.files import csv_text, with_provenance, write_bytes, write_netcdf, write_text
from pkpd.output.figures import comparison_figure, concentration_figure, hysteresis_figure, png_bytes
from pkpd.output.population_figures import band_figure, effect_band_figure
from pkpd.output.report import build_report
from pkpd.output.tables import format_table, population_rows, population_table, summary_rows, terminal_table


def run_scenario(scenario: Scenario) -> xr.Dataset:
    """Simulate a checked scenario's typical subject.

    Parameters
    ----------
    scenario : Scenario
        From :func:`pkpd.load_scenario`.

    Returns
    -------
    xarray.Dataset
        Concentrations (and PD effect sites and readouts) with dims model × regimen × time; its
        ``attrs`` carry the provenance (scenario text, model files, versions).
    """
    ds = simulate(scenario.models, scenario.regimens, horizon=scenario.time.horizon, step=scenario.time.step,
                  subject=scenario.subject, pd=scenario.pd, solver=scenario.solver)
    return with_provenance(ds, scenario, scenario.models, scenario.pd)


@dataclass(frozen=True)
class RunResult:
    """What :func:`write_outputs` computed and wrote (tables as text, files in writing order)."""

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
                             progress=progress, solver=scenario.solver, percentile_step=spec.percentile_step)
    return with_provenance(ds, scenario, scenario.models, scenario.pd)


def write_outputs(scenario: Scenario, ds: xr.Dataset, figures: bool = True,
                  pop: xr.Dataset | None = None) -> RunResult:
    """Compute summaries, figures and the HTML report, then write every file atomically.

    Everything is computed before the first file is written, so a failure leaves no files.

    Parameters
    ----------
    scenario : Scenario
        The scenario run; its ``formats`` choose the files and ``output_dir`` where they go.
    ds : xarray.Dataset
        The typical-subject result (:func:`run_scenario`).
    figures : bool, default True
        Draw figures (when PNG or HTML output is asked for).
    pop : xarray.Dataset, optional
        The population result (:func:`run_population`): adds population and, when the PD
        readouts allow, trade-off tables, figures and files.

    Returns
    -------
    RunResult
        The summary Dataset and terminal tables, the trade-off Dataset (or None), and the files
        written, in order.
    """
    s = summary(ds)
    header, rows = summary_rows(s)
    table = terminal_table(s)
    draw = figures and ("png" in scenario.formats or "html" in scenario.formats)
    figs = _typical_figures(scenario, ds) if draw else []  # (file suffix, caption, png)
    setup = tradeoff_setup(scenario) if pop is not None else None
    tr, ttable, tcsv, trows, tdef = _tradeoff_tables(pop, setup)
    ptable, pcsv, prows = "", None, None
    if pop is not None:
        ptable = population_table(pop)
        prows = population_rows(pop)
        pcsv = csv_text(*prows)
        if draw:
            figs += _population_figures(scenario, pop, setup)
    report = None
    if "html" in scenario.formats:
        report = build_report(scenario, (header, rows), prows, trows, [(c, b) for _, c, b in figs], tdef)
    csvs = {"summary": csv_text(header, rows), "population_summary": pcsv, "tradeoff": tcsv}
    files = _write_files(scenario, {"": ds, "_population": pop, "_tradeoff": tr}, csvs, figs, report)
    return RunResult(ds, s, table, tuple(files), pop, ptable, tr, ttable)


def _typical_figures(scenario: Scenario, ds: xr.Dataset) -> list[tuple[str, str, bytes]]:
    """(file suffix, caption, png) of the typical-subject figures: per model, then compared."""
    figs = []
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
    return figs


def _tradeoff_tables(pop: xr.Dataset | None, setup):
    """(Dataset, terminal table, CSV text, rows, definition) of the trade-off; empty without one."""
    if setup is None:
        return None, "", None, None, ""
    tr = evaluate(pop, setup[1], setup[0])
    trows = table_rows(tr)
    tdef = setup[0].describe()
    ttable = f"{tdef}\ncells: % of subjects [Wilson 95 % interval]\n" + format_table(*trows, numeric_from=3)
    return tr, ttable, csv_text(*trows), trows, tdef


def _population_figures(scenario: Scenario, pop: xr.Dataset, setup) -> list[tuple[str, str, bytes]]:
    """(file suffix, caption, png) of the population bands and, per readout pair, effect bands."""
    figs = []
    for m in scenario.models:
        figs.append((f"{m.name}_population", f"Population percentile bands, {m.name}",
                     png_bytes(band_figure(pop, m.name))))
        for pair in (setup[1] if setup else []):
            if f"{pair.analgesia}_cmax" in pop:
                figs.append((f"{m.name}_effects_{pair.label.replace(' ', '')}",
                             f"Analgesia and psychotomimetic readouts ({pair.label}), median and 5–95 %",
                             png_bytes(effect_band_figure(pop, m.name, pair.analgesia, pair.psychotomimetic))))
    return figs


def _write_files(scenario: Scenario, datasets: dict, csvs: dict, figs: list, report: str | None) -> list[Path]:
    """Write the files the scenario's formats ask for: ``<stem><suffix>.nc`` per Dataset (None:
    skipped), ``<stem>_<name>.csv`` per CSV text, the PNGs and the HTML report."""
    out = scenario.output_dir
    stem = Path(scenario.path).stem if scenario.path else "pkpd"
    files = []
    if "netcdf" in scenario.formats:
        for suffix, d in datasets.items():
            if d is not None:
                files.append(write_netcdf(d, out / f"{stem}{suffix}.nc"))
    if "csv" in scenario.formats:
        for name, text in csvs.items():
            if text is not None:
                files.append(write_text(out / f"{stem}_{name}.csv", text))
    if "png" in scenario.formats:
        for suffix, _, png in figs:
            files.append(write_bytes(out / f"{stem}_{suffix}.png", png))
    if report is not None:
        files.append(write_text(out / f"{stem}_report.html", report))
    return files

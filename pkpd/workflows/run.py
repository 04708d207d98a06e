"""Run a scenario end to end: simulate, summarise, draw, then write every file.

:func:`run_scenario` simulates the typical subject, :func:`run_population` the ``[population]``
run, :func:`write_outputs` computes tables, figures and the report and then writes every file
(atomically, nothing before everything is computed).  :func:`tradeoff_setup` gives the
analgesia/psychotomimetic pairs the other workflows evaluate.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
import numpy as np
import xarray as xr
from pkpd.errors import PkpdError, PkpdTypeError
from pkpd.simulation.typical import simulate
from pkpd.simulation.population import simulate_population
from pkpd.analysis.metrics import summary
from pkpd.analysis.tradeoff import TradeoffSpec, evaluate, pairs_for, table_rows, thresholds_for
from pkpd.scenario.spec import Scenario
from pkpd.names import safe_stem, unique_stems
from pkpd.output.files import csv_text, with_provenance
from pkpd.output.output_set import OutputSet
from pkpd.scenario.validity_checks import concentration_checks
from pkpd.output.figures import comparison_figure, concentration_figure, hysteresis_figure, png_bytes
from pkpd.output.population_figures import band_figure, effect_band_figure
from pkpd.output.report import build_report
from pkpd.output.population_tables import population_csv_rows, population_rows, population_table, tidy_rows
from pkpd.output.tables import summary_csv_rows, summary_rows, terminal_table
from pkpd.output.text_table import WIDTH, render_grouped
from pkpd.analysis.repeated import population_repeated
from pkpd.output.repeated_table import (population_repeated_csv, population_repeated_table, typical_repeated_csv,
                                        typical_repeated_table)


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
        ``attrs`` carry the provenance (scenario text, model files, versions), the drug
        conversions (``dose_drugs``) and peaks outside a model's ``[validity]``
        (``validity_warnings``).

    Raises
    ------
    PkpdError
        When a peak lies outside a model's concentration range and the scenario refuses that
        (``[scenario] validity = "refuse"``).
    """
    _check_scenario(scenario)
    ds = simulate(scenario.models, scenario.regimens, horizon=scenario.time.horizon, step=scenario.time.step,
                  subject=scenario.subject, pd=scenario.pd, solver=scenario.solver)
    outside = concentration_checks(scenario, ds)
    ds = with_provenance(ds, scenario, scenario.models, scenario.pd)
    if outside:
        ds.attrs["validity_warnings"] = "\n".join(outside)
    return ds


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


def _check_scenario(scenario) -> None:
    if not isinstance(scenario, Scenario):
        raise PkpdTypeError(f"expected a Scenario (pkpd.load_scenario), got {type(scenario).__name__}",
                            field="scenario")


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
    _check_scenario(scenario)
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
                             progress=progress, solver=scenario.solver, observation_times=spec.observation_times,
                             percentile_step=spec.percentile_step)
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
    _check_scenario(scenario)
    if not isinstance(ds, xr.Dataset) or (pop is not None and not isinstance(pop, xr.Dataset)):
        raise PkpdTypeError("ds (and pop) must be the xarray Datasets of run_scenario and run_population")
    s = summary(ds, scenario.regimens, float(scenario.subject.get("WT", 70.0)))
    header, rows = summary_rows(s)
    table = "\n\n".join(x for x in (terminal_table(s), typical_repeated_table(s)) if x)
    draw = figures and ("png" in scenario.formats or "html" in scenario.formats)
    figs = _typical_figures(scenario, ds) if draw else []  # (file suffix, caption, png)
    setup = tradeoff_setup(scenario) if pop is not None else None
    tr, ttable, tcsv, trows, tdef = _tradeoff_tables(pop, setup)
    ptable, pcsv, prows, rcsv = "", None, None, None
    if pop is not None:
        prows = population_rows(pop)
        pcsv = csv_text(*population_csv_rows(pop))
        rep, rnotes = population_repeated(pop, scenario.regimens, float(scenario.subject.get("WT", 70.0)))
        ptable = "\n\n".join(x for x in (population_table(pop), population_repeated_table(rep, rnotes)) if x)
        rcsv = population_repeated_csv(rep, rnotes)
        if draw:
            figs += _population_figures(scenario, pop, setup)
    report = None
    if "html" in scenario.formats:
        report = build_report(scenario, (header, rows), prows, trows, [(c, b) for _, c, b in figs], tdef)
    csvs = {"summary": csv_text(*summary_csv_rows(s)), "repeated": typical_repeated_csv(s), "population_summary": pcsv,
            "population_repeated": rcsv, "tradeoff": tcsv}
    files = _write_files(scenario, {"": ds, "_population": pop, "_tradeoff": tr}, csvs, figs, report)
    return RunResult(ds, s, table, tuple(files), pop, ptable, tr, ttable)


def _typical_figures(scenario: Scenario, ds: xr.Dataset) -> list[tuple[str, str, bytes]]:
    """(file suffix, caption, png) of the typical-subject figures: per model, then compared."""
    figs = []
    stems = model_stems(scenario)
    for m in scenario.models:
        figs.append((stems[m.name], f"Typical subject, {m.name}: concentrations and PD readouts",
                     png_bytes(concentration_figure(ds, m.name, f"{scenario.title} — {m.name}", scenario.log_scale))))
        if scenario.pd:
            f = hysteresis_figure(ds, m.name)
            if f is not None:
                figs.append((f"{stems[m.name]}_hysteresis", f"Effect vs plasma concentration ({m.name}): "
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
    tdef = setup[0].describe() + "".join(f". Note: {p.note}" for p in setup[1] if p.note)
    ttable = (textwrap.fill(f"{tdef}; cells: % of subjects [Wilson 95 % interval]", WIDTH) + "\n"
              + render_grouped(trows[0], [r for r in trows[1] if r[3] != "—"], 2, numeric_from=3))
    tcsv = csv_text(*tidy_rows(tr, ("pair", "model", "regimen"), {"pair": "pd"}))
    return tr, ttable, tcsv, trows, tdef


def _population_figures(scenario: Scenario, pop: xr.Dataset, setup) -> list[tuple[str, str, bytes]]:
    """(file suffix, caption, png) of the population bands and, per readout pair, effect bands."""
    figs = []
    stems = model_stems(scenario)
    for m in scenario.models:
        figs.append((f"{stems[m.name]}_population", f"Population percentile bands, {m.name}",
                     png_bytes(band_figure(pop, m.name))))
        for pair in (setup[1] if setup else []):
            if f"{pair.analgesia}_cmax" in pop:
                figs.append((f"{stems[m.name]}_effects_{safe_stem(pair.label.replace(' ', ''))}",
                             f"Analgesia and psychotomimetic readouts ({pair.label}), median and 5–95 %",
                             png_bytes(effect_band_figure(pop, m.name, pair.analgesia, pair.psychotomimetic))))
    return figs


def model_stems(scenario: Scenario) -> dict[str, str]:
    """Each PK model's name as a safe, unique file-name stem (model names are data, not paths)."""
    names = [m.name for m in scenario.models]
    return dict(zip(names, unique_stems(names)))


def scenario_stem(scenario) -> str:
    """The stem every output file of a scenario starts with: its file name, made safe."""
    return safe_stem(Path(scenario.path).stem) if scenario.path else "pkpd"


def _write_files(scenario: Scenario, datasets: dict, csvs: dict, figs: list, report: str | None) -> list[Path]:
    """Write the files the scenario's formats ask for, as one set (all or none): ``<stem><suffix>.nc``
    per Dataset (None: skipped), ``<stem>_<name>.csv`` per CSV text, the PNGs and the HTML report."""
    stem = scenario_stem(scenario)
    files = OutputSet(scenario.output_dir)
    if "netcdf" in scenario.formats:
        for suffix, d in datasets.items():
            if d is not None:
                files.add_netcdf(f"{stem}{suffix}.nc", d)
    if "csv" in scenario.formats:
        for name, text in csvs.items():
            if text is not None:
                files.add_text(f"{stem}_{name}.csv", text)
    if "png" in scenario.formats:
        for suffix, _, png in figs:
            files.add_bytes(f"{stem}_{suffix}.png", png)
    if report is not None:
        files.add_text(f"{stem}_report.html", report)
    return files.commit()

"""Run a scenario end to end: simulate, summarise, draw, then write every file."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from .metrics import summary, summary_rows, terminal_table
from .outputs import csv_text, with_provenance, write_figure, write_netcdf, write_text
from .scenario import Scenario
from .simulate import simulate


def run_scenario(scenario: Scenario) -> xr.Dataset:
    """Simulate a checked scenario; the Dataset carries its provenance in ``attrs``."""
    ds = simulate(scenario.models, scenario.regimens, horizon=scenario.time.horizon, step=scenario.time.step,
                  subject=scenario.subject, pd=scenario.pd)
    return with_provenance(ds, scenario, scenario.models, scenario.pd)


@dataclass(frozen=True)
class RunResult:
    dataset: xr.Dataset
    summary: xr.Dataset
    table: str
    files: tuple[Path, ...]


def write_outputs(scenario: Scenario, ds: xr.Dataset, figures: bool = True) -> RunResult:
    """Compute the summary and figures, then write NetCDF, CSV and PNG files atomically."""
    s = summary(ds)
    header, rows = summary_rows(s)
    table = terminal_table(s)
    figs = []
    if figures and "png" in scenario.formats:
        from .plot import concentration_figure
        for m in scenario.models:
            figs.append((m.name, concentration_figure(ds, m.name, f"{scenario.title} — {m.name}",
                                                      scenario.log_scale)))
        if len(scenario.models) > 1:
            from .plot import comparison_figure
            for var in ("ketamine_plasma", "norketamine_plasma"):
                if var in ds and not np.all(np.isnan(ds[var].values)):
                    figs.append((f"models_{var}", comparison_figure(ds, var, f"{scenario.title}: "
                                                                    f"{ds[var].attrs['long_name']}")))
    out = scenario.output_dir
    stem = Path(scenario.path).stem if scenario.path else "pkpd"
    files = []
    if "netcdf" in scenario.formats:
        files.append(write_netcdf(ds, out / f"{stem}.nc"))
    if "csv" in scenario.formats:
        files.append(write_text(out / f"{stem}_summary.csv", csv_text(header, rows)))
    import matplotlib.pyplot as plt
    for name, fig in figs:
        files.append(write_figure(fig, out / f"{stem}_{name}.png"))
        plt.close(fig)
    return RunResult(ds, s, table, tuple(files))

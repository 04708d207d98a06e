"""``pkpd vpc``: observed data against a model — overlay and visual predictive check, then files.

:func:`run_vpc` reads the observations (NONMEM-style records with DV, or a tidy CSV plus the
regimens given), simulates the study ``replicates`` times (:mod:`pkpd.analysis.vpc`), and writes
``vpc.nc`` (bands and observed percentiles, with provenance), ``vpc.csv`` (tidy, one number per
cell), ``vpc.png`` (the VPC per route) and ``vpc_observed.png`` (observations over the typical
curve and the population band) — all computed before the first file is written.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
import numpy as np
import xarray as xr
from pkpd.analysis.vpc import VPCSpec, simulate_observations, vpc
from pkpd.dosing.notation import parse_regimen
from pkpd.dosing.observations import assign_regimens, read_observations
from pkpd.errors import PkpdError
from pkpd.models.load import load_model
from pkpd.models.pd import PDModel
from pkpd.models.pk import Model
from pkpd.output.figures import png_bytes
from pkpd.output.files import csv_text, with_provenance
from pkpd.output.output_set import OutputSet
from pkpd.output.population_tables import tidy_rows
from pkpd.output.text_table import WIDTH, render
from pkpd.output.vpc_figures import observed_figure, vpc_figure


@dataclass(frozen=True)
class VPCRun:
    """What :func:`run_vpc` computed and wrote."""

    dataset: xr.Dataset
    table: str
    files: tuple[Path, ...]


def _models(model: str, pd: list[str]):
    m = load_model(model)
    if not isinstance(m, Model):
        raise PkpdError(f"{model!r} is a PD model; give a PK model", field="--model")
    pds = [load_model(p) for p in pd]
    bad = [p for p, x in zip(pd, pds) if not isinstance(x, PDModel)]
    if bad:
        raise PkpdError(f"{bad[0]!r} is a PK model, not a PD model", field="--pd")
    return m, pds


def run_vpc(data: str, model: str, *, pd=(), regimens=(), spec: VPCSpec = VPCSpec(), variable: str = "ketamine_plasma",
            out_dir="results/vpc", log_scale: bool = False) -> VPCRun:
    """Observed data in ``data`` against ``model`` (see the module docstring).

    ``regimens``: compact-notation texts, needed for a tidy file (one, or one per route).
    """
    spec.check()
    m, pds = _models(model, list(pd))
    regs = [parse_regimen(r, field=f"--regimen[{i}]") for i, r in enumerate(regimens)]
    obs = read_observations(data)
    if obs.regimens and regs:
        raise PkpdError("the file has dose records: its regimens are used, leave out --regimen", file=obs.path)
    obs = assign_regimens(obs, regs)
    unsupported = sorted({rt for r in obs.regimens.values() for rt in r.routes if not m.supports(rt)})
    if unsupported:
        raise PkpdError(f"model {m.name} has no {', '.join(unsupported)} route", field="--model")
    simulated = simulate_observations(obs, m, spec, pds, variable)
    ds = with_provenance(vpc(obs, m, spec, pds, variable, simulated=simulated), None, [m], pds)
    unit = ds.observed.attrs.get("units", "")
    figs = {"vpc": vpc_figure(ds, obs, log_scale=log_scale),
            "vpc_observed": observed_figure(simulated[2], obs, f"{Path(data).name} over {m.name}: typical subject "
                                            f"and 5–95 % of simulated subjects", unit or variable, log_scale)}
    pngs = {k: png_bytes(f) for k, f in figs.items()}
    csv = csv_text(*tidy_rows(ds, ("route", "bin", "quantile")))
    out = OutputSet(out_dir)  # written as one set: all files or none
    out.add_netcdf("vpc.nc", ds)
    out.add_text("vpc.csv", csv)
    for k, b in pngs.items():
        out.add_bytes(f"{k}.png", b)
    files = out.commit()
    return VPCRun(ds, vpc_table(ds), tuple(files))


def vpc_table(ds: xr.Dataset, width: int = WIDTH) -> str:
    """Per route and bin: observed percentiles against their simulated bands, within ``width``."""
    lines = [textwrap.fill(
        f"{ds.attrs['ids']} IDs, {ds.attrs['observations']} observations against {ds.attrs['model']} "
        f"({ds.attrs['replicates']} simulated replicates; bands: {ds.attrs['ci']:.0%} of the replicates' "
        f"percentile{', prediction-corrected' if ds.attrs['prediction_corrected'] else ''}): "
        f"{ds.attrs['fraction_inside']:.0%} of observed percentiles inside their bands.", width)]
    unit = ds.observed.attrs.get("units", "")
    for r in ds.route.values:
        s = ds.sel(route=r)
        header = ["time (h)", "n"] + [f"P{q:g} observed [band] ({unit})" if unit else f"P{q:g} observed [band]"
                                      for q in ds["quantile"].values]
        rows = []
        for b in range(s.sizes["bin"]):
            if np.isnan(s.time.values[b]):
                continue
            cells = [f"{s.time.values[b]:.3g}", f"{int(s.n_obs.values[b])}"]
            for qi in range(s.sizes["quantile"]):
                mark = "" if s.inside.values[b, qi] == 1 else " ✗"
                cells.append(f"{_g(s.observed.values[b, qi])} [{_g(s.sim_lo.values[b, qi])}–"
                             f"{_g(s.sim_hi.values[b, qi])}]{mark}")
            rows.append(cells)
        lines.append(f"\n{r}\n" + render(header, rows, 0, key_columns=1, width=width))
    lines.append("✗: observed percentile outside its band")
    return "\n".join(lines)


def _g(v: float) -> str:
    a = abs(v)
    return "—" if np.isnan(v) else f"{v:.0f}" if a >= 100 else f"{v:.1f}" if a >= 1 else f"{v:.2f}"

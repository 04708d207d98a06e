"""Every example scenario end to end through the CLI, and the CLI's help texts."""
import csv
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from pkpd.cli.main import main
from helpers import widest_line

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


def test_there_are_at_least_three_example_scenarios():
    assert len(SCENARIOS) >= 3


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_runs_end_to_end(path, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no "All-NaN slice" or the like on the console
        assert main(["run", str(path), "-o", str(tmp_path)]) == 0
    cap = capsys.readouterr()
    out = cap.out
    nc = tmp_path / f"{path.stem}.nc"
    csv = tmp_path / f"{path.stem}_summary.csv"
    assert nc.is_file() and csv.is_file()
    pngs = list(tmp_path.glob("*.png"))
    assert pngs and all(p.stat().st_size > 10_000 for p in pngs)
    # issue 17: headers name quantity and unit (no "K Cmax"), and everything fits 100 columns
    assert "Cmax" in out and "(ng/mL)" in out and "K Cmax" not in out and "wrote:" in out
    assert widest_line(cap.out + cap.err) <= 100
    _assert_tidy_csvs(tmp_path)
    assert not list(tmp_path.glob(".*.tmp")), "temporary files left behind"
    with xr.open_dataset(nc) as ds:
        assert set(ds.ketamine_plasma.dims) == {"model", "regimen", "time"}
        for name, var in ds.data_vars.items():
            assert var.attrs.get("units") and var.attrs.get("long_name"), name
        assert ds.attrs["scenario_text"] == path.read_text()
        assert any(k.startswith("model_file_") for k in ds.attrs)
        assert "pkpd_version" in ds.attrs
        c = ds.ketamine_plasma.values
        assert np.nanmax(c) > 0 and np.nanmin(c) >= -1e-9
        # nmol/mL and ng/mL agree through the molar mass
        np.testing.assert_allclose(ds.ketamine_plasma_molar.values * 237.73, c, rtol=1e-12)
    rows = csv.read_text().strip().splitlines()
    assert len(rows) == 1 + len(xr.open_dataset(nc).regimen) * len(xr.open_dataset(nc).model)


def _assert_tidy_csvs(folder: Path) -> None:
    """Every CSV a run writes holds one value per cell: after the text columns (model, regimen,
    route, PD and readout names, base regimen, point), each cell is a number or empty."""
    text_cols = {"model", "regimen", "route", "drug", "pd", "analgesia", "psychotomimetic", "output",
                 "not_reported"}
    for f in folder.glob("*.csv"):
        with open(f, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert rows, f
        for row in rows:
            for k, v in row.items():
                if k in text_cols or v == "":
                    continue
                float(v)  # raises on "131 [84.0–194]", "14%" and the like
                if f.stem.endswith(("_summary", "_population_summary", "_tradeoff")):
                    assert "[" not in k and " " not in k, (f.name, k)  # names as in the NetCDF


def test_help_texts_teach(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "pkpd run scenarios/routes.toml" in out
    for cmd in ("run", "check", "models"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        assert "usage: pkpd " + cmd in capsys.readouterr().out


def test_models_list_and_show(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "perez_ruixo_2021" in out and "olofsen_2022" in out
    assert main(["models", "show", "olofsen_2022"]) == 0
    out = capsys.readouterr().out
    assert "ASSUMPTION" in out and "gamma" in out and "Olofsen" in out
    assert "nonlinear" not in out
    assert main(["models", "show", "domino_mm"]) == 0
    out = capsys.readouterr().out
    assert "nonlinear: Michaelis–Menten central → elimination" in out and "solver auto" in out


def test_console_script_runs_in_a_fresh_process(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pkpd.cli", "check", str(ROOT / "scenarios" / "routes.toml")],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout

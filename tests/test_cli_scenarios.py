"""Every example scenario end to end through the CLI, and the CLI's help texts."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from pkpd.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))


def test_there_are_at_least_three_example_scenarios():
    assert len(SCENARIOS) >= 3


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_runs_end_to_end(path, tmp_path, capsys):
    assert main(["run", str(path), "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    nc = tmp_path / f"{path.stem}.nc"
    csv = tmp_path / f"{path.stem}_summary.csv"
    assert nc.is_file() and csv.is_file()
    pngs = list(tmp_path.glob("*.png"))
    assert pngs and all(p.stat().st_size > 10_000 for p in pngs)
    assert "K Cmax" in out and "wrote:" in out
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

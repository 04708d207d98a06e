"""Sweeps: designs, Sobol indices (Ishigami; a parameter that cannot matter), resume, Dask."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from pkpd.cli.main import main
from pkpd.scenario.load import load_scenario
from pkpd.analysis.sweep_design import SweepParam, SweepSpec, design_matrix, sobol_indices
from pkpd.workflows.sweep import run_sweep

ROOT = Path(__file__).resolve().parent.parent


def test_designs():
    grid = SweepSpec("grid", (SweepParam("a", values=(1.0, 2.0)), SweepParam("b", values=(3.0, 4.0, 5.0))))
    assert design_matrix(grid).shape == (6, 2)
    lhs = SweepSpec("lhs", (SweepParam("a", 0.0, 1.0), SweepParam("b", 10.0, 20.0)), points=50, seed=1)
    X = design_matrix(lhs)
    assert X.shape == (50, 2) and X[:, 1].min() >= 10 and X[:, 1].max() <= 20
    # Latin hypercube: one point in each of the 50 strata of each parameter
    assert sorted(np.floor(X[:, 0] * 50).astype(int)) == list(range(50))
    sob = SweepSpec("saltelli", (SweepParam("a", 0.0, 1.0), SweepParam("b", 0.0, 1.0)), points=8)
    assert design_matrix(sob).shape == (8 * (2 + 2), 2)


def test_sobol_indices_of_ishigami():
    """Ishigami (a = 7, b = 0.1): S1 = 0.314, 0.442, 0; ST = 0.558, 0.442, 0.244."""
    pi = np.pi
    spec = SweepSpec("saltelli", tuple(SweepParam(f"x{i}", -pi, pi) for i in (1, 2, 3)), points=4096, seed=2,
                     sensitivity="ketamine_cmax_median")
    X = design_matrix(spec)
    y = np.sin(X[:, 0]) + 7 * np.sin(X[:, 1]) ** 2 + 0.1 * X[:, 2] ** 4 * np.sin(X[:, 0])
    val = np.full((len(X), 1, 1, 6), np.nan)
    val[:, 0, 0, 0] = y
    ds = xr.Dataset({"value": (("point", "model", "regimen", "metric"), val)},
                    coords={"metric": ["ketamine_cmax_median", "b", "c", "d", "e", "f"],
                            "parameter": ["x1", "x2", "x3"], "model": ["m"], "regimen": ["r"]})
    si = sobol_indices(ds, spec)
    np.testing.assert_allclose(si.S1.values[0, 0], [0.3139, 0.4424, 0.0], atol=0.05)
    np.testing.assert_allclose(si.ST.values[0, 0], [0.5576, 0.4424, 0.2437], atol=0.05)


def _scenario(tmp_path, body_extra="", points=8, design="saltelli"):
    text = (ROOT / "scenarios" / "sweep.toml").read_text()
    text = text.replace("points = 64", f"points = {points}").replace("n = 200\nsensitivity", "n = 60\nsensitivity")
    text = text.replace('design = "saltelli"', f'design = "{design}"')
    text = text.replace('directory = "results/sweep"', f'directory = "{tmp_path / "out"}"')
    p = tmp_path / "sweep.toml"
    p.write_text(text + body_extra)
    return p


def test_a_parameter_that_cannot_matter_gets_zero_indices(tmp_path):
    """The PD effect-site half-time cannot change the plasma Cmax: both its indices are 0."""
    text = (ROOT / "scenarios" / "sweep.toml").read_text()
    text = text.replace('sensitivity = "p_success"', 'sensitivity = "ketamine_cmax_median"')
    text = text.replace('"olofsen_2022.gamma" = { low = 1.0, high = 4.0 }      # assumption range',
                        '"olofsen_2022.t12ke0" = { low = 2.0, high = 20.0 }')
    text = text.replace("points = 64", "points = 16").replace("n = 200\nsensitivity", "n = 60\nsensitivity")
    p = tmp_path / "s.toml"
    p.write_text(text)
    sc = load_scenario(p, output_dir=tmp_path / "out")
    ds = run_sweep(sc, sc.sweep, progress=False)
    k = list(ds.parameter.values).index("olofsen_2022.t12ke0")
    assert ds.S1.values[0, 0, k] == pytest.approx(0.0, abs=1e-12)
    assert ds.ST.values[0, 0, k] == pytest.approx(0.0, abs=1e-12)
    assert ds.ST.values[0, 0, list(ds.parameter.values).index("dose")] > 0.3


def test_resume_after_a_kill_gives_the_uninterrupted_result(tmp_path):
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    p_ref = _scenario(ref_dir, points=32)
    assert main(["sweep", str(p_ref), "-q"]) == 0
    ref = xr.open_dataset(ref_dir / "out" / "sweep_sweep.nc")

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    p = _scenario(run_dir, points=32)
    proc = subprocess.Popen([sys.executable, "-m", "pkpd.cli", "sweep", str(p), "-q"], cwd=run_dir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pts = run_dir / "out" / "sweep_sweep" / "points"
    deadline = time.time() + 120
    while time.time() < deadline and (not pts.exists() or len(list(pts.glob("p*.npy"))) < 20):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up
    proc.wait()
    n_done = len(list(pts.glob("p*.npy")))
    assert 0 < n_done < 32 * 6, "the kill should land mid-sweep"
    assert main(["sweep", str(p), "-q"]) == 0  # resume
    got = xr.open_dataset(run_dir / "out" / "sweep_sweep.nc")
    assert got.attrs["points_run_now"] == 32 * 6 - n_done
    np.testing.assert_array_equal(got.value.values, ref.value.values)
    np.testing.assert_array_equal(got.S1.values, ref.S1.values)


def test_resume_refuses_a_different_design(tmp_path, capsys):
    p = _scenario(tmp_path, points=4)
    assert main(["sweep", str(p), "-q"]) == 0
    p.write_text(p.read_text().replace("seed = 1\n", "seed = 2\n"))
    assert main(["sweep", str(p), "-q"]) == 2
    assert "different scenario or design" in capsys.readouterr().err
    assert main(["sweep", str(p), "-q", "--fresh"]) == 0


def test_dask_local_cluster_gives_the_local_result(tmp_path):
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    pa, pb = _scenario(a_dir, points=4), _scenario(b_dir, points=4)
    assert main(["sweep", str(pa), "-q"]) == 0
    assert main(["sweep", str(pb), "-q", "--workers", "2"]) == 0
    a = xr.open_dataset(a_dir / "out" / "sweep_sweep.nc")
    b = xr.open_dataset(b_dir / "out" / "sweep_sweep.nc")
    np.testing.assert_array_equal(a.value.values, b.value.values)
    assert "LocalCluster" in b.attrs["executor"]


def test_sweep_errors(tmp_path, capsys):
    p = _scenario(tmp_path)
    p.write_text(p.read_text().replace('"perez_ruixo_2021.Vc"', '"perez_ruixo_2021.nope"'))
    assert main(["sweep", str(p)]) == 2
    assert "sweep.parameters.perez_ruixo_2021.nope" in capsys.readouterr().err
    p.write_text((ROOT / "scenarios" / "routes.toml").read_text())
    assert main(["sweep", str(p)]) == 2
    assert "no [sweep]" in capsys.readouterr().err

"""Residual error: the published σ in each model file, simulated observations that carry it
(``pkpd nmsim``, sampled observations of population runs), true concentrations everywhere else.

Published values (sources in the model files and docs/model_checks.md): Perez-Ruixo 2021 Table 3,
log-scale SD 0.276 (esketamine) and 0.422 (noresketamine), Phase I/II; Otto 2021 Table 3,
proportional σ² 0.0557 and 0.0203 (SD 0.236, 0.143); Simons 2022 Table 4, S-norketamine
proportional 0.102 + additive 0.058 nmol/mL = 0.058 · 223.70 = 12.97 ng/mL.

Statistical checks use a fixed seed; their tolerances are stated as multiples of the sampling
error of an SD estimated from N draws, SE ≈ σ / √(2N).
"""
import textwrap

import numpy as np
import pytest
import xarray as xr

from pkpd.cli.main import main
from pkpd.dosing.records import parse_events
from pkpd.models.load import load_model
from pkpd.simulation.observations import observe
from pkpd.simulation.population import simulate_population
from pkpd.simulation.sampling import Population

from helpers import ONE_COMPARTMENT as MODEL, regimen


def test_published_sigmas_in_model_files():
    assert load_model("perez_ruixo_2021").residual["ketamine"].sigmas() == (0.0, 0.0, 0.276)
    assert load_model("perez_ruixo_2021").residual["norketamine"].sigmas() == (0.0, 0.0, 0.422)
    assert load_model("fanta_otto_2021").residual["ketamine"].sigmas() == (0.236, 0.0, 0.0)
    assert load_model("fanta_otto_2021").residual["norketamine"].sigmas() == (0.143, 0.0, 0.0)
    prop, add, ex = load_model("simons_2022").residual["norketamine"].sigmas()
    assert (prop, ex) == (0.102, 0.0) and add == pytest.approx(0.058 * 223.70, rel=1e-9)
    # unpublished ones are labelled assumptions with a range, listed with the model's assumptions
    dom = load_model("domino")
    assert [p.name for p in dom.assumptions()] == ["residual.ketamine.proportional"]
    assert dom.assumptions()[0].suggested_range == (0.11, 0.42)


def test_every_library_pk_model_has_residual_error_for_each_species():
    from pkpd.errors import PkpdError
    from pkpd.models.library import available_models
    from pkpd.models.pk import Model
    checked = 0
    for name in available_models():
        try:
            m = load_model(name)
        except PkpdError:  # a file that is no model (test_library_models reports it)
            continue
        if isinstance(m, Model):
            assert set(m.residual) == set(m.species), name
            checked += 1
    assert checked >= 6


def test_observe_error_models():
    """Hand values: proportional C(1 + σ z₁) + a z₂; exponential C exp(σ z₁); never below 0."""
    c = np.array([100.0, 100.0, 1.0])
    z1, z2 = np.array([1.0, -2.0, -30.0]), np.array([0.5, 1.0, 0.0])
    np.testing.assert_allclose(observe(c, (0.1, 4.0, 0.0), z1, z2), [112.0, 84.0, 0.0])
    np.testing.assert_allclose(observe(c, (0.0, 0.0, 0.2), z1, z2), 100 * np.exp([0.2, -0.4, -6.0]) * [1, 1, 0.01])


def _dataset(tmp_path, n_id=20, n_obs=50):
    """A NONMEM-style dataset: IV 20 mg over 40 min, n_obs samples from 0.5 to 12 h per ID."""
    # AGE given (40 years, the default): nmsim refuses a file without a covariate its model uses (issue 18)
    rows = ["ID,TIME,AMT,RATE,CMT,EVID,MDV,DV,AGE"]
    for i in range(1, n_id + 1):
        rows.append(f"{i},0,20,30,1,1,1,.,40")
        rows += [f"{i},{t:.4f},.,.,.,0,0,.,40" for t in np.linspace(0.5, 12, n_obs)]
    p = tmp_path / "d.csv"
    p.write_text("\n".join(rows) + "\n")
    return p


def _nmsim(tmp_path, src, *extra):
    out = tmp_path / f"sim{len(list(tmp_path.iterdir()))}.csv"
    assert main(["nmsim", str(src), "--model", "perez_ruixo_2021", "-o", str(out), *extra]) == 0
    return np.array([float(r["_raw"]["DV"]) for r in parse_events(out.read_text()).rows if r["EVID"] == 0])


def test_nmsim_uses_the_model_sigma_and_flags_override(tmp_path, capsys):
    """Without flags DV carries Perez-Ruixo's published log-scale SD 0.276: the SD of
    log(DV / true) over N = 1000 rows is 0.276 ± 4 SE (SE = 0.276/√2000 = 0.0062).  --prop 0.1
    replaces it: SD of DV/true − 1 is 0.10 ± 4 SE.  The same seed gives the same file."""
    src = _dataset(tmp_path)
    true = _nmsim(tmp_path, src, "--prop", "0", "--add", "0")
    default = _nmsim(tmp_path, src)
    assert np.std(np.log(default / true)) == pytest.approx(0.276, abs=4 * 0.276 / np.sqrt(2000))
    assert np.mean(np.log(default / true)) == pytest.approx(0.0, abs=4 * 0.276 / np.sqrt(1000))
    prop = _nmsim(tmp_path, src, "--prop", "0.1")
    assert np.std(prop / true - 1) == pytest.approx(0.1, abs=4 * 0.1 / np.sqrt(2000))
    np.testing.assert_array_equal(_nmsim(tmp_path, src), default)
    assert main(["nmsim", str(src), "--model", "perez_ruixo_2021", "--prop", "-1"]) == 2
    capsys.readouterr()


def _population(chunk=1024, seed=5, n=2000, models=("fanta_otto_2021", "simons_2022"), mode="streaming", mg=20):
    return simulate_population([load_model(m) for m in models],
                               [regimen({"route": "iv", "amount": f"{mg} mg", "duration": "20 min"})],
                               Population(n=n, seed=seed), horizon=8, step=0.25, chunk=chunk, mode=mode,
                               observation_times=[0.25, 1.0, 3.3, 8.0])


def test_population_observations_match_sigma():
    """Sampled observations of 2000 subjects × 4 times (N = 8000): the proportional error of Otto
    2021 (S-ketamine 0.236, S-norketamine 0.143) and, for Simons 2022's combined S-norketamine
    model, residuals standardised by √((0.102 C)² + 12.97²) have SD 1; each within 4 SE."""
    ds = _population(models=("fanta_otto_2021",))
    se = lambda s: 4 * s / np.sqrt(2 * 8000)
    for sp, sigma in (("ketamine", 0.236), ("norketamine", 0.143)):
        r = ds[f"{sp}_plasma_observed"].values[0] / ds[f"{sp}_plasma_sampled"].values[0] - 1
        assert np.std(r) == pytest.approx(sigma, abs=se(sigma)), sp
        assert np.mean(r) == pytest.approx(0.0, abs=2 * se(sigma))
    # (a 150-mg dose and only C ≥ 4 σ_a, so that no simulated measurement is cut at 0)
    ds = _population(models=("simons_2022",), mg=150)
    c = ds["norketamine_plasma_sampled"].values[0]
    keep = c >= 4 * 0.058 * 223.70
    z = (ds["norketamine_plasma_observed"].values[0] - c) / np.sqrt((0.102 * c) ** 2 + (0.058 * 223.70) ** 2)
    assert keep.sum() > 3000
    assert np.std(z[keep]) == pytest.approx(1.0, abs=4 / np.sqrt(2 * keep.sum()))


def test_population_observations_deterministic_and_chunk_independent():
    """The same seed gives identical observations whatever the chunk size; another seed does not;
    the sampled values are the true (noise-free) trajectories at those times."""
    a = _population(chunk=256, n=700, models=("fanta_otto_2021",), mode="full")
    b = _population(chunk=1024, n=700, models=("fanta_otto_2021",))
    c = _population(chunk=1024, n=700, models=("fanta_otto_2021",), seed=6)
    np.testing.assert_array_equal(a.ketamine_plasma_observed.values, b.ketamine_plasma_observed.values)
    assert not np.array_equal(a.ketamine_plasma_observed.values, c.ketamine_plasma_observed.values)
    idx = [int(np.argmin(np.abs(a.time.values - t))) for t in a.observation_time.values]
    np.testing.assert_allclose(a.ketamine_plasma_sampled.values, a.ketamine_plasma.values[..., idx], rtol=1e-6)


SCENARIO = textwrap.dedent('''
    [scenario]
    title = "obs"
    models = ["fanta_otto_2021"]

    [time]
    horizon = "12 h"
    step = "15 min"

    [[regimens]]
    name = "iv"
    doses = [{ route = "iv", amount = "20 mg", duration = "40 min" }]

    [population]
    n = 300
    seed = 1
    observation_times = ["20 min", "1 h", "4 h"]
''')


def test_scenario_writes_sampled_observations(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(SCENARIO)
    assert main(["run", str(tmp_path / "s.toml"), "-o", str(tmp_path / "out")]) == 0
    with xr.open_dataset(tmp_path / "out" / "s_population.nc") as ds:
        assert ds.ketamine_plasma_observed.shape == (1, 1, 300, 3)
        np.testing.assert_allclose(ds.observation_time.values, [1 / 3, 1.0, 4.0])
        assert "proportional 23.6 %" in ds.ketamine_plasma_observed.attrs["residual_error"]
    capsys.readouterr()


BAD_SCENARIOS = {
    "after the horizon": ('"4 h"]', '"13 h"]', ["population.observation_times", "horizon"]),
    "not increasing": ('["20 min", "1 h", "4 h"]', '["1 h", "20 min"]', ["increasing"]),
    "not a time": ('"4 h"]', '"4 mg"]', ["observation_times[2]"]),
    "model without residual": ('models = ["fanta_otto_2021"]', 'models = ["m.toml"]', ["no residual error", "m.toml"]),
}



@pytest.mark.parametrize("case", list(BAD_SCENARIOS))
def test_bad_observation_settings(case, tmp_path, capsys):
    old, new, words = BAD_SCENARIOS[case]
    (tmp_path / "m.toml").write_text(MODEL)
    (tmp_path / "s.toml").write_text(SCENARIO.replace(old, new))
    assert main(["check", str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err


BAD_RESIDUAL = {
    "unknown term": ('proportional = {', 'propotional = {', ["residual.ketamine.propotional", "unknown error term"]),
    "proportional in ng/mL": ('value = 0.2, unit = "1"', 'value = 0.2, unit = "ng/mL"', ["fraction"]),
    "additive as a fraction": ('proportional = { value = 0.2, unit = "1"', 'additive = { value = 0.2, unit = "1"',
                               ["concentration SD"]),
    "negative": ('value = 0.2,', 'value = -0.2,', ["≥ 0"]),
    "exponential with proportional": ('source = "s", grade = "table" }\n', 'source = "s", grade = "table" }\n'
                                      'exponential = { value = 0.2, unit = "1", source = "s", grade = "table" }\n',
                                      ["alone"]),
    "species without plasma": ("[residual.ketamine]", "[residual.norketamine]", ["plasma compartment"]),
    "assumption without range": ('source = "s", grade = "table"', 'grade = "assumption", note = "n"', ["range"]),
    "missing source": ('source = "s", grade = "table"', 'grade = "table"', ["source"]),
}


@pytest.mark.parametrize("case", list(BAD_RESIDUAL))
def test_bad_residual_section(case, tmp_path, capsys):
    old, new, words = BAD_RESIDUAL[case]
    good = MODEL + '\n[residual.ketamine]\nproportional = { value = 0.2, unit = "1", source = "s", grade = "table" }\n'
    assert old in good
    (tmp_path / "m.toml").write_text(good.replace(old, new))
    (tmp_path / "s.toml").write_text(SCENARIO.replace('"fanta_otto_2021"', '"m.toml"'))
    assert main(["check", str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "m.toml" in err
    for w in words:
        assert w in err, err
    (tmp_path / "m.toml").write_text(good)
    assert main(["check", str(tmp_path / "s.toml")]) == 0


@pytest.mark.parametrize("model", ["domino_mm", "simons_2022"])
def test_sampled_values_from_the_kernel_equal_the_trajectories(model):
    """The sampled (true) values are what the solver kept at the sampling times, in streaming mode
    as in full mode, and equal the full trajectories there (float64): a nonlinear model (solved
    into a buffer, then the fused pass) and Simons 2022, whose [iov] occasions split the system."""
    kw = dict(models=(model,), n=300)
    full = simulate_population([load_model(model)], [regimen({"route": "iv", "amount": "20 mg", "duration": "20 min"}),
                                                     regimen({"route": "sublingual", "amount": "50 mg", "every": "4 h", "times": 2})]
                               if model == "simons_2022" else
                               [regimen({"route": "iv", "amount": "20 mg", "duration": "20 min"})],
                               Population(n=300, seed=5), horizon=8, step=0.25, mode="full", dtype=np.float64,
                               observation_times=[0.25, 1.0, 3.3, 8.0])
    idx = [int(np.argmin(np.abs(full.time.values - t))) for t in full.observation_time.values]
    np.testing.assert_array_equal(full.ketamine_plasma_sampled.values, full.ketamine_plasma.values[..., idx])
    assert (full.ketamine_plasma_sampled.values[0] > 0).all()  # every regimen, subject and time
    if model == "domino_mm":
        stream = _population(mode="streaming", **kw)
        np.testing.assert_array_equal(stream.ketamine_plasma_observed.values,
                                      _population(mode="full", **kw).ketamine_plasma_observed.values)

"""Clinical endpoints and `pkpd validate`: the observation model by hand, calibration that never
reads the held-out rows, Monte Carlo error apart from parameter uncertainty, and bad input."""
import functools
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from pkpd.analysis.endpoints import (CalibrationArm, ObservationModel, calibrate_threshold, drug_incidence,
                                     incidence, pooled_incidence)
from pkpd.cli.main import main
from pkpd.errors import PkpdError
from pkpd.models.endpoints import load_endpoints
from pkpd.scenario.trials import load_trials
from pkpd.workflows.calibration import calibrate
from pkpd.workflows.validate import predict, simulate_trials

ROOT = Path(__file__).resolve().parent.parent
TRIALS = ROOT / "scenarios" / "validation" / "trials.toml"


def test_observation_model_by_hand():
    z = np.zeros(3)
    step = ObservationModel(0.5)
    # no variability: a step at the threshold, the same in every session
    assert drug_incidence(np.array([0.4, 0.5, 0.9]), step, 8, z).tolist() == [0.0, 1.0, 1.0]
    # background adds independently: 1 − (1 − b)(1 − p)
    assert incidence(np.array([0.4, 0.9]), step, 1, 0.1, z[:2]).tolist() == pytest.approx([0.1, 1.0])
    # session-to-session SD 0.5, peak at the threshold: 1/2 per session, 1 − (1/2)^3 over three
    m = ObservationModel(0.5, 0.0, 0.5)
    assert drug_incidence(np.array([0.5]), m, 3, z[:1])[0] == pytest.approx(1 - 0.5 ** 3)
    # peak e^0.5 × θ with SD 0.5: Φ(1) per session
    assert drug_incidence(np.array([0.5 * math.exp(0.5)]), m, 1, z[:1])[0] == pytest.approx(norm.cdf(1.0))
    # a patient's own threshold: z = +1 with between-patient SD 0.5 moves it to θ·e^0.5
    m2 = ObservationModel(0.5, 0.5, 0.0)
    assert drug_incidence(np.array([0.5 * math.exp(0.49), 0.5 * math.exp(0.51)]), m2, 1, np.ones(2)).tolist() == [0, 1]
    assert np.isnan(drug_incidence(np.array([np.nan]), m, 1, z[:1])[0])
    assert drug_incidence(np.array([0.0]), m, 5, z[:1])[0] == 0.0


def test_calibration_recovers_a_known_threshold():
    rng = np.random.default_rng(3)
    peaks = np.exp(rng.normal(np.log(0.3), 0.8, 20000))
    z = rng.standard_normal(peaks.size)
    base = ObservationModel(1.0, 0.4, 0.3)
    true = ObservationModel(0.35, 0.4, 0.3)
    p = float(np.mean(incidence(peaks, true, 8, 0.05, z)))
    arm = CalibrationArm(peaks, 8, 0.05, z, round(p * 1000), 1000)
    theta = calibrate_threshold([arm], base, target=p)
    assert theta == pytest.approx(0.35, rel=1e-6)
    assert pooled_incidence([arm], replace(true, threshold=theta)) == pytest.approx(p, rel=1e-6)
    # a rate below the background cannot be reached: said, not guessed
    assert math.isnan(calibrate_threshold([arm], base, target=0.01))


@functools.lru_cache(maxsize=1)
def _shipped_calibration():
    """The shipped trials file simulated and calibrated once for the tests that need it (~10 s)."""
    eps = load_endpoints()
    return calibrate(simulate_trials(load_trials(TRIALS), eps, progress=False), eps)


def test_held_out_rows_never_reach_the_calibration(tmp_path):
    text = TRIALS.read_text()
    changed = text.replace("active = { events = 22, n = 40 }", "active = { events = 1, n = 40 }")
    assert changed != text
    (tmp_path / "trials.toml").write_text(changed)
    eps = load_endpoints()
    a = _shipped_calibration()
    b = calibrate(simulate_trials(load_trials(tmp_path / "trials.toml"), eps, progress=False), eps)
    assert a.keys() == b.keys() and all(a[k].value == b[k].value for k in a)
    assert all(g.grade == "calibrated" for g in a.values())
    assert all(("Shrestha 2016" if k[0].startswith("analgesia") else "TRANSFORM-1 56 mg") in g.source
               for k, g in a.items())
    assert all(k[1] in ("threshold", "session_sd_by_model", "attenuation_by_model") for k in a)
    assert ("dissociation_ae", "attenuation_by_model", "olofsen_2022") in a  # three course lengths: tolerance fitted


def test_shipped_thresholds_are_what_calibration_gives():
    """models/endpoints/endpoints.toml holds the values `pkpd validate --calibrate` fits (4 significant digits)."""
    eps = load_endpoints()
    fitted = _shipped_calibration()
    for (ep, table, pd), g in fitted.items():
        have = {"threshold": eps[ep].threshold, "session_sd_by_model": eps[ep].session,
                "attenuation_by_model": eps[ep].attenuation}[table](pd)
        assert have.value == pytest.approx(g.value, rel=1e-3), (ep, table, pd)
        if g.ends is not None:
            assert np.allclose(have.ends, g.ends, rtol=1e-3), (ep, table, pd)


def test_monte_carlo_error_shrinks_but_parameter_uncertainty_does_not(tmp_path):
    eps = load_endpoints()
    tf = load_trials(TRIALS)
    one = replace(tf, trials=tf.trials[:1], pd=tf.pd[:1])
    small = predict(simulate_trials(replace(one, subjects=1600, replicates=20), eps, progress=False), eps)[0]
    large = predict(simulate_trials(replace(one, subjects=12800, replicates=20), eps, progress=False), eps)[0]
    mc = lambda p: p.mc[1] - p.mc[0]
    par = lambda p: p.parameter[1] - p.parameter[0]
    assert mc(large) < 0.45 * mc(small)  # √8 ≈ 2.8 fewer
    assert par(large) > 0.6 * par(small) and par(large) > 5 * mc(large)


def test_validate_command_reports_both_sets(tmp_path, capsys):
    assert main(["validate", "-o", str(tmp_path), "--doc", str(tmp_path / "validation.md")]) == 0
    out = capsys.readouterr().out
    assert "calibration" in out and "held-out" in out and "inside the predictive 95 % interval" in out
    table = out.split("wrote:")[0]  # the file list holds pytest's long temporary paths
    assert max(len(line) for line in table.splitlines()) <= 100
    doc = (tmp_path / "validation.md").read_text()
    assert "## Held-out rows" in doc and "Fedgchin 2019" in doc and "RR 3.26" in doc
    assert "without and with attenuation" in doc and "Tolerance model" in doc
    assert "What the assumed ranges add" in doc and "tolerance half-life" in doc
    rows = (tmp_path / "validation.csv").read_text().splitlines()
    assert rows[0].startswith("trial,set,endpoint,model") and len(rows) == 1 + 2 * 10 + 2 * 3 + 10
    float(rows[1].split(",")[rows[0].split(",").index("predicted")])  # predicted: a number, not formatted text
    assert "tolerance_model" in rows[0]
    # the check: most held-out observed rates inside the predictive interval (docs/validation.md
    # names the rows that miss and why)
    head = rows[0].split(",")
    held = [r.split(",") for r in rows[1:] if r.split(",")[1] == "held-out"]
    assert sum(int(r[head.index("inside")]) for r in held) > len(held) / 2


@pytest.mark.parametrize("old,new,field", [
    ('\nset = "held-out"', '\nset = "test"', "trials[1].set"),
    ("active = { events = 32, n = 116 }", "active = { events = 132, n = 116 }", "trials[1].active"),
    ('endpoint = "dissociation_ae"\nactive = { events = 32', 'endpoint = "nausea"\nactive = { events = 32',
     "trials[1].endpoint"),
    ('regimen = "28 mg IN x3 every 5 min"', 'regimen = "28 mg IN x3 every"', "trials[1].regimen"),
    ('drug = "esketamine"\nregimen = "28 mg IN x3', 'drug = "arketamine"\nregimen = "28 mg IN x3', "trials[1].drug"),
])
def test_bad_trials_file_one_clear_error(tmp_path, capsys, old, new, field):
    text = TRIALS.read_text()
    assert old in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(old, new, 1))
    assert main(["validate", str(bad), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert field in err and str(bad) in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_bad_endpoints_file(tmp_path):
    p = tmp_path / "endpoints.toml"
    p.write_text((ROOT / "models" / "endpoints" / "endpoints.toml").read_text().replace(', range = [0.25, 1.0]', ''))
    with pytest.raises(PkpdError, match="between_cv.*assumption needs"):
        load_endpoints(p)

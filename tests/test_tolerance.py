"""The tolerance model of the clinical endpoints (attenuation over repeated sessions): the tolerance
load, course incidence and background carried to a course, by hand; schedules and bad input."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import norm

from pkpd.analysis.endpoints import (CalibrationArm, Course, ObservationModel, calibrate_threshold, drug_incidence,
                                     incidence, scaled_background)
from pkpd.errors import PkpdError
from pkpd.models.endpoints import load_endpoints
from tests.test_validate import ROOT


def test_tolerance_load_by_hand():
    """T_k = Σ_{j<k} 2^(−(t_k − t_j)/t½).  Every 7 days with t½ = 7 days: r = 1/2, so T = 0, 1/2, 3/4,
    7/8; with 2 earlier sessions the first counted one already carries 1/2 + 1/4 = 3/4."""
    assert Course(4, 7.0).tolerance_load(7.0).tolist() == pytest.approx([0, 0.5, 0.75, 0.875])
    assert Course(2, 7.0, prior=2).tolerance_load(7.0).tolist() == pytest.approx([0.75, 0.875])
    # no loss: the number of earlier sessions; instant loss: none
    assert Course(3, 3.5).tolerance_load(math.inf).tolist() == [0, 1, 2]
    assert Course(3, 3.5).tolerance_load(0.0).tolist() == [0, 0, 0]
    # twice weekly builds more tolerance than weekly (shorter gaps, less loss between sessions)
    assert Course(8, 3.5).tolerance_load(7.2)[-1] > Course(8, 7.0).tolerance_load(7.2)[-1]


def test_course_incidence_with_attenuation_by_hand():
    """Peak at the threshold (margin 0), session SD 1, δ = 2, sessions every t½: shifts 0, 1, 1.5, so
    P = 1 − (1 − Φ(0))(1 − Φ(−1))(1 − Φ(−1.5)) = 1 − 0.5 · 0.841345 · 0.933193 = 0.607432."""
    m = ObservationModel(0.5, 0.0, 1.0, attenuation=2.0, half_life=7.0)
    p = drug_incidence(np.array([0.5]), m, Course(3, 7.0), np.zeros(1))[0]
    assert p == pytest.approx(1 - 0.5 * norm.cdf(1.0) * norm.cdf(1.5), rel=1e-12)
    assert p == pytest.approx(0.607432, abs=1e-6)
    # δ = 0 is the model without tolerance: 1 − 0.5³
    assert drug_incidence(np.array([0.5]), ObservationModel(0.5, 0.0, 1.0), Course(3, 7.0), np.zeros(1))[0] == 0.875
    # a step (session SD 0): a patient 0.4 log units above threshold reports in session 1 whatever δ is,
    # one 0.4 below never does
    step = ObservationModel(1.0, 0.0, 0.0, attenuation=5.0, half_life=7.0)
    assert drug_incidence(np.exp([0.4, -0.4]), step, Course(8, 3.5), np.zeros(2)).tolist() == [1.0, 0.0]


def test_attenuation_never_raises_incidence_and_flattens_long_courses():
    rng = np.random.default_rng(5)
    peaks, z = np.exp(rng.normal(0, 0.7, 4000)), rng.standard_normal(4000)
    plain = ObservationModel(1.5, 0.5, 0.8)
    tol = ObservationModel(1.5, 0.5, 0.8, attenuation=1.0, half_life=7.2)
    for n in (1, 2, 8, 24):
        a = np.mean(incidence(peaks, plain, Course(n), 0.05, z))
        b = np.mean(incidence(peaks, tol, Course(n), 0.05, z))
        assert b <= a + 1e-15 and (n > 1 or b == a)
    gain = lambda m: np.mean(drug_incidence(peaks, m, Course(24), z)) - np.mean(drug_incidence(peaks, m, Course(8), z))
    assert gain(tol) < 0.5 * gain(plain)


def test_background_carried_to_a_course_by_hand():
    """6.2 % over 8 sessions at a constant hazard: one session 1 − 0.938^(1/8) = 0.7967 %."""
    assert scaled_background(0.062, 1, 8) == pytest.approx(1 - 0.938 ** 0.125)
    assert scaled_background(0.062, 8, 8) == pytest.approx(0.062)
    assert scaled_background(0.062, 3, 0) == 0.062


def test_threshold_calibration_with_tolerance_recovers_the_truth():
    rng = np.random.default_rng(8)
    peaks, z = np.exp(rng.normal(0, 0.6, 8000)), rng.standard_normal(8000)
    true = ObservationModel(1.3, 0.5, 0.6, attenuation=0.8, half_life=7.2)
    p = float(np.mean(incidence(peaks, true, Course(8), 0.03, z)))
    arm = CalibrationArm(peaks, Course(8), 0.03, z, round(p * 500), 500)
    base = ObservationModel(1.0, 0.5, 0.6, attenuation=0.8, half_life=7.2)
    assert calibrate_threshold([arm], base, target=p) == pytest.approx(1.3, rel=1e-6)


def test_shipped_tolerance_model_is_graded():
    ep = load_endpoints()["dissociation_ae"]
    assert ep.half_life.grade == "assumption" and ep.half_life.range == (1.4, 21.0)
    for pd in ("olofsen_2022", "simons_2022_pd"):
        att = ep.attenuation(pd)
        assert att.grade == "calibrated" and "First esketamine session" in att.source and len(att.ends) == 2
        assert "Takahashi" not in att.source and "SUSTAIN" not in att.source  # never a held-out row
    assert load_endpoints()["nausea_ae"].attenuation("perez_ruixo_2021") is None


@pytest.mark.parametrize("old,new,field", [
    ("tolerance_half_life = { value = 7.2", "tolerance_half_life = { value = 0", "tolerance_half_life.value"),
    ("ends = [[", "ends = [[-1, ", "ends"),
    ("background_sessions = 8", "background_sessions = 8.5", "background_sessions"),
])
def test_bad_tolerance_fields(tmp_path, old, new, field):
    text = (ROOT / "models" / "endpoints" / "endpoints.toml").read_text()
    assert old in text
    p = tmp_path / "endpoints.toml"
    p.write_text(text.replace(old, new, 1))
    with pytest.raises(PkpdError, match=field):
        load_endpoints(p)


@settings(max_examples=60, deadline=None)
@given(margin=st.floats(-4, 4), sd=st.floats(0.05, 2.0), att=st.floats(0.0, 5.0), n=st.integers(1, 20),
       interval=st.floats(0.5, 30.0), half=st.floats(0.5, 60.0), prior=st.integers(0, 10))
def test_tolerance_properties(margin, sd, att, n, interval, half, prior):
    """Over any course: one more session never lowers the once-per-patient incidence; more attenuation
    or more earlier sessions never raise it; δ = 0 is the model without tolerance; the first session
    of a course without earlier ones is untouched by tolerance."""
    peaks, z = np.array([math.exp(margin)]), np.zeros(1)
    m = ObservationModel(1.0, 0.0, sd, attenuation=att, half_life=half)
    p = lambda model, course: float(drug_incidence(peaks, model, course, z)[0])
    c = Course(n, interval, prior)
    assert p(m, Course(n + 1, interval, prior)) >= p(m, c) - 1e-12
    assert p(ObservationModel(1.0, 0.0, sd, att + 0.5, half), c) <= p(m, c) + 1e-12
    assert p(m, Course(n, interval, prior + 1)) <= p(m, c) + 1e-12
    assert p(ObservationModel(1.0, 0.0, sd), c) == pytest.approx(1 - (1 - norm.cdf(margin / sd)) ** n, abs=1e-12)
    assert p(m, Course(1, interval)) == pytest.approx(norm.cdf(margin / sd), abs=1e-12)

"""NCA at PKNCA's level: PKNCA's published test values, hand-computed multiple-dose cases, the
simulator's exact steady state, refusals and flags, and the ``pkpd nca`` command."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from pkpd.analysis.nca import Dosing, nca
from pkpd.analysis.nca_core import back_extrapolated_c0, fit_lambda_z
from pkpd.analysis.nca_result import label
from pkpd.cli.main import main
from pkpd.simulation.typical import simulate

from helpers import one_cmt, regimen


# --- PKNCA's own test values (github.com/humanpred/pknca, tests/testthat) ------------------------

def test_lambda_z_matches_pknca_half_life_tests():
    """PKNCA tests/testthat/test-half.life.R: conc 1, 0.5, 0.25, 0.1251 at 0–3 h, Tmax allowed in the fit,
    adj.r.squared.factor 0.01 → λz 0.6929073, adj. R² 0.9999999, 4 points, clast.pred 0.12507,
    half-life 1.000346, span ratio 2.998962; Tmax excluded → half-life 1.000577."""
    t, c = np.arange(4.0), np.array([1, 0.5, 0.25, 0.1251])
    lz, _ = fit_lambda_z(t, c, factor=0.01)
    assert lz.lambda_z == pytest.approx(0.6929073, abs=1e-7)
    assert lz.r2_adj == pytest.approx(0.9999999, abs=1e-7)
    assert lz.n_points == 4 and (lz.time_first, lz.time_last) == (0, 3)
    assert lz.predict(3) == pytest.approx(0.12507, abs=1e-5)
    assert lz.half_life == pytest.approx(1.000346, abs=1e-6)
    assert lz.span_ratio == pytest.approx(2.998962, abs=1e-6)
    r = nca(t, c, iv_bolus=True)  # Tmax in the fit (IV bolus); default factor 1e-4 picks the same 4 points
    assert r.lambda_z_points == 4 and r.half_life == pytest.approx(1.000346, abs=1e-6)
    assert nca(t, c).half_life == pytest.approx(1.000577, abs=1e-6)


def test_lambda_z_refusals_say_why():
    r = nca([0, 1, 2, 3], [0, 4, 2, 1])
    assert math.isnan(r.lambda_z) and "λz needs 3" in r.why("lambda_z")
    assert "no λz" in r.why("auc_0_inf") and "no λz" in r.why("cl")
    r = nca([0, 1, 2, 3, 4], [0, 4, 1, 2, 4])  # rising "terminal phase"
    assert math.isnan(r.lambda_z) and "terminal" in r.why("lambda_z")


def test_auc_matches_pknca_blq_in_the_middle():
    """PKNCA test-auc.R "Confirm BLQ in the middle or end": conc 0, 2, 0, 1, 2, 1 (, 0, 0) at 0–7 h, BLQ
    kept, lin up/log down: AUClast = 1 + 1 + 0.5 + 1.5 + 1/log(2)."""
    want = 1 + 1 + 0.5 + 1.5 + 1 / math.log(2)
    assert nca(np.arange(6.0), [0, 2, 0, 1, 2, 1]).auc_0_t == pytest.approx(want, rel=1e-12)
    r = nca(np.arange(8.0), [0, 2, 0, 1, 2, 1, 0, 0])
    assert r.auc_0_t == pytest.approx(want, rel=1e-12) and r.tlast == 5


def test_c0_matches_pknca():
    """PKNCA test-pk.calc.c0.R: log-slope C0 of 2, 1, 0.5 at 1–3 h after a dose at 0 is 4; when the
    second sample is 0 the first sample is used (method c1): 2."""
    assert back_extrapolated_c0(np.arange(4.0), np.array([0, 2, 1, 0.5]), 0.0) == pytest.approx(4.0)
    assert back_extrapolated_c0(np.arange(4.0), np.array([0, 2, 0, 0.5]), 0.0) == 2.0


def test_swing_and_fluctuation_follow_pknca_definitions():
    """PKNCA test-pk.calc.simple.R: swing(Cmax 100, Cmin 10) = 900 %; deg.fluc = 100·(Cmax − Cmin)/Cavg.
    Here a steady-state interval (τ = 2 h) sampled at 0, 1, 2 h: 10, 100, 10 ng/mL; AUCτ by hand =
    (10 + 100)/2 (linear up) + (100 − 10)/ln 10 (log down)."""
    r = nca([0, 1, 2], [10, 100, 10], dosing=Dosing((0.0,), (1.0,), "extravascular"), tau=2, steady_state=True)
    auc = 55 + 90 / math.log(10)
    assert r.kind == "multiple" and r.auc_tau == pytest.approx(auc)
    assert r.swing == pytest.approx(900) and r.cmin == 10 and r.ctrough == 10
    assert r.cavg == pytest.approx(auc / 2) and r.fluctuation == pytest.approx(100 * 90 / (auc / 2))
    assert r.cl == pytest.approx(1.0 / auc * 1000)  # 1 mg over one interval at steady state


def test_dosing_is_public_as_docs_nca_tci_shows():
    """docs/nca_tci.md writes ``nca(t, c, dosing=Dosing(...))``: both names come from ``pkpd``
    (same hand-computed AUCτ as above)."""
    import pkpd
    assert pkpd.Dosing is Dosing and "Dosing" in pkpd.__all__
    r = pkpd.nca([0, 1, 2], [10, 100, 10], dosing=pkpd.Dosing((0.0,), (1.0,), "extravascular"), tau=2,
                 steady_state=True)
    assert r.auc_tau == pytest.approx(55 + 90 / math.log(10))


# --- hand-computed multiple-dose cases -------------------------------------------------------------

def _bolus_train(k, V, D, tau, n, t):
    """One compartment, IV bolus D every τ, n doses; a sample at a dose time is pre-dose."""
    c = np.zeros_like(t)
    for j in range(n):
        m = t > j * tau
        c[m] += D / V * 1000 * np.exp(-k * (t[m] - j * tau))
    return c


def test_iv_bolus_every_tau_is_exact():
    """C = Σ (D/V)·e^(−k(t − jτ)); D 100 mg, V 50 L, k 0.2/h, τ 12 h, 5 doses, hourly samples.  Log-down
    trapezoids and the log-slope C0 are exact for exponentials, so: AUCτ(5th) = D/(V·k)·(1 − e^(−5kτ))
    ·1000/(1 − e^(−kτ))·(1 − e^(−kτ)) = 10000·(1 − e^(−12)) ng·h/mL; observed Rac = (1 − e^(−12))/(1 − e^(−2.4));
    predicted Rac = 1/(1 − e^(−2.4)); Cavg = AUCτ/τ; CLss = D/AUCτ; Vz = CLss/λz."""
    t = np.arange(0, 73.0)
    r = nca(t, _bolus_train(0.2, 50, 100, 12, 5, t), dosing=Dosing(tuple(12.0 * np.arange(5)), (100.0,) * 5, "iv-bolus"))
    auc = 10000 * (1 - math.exp(-12))
    assert r.kind == "multiple" and r.tau == 12 and r.n_doses == 5
    assert r.auc_tau == pytest.approx(auc, rel=1e-10)
    assert r.cavg == pytest.approx(auc / 12, rel=1e-10)
    assert r.accumulation == pytest.approx((1 - math.exp(-12)) / (1 - math.exp(-2.4)), rel=1e-10)
    assert r.accumulation_pred == pytest.approx(1 / (1 - math.exp(-2.4)), rel=1e-10)
    assert r.lambda_z == pytest.approx(0.2, rel=1e-10)
    assert r.cl == pytest.approx(100 / auc * 1000, rel=1e-10) and r.vz == pytest.approx(r.cl / 0.2)
    assert label("cl", r) == "CLss (L/h)" and label("vz", r) == "Vz (L)"
    assert math.isnan(r.auc_0_inf) and "describes a single dose" in r.why("auc_0_inf") and math.isnan(r.mrt)


def test_oral_steady_state_against_the_simulator():
    """One compartment, oral, 100 mg every 12 h × 10 (V 60 L, CL 12 L/h, ka 1.5/h, F 0.4), sampled every
    minute.  After 10 doses (e^(−24) ≈ 0) the last interval is at steady state: AUCτ = F·D/CL, Cavg =
    F·D/(CL·τ), CLss/F = CL/F, Vz/F = V/F; observed Rac = AUC0–∞(1)/AUC0–τ(1) with AUC0–τ(1) =
    (F·D/V)·ka/(ka − k)·[(1 − e^(−kτ))/k − (1 − e^(−ka·τ))/ka]."""
    V, CL, ka, F, D, tau = 60.0, 12.0, 1.5, 0.4, 100.0, 12.0
    k = CL / V
    ds = simulate(one_cmt(V=V, CL=CL, ka=ka, F=F), regimen({"route": "oral", "amount": "100 mg", "every": "12 h",
                                                             "times": 10}), horizon=132, step=1 / 60)
    t, c = ds.time.values, ds.ketamine_plasma.values[0, 0]
    r = nca(t, c, dosing=Dosing(tuple(tau * np.arange(10)), (D,) * 10, "extravascular"))
    auc_ss = F * D / CL * 1000
    assert r.auc_tau == pytest.approx(auc_ss, rel=1e-4)
    assert r.cavg == pytest.approx(auc_ss / tau, rel=1e-4)
    assert r.cl == pytest.approx(CL / F, rel=1e-4)
    # λz (hence Vz/F and the predicted Rac): on minute data the best-adjusted-R² rule reaches back to
    # where absorption (e^(−1.5 t)) has not quite vanished — the known bias of standard NCA, < 1 %
    assert r.vz == pytest.approx(V / F, rel=1e-2)
    auc_first = F * D / V * 1000 * ka / (ka - k) * ((1 - math.exp(-k * tau)) / k - (1 - math.exp(-ka * tau)) / ka)
    assert r.accumulation == pytest.approx(auc_ss / auc_first, rel=1e-4)
    assert r.accumulation_pred == pytest.approx(1 / (1 - math.exp(-k * tau)), rel=1e-2)
    assert label("cl", r) == "CLss/F (L/h)" and label("vz", r) == "Vz/F (L)"
    assert r.ctrough == pytest.approx(c[np.argmin(abs(t - 120))], rel=1e-9) and r.cmin <= r.ctrough
    assert 0 < r.tmax < 4  # counted from the last dose


@given(k=st.floats(0.02, 1.0), tau=st.sampled_from([6.0, 8.0, 12.0, 24.0]), n=st.integers(2, 8))
def test_bolus_accumulation_property(k, tau, n):
    """For any elimination rate, interval and number of IV boluses, the observed accumulation is
    Σ_{j<n} e^(−jkτ) and CLss·(1 − e^(−nkτ)) is the true clearance (D/V/k·1000 ng·h/mL per dose)."""
    t = np.linspace(0, n * tau, 12 * n + 1)
    r = nca(t, _bolus_train(k, 50, 100, tau, n, t), dosing=Dosing(tuple(tau * np.arange(n)), (100.0,) * n, "iv-bolus"))
    assert r.accumulation == pytest.approx((1 - math.exp(-n * k * tau)) / (1 - math.exp(-k * tau)), rel=1e-9)
    if np.isfinite(r.cl):  # reported only at steady state (pre-dose within 10 % of the trough)
        assert r.cl * (1 - math.exp(-n * k * tau)) == pytest.approx(50 * k, rel=1e-9)
    else:
        assert "not at steady state" in r.why("cl")


# --- refusals and flags ----------------------------------------------------------------------------

def test_single_dose_analysis_of_multiple_dose_data_is_flagged_or_refused():
    """The issue's case: 5 doses every 12 h analysed without the dose records is flagged; with them,
    the single-dose quantities (AUC0–∞, MRT) are refused and the interval analysed."""
    t = np.arange(0, 73.0)
    c = _bolus_train(0.2, 50, 100, 12, 5, t)
    blind = nca(t, c, 100.0)
    assert blind.kind == "single" and any("rise again at 13 h" in f for f in blind.flags)
    informed = nca(t, c, dosing=Dosing(tuple(12.0 * np.arange(5)), (100.0,) * 5, "iv-bolus"))
    assert informed.kind == "multiple" and not informed.flags
    for k in ("auc_0_inf", "auc_pct_extrap", "mrt"):
        assert math.isnan(getattr(informed, k)) and "5 doses" in informed.why(k)


def test_interval_detection_and_refusal():
    t = np.arange(0, 49.0)
    c = _bolus_train(0.3, 50, 100, 12, 4, t)
    irregular = Dosing((0.0, 24.0, 36.0), (100.0,) * 3, "iv-bolus")
    r = nca(t, c, dosing=irregular)
    assert math.isnan(r.auc_tau) and "interval changes" in r.why("auc_tau") and "give tau" in r.why("cavg")
    r = nca(t, c, dosing=irregular, tau=12)
    assert np.isfinite(r.auc_tau) and r.tau == 12
    sparse = nca([0, 1, 2, 12, 13, 20], [0, 9, 7, 3, 11, 5], dosing=Dosing((0.0, 12.0), (10.0, 10.0)))
    assert "no sample at the end" in sparse.why("auc_tau")  # nothing near 24 h


def test_not_at_steady_state_refuses_clearance():
    """Two doses of a drug with a 35-h half-life: the trough after the second dose is far above the
    pre-dose concentration, so dose/AUCτ is not a clearance."""
    t = np.arange(0, 25.0)
    r = nca(t, _bolus_train(0.02, 50, 100, 12, 2, t), dosing=Dosing((0.0, 12.0), (100.0, 100.0), "iv-bolus"))
    assert np.isfinite(r.auc_tau) and math.isnan(r.cl) and "not at steady state" in r.why("cl")


def test_extrapolation_flag_and_route_names():
    """Sampling stopped early: AUC0–∞ is more than 20 % extrapolated and flagged."""
    t = np.array([0.25, 0.5, 1, 2, 3, 4, 5])
    c = 100 * (np.exp(-0.1 * t) - np.exp(-3 * t))
    r = nca(t, c, dosing=Dosing.single(10.0, route="extravascular"))
    assert r.auc_pct_extrap > 20 and any("extrapolated" in f and "CL/F" in f for f in r.flags)
    assert label("cl", r) == "CL/F (L/h)"
    assert label("cl", nca(t, c, 10.0)) == "CL(/F) (L/h)"  # route not given
    assert label("cl", nca(t, c, 10.0, iv_bolus=True)) == "CL (L/h)"


def test_single_dose_curve_starts_at_the_dose():
    """Oral data without a sample at the dose: the AUC runs from the dose (C = 0), not from the first
    sample: 0.5·1·4 added by hand."""
    r = nca([1, 2, 4], [4, 2, 1], dosing=Dosing.single(1.0, route="extravascular"))
    assert r.auc_0_t == pytest.approx(2 + 2 / math.log(2) + 2 / math.log(2))


# --- the command -----------------------------------------------------------------------------------

EVENTS = """ID,TIME,AMT,RATE,CMT,EVID,MDV,II,ADDL,SS,DV
1,0,100,0,1,1,1,12,4,0,.
{rows}2,0,50,0,2,1,1,0,0,0,.
2,0.5,.,.,.,0,0,.,.,.,20
2,1,.,.,.,0,0,.,.,.,30
2,2,.,.,.,0,0,.,.,.,25
2,4,.,.,.,0,0,.,.,.,15
2,8,.,.,.,0,0,.,.,.,6
2,12,.,.,.,0,0,.,.,.,2.5
"""


def test_nca_command_reads_doses_from_records(tmp_path, capsys):
    t = np.arange(1, 73.0)
    c = _bolus_train(0.2, 50, 100, 12, 5, t)
    rows = "".join(f"1,{ti:g},.,.,.,0,0,.,.,.,{ci:.10g}\n" for ti, ci in zip(t, c))
    src = tmp_path / "d.csv"
    src.write_text(EVENTS.format(rows=rows))
    out = tmp_path / "nca.csv"
    assert main(["nca", str(src), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert max(len(x) for x in text.splitlines()) <= 100
    assert "CLss (L/h)" in text and "CL/F (L/h)" in text and "multiple (5)" in text
    assert "not reported — AUC0-inf" in text
    import csv
    rows = {r["ID"]: r for r in csv.DictReader(out.open())}
    assert float(rows["1"]["auc_tau (ng*h/mL)"]) == pytest.approx(10000 * (1 - math.exp(-12)), rel=1e-8)
    assert rows["1"]["cl_name"] == "CLss" and rows["2"]["cl_name"] == "CL/F" and rows["2"]["auc_tau (ng*h/mL)"] == ""
    assert main(["nca", str(src), "--tau", "12"]) == 2 and "wrong dimension" in capsys.readouterr().err
    assert main(["nca", str(src), "--steady-state"]) == 2 and "tau" in capsys.readouterr().err


def test_nca_command_plain_steady_state_profile(tmp_path, capsys):
    src = tmp_path / "ss.csv"
    src.write_text("TIME,DV\n0,10\n1,100\n2,10\n")
    assert main(["nca", str(src), "--tau", "2 h", "--steady-state", "--dose", "1", "--route", "extravascular"]) == 0
    text = capsys.readouterr().out
    assert "CLss/F (L/h)" in text and "900" in text  # swing 900 %

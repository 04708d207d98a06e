"""NCA against hand-computed cases and against the simulator's exact values."""
import math

import numpy as np
import pytest

from pkpd.errors import PkpdError
from pkpd.analysis.nca import nca
from pkpd.simulation.typical import simulate

from helpers import one_cmt, regimen


def test_iv_bolus_monoexponential_is_exact():
    """C = 10 e^{−0.2 t}: log-down trapezoids are exact for an exponential, so AUC0–∞ = 10/0.2 = 50,
    AUMC0–∞ = 10/0.04 = 250, MRT = 5 h, λz = 0.2, t½ = ln2/0.2; dose 100 mg → CL 2 L/h, Vz 10 L."""
    t = np.arange(0, 13.0)
    c = 10 * np.exp(-0.2 * t)
    r = nca(t, c, dose_mg=0.1, iv_bolus=True)  # 0.1 mg / 50 ng·h/mL · 1000 = 2 L/h
    assert r.lambda_z == pytest.approx(0.2, rel=1e-12)
    assert r.lambda_z_points == 13
    assert r.auc_0_inf == pytest.approx(50.0, rel=1e-12)
    assert r.aumc_0_inf == pytest.approx(250.0, rel=1e-10)
    assert r.mrt == pytest.approx(5.0, rel=1e-10)
    assert r.half_life == pytest.approx(math.log(2) / 0.2)
    assert r.cl == pytest.approx(2.0) and r.vz == pytest.approx(10.0)
    assert r.cmax == 10 and r.tmax == 0


def test_hand_computed_small_profile():
    """t = 0, 1, 2, 4 h; C = 0, 4, 2, 1: AUC = 2 (linear up) + 2/ln2 + 2/ln2 (log down)."""
    r = nca([0, 1, 2, 4], [0, 4, 2, 1])
    assert r.auc_0_t == pytest.approx(2 + (4 - 2) * 1 / math.log(2) + (2 - 1) * 2 / math.log(2))
    # λz from the last 3 points after Cmax is impossible (only 2): NaN, and no extrapolation
    assert math.isnan(r.lambda_z) and math.isnan(r.auc_0_inf)


def test_lambda_z_point_selection_prefers_the_terminal_phase():
    """Biexponential: the best-adjusted-R² rule must not reach back into the distribution phase."""
    t = np.array([0.25, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24])
    c = 50 * np.exp(-2.0 * t) + 5 * np.exp(-0.1 * t)
    r = nca(t, c)
    assert r.lambda_z == pytest.approx(0.1, rel=0.01)
    assert r.lambda_z_points >= 3 and t[-r.lambda_z_points] >= 2


def test_against_the_simulator_exact_values():
    """One compartment, oral: CL/F and t½ from NCA on a dense simulated profile match the model."""
    V, CL, ka, F = 60.0, 12.0, 1.5, 0.4
    m = one_cmt(V=V, CL=CL, ka=ka, F=F)
    ds = simulate(m, regimen({"route": "oral", "amount": "100 mg"}), horizon=72, step=1 / 60)
    r = nca(ds.time.values, ds.ketamine_plasma.values[0, 0], dose_mg=100)
    assert r.cl == pytest.approx(CL / F, rel=1e-3)
    # the adjusted-R² rule (ties within 1e-4 → more points) reaches back to where absorption has
    # not quite vanished: a small, known bias of standard NCA, well under 0.2 %
    assert r.half_life == pytest.approx(math.log(2) / (CL / V), rel=2e-3)
    assert r.vz == pytest.approx(V / F, rel=1e-3)
    assert r.mrt == pytest.approx(1 / ka + V / CL, rel=1e-3)


def test_lloq_and_bad_input():
    r = nca([0, 1, 2, 3, 4, 5], [0, 8, 4, 2, 1, 0.01], lloq=0.05)
    assert r.tlast == 4
    with pytest.raises(PkpdError, match="increasing"):
        nca([0, 2, 1], [1, 2, 3])
    with pytest.raises(PkpdError, match="negative"):
        nca([0, 1, 2], [1, -2, 3])
    with pytest.raises(PkpdError, match="finite"):
        nca([0, 1, 2], [1, np.nan, 3])

"""Exact solver against closed-form one- and two-compartment solutions."""
import numpy as np
import pytest

from pkpd.simulation.typical import solve_states

from helpers import one_cmt, regimen, two_cmt

T = np.linspace(0, 24, 24 * 60 + 1)
STEP = T[1] - T[0]


def rel_err(a, b, floor):
    mask = np.abs(b) > floor
    return np.max(np.abs(a[mask] - b[mask]) / np.abs(b[mask]))


def test_one_compartment_bolus():
    m = one_cmt(V=50, CL=10)
    x, sysm, _ = solve_states(m, regimen({"route": "iv", "amount": "100 mg"}), T, step=STEP)
    c = x[0] / 50
    exact = 100 / 50 * np.exp(-10 / 50 * T)
    assert rel_err(c, exact, 1e-6 * exact.max()) < 1e-10


def test_one_compartment_infusion_with_steps():
    """Two consecutive rates: 60 mg/h for 1 h then 20 mg/h for 2 h (superposition of closed forms)."""
    V, CL = 40.0, 8.0
    k = CL / V
    m = one_cmt(V=V, CL=CL)
    r = regimen({"route": "iv", "rate": "60 mg/h", "duration": "1 h"},
                {"route": "iv", "rate": "20 mg/h", "duration": "2 h", "start": "1 h"})
    x, _, _ = solve_states(m, r, T, step=STEP)

    def inf(R, t0, dur, t):
        tt = np.clip(t - t0, 0, None)
        on = np.minimum(tt, dur)
        return R / CL * (1 - np.exp(-k * on)) * np.exp(-k * (tt - on))

    exact = inf(60, 0, 1, T) + inf(20, 1, 2, T)
    assert rel_err(x[0] / V, exact, 1e-6 * exact.max()) < 1e-10


def test_one_compartment_oral_bateman_with_lag():
    V, CL, ka, F, lag = 60.0, 12.0, 1.5, 0.3, 0.25
    k = CL / V
    m = one_cmt(V=V, CL=CL, ka=ka, F=F, lag=lag)
    x, _, _ = solve_states(m, regimen({"route": "oral", "amount": "100 mg"}), T, step=STEP)
    tt = np.clip(T - lag, 0, None)
    exact = F * 100 * ka / (V * (ka - k)) * (np.exp(-k * tt) - np.exp(-ka * tt))
    assert rel_err(x[0] / V, exact, 1e-6 * exact.max()) < 1e-9


def test_one_compartment_zero_order_release_then_first_order():
    """Zero-order release over D into the gut, then ka: convolution closed form."""
    V, CL, ka, D = 60.0, 12.0, 2.0, 0.5
    k = CL / V
    m = one_cmt(V=V, CL=CL, ka=ka, F=1.0, release=D)
    x, _, _ = solve_states(m, regimen({"route": "oral", "amount": "100 mg"}), T, step=STEP)
    R = 100 / D

    def c_on(t):  # response to a constant input R into the gut from 0 to t
        return R * ka / V * ((1 - np.exp(-k * t)) / (k * (ka - k)) - (1 - np.exp(-ka * t)) / (ka * (ka - k)))

    exact = np.where(T <= D, c_on(T), c_on(T) - c_on(np.clip(T - D, 0, None)))
    assert rel_err(x[0] / V, exact, 1e-6 * exact.max()) < 1e-9


def test_two_compartment_bolus_biexponential():
    V1, V2, CL, Q = 20.0, 80.0, 30.0, 40.0
    k10, k12, k21 = CL / V1, Q / V1, Q / V2
    s = k10 + k12 + k21
    alpha = (s + np.sqrt(s * s - 4 * k10 * k21)) / 2
    beta = (s - np.sqrt(s * s - 4 * k10 * k21)) / 2
    A = (alpha - k21) / (alpha - beta)
    B = (k21 - beta) / (alpha - beta)
    dose = 50.0
    exact = dose / V1 * (A * np.exp(-alpha * T) + B * np.exp(-beta * T))
    x, _, _ = solve_states(two_cmt(V1, V2, CL, Q), regimen({"route": "iv", "amount": "50 mg"}), T, step=STEP)
    assert rel_err(x[0] / V1, exact, 1e-6 * exact.max()) < 1e-10


def test_off_grid_events_and_non_uniform_times():
    """Doses between grid points, and an irregular output grid, against the closed form."""
    m = one_cmt(V=50, CL=10)
    r = regimen({"route": "iv", "amount": "10 mg", "start": "0.123 h", "every": "1.7 h", "times": 5})
    t = np.sort(np.concatenate([[0.0], np.random.default_rng(1).uniform(0, 12, 300)]))
    x, _, _ = solve_states(m, r, t, step=0.0)
    k = 0.2
    exact = sum(np.where(t >= 0.123 + i * 1.7, 10 / 50 * np.exp(-k * (t - 0.123 - i * 1.7)), 0) for i in range(5))
    assert rel_err(x[0] / 50, exact, 1e-6 * exact.max()) < 1e-10


def test_bolus_at_output_time_is_recorded_after_the_dose():
    m = one_cmt(V=50, CL=10)
    x, _, _ = solve_states(m, regimen({"route": "iv", "amount": "100 mg"}), T, step=STEP)
    assert x[0, 0] == pytest.approx(100.0)


def test_effect_compartment_closed_form():
    """One-compartment bolus with an effect site: Ce = C0 ke0/(ke0 − k) (e^{−kt} − e^{−ke0 t})."""
    from pkpd.models.load import load_model
    pd = load_model("olofsen_2022")
    m = one_cmt(V=50, CL=10)
    x, sysm, _ = solve_states(m, regimen({"route": "iv", "amount": "100 mg"}), T, step=STEP, pd=pd)
    ke0 = np.log(2) / (8.3 / 60)
    k = 0.2
    exact = 2.0 * ke0 / (ke0 - k) * (np.exp(-k * T) - np.exp(-ke0 * T))
    ce = x[sysm.states.index("ce_olofsen_2022_ketamine")]
    assert rel_err(ce, exact, 1e-6 * exact.max()) < 1e-9

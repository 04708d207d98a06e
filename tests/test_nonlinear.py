"""Nonlinear models: user-written right-hand sides, Michaelis–Menten flows, adaptive and stiff
integration — against scipy Radau, the exact linear path and the Robertson problem."""
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.integrate import solve_ivp

from pkpd.errors import PkpdError
from pkpd.models.load import load_model
from pkpd.simulation.sampling import Population
from pkpd.simulation.population import simulate_population
from pkpd.simulation.typical import simulate, solve_states
from pkpd.testing import michaelis_menten_system, solve_piecewise

from helpers import model_from_toml, p, regimen

MM = load_model("domino_mm")
DOMINO = load_model("domino")


def _reference(model, reg, times, weight=70.0):
    """Radau at rtol 1e-10 on the same equations, written independently with numpy."""
    f, n, ev, V1 = michaelis_menten_system(model, reg, weight)
    return solve_piecewise(f, n, ev, times, method="Radau", rtol=1e-10, atol=1e-14)[0] / V1 * 1000


@pytest.mark.parametrize("dose", ["0.5 mg/kg", "2 mg/kg", "0.5 mg/kg over 40 min", "1 mg/kg IV every 2 h x3"])
def test_michaelis_menten_matches_radau(dose):
    from pkpd.dosing.notation import parse_regimen
    reg = parse_regimen(dose if " " in dose.split("mg")[-1] else dose + " IV")
    ds = simulate(MM, reg, horizon=12, step=5 / 60)
    ref = _reference(MM, reg, ds.time.values)
    c = ds.ketamine_plasma.values[0, 0]
    m = ref > 1e-6 * ref.max()
    assert np.max(np.abs(c[m] - ref[m]) / ref[m]) < 1e-6  # requested rtol 1e-8 per step


def test_saturation_raises_late_concentrations_only_at_high_doses():
    lo, hi = regimen({"route": "iv", "amount": "0.01 mg/kg"}), regimen({"route": "iv", "amount": "2 mg/kg"})
    ratio = lambda r: (simulate(MM, r, horizon=6, step=0.1).ketamine_plasma.values[0, 0, -1]
                       / simulate(DOMINO, r, horizon=6, step=0.1).ketamine_plasma.values[0, 0, -1])
    assert 1.0 < ratio(lo) < 1.05 and ratio(hi) > 1.3


LINEAR_WITH_STATE = textwrap.dedent(f'''
    [parameters]
    V = {p(50.0, 'L')}
    CL = {p(10.0, 'L/h')}
    kz = {p(0.5, '1/h')}

    [compartments]
    central = {{ species = "ketamine", volume = "V" }}

    [[flows]]
    from = "central"
    clearance = "CL"

    [states.Z]
    rhs = "kz * (C_central - Z)"

    [[routes.iv]]
    target = "central"
''')


@pytest.mark.parametrize("solver", ["dopri", "rosenbrock"])
def test_linear_model_through_the_nonlinear_path_equals_the_exact_path(solver):
    m = model_from_toml(LINEAR_WITH_STATE.replace("[parameters]", "[parameters]") , name="lin")
    m2 = model_from_toml(LINEAR_WITH_STATE.split("[states.Z]")[0] + "[[routes.iv]]\ntarget = \"central\"\n", name="lin2")
    if solver == "rosenbrock":
        m = model_from_toml(LINEAR_WITH_STATE, name="lin").__class__(**{**m.__dict__, "nonlinear": m.nonlinear.__class__(
            m.nonlinear.states, m.nonlinear.mm_flows, 1, 1e-8, 1e-12)})
    r = regimen({"route": "iv", "amount": "100 mg"}, {"route": "iv", "rate": "20 mg/h", "duration": "2 h", "start": "3 h"})
    a = simulate(m, r, horizon=12, step=0.25)
    b = simulate(m2, r, horizon=12, step=0.25)
    tol = 1e-6 if solver == "dopri" else 1e-3  # ROS2 is second order
    np.testing.assert_allclose(a.ketamine_plasma.values, b.ketamine_plasma.values, rtol=tol)
    # the extra state is a first-order follower of concentration: Z = ke0-style effect site, closed form check
    z = a.Z.values[0, 0]
    assert np.all(np.isfinite(z)) and z.max() > 0


ROBERTSON = textwrap.dedent(f'''
    [parameters]
    V = {p(1.0, 'L')}
    k1 = {p(0.04, '1/h')}
    k2 = {p(1e4, '1/h')}
    k3 = {p(3e7, '1/h')}

    [compartments]
    central = {{ species = "ketamine", volume = "V" }}

    [[flows]]
    from = "central"
    rate = "k1"

    [states.y1]
    initial = "1"
    rhs = "-k1 * y1 + k2 * y2 * y3"

    [states.y2]
    rhs = "k1 * y1 - k2 * y2 * y3 - k3 * y2 ** 2"

    [states.y3]
    rhs = "k3 * y2 ** 2"

    [[routes.iv]]
    target = "central"
''').replace('[model]', '')


def test_robertson_stiff_problem():
    m = model_from_toml(ROBERTSON, name="robertson")
    m = m.__class__(**{**m.__dict__, "nonlinear": m.nonlinear.__class__(m.nonlinear.states, (), 1, 1e-6, 1e-10)})
    times = np.array([0.0, 0.4, 4.0, 40.0, 400.0, 4000.0])
    x, sysm, _ = solve_states(m, regimen({"route": "iv", "amount": "0 mg"}), times)
    y = x[-3:]
    ref = solve_ivp(lambda t, y: [-0.04 * y[0] + 1e4 * y[1] * y[2], 0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2,
                                  3e7 * y[1] ** 2], (0, 4000), [1, 0, 0], method="Radau", rtol=1e-10, atol=1e-14,
                    t_eval=times).y
    assert np.all(np.isfinite(y)) and np.all(y > -1e-9)
    np.testing.assert_allclose(y.sum(axis=0), 1.0, rtol=1e-8)  # mass conservation
    np.testing.assert_allclose(y[[0, 2]], ref[[0, 2]], rtol=1e-4, atol=1e-10)


@pytest.mark.parametrize("old,new,words", [
    ('rhs = "kz * (C_central - Z)"', 'rhs = "kz * (C_nowhere - Z)"', ["C_nowhere", "line"]),
    ('rhs = "kz * (C_central - Z)"', 'rhs = "__import__(\'os\')"', ["not allowed"]),
    ('rhs = "kz * (C_central - Z)"', 'rhs = "kz / (kz - 0.5)"', ["not finite", "division by zero"]),
])
def test_bad_expressions_are_refused_at_load_time(old, new, words):
    with pytest.raises(PkpdError) as e:
        model_from_toml(LINEAR_WITH_STATE.replace(old, new), name="bad")
    msg = e.value.message
    assert "bad.toml" in msg
    for w in words:
        assert w in msg, msg


def test_nonlinear_model_in_a_population():
    pop = Population(n=64, seed=1, iiv=False)
    reg = regimen({"route": "iv", "amount": "2 mg/kg"})
    ds = simulate_population(MM, reg, pop, horizon=6, step=5 / 60, mode="full", dtype=np.float64, progress=False)
    typ = simulate(MM, reg, horizon=6, step=5 / 60)
    np.testing.assert_allclose(ds.ketamine_plasma.values[0, 0, 0], typ.ketamine_plasma.values[0, 0], rtol=1e-9)


@settings(max_examples=10, deadline=None)
@given(st.floats(1.0, 100.0), st.floats(0.1, 5.0), st.floats(0.05, 3.0))
def test_generated_turnover_models_match_radau(kin_scale, kout, ec50):
    """Turnover state driven by concentration (indirect response), random parameters."""
    body = LINEAR_WITH_STATE.replace('kz = ', f'kout = {p(kout, "1/h")}\nkin = {p(kout * kin_scale, "1/h")}\n'
                                     f'EC50 = {p(ec50, "mg/L")}\nkz = ')
    body = body.replace('rhs = "kz * (C_central - Z)"', 'rhs = "kin * (1 + C_central / EC50) - kout * Z"\n'
                        'initial = "kin / kout"')
    m = model_from_toml(body, name="turnover")
    times = np.linspace(0, 12, 49)
    x, sysm, _ = solve_states(m, regimen({"route": "iv", "amount": "100 mg"}), times)
    z = x[-1]
    V, CL = 50.0, 10.0
    k = CL / V
    kin = kout * kin_scale
    f = lambda t, y: [kin * (1 + 100 / V * np.exp(-k * t) / ec50) - kout * y[0]]
    ref = solve_ivp(f, (0, 12), [kin / kout], method="Radau", rtol=1e-11, atol=1e-12, t_eval=times).y[0]
    np.testing.assert_allclose(z, ref, rtol=1e-6)


def test_tolerance_model_attenuates_dissociation_not_analgesia():
    from pkpd.dosing.notation import parse_regimen
    pk, tol, olo = load_model("perez_ruixo_2021"), load_model("tolerance_dissociation"), load_model("olofsen_2022")
    reg = parse_regimen("28 mg IN x3 every 5 min every 84 h x4", "IN twice weekly")
    ds = simulate(pk, reg, horizon=14 * 24, step=5 / 60, pd=[tol, olo])
    t = ds.time.values
    d = ds.dissociation_tolerance_dissociation.values[0, 0]
    a = ds.antinociception_tolerance_dissociation.values[0, 0]
    peaks = [(d[(t >= k * 84) & (t < k * 84 + 12)].max(), a[(t >= k * 84) & (t < k * 84 + 12)].max()) for k in range(4)]
    assert all(p1[0] < p0[0] for p0, p1 in zip(peaks, peaks[1:]))  # dissociation attenuates dose after dose
    np.testing.assert_allclose([p[1] for p in peaks], peaks[0][1], rtol=1e-3)  # analgesia does not
    # the effect site, integrated by the adaptive path, equals the exact linear solution (Olofsen, same ke0)
    np.testing.assert_allclose(ds.ce_tolerance_dissociation_ketamine.values, ds.ce_olofsen_2022_ketamine.values,
                               rtol=1e-6, atol=1e-9)
    T = ds.tolerance_dissociation_T.values[0, 0]
    assert T.max() > 0.2 and T[-1] < T.max()  # builds up, then decays after the last dose


def test_tolerance_model_in_a_population():
    from pkpd.dosing.notation import parse_regimen
    pk, tol = load_model("perez_ruixo_2021"), load_model("tolerance_dissociation")
    reg = parse_regimen("28 mg IN x2 every 5 min every 84 h x2", "IN")
    ds = simulate_population(pk, reg, Population(n=64, seed=2), horizon=7 * 24, step=10 / 60, pd=[tol],
                             progress=False)
    assert np.all(np.isfinite(ds.dissociation_tolerance_dissociation_cmax.values))
    assert np.all(ds.tolerance_dissociation_T_cmax.values > 0)


def test_hybrid_path_equals_the_full_integration():
    """Extra states that only read concentrations run on the hybrid path (linear part exact);
    integrating the whole system with Dormand–Prince must give the same answer."""
    from pkpd.solvers.adaptive import solve_nonlinear
    from pkpd.simulation.grid import pad_events
    from pkpd.solvers.dispatch import solve
    from pkpd.dosing.events import regimen_events
    from pkpd.simulation.system import build_system
    pk, tol = load_model("perez_ruixo_2021"), load_model("tolerance_dissociation")
    v = pk.params.individual()
    pv = tol.params.individual()
    sysm = build_system(pk, v, tol.links(pv, pk.species), [(tol, pv)])
    reg = regimen({"route": "intranasal", "amount": "28 mg", "sprays": 2, "spray_interval": "5 min"},
                  {"route": "iv", "amount": "10 mg", "duration": "30 min", "start": "6 h"})
    ev = pad_events([regimen_events(pk, reg, v, np.array([70.0]))])
    times = np.linspace(0, 24, 289)
    W = np.ascontiguousarray(sysm.W)
    a = np.zeros((1, W.shape[1], times.size))
    stats = solve(sysm.K, W, times, 0.0, ev, a, nonlinear=sysm.nonlinear).steps
    nl = sysm.nonlinear
    b = np.zeros_like(a)
    st2 = np.zeros((1, 2), dtype=np.int64)
    solve_nonlinear(sysm.K, nl.pars, nl.tgt, nl.coef, nl.ops, nl.off, nl.consts, nl.y0, times, *ev, W, 0, 1e-10,
                    1e-14, b, st2)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    assert stats[0, 0] < st2[0, 0]  # exact linear part: fewer steps than the stiff full system

"""The exponential integrator for two-way coupled nonlinear models (Michaelis–Menten flows):
φ-functions, agreement with Radau, exactness on linear systems, fewer steps than explicit
Runge–Kutta on stiff distribution, the fallback when the linear part is not diagonalisable,
and the scenario's ``[solver]`` table."""
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.integrate import solve_ivp

from pkpd.solvers.exponential import _phis
from pkpd.models.load import load_model
from pkpd.solvers.options import AUTO, DOPRI, EXPONENTIAL, SolverOptions
from pkpd.dosing.notation import parse_regimen
from pkpd.simulation.typical import solve_states
from pkpd.testing import max_rel_error, michaelis_menten_system, solve_piecewise, tolerance_system

from helpers import model_from_toml, p, regimen

MM = load_model("domino_mm")


def _phi_exact(x: float, k: int) -> float:
    """φ_k(x) = (e^x − Σ_{m<k} x^m/m!) / x^k in 80-digit decimal arithmetic (no cancellation)."""
    import decimal
    from math import factorial
    with decimal.localcontext() as ctx:
        ctx.prec = 80
        d = decimal.Decimal(x)
        if d == 0:
            return 1.0 / factorial(k)
        head = sum(d ** m / factorial(m) for m in range(k))
        return float((d.exp() - head) / d ** k)


@pytest.mark.parametrize("x", [-300.0, -40.0, -3.0, -0.5000001, -0.4999999, -0.1, -1e-9, 0.0, 1e-7, 0.3, 0.5, 2.0])
def test_phi_functions_match_high_precision(x):
    """e^x and φ₁₋₃ on both sides of the series / closed-form switch at |x| = 0.5."""
    out = np.zeros(4)
    _phis(x, out)
    assert out[0] == pytest.approx(np.exp(x), rel=1e-14, abs=1e-300)
    for k in (1, 2, 3):
        assert out[k] == pytest.approx(_phi_exact(x, k), rel=2e-14), k


def _mm_reference(reg, times, weight=70.0):
    """Radau (rtol 1e-11) on the domino_mm equations written out with numpy, event by event."""
    f, n, ev, V1 = michaelis_menten_system(MM, reg, weight)
    return solve_piecewise(f, n, ev, times, method="Radau", rtol=1e-11, atol=1e-14)[0] / V1 * 1000


def _steps(model, reg, times, method, rtol, atol=1e-12):
    """Concentrations and (steps, rejected) of one run with the given method."""
    import importlib
    sim = importlib.import_module("pkpd.simulation.typical")
    seen = []
    orig = sim.solve

    def spy(*a, **k):
        st_ = orig(*a, **k).steps
        seen.append(st_[0].copy())
        return st_
    sim.solve = spy
    try:
        x, sysm, _ = solve_states(model, reg, times, solver=SolverOptions(method, rtol, atol))
    finally:
        sim.solve = orig
    return x, seen[0]


@pytest.mark.parametrize("dose", ["2 mg/kg IV then 1 mg/kg/h for 2 h", "4 mg/kg IV", "1 mg/kg IV every 3 h x3"])
def test_exponential_path_matches_radau_and_converges(dose):
    """Error against Radau falls as rtol tightens, and stays within 100× rtol over 24 h (the
    late, 10⁵-fold lower concentrations inherit the absolute error made near the peak: per-step
    control is relative to the amounts of that step)."""
    reg = parse_regimen(dose, "r")
    times = np.arange(0, 24 * 60 + 1, 10) / 60
    ref = _mm_reference(reg, times)
    errs = []
    for rtol in (1e-6, 1e-8, 1e-10):
        x, _ = _steps(MM, reg, times, EXPONENTIAL, rtol, rtol * 1e-5)
        c = x[0] / MM.params.individual(covariates={"WT": 70.0})["V1"][0] * 1000
        errs.append(max_rel_error(c, ref))
    assert errs[0] > errs[1] > errs[2], errs
    for e, rtol in zip(errs, (1e-6, 1e-8, 1e-10)):
        assert e < max(100 * rtol, 3e-8), errs  # 3e-8: the Radau reference's own late-time accuracy


def test_exponential_takes_far_fewer_steps_than_dormand_prince():
    """Domino's fast distribution (λ ≈ −110 /h) bounds explicit steps to ~2 min; in the
    eigenbasis it costs nothing, so only the nonlinearity limits the step."""
    reg = parse_regimen("2 mg/kg IV then 1 mg/kg/h for 2 h", "r")
    times = np.arange(0, 24 * 60 + 1) / 60
    xe, se = _steps(MM, reg, times, EXPONENTIAL, 1e-6)
    xd, sd = _steps(MM, reg, times, DOPRI, 1e-6)
    assert se[0] * 3 < sd[0], (se, sd)
    assert max_rel_error(xe[0], xd[0]) < 1e-4


LINEAR = textwrap.dedent(f'''
    [parameters]
    V1 = {p(20.0, 'L')}
    CL = {p(60.0, 'L/h')}
    Q = {p(300.0, 'L/h')}
    V2 = {p(100.0, 'L')}
    kz = {p(0.7, '1/h')}

    [compartments]
    central = {{ species = "ketamine", volume = "V1" }}
    periph = {{ species = "ketamine", volume = "V2" }}

    [[flows]]
    from = "central"
    clearance = "CL"

    [[flows]]
    between = ["central", "periph"]
    clearance = "Q"

    [states.Z]
    rhs = "kz * (C_central - Z)"

    [[routes.iv]]
    target = "central"
''')


def test_linear_system_is_exact_on_the_exponential_path():
    """A right-hand side that is linear leaves no remainder: the answer equals the exact (modal)
    solution to rounding, whatever the step, and the step grows at once."""
    m = model_from_toml(LINEAR, name="lin")
    lin = model_from_toml(LINEAR.split("[states.Z]")[0] + '[[routes.iv]]\ntarget = "central"\n', name="lin2")
    reg = regimen({"route": "iv", "amount": "100 mg"}, {"route": "iv", "rate": "40 mg/h", "duration": "2 h",
                                                        "start": "3 h"})
    times = np.linspace(0, 24, 97)
    x, stats = _steps(m, reg, times, EXPONENTIAL, 1e-10, 1e-14)
    y, _, _ = solve_states(lin, reg, times)
    np.testing.assert_allclose(x[:2], y, rtol=1e-9, atol=1e-12)
    # Z follows C with rate kz: closed form by convolution, via Radau on the exact C
    assert stats[0] < 60, stats


OSCILLATOR = textwrap.dedent(f'''
    [parameters]
    V = {p(10.0, 'L')}
    k = {p(0.2, '1/h')}
    w = {p(2.0, '1/h')}

    [compartments]
    central = {{ species = "ketamine", volume = "V" }}

    [[flows]]
    from = "central"
    vmax = "k * 5"
    km = "5"

    [states.X]
    initial = "1"
    rhs = "-w * Y - 0.1 * X"

    [states.Y]
    rhs = "w * X - 0.1 * Y"

    [[routes.iv]]
    target = "central"
''')


def test_complex_eigenvalues_fall_back_to_dormand_prince():
    """A damped rotation (complex eigenvalues of K + J_N) cannot use the real eigenbasis: the
    run falls back to Dormand–Prince and still matches the closed form."""
    m = model_from_toml(OSCILLATOR, name="osc")
    times = np.linspace(0, 10, 41)
    x, _ = _steps(m, regimen({"route": "iv", "amount": "50 mg"}), times, AUTO, 1e-10, 1e-14)
    np.testing.assert_allclose(x[1], np.exp(-0.1 * times) * np.cos(2 * times), atol=1e-8)
    np.testing.assert_allclose(x[2], np.exp(-0.1 * times) * np.sin(2 * times), atol=1e-8)
    ref = solve_ivp(lambda t, a: [-1.0 * (a[0] / 10) / (5 + a[0] / 10)], (0, 10), [50.0], method="Radau", rtol=1e-11,
                    atol=1e-14, t_eval=times).y[0]
    np.testing.assert_allclose(x[0], ref, rtol=1e-7)


@settings(max_examples=12, deadline=None)
@given(st.floats(0.2, 5.0), st.floats(0.3, 30.0), st.floats(0.02, 2.0), st.floats(10.0, 500.0))
def test_generated_michaelis_menten_models_match_radau(k12, km, vm_per_v, dose):
    """Two compartments, saturable elimination with random constants and doses."""
    body = textwrap.dedent(f'''
        [parameters]
        V1 = {p(15.0, 'L')}
        k12 = {p(k12, '1/h')}
        k21 = {p(0.3, '1/h')}
        Km = {p(km, 'mg/L')}
        Vm = {p(vm_per_v * 15.0 * km * 4, 'mg/h')}

        [compartments]
        central = {{ species = "ketamine", volume = "V1" }}
        periph = {{ species = "ketamine" }}

        [[flows]]
        from = "central"
        vmax = "Vm"
        km = "Km"

        [[flows]]
        from = "central"
        to = "periph"
        rate = "k12"

        [[flows]]
        from = "periph"
        to = "central"
        rate = "k21"

        [[routes.iv]]
        target = "central"
    ''')
    m = model_from_toml(body, name="mm")
    times = np.linspace(0, 12, 49)
    reg = regimen({"route": "iv", "amount": f"{dose} mg"}, {"route": "iv", "rate": f"{dose / 4} mg/h",
                                                           "duration": "3 h", "start": "4 h"})
    x, _ = _steps(m, reg, times, EXPONENTIAL, 1e-9, 1e-14)
    vm = vm_per_v * 15.0 * km * 4

    def f(t, a):
        c = a[0] / 15.0
        inf = dose / 4 if 4 <= t < 7 else 0.0
        return [-vm * c / (km + c) - k12 * a[0] + 0.3 * a[1] + inf, k12 * a[0] - 0.3 * a[1]]
    ref = solve_ivp(f, (0, 12), [dose, 0.0], method="Radau", rtol=1e-11, atol=1e-14, t_eval=times,
                    max_step=0.25).y
    assert max_rel_error(x[:2], ref) < 1e-6


def test_scenario_solver_table_overrides_the_model(tmp_path):
    from pkpd.scenario.load import load_scenario
    from pkpd.workflows.run import run_scenario
    text = textwrap.dedent('''
        [scenario]
        title = "mm"
        models = ["domino_mm"]

        [solver]
        method = "exponential"
        rtol = 1e-4

        [time]
        horizon = "12 h"
        step = "10 min"

        [[regimens]]
        name = "bolus"
        doses = [{ route = "iv", amount = "2 mg/kg" }]
    ''')
    path = tmp_path / "s.toml"
    path.write_text(text)
    sc = load_scenario(path)
    assert sc.solver == SolverOptions(EXPONENTIAL, 1e-4, None)
    loose = run_scenario(sc).ketamine_plasma.values[0, 0]
    path.write_text(text.replace("rtol = 1e-4", "rtol = 1e-10"))
    tight = run_scenario(load_scenario(path)).ketamine_plasma.values[0, 0]
    ref = _mm_reference(parse_regimen("2 mg/kg IV", "b"), np.arange(0, 12 * 60 + 1, 10) / 60)
    assert max_rel_error(tight, ref) < 1e-8 < max_rel_error(loose, ref) < 1e-2


def test_tolerance_library_model_matches_radau():
    """models/pd/tolerance_dissociation on Perez-Ruixo 2021 (hybrid path), repeated intranasal
    doses over 4 days: the tolerance state against Radau (rtol 1e-11) on the same equations."""
    pk, tol = load_model("perez_ruixo_2021"), load_model("tolerance_dissociation")
    reg = parse_regimen("28 mg IN x2 every 5 min every 48 h x2", "IN")
    times = np.arange(0, 96 * 4 + 1) / 4
    x, sysm, _ = solve_states(pk, reg, times, pd=[tol])
    f, n, ev, ce, T = tolerance_system(pk, tol, reg)
    assert sysm.states[ce] == "ce_tolerance_dissociation_ketamine" and sysm.states[T] == "tolerance_dissociation_T"
    ref = solve_piecewise(f, n, ev, times, method="Radau", rtol=1e-11, atol=1e-15)
    assert max_rel_error(x[T], ref[T]) < 1e-6
    assert max_rel_error(x[ce], ref[ce]) < 1e-6

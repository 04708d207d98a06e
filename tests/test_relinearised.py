"""The re-linearised exponential integrator (pkpd/solvers/relinearised.py, ``solver = "auto"`` for
Michaelis–Menten models): a one-compartment Michaelis–Menten bolus against its Lambert-W closed
form, every event kind on domino_mm against Radau (rtol 1e-12), accuracy against scipy's LSODA at
the same rtol, convergence, resumed slices, the small eigen-decompositions, and properties."""
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.integrate import solve_ivp
from scipy.special import lambertw

import pkpd.simulation.typical as typ
import pkpd.solvers.budget as budget
import pkpd.solvers.dispatch as dispatch
from pkpd.dosing.notation import parse_regimen
from pkpd.expr import parse
from pkpd.models.load import load_model
from pkpd.simulation.population import simulate_population
from pkpd.simulation.sampling import CovariateDist, Population
from pkpd.simulation.typical import solve_states
from pkpd.solvers.bytecode import MM as MM_OP, compile_expression, pack, read_slots, run, run_program
from pkpd.solvers.options import AUTO, SolverOptions
from pkpd.solvers.small_eigen import decompose
from pkpd.testing import max_rel_error, michaelis_menten_system, solve_piecewise

from helpers import model_from_toml, p, regimen

MM = load_model("domino_mm")


def _one_cmt_mm(V, vmax, km):
    return model_from_toml(textwrap.dedent(f'''
        [parameters]
        V = {p(V, 'L')}
        Vm = {p(vmax, 'mg/h')}
        Km = {p(km, 'mg/L')}

        [compartments]
        central = {{ species = "ketamine", volume = "V" }}

        [[flows]]
        from = "central"
        vmax = "Vm"
        km = "Km"

        [[routes.iv]]
        target = "central"
    '''), name="mm1")


def _lambert(c0, vm, km, t):
    """C(t) of dC/dt = −vm·C/(Km + C), C(0) = C0 (vm = Vmax/V, mg/L/h): separating variables gives
    Km·ln(C/C0) + C − C0 = −vm·t, i.e. (C/Km)·e^{C/Km} = (C0/Km)·e^{(C0 − vm t)/Km}, so
    C = Km·W((C0/Km)·exp((C0 − vm·t)/Km)) with W the principal Lambert-W branch.  The argument is
    formed in logs (it overflows for C0 ≫ Km)."""
    logz = np.log(c0 / km) + (c0 - vm * t) / km
    out = np.empty_like(t)
    big = logz > 500
    out[~big] = km * lambertw(np.exp(logz[~big])).real
    # W(e^L) for large L: the asymptotic series (Corless et al. 1996) refined by Newton on w + ln w = L
    w = logz[big] - np.log(logz[big])
    for _ in range(6):
        w = w - (w + np.log(w) - logz[big]) / (1 + 1 / w)
    out[big] = km * w
    return out


def _run(model, reg, times, rtol, atol=1e-14, method=AUTO):
    x, _, _ = solve_states(model, reg, times, solver=SolverOptions(method, rtol, atol))
    return x


def test_lambert_w_reference_is_the_solution():
    """The closed form itself: it satisfies the ODE (finite differences) and C(0) = C0."""
    t = np.linspace(0, 10, 2001)
    c = _lambert(40.0, 8.0, 2.0, t)
    assert c[0] == pytest.approx(40.0, rel=1e-14)
    dc = np.gradient(c, t, edge_order=2)
    np.testing.assert_allclose(dc[1:-1], -8.0 * c[1:-1] / (2.0 + c[1:-1]), rtol=2e-4)


@pytest.mark.parametrize("rtol", [1e-6, 1e-8, 1e-10])
def test_one_compartment_bolus_matches_lambert_w(rtol):
    """40 mg/L bolus (20 × Km), Vmax/V = 8 mg/L/h: from saturated (zero-order) to first-order
    elimination; the error stays within 30 × rtol over 24 h."""
    m = _one_cmt_mm(10.0, 80.0, 2.0)
    times = np.arange(0, 24 * 60 + 1, 5) / 60
    x = _run(m, regimen({"route": "iv", "amount": "400 mg"}), times, rtol)
    exact = _lambert(40.0, 8.0, 2.0, times)
    assert max_rel_error(x[0] / 10.0, exact) < 30 * rtol


def test_convergence_order():
    """The error against the closed form falls by more than 100× per 100× in rtol, and the
    step count grows by less than 100× over 10⁴ in rtol (h ∝ tol^{1/p} with p > 2; measured 57,
    220, 1,037 steps, errors 2.1e-5, 4.7e-8, 8.3e-11: the dense-output control, whose midpoint
    estimate is of lower order than the step's, sets the step at tight tolerances — see
    pkpd/solvers/relinearised.py.  Before the re-linearisation net (RELIN_EVERY) 63, 612, 2,982)."""
    m = _one_cmt_mm(10.0, 80.0, 2.0)
    times = np.arange(0, 24 * 60 + 1, 5) / 60
    reg = regimen({"route": "iv", "amount": "400 mg"})
    exact = _lambert(40.0, 8.0, 2.0, times)
    errs, steps = [], []
    for rtol in (1e-6, 1e-8, 1e-10):
        x, n = _run_counting_steps(m, reg, times, rtol)
        errs.append(max_rel_error(x[0] / 10.0, exact))
        steps.append(n)
    assert errs[0] > 100 * errs[1] > 10_000 * errs[2], errs
    assert steps[0] < steps[1] < steps[2] < 100 * steps[0], steps


def _run_counting_steps(model, reg, times, rtol):
    """:func:`_run` and the accepted steps of the (one) re-linearised solve."""
    orig = typ.solve
    seen = []
    typ.solve = lambda *a, **k: seen.append(orig(*a, **k)) or seen[-1]
    try:
        x = _run(model, reg, times, rtol)
    finally:
        typ.solve = orig
    assert seen[0].method == "relinearised"
    return x, int(seen[0].steps[0, 0])


def test_no_stale_linearisation_trap():
    """domino_mm, bolus then infusion, rtol 1e-8: ~350 steps.  With the drift test alone at
    DRIFT = 0.1 a stale linear part kept the steps short and the short steps kept ``h·|ΔJ_N|``
    under the threshold — 3,244 steps; the re-linearisation net (``RELIN_EVERY``) prevents that
    (pkpd/solvers/relinearised.py, benchmarks/README.md)."""
    times = np.arange(0, 24 * 60 + 1) / 60
    _, steps = _run_counting_steps(MM, parse_regimen("2 mg/kg IV then 1 mg/kg/h for 2 h", "b+i"), times, 1e-8)
    assert 250 < steps < 600, steps


def _mm_reference(reg, times, weight=70.0):
    f, n, ev, V1 = michaelis_menten_system(MM, reg, weight)
    return solve_piecewise(f, n, ev, times, method="Radau", rtol=1e-12, atol=1e-14)[0] / V1 * 1000, (f, n, ev, V1)


REGIMENS = {
    "bolus": "2 mg/kg IV",
    "bolus + infusion on/off": "2 mg/kg IV then 1 mg/kg/h for 2 h",
    "repeated boluses": "1 mg/kg IV every 3 h x3",
    "late infusion": "3 mg/kg/h for 1 h at 4 h",
}


@pytest.mark.parametrize("name", list(REGIMENS))
def test_domino_mm_every_event_kind_matches_radau(name):
    """Bolus, infusion on and off, repeated doses, an infusion starting later: against Radau at
    rtol 1e-12 on the 1-min grid, within 30 × rtol at rtol 1e-6 and 1e-8."""
    reg = parse_regimen(REGIMENS[name], name)
    times = np.arange(0, 24 * 60 + 1) / 60
    ref, _ = _mm_reference(reg, times)
    v1 = MM.params.individual(covariates={"WT": 70.0})["V1"][0]
    for rtol in (1e-6, 1e-8):
        c = _run(MM, reg, times, rtol, 1e-12)[0] / v1 * 1000
        assert max_rel_error(c, ref) < 30 * rtol, (rtol, max_rel_error(c, ref))


@pytest.mark.parametrize("rtol", [1e-6, 1e-8])
def test_at_least_as_accurate_as_lsoda(rtol):
    """The benchmark's case (bolus, then 2 h infusion; 1-min grid, 24 h) for three weights: the
    maximum relative error against Radau is no larger than scipy LSODA's at the same rtol and
    atol (issue 16)."""
    reg = parse_regimen("2 mg/kg IV then 1 mg/kg/h for 2 h", "r")
    times = np.arange(0, 24 * 60 + 1) / 60
    ours, lsoda = 0.0, 0.0
    for wt in (55.0, 75.0, 100.0):
        ref, (f, n, ev, V1) = _mm_reference(reg, times, wt)
        x, _, _ = solve_states(MM, reg, times, subject={"WT": wt}, solver=SolverOptions(AUTO, rtol, 1e-12))
        ours = max(ours, max_rel_error(x[0] / V1 * 1000, ref))
        ls = solve_piecewise(f, n, ev, times, method="LSODA", rtol=rtol, atol=1e-12)[0] / V1 * 1000
        lsoda = max(lsoda, max_rel_error(ls, ref))
    assert ours <= lsoda, (ours, lsoda)


def test_resumed_slices_give_identical_results(monkeypatch):
    """The kernel updates each row's basis in place; stopping after every few steps and resuming
    (the interrupt slices of pkpd.solvers.budget) must not change a single bit."""
    reg = parse_regimen("2 mg/kg IV then 1 mg/kg/h for 2 h", "r")
    times = np.arange(0, 24 * 60 + 1) / 60
    whole = _run(MM, reg, times, 1e-8, 1e-12)
    monkeypatch.setattr(budget, "FIRST_WORK", 1)
    monkeypatch.setattr(budget, "SLICE_SECONDS", 1e-9)
    sliced = _run(MM, reg, times, 1e-8, 1e-12)
    np.testing.assert_array_equal(whole, sliced)


DEPOT = textwrap.dedent(f'''
    [parameters]
    V1 = {p(15.0, 'L')}
    ka = {p(1.5, '1/h')}
    F = {p(1.0, '1')}
    k12 = {p(2.0, '1/h')}
    k21 = {p(0.5, '1/h')}
    Vm = {p(60.0, 'mg/h')}
    Km = {p(1.0, 'mg/L')}

    [compartments]
    central = {{ species = "ketamine", volume = "V1" }}
    periph = {{ species = "ketamine" }}
    gut = {{ species = "ketamine" }}

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

    [[routes.oral]]
    target = "central"
    depot = "gut"
    ka = "ka"
    fraction = "F"

    [[routes.iv]]
    target = "central"
''')


def test_one_way_absorption_takes_the_lapack_path_and_matches_radau():
    """A depot flows one way into the central compartment: K + J_N is not symmetrisable, so the
    re-decompositions go through LAPACK; oral 300 mg then an IV bolus at 6 h against Radau."""
    m = model_from_toml(DEPOT, name="depot")
    times = np.linspace(0, 12, 121)
    reg = regimen({"route": "oral", "amount": "300 mg"}, {"route": "iv", "amount": "100 mg", "start": "6 h"})
    x, sysm, _ = solve_states(m, reg, times, solver=SolverOptions(AUTO, 1e-9, 1e-14))
    gut, c, per = (sysm.states.index(s) for s in ("gut", "central", "periph"))

    def f(t, a):
        mm = 60.0 * (a[1] / 15.0) / (1.0 + a[1] / 15.0)
        return [-1.5 * a[0], 1.5 * a[0] - mm - 2.0 * a[1] + 0.5 * a[2], 2.0 * a[1] - 0.5 * a[2]]
    early, late = times < 6, times >= 6  # the output at 6 h is recorded just after the bolus
    first = solve_ivp(f, (0, 6), [300.0, 0, 0], method="Radau", rtol=1e-12, atol=1e-14, t_eval=times[early])
    y6 = solve_ivp(f, (0, 6), [300.0, 0, 0], method="Radau", rtol=1e-12, atol=1e-14).y[:, -1] + [0, 100.0, 0]
    second = solve_ivp(f, (6, 12), y6, method="Radau", rtol=1e-12, atol=1e-14, t_eval=times[late])
    ref = np.hstack([first.y, second.y])
    assert max_rel_error(x[[gut, c, per]], ref) < 1e-7


@settings(max_examples=30, deadline=None)
@given(st.floats(0.1, 5.0), st.floats(0.01, 3.0), st.floats(0.01, 3.0), st.floats(0.0, 2.0),
       st.booleans())
def test_small_eigen_decompositions(k12, k21, k13, jn, one_way):
    """Mammillary matrices plus a negative diagonal Jacobian (symmetrisable: Jacobi) and the same
    with a one-way flow (LAPACK): V Λ V⁻¹ gives the matrix back; a rotation is refused."""
    K = np.array([[-k12 - k13 - 0.3, k21, 0.2], [k12, -k21, 0.0], [k13, 0.0, -0.2]])
    if one_way:
        K[0, 2] = 0.0
    J = np.zeros((3, 3))
    J[0, 0] = -jn
    lam, V, Vi = np.zeros(3), np.zeros((3, 3)), np.zeros((3, 3))
    ok = decompose(K, J, lam, V, Vi, np.zeros((3, 3)), np.zeros((3, 3)), np.zeros((3, 6)))
    if ok:
        np.testing.assert_allclose(V @ np.diag(lam) @ Vi, K + J, atol=1e-11 * np.abs(K).max())
        np.testing.assert_allclose(V @ Vi, np.eye(3), atol=1e-10)
    else:  # only a defective or ill-conditioned one-way matrix may be refused
        assert one_way
    rot = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert not decompose(rot, np.zeros((2, 2)), np.zeros(2), np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)),
                         np.zeros((2, 2)), np.zeros((2, 4)))


@settings(max_examples=15, deadline=None)
@given(st.floats(0.5, 20.0), st.floats(1.0, 40.0), st.floats(10.0, 2000.0), st.floats(5.0, 60.0))
def test_mm_bolus_properties(km, vm_per_v, dose, V):
    """Any one-compartment Michaelis–Menten bolus: concentrations stay non-negative (to within
    atol, once they are 10¹⁴-fold below the peak), decay
    monotonically after the dose and follow the Lambert-W closed form."""
    m = _one_cmt_mm(V, vm_per_v * V, km)
    times = np.linspace(0, 24, 97)
    c = _run(m, regimen({"route": "iv", "amount": f"{dose} mg"}), times, 1e-9)[0] / V
    assert np.all(c >= -1e-14 / V)  # non-negative to within atol (1e-14 mg)
    assert np.all(np.diff(c) <= 1e-12 * c[0])
    assert max_rel_error(c, _lambert(dose / V, vm_per_v, km, times)) < 1e-6


def test_mm_rates_are_fused_bit_for_bit():
    """pack() turns the Michaelis–Menten rate a·(s/w)/(b + s/w) into one MM op that gives the same
    bits as the eleven ops it replaces (for any values), read_slots still sees every variable, and
    a look-alike with a different state in the denominator is left alone."""

    idx = {"Vm": 0, "V": 1, "Km": 2, "A": 3, "B": 4}
    mm = compile_expression(parse("(Vm) * (A / V) / ((Km) + (A / V))"), idx)
    odd = compile_expression(parse("(Vm) * (A / V) / ((Km) + (B / V))"), idx)
    ops, off, consts = pack([mm, odd])
    assert ops[0, 0] == MM_OP and off[1] == 1 and off[2] == 1 + odd[0].shape[0]
    assert list(read_slots(ops)) == [0, 1, 2, 3, 4]
    rng = np.random.default_rng(0)
    stack = np.zeros(64)
    for _ in range(200):
        v = rng.lognormal(0.0, 3.0, 5) * rng.choice([-1.0, 1.0], 5)
        assert run_program(ops, off, consts, 0, v, stack) == run(mm[0], mm[1], v, stack)
        assert run_program(ops, off, consts, 1, v, stack) == run(odd[0], odd[1], v, stack)


@pytest.mark.parametrize("rtol", [1e-6, 1e-8])
def test_hermite_and_quadratic_dense_outputs_match_lambert_w(rtol, monkeypatch):
    """The quartic Hermite dense output (default) and the quadratic one (terms that read t) both
    follow the closed form within 30 × rtol on a 1-min grid, the Hermite one with fewer steps."""
    m = _one_cmt_mm(10.0, 80.0, 2.0)
    times = np.arange(0, 24 * 60 + 1) / 60
    reg = regimen({"route": "iv", "amount": "400 mg"})
    exact = _lambert(40.0, 8.0, 2.0, times)
    orig_solve, orig_relin = typ.solve, dispatch.solve_relinearised
    steps = {}
    for hermite in (True, False):
        seen = []
        monkeypatch.setattr(typ, "solve", lambda *a, **k: seen.append(orig_solve(*a, **k)) or seen[-1])
        monkeypatch.setattr(dispatch, "solve_relinearised", lambda *a, **k: orig_relin(*a, **{**k, "hermite": hermite}))
        x = _run(m, reg, times, rtol)
        assert seen[0].method == "relinearised"
        assert max_rel_error(x[0] / 10.0, exact) < 30 * rtol, (hermite, max_rel_error(x[0] / 10.0, exact))
        steps[hermite] = int(seen[0].steps[0, 0])
    assert steps[True] < steps[False], steps


def test_population_independent_of_chunk_size_and_thread_count():
    """domino_mm in a population (weights varying, bolus then infusion): the re-linearised kernel's
    rows are independent, so chunks of 64 or 150 and 1 or 2 threads give the same bits."""
    import numba

    pop = Population(n=150, seed=1, covariates={"WT": CovariateDist("normal", 75, 12, 45, 130)})
    reg = parse_regimen("2 mg/kg IV then 1 mg/kg/h for 2 h", "r")

    def run(chunk):
        return simulate_population(MM, [reg], pop, horizon=24, step=1 / 60, mode="full", dtype=np.float64,
                                   progress=False, chunk=chunk).ketamine_plasma.values
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run(64)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = run(150)
    finally:
        numba.set_num_threads(before)
    assert np.isfinite(one).all() and one.max() > 0
    np.testing.assert_array_equal(one, two)

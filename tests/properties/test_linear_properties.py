"""Hypothesis properties of the exact solver on random valid models and regimens.

Superposition, dose proportionality, non-negativity, mass balance (in moles, across the
metabolite's molar mass), time-shift invariance, and agreement with scipy Radau.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pkpd.simulation.grid import output_times
from pkpd.simulation.typical import solve_states
from pkpd.units import MOLAR_MASS

from helpers import model_from_toml, p, reference, regimen

pytestmark = pytest.mark.slow

pos = lambda lo, hi: st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def models(draw):
    n_per = draw(st.integers(0, 2))
    nk = draw(st.booleans())
    params = [f"V1 = {p(draw(pos(1, 200)), 'L')}", f"CL = {p(draw(pos(1, 150)), 'L/h')}",
              f"ka = {p(draw(pos(0.1, 10)), '1/h')}", f"F = {p(draw(pos(0.05, 1)), '1')}",
              f"lag = {p(draw(pos(0, 0.5)), 'h')}", f"D = {p(draw(pos(0.01, 1)), 'h')}"]
    comps = ['central = { species = "ketamine", volume = "V1" }', 'gut = { species = "ketamine" }']
    flows = ['[[flows]]\nfrom = "central"\nclearance = "CL"']
    for i in range(n_per):
        params += [f"V{i + 2} = {p(draw(pos(1, 500)), 'L')}", f"Q{i + 2} = {p(draw(pos(1, 200)), 'L/h')}"]
        comps.append(f'p{i} = {{ species = "ketamine", volume = "V{i + 2}" }}')
        flows.append(f'[[flows]]\nbetween = ["central", "p{i}"]\nclearance = "Q{i + 2}"')
    if nk:
        params += [f"Vn = {p(draw(pos(5, 200)), 'L')}", f"CLn = {p(draw(pos(1, 100)), 'L/h')}",
                   f"fm = {p(draw(pos(0, 1)), '1')}"]
        comps.append('nk = { species = "norketamine", volume = "Vn" }')
        flows[0] = '[[flows]]\nfrom = "central"\nto = "nk"\nclearance = "CL"\nfraction = "fm"'
        if draw(st.booleans()):  # metabolite in parent-mass units (pkpd.models.mass_units)
            flows[0] += '\nmolar = false'
        flows.append('[[flows]]\nfrom = "nk"\nclearance = "CLn"')
    release = draw(st.booleans())
    body = f'''
[parameters]
{chr(10).join(params)}

[compartments]
{chr(10).join(comps)}

{chr(10).join(flows)}

[[routes.iv]]
target = "central"

[[routes.oral]]
target = "central"
depot = "gut"
ka = "ka"
fraction = "F"
lag = "lag"
{'release = "D"' if release else ''}
'''
    return model_from_toml(body, nk=nk)


@st.composite
def doses(draw, max_start=6.0):
    route = draw(st.sampled_from(["iv", "oral"]))
    d = {"route": route, "start": f"{draw(pos(0, max_start)):.6f} h"}
    if route == "iv" and draw(st.booleans()):
        d["rate"] = f"{draw(pos(0.5, 50)):.6f} mg/h"
        d["duration"] = f"{draw(pos(0.05, 4)):.6f} h"
    else:
        d["amount"] = f"{draw(pos(0.5, 200)):.6f} mg"
    if draw(st.booleans()):
        d["every"] = f"{draw(pos(0.5, 6)):.6f} h"
        d["times"] = draw(st.integers(1, 4))
    return d


TIMES = np.linspace(0, 24, 24 * 12 + 1)
STEP = TIMES[1]


def run(m, ds, times=TIMES, step=STEP):
    x, sysm, ev = solve_states(m, regimen(*ds), times, step=step)
    return x, sysm, ev


def close(a, b, rel=1e-9):
    scale = max(np.abs(a).max(), np.abs(b).max(), 1e-300)
    np.testing.assert_allclose(a, b, rtol=0, atol=rel * scale)


@given(models(), st.lists(doses(), min_size=1, max_size=2), st.lists(doses(), min_size=1, max_size=2))
def test_superposition(m, d1, d2):
    a, _, _ = run(m, d1)
    b, _, _ = run(m, d2)
    ab, _, _ = run(m, d1 + d2)
    close(ab, a + b)


@given(models(), st.lists(doses(), min_size=1, max_size=3), pos(0.1, 10))
def test_dose_proportionality(m, ds, factor):
    a, _, _ = run(m, ds)
    scaled = []
    for d in ds:
        d = dict(d)
        key = "amount" if "amount" in d else "rate"
        v, u = d[key].split(" ", 1)
        d[key] = f"{float(v) * factor!r} {u}"
        scaled.append(d)
    b, _, _ = run(m, scaled)
    close(b, a * factor, rel=1e-8)


@given(models(), st.lists(doses(), min_size=1, max_size=3))
def test_non_negative_and_mass_balance(m, ds):
    """Moles in the body + moles eliminated = moles given, at every time after the last input
    (a metabolite with ``molar = false`` is counted in parent-mass units).

    The eliminated amount is tracked exactly by a sink state appended to K (its row takes the
    column deficits of K, in moles), so the balance holds to rounding error.
    """
    from pkpd.simulation.grid import pad_events
    from pkpd.solvers.dense import solve_dense
    x, sysm, ev = run(m, ds)
    assert np.all(x >= -1e-10 * max(1.0, np.abs(x).max()))
    # a metabolite carried in parent-mass units (molar = false) counts moles by the parent's mass
    parent_units = {fl.dest for fl in m.flows if fl.dest is not None and not fl.molar}
    mw = np.array([MOLAR_MASS["ketamine" if c.name in parent_units else c.species] for c in m.compartments])
    K = sysm.K[0]
    n = K.shape[0]
    Ke = np.zeros((1, n + 1, n + 1))
    Ke[0, :n, :n] = K
    Ke[0, n, :n] = -(K / mw[:, None]).sum(axis=0)  # mmol/h eliminated per mg in compartment j
    out = np.zeros((1, n + 1, TIMES.size))
    t, kk, c, v = pad_events([ev])
    solve_dense(Ke, TIMES, STEP, t, kk, c, v, np.eye(n + 1)[None], np.zeros((1, n + 1)), out)
    moles = (out[0, :n] / mw[:, None]).sum(axis=0) + out[0, n]
    given_total = ev.total_in[0] / MOLAR_MASS["ketamine"]
    last_input = np.max(np.where(np.isfinite(ev.time), ev.time, 0))
    done = TIMES >= last_input
    assert np.all(moles <= given_total * (1 + 1e-9))
    if done.any():
        np.testing.assert_allclose(moles[done], given_total, rtol=1e-9)


@given(models(), st.lists(doses(max_start=2.0), min_size=1, max_size=2), st.integers(1, 24))
def test_time_shift_invariance(m, ds, k):
    shift = float(k * STEP)
    a, _, _ = run(m, ds)
    shifted = [dict(d, start=f"{float(d['start'].split()[0]) + shift!r} h") for d in ds]
    b, _, _ = run(m, shifted)
    close(b[:, k:], a[:, :-k], rel=1e-8)


@settings(max_examples=10)
@given(models(), st.lists(doses(), min_size=1, max_size=2))
def test_agrees_with_radau_reference(m, ds):
    _, _, ev = run(m, ds, times=np.array([0.0, 1.0]), step=0.0)
    times = output_times(24.0, STEP, ev.time.ravel())
    x, sysm, ev = run(m, ds, times=times)
    ref = reference(sysm.K[0], ev, times)
    i = 0  # central
    mask = np.abs(ref[i]) > 1e-6 * np.abs(ref[i]).max()
    if mask.any():
        err = np.max(np.abs(x[i, mask] - ref[i, mask]) / np.abs(ref[i, mask]))
        assert err < 1e-7

"""Resource bombs end in a refusal with the estimate and the knob, before anything is allocated —
not in a MemoryError traceback or a hang.  Solvers are bounded; tolerances float64 cannot deliver
are refused."""
from __future__ import annotations

import numpy as np
import pytest

from attack_kit import MODELS, cli, nothing_left, refused, scenario
from pkpd.errors import PkpdError
from pkpd.limits import LIMITS, limit
from pkpd.simulation.resources import population_estimate, typical_estimate

pytestmark = pytest.mark.attack


def _pop(n=300, extra=""):
    return {'[[regimens]]': f'[population]\nn = {n}\n{extra}\n[[regimens]]'}


PR = {'models = ["domino"]': 'models = ["perez_ruixo_2021"]\npd = ["olofsen_2022"]'}

FOUR = '''
[[regimens]]
name = "b"
doses = [{ route = "iv", amount = "0.3 mg/kg" }]

[[regimens]]
name = "c"
doses = [{ route = "iv", amount = "0.2 mg/kg" }]

[[regimens]]
name = "d"
doses = [{ route = "iv", amount = "0.1 mg/kg" }]
'''


@pytest.mark.parametrize("case,replace,words", [
    ("10^7 subjects x 4 regimens", {**_pop(10_000_000), 'duration = "40 min" }]': 'duration = "40 min" }]' + FOUR,
                                    **PR}, ["memory", "PKPD_MAX_MEMORY", "[population] n"]),
    ("chunk of 10^6", {**_pop(1_000_000, "chunk = 1000000"), 'horizon = "6 h"': 'horizon = "24 h"',
                       'step = "10 min"': 'step = "1 min"', **PR},
     ["memory", "chunk"]),
    ("2e6 output times", {**_pop(1000), 'step = "10 min"': 'step = "0.0108 s"'}, ["memory", "step"]),
    ("1e8 spray administrations",
     {'doses = [{ route = "iv", amount = "0.5 mg/kg", duration = "40 min" }]':
      'doses = [{ route = "intranasal", amount = "1 mg", sprays = 10000, times = 10000, every = "1 h" }]',
      'models = ["domino"]': 'models = ["perez_ruixo_2021"]'}, ["administrations", "PKPD_MAX_ADMINISTRATIONS"]),
    ("1e12 sweep grid", {'[[regimens]]': '[sweep]\ndesign = "grid"\n[sweep.parameters]\n' + "\n".join(
        f'"domino.{p}" = {{ values = {[float(x) for x in np.linspace(0.01, 1, 1000).round(4)]} }}'
        for p in ("k10", "k12", "k13", "k21"))
        + '\n\n[[regimens]]'}, ["design", "1,000,000,000,000", "PKPD_MAX_DESIGN_POINTS"]),
])
def test_resource_bombs_are_refused_up_front(tmp_path, case, replace, words):
    p = scenario(tmp_path, **replace)
    cmd = "sweep" if "sweep" in case else "run"
    refused(cli([cmd, p, "-o", tmp_path / "out"]), *words, seconds=30)
    nothing_left(tmp_path / "out")


def test_a_huge_trade_off_grid_is_refused(tmp_path):
    """Two sweep parameters of 200 values on four regimens: 160,000 variants (the 1.75 TiB grid)."""
    pd = 'models = ["perez_ruixo_2021"]\npd = ["olofsen_2022"]'
    doses = ", ".join(str(round(0.1 + 0.01 * i, 3)) for i in range(200))
    ivals = ", ".join(f'"{1 + i} min"' for i in range(200))
    p = scenario(tmp_path, **{'[[regimens]]': f'[tradeoff]\nsweep = {{ dose = [{doses}], duration = [{ivals}] }}\n\n'
                                              '[[regimens]]',
                              'models = ["domino"]': pd, 'duration = "40 min" }]': 'duration = "40 min" }]' + FOUR})
    refused(cli(["tradeoff", p, "-o", tmp_path / "out"]), "variants", "PKPD_MAX_TRADEOFF_POINTS", seconds=30)
    nothing_left(tmp_path / "out")


@pytest.mark.parametrize("argv,words", [
    (["--interval", "1 ms", "--duration", "14 day"], ["pump updates", "PKPD_MAX_PUMP_UPDATES"]),
    (["--weight", "0 kg"], ["subject.WT", "0.5–400"]),
    (["--weight", "-70 kg"], ["subject.WT"]),
    (["--max-rate", "-5 mg/h"], ["maximum pump rate", "positive"]),
    (["--max-rate", "0 mg/h"], ["maximum pump rate"]),
])
def test_tci_requests_no_pump_can_run(tmp_path, argv, words):
    refused(cli(["tci", "--target", "300 ng/mL", "-o", tmp_path / "out", *argv]), *words, seconds=20)
    nothing_left(tmp_path / "out")


def test_tolerances_float64_cannot_deliver_are_refused(tmp_path):
    p = scenario(tmp_path, **{'[[regimens]]': '[solver]\nrtol = 1e-15\natol = 1e-15\n\n[[regimens]]',
                              'models = ["domino"]': 'models = ["domino_mm"]'})
    refused(cli(["run", p, "-o", tmp_path / "out"]), "solver.rtol", "float64")
    nothing_left(tmp_path / "out")


def _blowup_pd(tmp):
    text = (MODELS / "pd" / "tolerance_dissociation.toml").read_text(encoding="utf-8")
    text = text.replace('name = "tolerance_dissociation"', 'name = "blowup"')
    text = text.replace('rhs = "kon * Ce_ketamine / (EC50_tol + Ce_ketamine) - koff * T"',
                        'rhs = "6 * (1 + T * T) + Ce_ketamine"')  # tan-like: infinite at t ≈ π/12 h
    (tmp / "blowup.toml").write_text(text, encoding="utf-8")


def test_a_state_that_blows_up_ends_with_the_model_time_and_state(tmp_path):
    _blowup_pd(tmp_path)
    p = scenario(tmp_path, **{'models = ["domino"]': 'models = ["domino"]\npd = ["blowup.toml"]',
                              'horizon = "6 h"': 'horizon = "24 h"'})
    msg = refused(cli(["run", p, "-o", tmp_path / "out"]), "blowup", "blowup_T", "infinite or NaN", "t = 0.26",
                  seconds=120)
    assert "domino" in msg
    nothing_left(tmp_path / "out")


def test_a_solve_that_needs_too_many_steps_stops_with_a_clear_error(tmp_path):
    """Dormand–Prince on the stiff domino_mm at rtol 1e-13 with a 1,000-step cap."""
    p = scenario(tmp_path, **{'models = ["domino"]': 'models = ["domino_mm"]',
                              '[[regimens]]': '[solver]\nmethod = "dopri"\nrtol = 1e-13\nmax_steps = 1000\n\n'
                                              '[[regimens]]'})
    refused(cli(["run", p, "-o", tmp_path / "out"]), "domino_mm", "1,000 steps", "max_steps", "t = ",
            seconds=120)
    nothing_left(tmp_path / "out")


def test_estimates_follow_the_sizes_and_the_limits_are_configurable(monkeypatch):
    """The estimate grows linearly with subjects and times; a lower PKPD_MAX_MEMORY refuses sooner."""
    from pkpd.dosing.notation import parse_regimen
    from pkpd.models.load import load_model
    from pkpd.simulation.population import simulate_population
    from pkpd.simulation.sampling import Population
    m = load_model("domino")
    reg = parse_regimen("0.5 mg/kg IV")
    a = population_estimate((m,), (reg,), (), 10_000, 24, 1 / 60, "full", 4, 1024)
    b = population_estimate((m,), (reg,), (), 20_000, 24, 1 / 60, "full", 4, 1024)
    full = dict(a.parts)["full trajectories"]
    assert dict(b.parts)["full trajectories"] == pytest.approx(2 * full)
    # 10,000 subjects × 1 regimen × 1 model × (1 plasma output) × (1441 + 1 event time) × 4 bytes
    assert full == 10_000 * 1 * 1 * 1 * 1442 * 4
    t = typical_estimate((m,), (reg,), (), 24, 1 / 60)
    assert t.bytes < 10 * 1024 ** 2 and t.seconds < 1
    monkeypatch.setenv(LIMITS["memory"].env, "1MiB")
    assert limit("memory") == 1024 ** 2
    with pytest.raises(PkpdError, match="PKPD_MAX_MEMORY"):
        simulate_population(m, reg, Population(n=5000), horizon=24, step=1 / 60, progress=False)


def test_a_solution_that_overflows_is_an_error_not_a_result():
    """A system growing at e^(1000 t) overflows float64 within the hour: the solver boundary refuses
    the infinite result (checked at the last output time: once non-finite, a linear solution stays so)."""
    from pkpd.solvers.dispatch import solve
    K = np.array([[[1000.0]]])
    W = np.ones((1, 1, 1))
    times = np.linspace(0.0, 2.0, 21)
    ev = (np.array([[0.0]]), np.zeros((1, 1), np.int64), np.zeros((1, 1), np.int64), np.array([[1.0]]))
    out = np.zeros((1, 1, times.size))
    with pytest.raises(PkpdError, match="not finite"):
        solve(K, W, times, 0.1, ev, out, linear="dense")
    with pytest.raises(PkpdError, match="not finite"):
        solve(K, W, times, 0.1, ev, out)

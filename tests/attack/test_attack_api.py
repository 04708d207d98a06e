"""The public exception contract and values no patient has.

Every Python API function checks its arguments at the boundary and raises PkpdError (a ValueError)
or PkpdTypeError (also a TypeError) with the message the command line prints — never an
AttributeError or ZeroDivisionError from deep inside.  Weights, ages and doses outside the sanity
ranges of :mod:`pkpd.limits` are refused in scenario files, CSV files and Python calls alike."""
from __future__ import annotations

import numpy as np
import pytest

import pkpd
from attack_kit import cli, nothing_left, refused, scenario
from pkpd.errors import PkpdError, PkpdTypeError

pytestmark = pytest.mark.attack

DOMINO = pkpd.load_model("domino")
OLO = pkpd.load_model("olofsen_2022")
REG = pkpd.parse_regimen("0.5 mg/kg IV")


def test_pkpd_error_is_a_value_error_and_type_errors_are_type_errors():
    assert issubclass(PkpdError, ValueError)
    assert issubclass(PkpdTypeError, PkpdError) and issubclass(PkpdTypeError, TypeError)


@pytest.mark.parametrize("call,exc,words", [
    (lambda: pkpd.simulate("domino", REG), PkpdTypeError, ["models", "pkpd.load_model('domino')"]),
    (lambda: pkpd.simulate(DOMINO, "0.5 mg/kg IV"), PkpdTypeError, ["regimens", "parse_regimen"]),
    (lambda: pkpd.simulate(DOMINO, REG, step=0), PkpdError, ["step", "must be > 0"]),
    (lambda: pkpd.simulate(DOMINO, REG, horizon=-1), PkpdError, ["horizon", "must be > 0"]),
    (lambda: pkpd.simulate(DOMINO, REG, horizon=float("nan")), PkpdError, ["horizon", "finite"]),
    (lambda: pkpd.simulate(DOMINO, REG, horizon=1, step=2), PkpdError, ["larger than the horizon"]),
    (lambda: pkpd.simulate(DOMINO, REG, pd=[DOMINO]), PkpdError, ["'domino' is a PK model"]),
    (lambda: pkpd.simulate(OLO, REG), PkpdError, ["'olofsen_2022' is a PD model"]),
    (lambda: pkpd.simulate([], REG), PkpdError, ["at least one model"]),
    (lambda: pkpd.simulate(DOMINO, REG, subject={"WT": 0}), PkpdError, ["subject.WT", "0.5–400"]),
    (lambda: pkpd.simulate(DOMINO, REG, subject={"AGE": -3}), PkpdError, ["subject.AGE", "0–120"]),
    (lambda: pkpd.simulate(DOMINO, REG, subject={"SHOE": 42}), PkpdError, ["unknown covariate"]),
    (lambda: pkpd.simulate(DOMINO, REG, solver="dopri"), PkpdTypeError, ["SolverOptions"]),
    (lambda: pkpd.simulate(DOMINO, REG, step=1e-9), PkpdError, ["time points", "PKPD_MAX_OUTPUT_TIMES"]),
    (lambda: pkpd.solve_states(DOMINO, REG, [3, 1, 2]), PkpdError, ["increasing"]),
    (lambda: pkpd.simulate_population(DOMINO, REG, 100), PkpdTypeError, ["pkpd.Population"]),
    (lambda: pkpd.simulate_population(DOMINO, REG, pkpd.Population(n=10), mode="fast"), PkpdError, ["mode"]),
    (lambda: pkpd.simulate_population(DOMINO, REG, pkpd.Population(n=10), chunk=0), PkpdError, ["chunk"]),
    (lambda: pkpd.Population(n=0), PkpdError, ["≥ 1"]),
    (lambda: pkpd.Population(n=10, seed=-1), PkpdError, ["seed"]),
    (lambda: pkpd.Population(n=10, covariates={"WT": pkpd.CovariateDist("normal", 0.0, 10.0)}), PkpdError,
     ["covariates.WT", "0.5–400"]),
    (lambda: pkpd.CovariateDist("normal", 70.0, -1.0), PkpdError, ["≥ 0"]),
    (lambda: pkpd.CovariateDist("normal", 70.0, 5.0, 100.0, 50.0), PkpdError, ["above"]),
    (lambda: pkpd.CovariateDist("gamma", 70.0), PkpdError, ["kind"]),
    (lambda: pkpd.load_model(123), PkpdTypeError, ["model name"]),
    (lambda: pkpd.load_model("no_such_model"), PkpdError, ["unknown model"]),
    (lambda: pkpd.Dose("iv", amount=5), PkpdError, ["bare number", "28 mg"]),
    (lambda: pkpd.Dose(["iv"], amount="5 mg"), PkpdTypeError, ["route"]),
    (lambda: pkpd.Dose("iv", amount="1e308 mg"), PkpdError, ["0–40000 mg"]),
    (lambda: pkpd.Dose("iv", amount="500 mg/kg"), PkpdError, ["mg/kg"]),
    (lambda: pkpd.Regimen("r", ("not a dose",)), PkpdTypeError, ["Dose objects"]),
    (lambda: pkpd.SolverOptions(rtol=1e-15), PkpdError, ["float64"]),
    (lambda: pkpd.SolverOptions(method=99), PkpdError, ["method"]),
    (lambda: pkpd.nca([0, 1, 2], [0, 5, 3], dose_mg=float("nan")), PkpdError, ["dose", "finite"]),
    (lambda: pkpd.run_scenario("scenarios/routes.toml"), PkpdTypeError, ["load_scenario"]),
])
def test_api_misuse_raises_pkpd_error_at_the_boundary(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_api_and_command_line_say_the_same(tmp_path):
    """step = 0 in a scenario and step=0 in a call: the same words."""
    with pytest.raises(PkpdError) as info:
        pkpd.simulate(DOMINO, REG, horizon=6, step=0)
    p = scenario(tmp_path, **{'step = "10 min"': 'step = "0 min"'})
    msg = refused(cli(["run", p, "-o", tmp_path / "out"]), "time.step")
    assert info.value.problem in msg


def test_tci_api_refuses_impossible_requests():
    from pkpd.analysis.tci import tci
    with pytest.raises(PkpdError, match="subject.WT"):
        tci(DOMINO, 300.0, 1.0, subject={"WT": 0.0})
    with pytest.raises(PkpdError, match="maximum pump rate must be positive"):
        tci(DOMINO, 300.0, 1.0, max_rate_mg_h=-1.0)
    with pytest.raises(PkpdError, match="pump updates"):
        tci(DOMINO, 300.0, 14 * 24, interval_h=1e-3 / 3600)
    with pytest.raises(PkpdTypeError):
        tci("domino", 300.0, 1.0)


@pytest.mark.parametrize("replace,words", [
    ({'[[regimens]]': '[subject]\nweight = "0 kg"\n\n[[regimens]]'}, ["subject.weight", "outside"]),
    ({'[[regimens]]': '[subject]\nage = "-4 year"\n\n[[regimens]]'}, ["subject.age", "outside"]),
    ({'[[regimens]]': '[population]\nn = 300\nweight = { dist = "normal", mean = "70 kg", sd = "10 kg", '
                      'min = "120 kg", max = "50 kg" }\n\n[[regimens]]'}, ["population.weight", "above"]),
    ({'[[regimens]]': '[population]\nn = 300\nweight = { dist = "normal", mean = "0 kg", sd = "10 kg" }\n\n'
                      '[[regimens]]'}, ["population.weight.mean", "0.5–400"]),
    ({'[[regimens]]': '[population]\nn = 300\nage = { dist = "uniform", low = "-10 year", high = "40 year" }\n\n'
                      '[[regimens]]'}, ["population.age.low", "0–120"]),
    ({'amount = "0.5 mg/kg"': 'amount = "1e308 mg"'}, ["regimens[0].doses[0].amount", "0–40000 mg"]),
    ({'amount = "0.5 mg/kg"': 'amount = "150 mg/kg"'}, ["amount", "mg/kg"]),
])
def test_values_no_patient_has_are_refused(tmp_path, replace, words):
    p = scenario(tmp_path, **replace)
    refused(cli(["run", p, "-o", tmp_path / "out"]), *words)
    nothing_left(tmp_path / "out")


def test_nca_dose_nan_is_refused(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("TIME,DV\n0,0\n1,10\n2,5\n4,2\n")
    refused(cli(["nca", f, "--dose", "nan"]), "--dose")
    refused(cli(["nca", f, "--lloq", "-1"]), "LLOQ", "≥ 0")


def test_results_never_hold_infinities():
    """The largest dose the ranges allow still gives finite results; non-finite solver output would
    be an error (checked at the solver boundary)."""
    ds = pkpd.simulate(DOMINO, pkpd.parse_regimen("40000 mg IV"), horizon=2, step=0.1)
    assert np.all(np.isfinite(ds.ketamine_plasma.values))

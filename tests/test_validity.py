"""Validity ranges (issue 14): a run outside the subjects or concentrations a model was estimated over
is warned once per model with the range (or refused), and bounded readouts stop at their scale's end."""
import numpy as np
import pytest

from pkpd.cli.main import main
from pkpd.dosing.notation import parse_regimen
from pkpd.errors import PkpdError
from pkpd.models.load import load_model
from pkpd.scenario.load import load_scenario
from pkpd.simulation.population import simulate_population
from pkpd.simulation.sampling import CovariateDist, Population
from pkpd.simulation.typical import simulate
from pkpd.workflows.run import run_scenario

HERD = '''
[scenario]
models = ["herd_anderson_2007"]
{policy}
[subject]
weight = "{wt}"
age = "{age}"

[time]
horizon = "2 h"
step = "5 min"

[[regimens]]
name = "IV 1 mg/kg"
doses = [{{ route = "iv", amount = "1 mg/kg", drug = "racemic" }}]
{population}
'''


def _scenario(tmp_path, wt="70 kg", age="40 year", policy="", population=""):
    path = tmp_path / "s.toml"
    path.write_text(HERD.format(wt=wt, age=age, policy=policy, population=population))
    return path


def test_adult_run_of_a_paediatric_model_warns_once_with_the_range(tmp_path):
    """Herd & Anderson 2007: children 1–14 years, about 11–75 kg.  An adult typical subject (70 kg is
    inside, 40 years is not) and an adult population (WT 75 ± 13 kg: part above 75 kg) → one warning
    for the model, giving the range and what lies outside."""
    pop = ('[population]\nn = 500\nseed = 1\nweight = { dist = "normal", mean = "75 kg", sd = "13 kg" }\n'
           'age = { dist = "uniform", low = "18 year", high = "65 year" }\n')
    sc = load_scenario(_scenario(tmp_path, population=pop))
    herd = [w for w in sc.warnings if "herd_anderson_2007" in w]
    assert len(herd) == 1
    w = herd[0]
    assert "was estimated over WT 11–75 kg, AGE 1–14 years" in w and "54 children" in w
    assert "AGE 40 years (typical subject)" in w
    assert "WT of" in w and "% of the population" in w and "AGE of 100% of the population" in w
    assert "WT 70 kg (typical subject)" not in w


def test_a_child_inside_the_range_gets_no_warning(tmp_path):
    sc = load_scenario(_scenario(tmp_path, wt="25 kg", age="7 year"))
    assert not [w for w in sc.warnings if "herd_anderson_2007" in w]


def test_refusal_flag_makes_it_an_error(tmp_path, capsys):
    path = _scenario(tmp_path, policy='validity = "refuse"')
    out = tmp_path / "out"
    assert main(["run", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "herd_anderson_2007 was estimated over" in err and "refused" in err and "Traceback" not in err
    assert not out.exists()


BOWDLE = '''
[scenario]
models = ["domino"]
pd = ["bowdle_1998"]
{policy}
[time]
horizon = "2 h"
step = "1 min"

[[regimens]]
name = "IV 2 mg/kg over 20 min"
text = "2 mg/kg racemic over 20 min"

[[regimens]]
name = "IV 0.1 mg/kg over 20 min"
text = "0.1 mg/kg racemic over 20 min"
'''


def test_concentration_above_the_studied_range_warns_once(tmp_path, capsys):
    """Bowdle 1998 was linear from 50 to 200 ng/mL; 2 mg/kg racemic over 20 min takes the typical
    effect site far above that: one warning, naming the regimen, printed by ``pkpd run``."""
    path = tmp_path / "b.toml"
    path.write_text(BOWDLE.format(policy=""))
    ds = run_scenario(load_scenario(path))
    (w,) = ds.attrs["validity_warnings"].splitlines()
    assert w.startswith("bowdle_1998 was estimated over ketamine 50–200 ng/mL")
    assert "above 200 ng/mL (regimen 'IV 2 mg/kg over 20 min')" in w
    assert main(["run", str(path), "-o", str(tmp_path / "o"), "--no-figures", "-q"]) == 0
    assert capsys.readouterr().err.count("pkpd: warning: bowdle_1998 was estimated over") == 1
    path.write_text(BOWDLE.format(policy='validity = "refuse"'))
    with pytest.raises(PkpdError, match="refused"):
        run_scenario(load_scenario(path))


def test_bowdle_vas_cannot_exceed_its_maximum():
    """The linear readout 0.00315 × Ce (fraction of the VAS maximum per ng/mL) reaches 1 at
    Ce = 317 ng/mL; above it the VAS stays at 1 (typical subject and the fused population kernel)."""
    pk, pd = load_model("domino"), load_model("bowdle_1998")
    reg = parse_regimen("2 mg/kg racemic over 20 min")
    ds = simulate(pk, reg, horizon=2, step=1 / 60, pd=pd)
    ce = ds.ce_bowdle_1998_ketamine.values[0, 0]
    vas = ds.psychedelic_vas_bowdle_1998.values[0, 0]
    assert ce.max() > 2 / 0.00315  # well above the end of the scale
    np.testing.assert_allclose(vas, np.clip(0.00315 * ce, 0, 1), rtol=1e-12, atol=1e-15)
    assert vas.max() == 1.0
    pop = Population(n=300, seed=2, covariates={"WT": CovariateDist("normal", 70, 10, 45, 120)})
    full = simulate_population(pk, reg, pop, horizon=2, step=5 / 60, pd=pd, mode="full", dtype=np.float64,
                               progress=False)
    y = full.psychedelic_vas_bowdle_1998.values
    assert np.nanmax(y) == 1.0 and np.nanmin(y) >= 0.0
    assert (y == 1.0).any(axis=-1).mean() > 0.5  # most subjects hit the ceiling at this dose


def test_olofsen_2012_pain_change_stops_at_the_bottom_of_the_scale():
    """A 0–10 cm VAS cannot fall by more than 10 cm; the linear model would at high S-ketamine."""
    pd = load_model("olofsen_2012")
    v = pd.params.individual()
    y = pd.evaluate(pd.readouts[0], v, {"ketamine": np.array([[0.1, 0.4]]), "norketamine": np.zeros((1, 2))})
    np.testing.assert_allclose(y[0], [-3.8, -10.0])  # −0.038 cm per ng/mL × 100 ng/mL; 400 → clipped

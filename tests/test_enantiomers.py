"""Enantiomers as first-class (issue 14): a dose says what is given, a PK model what it describes; a
racemic dose gives an S-ketamine model its S half, stated; PK concentrations of another form drive a
PD model only through its declared [enantiomers] conversion."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from pkpd.cli.main import main
from pkpd.dosing.notation import format_regimen, parse_regimen
from pkpd.dosing.regimen import Dose, Regimen
from pkpd.errors import PkpdError
from pkpd.models.drugs import article, dose_fraction, resolve_drug
from pkpd.models.load import load_model
from pkpd.scenario.doses import parse_dose
from pkpd.simulation.typical import simulate


def test_drug_words():
    assert resolve_drug("esketamine") == resolve_drug("S-ketamine") == "S-ketamine"
    assert resolve_drug("Racemic") == resolve_drug("racemic ketamine") == "racemic ketamine"
    assert resolve_drug("arketamine") == "R-ketamine"
    with pytest.raises(PkpdError, match="ambiguous"):
        resolve_drug("ketamine")
    with pytest.raises(PkpdError, match="unknown drug"):
        resolve_drug("ketamin")


def test_dose_fractions():
    """Racemate = 1:1 S:R: an S model takes half a racemic dose; forms a model cannot hold are errors."""
    assert dose_fraction("racemic ketamine", "S-ketamine") == 0.5
    assert dose_fraction("racemic ketamine", "R-ketamine") == 0.5
    assert dose_fraction("S-ketamine", "S-ketamine") == dose_fraction("racemic ketamine", "racemic ketamine") == 1
    for drug, model in [("S-ketamine", "racemic ketamine"), ("R-ketamine", "S-ketamine"),
                        ("R-ketamine", "racemic ketamine")]:
        with pytest.raises(PkpdError, match=f"{article(drug)} {drug} dose cannot be simulated"):
            dose_fraction(drug, model, "m")


def test_racemic_half_mg_per_kg_into_an_s_model_is_esketamine_quarter_mg_per_kg():
    """Racemic ketamine 0.5 mg/kg over 40 min in Perez-Ruixo 2021 (an esketamine model) = esketamine
    0.25 mg/kg over 40 min: identical S-ketamine, noresketamine, effect-site and readout curves."""
    pk, pd = load_model("perez_ruixo_2021"), load_model("olofsen_2022")
    rac = parse_regimen("0.5 mg/kg racemic over 40 min", "rac")
    esk = Regimen("esk", (parse_dose({"route": "iv", "amount": "0.25 mg/kg", "duration": "40 min",
                                      "drug": "esketamine"}, "d"),))
    ds = simulate(pk, [rac, esk], horizon=8, step=1 / 60, pd=pd)
    for v in ("ketamine_plasma", "norketamine_plasma", "ce_olofsen_2022_ketamine", "antinociception_olofsen_2022"):
        a, b = ds[v].values[0, 0], ds[v].values[0, 1]
        assert a.max() > 0
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert list(ds.drug.values) == ["racemic ketamine", "S-ketamine"]
    assert "'rac' in perez_ruixo_2021: racemic ketamine dose into an S-ketamine model: 50% of each dose" \
        in ds.attrs["dose_drugs"]
    assert float(ds.dose[0]) == pytest.approx(2 * float(ds.dose[1]))  # what is given, not what is simulated


def test_racemic_dose_in_a_racemic_model_is_whole_and_unstated_drug_is_the_models():
    pk = load_model("domino")
    a = simulate(pk, parse_regimen("0.5 mg/kg racemic over 40 min"), horizon=2, step=1 / 60)
    b = simulate(pk, parse_regimen("0.5 mg/kg over 40 min"), horizon=2, step=1 / 60)
    np.testing.assert_array_equal(a.ketamine_plasma.values, b.ketamine_plasma.values)
    assert "dose_drugs" not in a.attrs
    assert "no drug stated; taken as racemic ketamine, the form domino describes" in b.attrs["dose_drugs"]
    assert list(b.drug.values) == ["as model"]
    with pytest.raises(PkpdError, match="an S-ketamine dose cannot be simulated with domino"):
        simulate(pk, parse_regimen("0.5 mg/kg esketamine over 40 min"), horizon=2, step=1 / 60)


def test_dose_drug_reads_back_through_notation():
    reg = Regimen("r", (Dose("iv", amount=parse_dose({"route": "iv", "amount": "5 mg"}, "d").amount,
                             drug="arketamine"),))
    assert reg.doses[0].drug == "R-ketamine"
    back = parse_regimen(format_regimen(reg))
    assert back.doses == reg.doses and "arketamine" in format_regimen(reg)
    two = parse_regimen("0.1 mg/kg IV racemic ketamine then 10 mg/h for 2 h")
    assert two.drugs == ("racemic ketamine",)  # the second segment takes the first one's drug


def test_racemic_pk_drives_olofsen_through_its_conversion():
    """Domino (racemic) with Olofsen 2022 (S-ketamine; R-ketamine contributed nothing: f_S = 0.5,
    R_rel = 0) and with Bowdle 1998 (racemic): both effect sites have t½ke0 8.3 min, so Olofsen's effect
    site is exactly 0.5 × Bowdle's.  With S-ketamine PK (Perez-Ruixo), Bowdle's racemic-terms effect
    site is 2 × Olofsen's (an S concentration counts as twice the racemic one when R does nothing)."""
    olo, bow = load_model("olofsen_2022"), load_model("bowdle_1998")
    reg = parse_regimen("0.5 mg/kg racemic over 40 min")
    ds = simulate(load_model("domino"), reg, horizon=3, step=1 / 60, pd=[olo, bow])
    np.testing.assert_allclose(ds.ce_olofsen_2022_ketamine.values, 0.5 * ds.ce_bowdle_1998_ketamine.values,
                               rtol=1e-12, atol=1e-12)
    assert "effect sites see 0.5 × the plasma concentration" in ds.attrs["dose_drugs"]
    ds = simulate(load_model("perez_ruixo_2021"), parse_regimen("20 mg esketamine over 40 min"), horizon=3,
                  step=1 / 60, pd=[olo, bow])
    np.testing.assert_allclose(ds.ce_bowdle_1998_ketamine.values, 2 * ds.ce_olofsen_2022_ketamine.values,
                               rtol=1e-12, atol=1e-12)


def test_mismatch_without_conversion_is_an_error_naming_both_files():
    with pytest.raises(PkpdError) as e:
        simulate(load_model("domino"), parse_regimen("0.5 mg/kg racemic over 40 min"), horizon=2, step=1 / 60,
                 pd=load_model("simons_2022_pd"))
    assert "domino.toml" in e.value.problem and "simons_2022_pd.toml" in e.value.problem


SCENARIO = '''
[scenario]
models = {models}
pd = {pd}

[time]
horizon = "4 h"
step = "5 min"

[[regimens]]
name = "IV"
doses = [{{ route = "iv", amount = "0.5 mg/kg", duration = "40 min"{drug} }}]
'''


def _check(tmp_path, capsys, models='["perez_ruixo_2021"]', pd="[]", drug=""):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO.format(models=models, pd=pd, drug=drug))
    code = main(["check", str(path)])
    return code, " ".join(capsys.readouterr().err.split())  # notes are wrapped at 100 columns


def test_scenario_notes_show_the_conversion(tmp_path, capsys):
    code, err = _check(tmp_path, capsys, drug=', drug = "racemic"')
    assert code == 0
    assert ("pkpd: note: regimen 'IV' in perez_ruixo_2021: racemic ketamine dose into an S-ketamine model: "
            "50% of each dose enters") in err
    code, err = _check(tmp_path, capsys)
    assert code == 0 and "no drug stated; taken as S-ketamine" in err
    code, err = _check(tmp_path, capsys, models='["domino"]', pd='["olofsen_2022"]', drug=', drug = "racemic"')
    assert code == 0 and "pkpd: note: domino (racemic ketamine) drives olofsen_2022 (S-ketamine)" in err


def test_scenario_needs_a_drug_when_models_differ(tmp_path, capsys):
    code, err = _check(tmp_path, capsys, models='["perez_ruixo_2021", "domino"]')
    assert code == 2 and "regimens[0]" in err and "does not say what is given" in err
    code, err = _check(tmp_path, capsys, models='["perez_ruixo_2021", "domino"]', drug=', drug = "racemic"')
    assert code == 0 and "50% of each dose" in err


@settings(max_examples=15)
@given(amount=st.floats(0.5, 200.0), route=st.sampled_from(["iv", "oral", "intranasal"]),
       sprays=st.integers(1, 3), weight=st.floats(45.0, 140.0))
def test_racemic_dose_is_half_the_esketamine_dose_in_every_route(amount, route, sprays, weight):
    """Property: in an S-ketamine model a racemic dose of X mg gives exactly the curves of an esketamine
    dose of X/2 mg, whatever the route, sprays (Perez-Ruixo's spray-dependent nasal fraction) and weight."""
    pk = load_model("perez_ruixo_2021")
    extra = {"sprays": sprays, "spray_interval": "5 min"} if route == "intranasal" else {}
    rac = Regimen("r", (parse_dose({"route": route, "amount": f"{amount!r} mg", "drug": "racemic", **extra}, "d"),))
    esk = Regimen("e", (parse_dose({"route": route, "amount": f"{amount / 2!r} mg", "drug": "esketamine", **extra},
                                   "d"),))
    ds = simulate(pk, [rac, esk], horizon=6, step=1 / 12, subject={"WT": weight})
    for v in ("ketamine_plasma", "norketamine_plasma"):
        np.testing.assert_allclose(ds[v].values[0, 0], ds[v].values[0, 1], rtol=1e-11, atol=1e-14)

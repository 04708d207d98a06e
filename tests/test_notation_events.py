"""Compact notation, NONMEM-style event records, steady state, nmsim and nca commands."""
import numpy as np
import pytest

from pkpd import units
from pkpd.cli.main import main
from pkpd.dosing.regimen import Dose, Regimen
from pkpd.errors import PkpdError
from pkpd.dosing.records import parse_events, records_csv, regimen_to_records
from pkpd.models.load import load_model
from pkpd.dosing.notation import format_regimen, parse_regimen
from pkpd.simulation.typical import simulate

from helpers import one_cmt

EXAMPLES = {
    "0.5 mg/kg over 40 min": [dict(route="iv", duration=40 / 60, start=0.0, times=1)],
    "28 mg IN x2 every 5 min": [dict(route="intranasal", sprays=2, spray_interval=5 / 60)],
    "100 mg PO every 24 h x7 then 50 mg every 12 h x20": [dict(route="oral", times=7, every=24.0, start=0.0),
                                                           dict(route="oral", times=20, every=12.0, start=168.0)],
    "0.1 mg/kg IV then 10 mg/h for 2 h": [dict(route="iv", duration=None, start=0.0),
                                         dict(route="iv", duration=2.0, start=0.0)],
    "0.25 mg/kg/h for 20 min then 0.1 mg/kg/h for 100 min": [dict(start=0.0, duration=1 / 3),
                                                             dict(start=1 / 3, duration=100 / 60)],
    "50 mg PO every 12 h x5 SS": [dict(steady_state=True, every=12.0, times=5)],
    # one dose at steady state on 50 mg every 12 h: format_regimen used to drop the interval here
    "50 mg PO every 12 h x1 SS": [dict(steady_state=True, every=12.0, times=1)],
    "50 mg PO every 12 h x1 then 20 mg IV": [dict(every=12.0, times=1, start=0.0), dict(route="iv", start=0.0)],
}


@pytest.mark.parametrize("text", list(EXAMPLES))
def test_notation_examples(text):
    reg = parse_regimen(text)
    assert len(reg.doses) == len(EXAMPLES[text])
    for d, want in zip(reg.doses, EXAMPLES[text]):
        for k, v in want.items():
            got = getattr(d, k)
            assert got == pytest.approx(v) if isinstance(v, float) else got == v, (k, got, v)
    # round trips: text → regimen → text → regimen, and regimen → records → regimen
    assert parse_regimen(format_regimen(reg)).doses == reg.doses


@pytest.mark.parametrize("text", ["28 mg IN x2 every 5 min every 84 h x4", "0.5 mg/kg IV over 40 min racemic",
                                  "100 mg PO every 24 h x7 then 50 mg PO every 12 h x20", "10 mg IV at 17 min",
                                  "0.25 mg/kg/h IV for 20 min then 0.1 mg/kg/h IV for 100 min"])
def test_format_regimen_writes_what_a_clinician_would(text):
    """Short numbers and minutes where they read back exactly (was '28.0 mg … every 0.08333333333333333 h')."""
    assert format_regimen(parse_regimen(text)) == text


def test_format_regimen_keeps_full_precision_where_short_text_would_not_read_back():
    reg = Regimen("r", (Dose("iv", amount=units.Quantity(10.0, "amount", False, "10 mg"), start=0.1 + 0.2),))
    text = format_regimen(reg)
    assert "0.30000000000000004 h" in text and parse_regimen(text).doses == reg.doses


@pytest.mark.parametrize("text,msg", [
    ("28 mg", "route"), ("28 mg IN x2", "every"), ("100 mg PO every 24 h", "how many"), ("28 mg IV IN", "two routes"),
    ("-3 mg IV", "negative"), ("5 min IV", "dose"), ("28 mg PO over 4 h", "iv route"), ("28 mg IV then", "after 'then'"),
    ("20 mg/h IV", "for TIME"), ("28 mgg IV", "unknown unit"), ("import os", "dose"),
])
def test_notation_errors_point_at_the_problem(text, msg):
    with pytest.raises(PkpdError, match=msg) as e:
        parse_regimen(text, field="regimens[0].text")
    assert e.value.field == "regimens[0].text"


@pytest.mark.parametrize("text", ["0.5 mg/kg over 40 min", "28 mg IN x3 every 5 min every 72 h x2",
                                  "100 mg PO every 24 h x7 then 50 mg every 12 h x20", "10 mg IV then 20 mg/h for 1 h"])
def test_records_round_trip(text):
    reg = parse_regimen(text)
    rows = regimen_to_records(reg, weight=70.0)
    csv = records_csv(rows)
    back = parse_events(csv).regimens[1]
    m = load_model("perez_ruixo_2021")
    a = simulate(m, reg, horizon=200, step=0.25).ketamine_plasma.values
    b = simulate(m, back, horizon=200, step=0.25).ketamine_plasma.values
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


def test_records_keep_the_drug_form():
    """A racemic dose written as records and read back stays racemic: Perez-Ruixo 2021 (an esketamine
    model) takes half of it, so its S-ketamine curve is half that of the same mg given as esketamine
    (linear model); records without a DRUG column are unchanged (drug not stated)."""
    reg = parse_regimen("0.5 mg/kg racemic over 40 min then 28 mg IN x2 every 5 min esketamine")
    csv = records_csv(regimen_to_records(reg, weight=70.0))
    assert csv.splitlines()[0].endswith(",DRUG") and ",racemic ketamine" in csv
    back = parse_events(csv).regimens[1]
    assert [d.drug for d in back.doses] == ["racemic ketamine", "S-ketamine"]
    m = load_model("perez_ruixo_2021")
    racemic = simulate(m, back, horizon=4, step=0.25).ketamine_plasma.values
    np.testing.assert_allclose(racemic, simulate(m, reg, horizon=4, step=0.25).ketamine_plasma.values, rtol=1e-12)
    iv_only = parse_events(records_csv(regimen_to_records(parse_regimen("35 mg racemic over 40 min"))))
    esk = parse_events(records_csv(regimen_to_records(parse_regimen("35 mg esketamine over 40 min"))))
    np.testing.assert_allclose(simulate(m, iv_only.regimens[1], horizon=4, step=0.25).ketamine_plasma.values,
                               0.5 * simulate(m, esk.regimens[1], horizon=4, step=0.25).ketamine_plasma.values,
                               rtol=1e-12)
    plain = records_csv(regimen_to_records(parse_regimen("35 mg over 40 min")))
    assert "DRUG" not in plain and parse_events(plain).regimens[1].doses[0].drug is None
    with pytest.raises(PkpdError, match="row 2: DRUG 'ketamine' alone is ambiguous"):
        parse_events(csv.replace("racemic ketamine", "ketamine"))


def test_steady_state_is_exact():
    """IV bolus every τ at steady state: C(0+) = D/V / (1 − e^{−kτ}), periodic; oral likewise periodic."""
    m = one_cmt(V=50, CL=10, ka=1.2, F=0.6)
    ds = simulate(m, parse_regimen("100 mg IV every 12 h x3 SS"), horizon=36, step=0.5)
    c = ds.ketamine_plasma.values[0, 0] / 1000
    assert c[0] == pytest.approx(2.0 / (1 - np.exp(-0.2 * 12)), rel=1e-12)
    np.testing.assert_allclose(c[:24], c[24:48], rtol=1e-10)
    ds = simulate(m, parse_regimen("100 mg PO every 8 h x4 SS"), horizon=32, step=0.25)
    c = ds.ketamine_plasma.values[0, 0]
    np.testing.assert_allclose(c[:32], c[32:64], rtol=1e-10)
    # steady state = the limit of many doses without it
    many = simulate(m, parse_regimen("100 mg PO every 8 h x40"), horizon=320, step=0.25).ketamine_plasma.values[0, 0]
    np.testing.assert_allclose(c[:32], many[39 * 32:40 * 32], rtol=1e-8)


GOOD = "ID,TIME,AMT,RATE,CMT,EVID,II,ADDL,SS,SPRAY,DV,WT\n1,0,10,0,1,1,0,0,0,1,.,70\n1,1,.,.,.,0,.,.,.,.,.,70\n"


@pytest.mark.parametrize("edit,words", [
    (("1,0,10,0,1,1", "1,0,-10,0,1,1"), ["row 2", "AMT > 0"]),
    (("1,0,10,0,1,1", "1,0,10,-1,1,1"), ["row 2", "RATE"]),
    (("1,0,10,0,1,1", "1,0,10,0,9,1"), ["row 2", "CMT"]),
    (("1,0,10,0,1,1", "1,0,10,0,1,3"), ["row 2", "EVID 3"]),
    (("1,1,.", "1,-1,."), ["row 3", "TIME"]),
    (("1,0,10,0,1,1,0,0,0", "1,0,10,0,1,1,0,3,0"), ["II > 0"]),
    (("1,0,10", "1,zero,10"), ["row 2", "TIME must be a number"]),
    (("ID,TIME,AMT", "ID,T,AMT"), ["missing column TIME"]),
    (("1,1,.,.,.,0", "1,1,nan,.,.,0"), ["AMT must be finite"]),
])
def test_event_reader_errors(edit, words):
    old, new = edit
    assert old in GOOD
    with pytest.raises(PkpdError) as e:
        parse_events(GOOD.replace(old, new), "trial.csv")
    msg = e.value.message
    assert "trial.csv" in msg
    for w in words:
        assert w in msg, msg


def test_time_order_within_id_and_spray_grouping():
    bad = GOOD + "1,0.5,.,.,.,0,.,.,.,.,.,70\n"
    with pytest.raises(PkpdError, match="must not decrease"):
        parse_events(bad)
    sprays = ("ID,TIME,AMT,CMT,EVID,SPRAY\n1,0,28,3,1,1\n1,0.0833333333333,28,3,1,2\n1,0.166666666667,28,3,1,3\n")
    reg = parse_events(sprays).regimens[1]
    assert len(reg.doses) == 1 and reg.doses[0].sprays == 3
    assert reg.doses[0].spray_interval == pytest.approx(5 / 60)


def test_nmsim_and_nca_commands(root, tmp_path, capsys):
    src = root / "scenarios" / "data" / "trial.csv"
    out = tmp_path / "sim.csv"
    # --prop 0 --add 0: no residual error (by default nmsim adds the model's published σ)
    assert main(["nmsim", str(src), "--model", "perez_ruixo_2021", "-o", str(out), "--prop", "0", "--add", "0"]) == 0
    ed = parse_events(out.read_text())
    rows = [r for r in ed.rows if r["ID"] == 1 and r["EVID"] == 0]
    # DV equals the typical-subject simulation at those times
    m = load_model("perez_ruixo_2021")
    ds = simulate(m, ed.regimens[1], horizon=24, step=1 / 60)
    for r in rows:
        dv = float(r["_raw"]["DV"])
        i = int(np.argmin(np.abs(ds.time.values - r["TIME"])))
        if abs(ds.time.values[i] - r["TIME"]) < 1e-9:
            assert dv == pytest.approx(ds.ketamine_plasma.values[0, 0, i], rel=1e-5)
    capsys.readouterr()
    assert main(["nca", str(out), "-o", str(tmp_path / "nca.csv")]) == 0
    table = capsys.readouterr().out
    assert "t1/2 (h)" in table and (tmp_path / "nca.csv").is_file()
    assert main(["nca", str(tmp_path / "missing.csv")]) == 2


def test_scenario_regimens_from_text_and_events(root, tmp_path, capsys):
    sc = tmp_path / "s.toml"
    (tmp_path / "trial.csv").write_text((root / "scenarios" / "data" / "trial.csv").read_text())
    sc.write_text('''
[scenario]
models = ["perez_ruixo_2021"]
[time]
horizon = "24 h"
step = "5 min"
[[regimens]]
text = "0.5 mg/kg over 40 min"
[[regimens]]
name = "subject 2 of the trial"
events = "trial.csv"
id = 2
''')
    assert main(["check", str(sc)]) == 0
    sc.write_text(sc.read_text().replace("id = 2", "id = 9"))
    assert main(["check", str(sc)]) == 2
    assert "choose one with 'id'" in capsys.readouterr().err

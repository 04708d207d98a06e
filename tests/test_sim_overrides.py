"""One-line runs (``pkpd sim``), typical-value overrides (``--set``, ``simulate(overrides=)``) and
their bad input (issue 17)."""
import csv
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pkpd
from pkpd.cli.main import main
from pkpd.models.overrides import assignments_to_overrides, override_value, parse_assignment, with_overrides
from helpers import widest_line

ROOT = Path(__file__).resolve().parent.parent
PR = "perez_ruixo_2021"


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------------------------
# the Python API

def test_volume_override_halves_the_initial_concentration():
    """An IV bolus of 10 mg into Perez-Ruixo's central volume (Vc 192 L, Table 3) gives
    C(0+) = 10 mg / 192 L = 52.083 ng/mL; with Vc overridden to 384 L it is 26.042 ng/mL
    (values at a dose time are post-dose).  The override's text and the same value in other
    units or as an internal-unit number give identical results."""
    m, r = pkpd.load_model(PR), pkpd.parse_regimen("10 mg IV")
    base = pkpd.simulate(m, r, horizon=1, step=1 / 60)
    assert base.ketamine_plasma.values[0, 0, 0] == pytest.approx(10 / 192 * 1000, rel=1e-12)
    runs = [pkpd.simulate(m, r, horizon=1, step=1 / 60, overrides={PR: {"Vc": v}})
            for v in ("384 L", "384000 mL", "0.384 m**3", 384.0)]
    assert runs[0].ketamine_plasma.values[0, 0, 0] == pytest.approx(10 / 384 * 1000, rel=1e-12)
    for ds in runs[1:]:
        np.testing.assert_allclose(ds.ketamine_plasma.values, runs[0].ketamine_plasma.values, rtol=1e-12)
    # the model object itself is untouched
    assert m.parameters["Vc"].value == 192.0


def test_override_units_are_converted_to_internal_units():
    """Olofsen 2022's C50 is written 0.51 nmol/mL of ketamine (237.73 g/mol): 0.51 × 0.23773 =
    0.121242 mg/L.  121 ng/mL → 0.121 mg/L; 0.509 nmol/mL → 0.509 × 0.23773 = 0.121005 mg/L;
    t½ke0 '10 min' → 1/6 h; a dimensionless gamma takes a plain number."""
    o = pkpd.load_model("olofsen_2022")
    assert o.parameters["C50"].value == pytest.approx(0.51 * 0.23773, rel=1e-12)
    assert override_value(o.parameters["C50"], "121 ng/mL", "f") == pytest.approx(0.121, rel=1e-12)
    assert override_value(o.parameters["C50"], "0.509 nmol/mL", "f") == pytest.approx(0.509 * 0.23773, rel=1e-12)
    assert override_value(o.parameters["t12ke0"], "10 min", "f") == pytest.approx(1 / 6, rel=1e-12)
    assert override_value(o.parameters["gamma"], "2.5", "f") == 2.5
    changed, = with_overrides([o], {"olofsen_2022": {"C50": "121 ng/mL"}})
    assert changed.parameters["C50"].value == pytest.approx(0.121)
    assert changed.parameters["C50"].ci is None  # the typical value is now the user's
    assert "C50 = " in changed.meta["overrides"] and "file: 0.51 nmol/mL" in changed.meta["overrides"]


def test_a_pd_override_changes_the_readout_as_the_emax_equation_says():
    """Sigmoid Emax: E = Ce^γ / (C50^γ + Ce^γ).  Doubling C50 at γ = 2 turns E into
    Ce² / (4 C50² + Ce²); checked against the effect-site concentration of the same run."""
    m, r, o = pkpd.load_model(PR), pkpd.parse_regimen("0.5 mg/kg IV over 40 min"), pkpd.load_model("olofsen_2022")
    c50 = o.parameters["C50"].value * 1000  # ng/mL
    ds = pkpd.simulate(m, r, horizon=2, step=1 / 60, pd=[o], overrides={"olofsen_2022": {"C50": f"{2 * c50} ng/mL"}})
    ce = ds.ce_olofsen_2022_ketamine.values[0, 0]
    e = ds.antinociception_olofsen_2022.values[0, 0]
    np.testing.assert_allclose(e, ce ** 2 / ((2 * c50) ** 2 + ce ** 2), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("overrides, words", [
    ({"nope": {"Vc": "1 L"}}, ["unknown model 'nope'", PR]),
    ({PR: {"CL": "60 L/h"}}, ["no parameter 'CL'", "Vc", "kel"]),
    ({PR: {"Vc": "60 L/h"}}, ["wrong dimension", "Vc", "L"]),
    ({PR: {"Vc": "384"}}, ["no unit", "192 L"]),
    ({PR: {"Vc": "-1 L"}}, ["cannot be negative"]),
    ({PR: {"Vc": "inf L"}}, ["not a finite number"]),
    ({PR: {"Vc": True}}, ["must be a quantity"]),
    ({PR: {"Vc": "twelve litres"}}, ["cannot read"]),
    ({PR: ["Vc"]}, ["must be a dict"]),
])
def test_bad_overrides_are_one_pkpd_error_naming_the_field(overrides, words):
    m, r = pkpd.load_model(PR), pkpd.parse_regimen("10 mg IV")
    with pytest.raises(pkpd.PkpdError) as e:
        pkpd.simulate(m, r, horizon=1, overrides=overrides)
    for w in words:
        assert w in e.value.message
    assert e.value.message.startswith("overrides.")


def test_population_overrides_take_units_and_refuse_unknown_models():
    """simulate_population used to ignore an unknown model name silently."""
    m, r = pkpd.load_model(PR), pkpd.parse_regimen("10 mg IV")
    pop = pkpd.Population(n=64, seed=1, iiv=False)
    a = pkpd.simulate_population(m, r, pop, horizon=1, step=1 / 60, overrides={PR: {"Vc": "384 L"}})
    b = pkpd.simulate_population(m, r, pop, horizon=1, step=1 / 60, overrides={PR: {"Vc": 384.0}})
    np.testing.assert_allclose(a.ketamine_plasma_cmax.values, 10 / 384 * 1000, rtol=1e-9)
    np.testing.assert_array_equal(a.ketamine_plasma_cmax.values, b.ketamine_plasma_cmax.values)
    with pytest.raises(pkpd.PkpdError, match="unknown model 'typo'"):
        pkpd.simulate_population(m, r, pop, horizon=1, overrides={"typo": {"Vc": "1 L"}})


@pytest.mark.parametrize("text", ["Vc=1 L", "perez_ruixo_2021.Vc", "perez_ruixo_2021.Vc=", ".Vc=1 L", "=3"])
def test_set_assignments_must_read_model_param_value(text):
    with pytest.raises(pkpd.PkpdError, match="MODEL.PARAM=VALUE"):
        parse_assignment(text)


def test_set_assignments_collect_per_model_and_refuse_duplicates():
    assert parse_assignment("a.b.c=1 L") == ("a.b", "c", "1 L")
    assert assignments_to_overrides([f"{PR}.Vc=384 L", f"{PR}.kel = 2 1/h", "olofsen_2022.C50=0.6 nmol/mL"]) == {
        PR: {"Vc": "384 L", "kel": "2 1/h"}, "olofsen_2022": {"C50": "0.6 nmol/mL"}}
    with pytest.raises(pkpd.PkpdError, match="set twice"):
        assignments_to_overrides([f"{PR}.Vc=1 L", f"{PR}.Vc=2 L"])


# ---------------------------------------------------------------------------------------------
# pkpd sim and pkpd run --set, end to end

def test_sim_one_line_run_writes_the_usual_files(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["sim", PR, "10 mg IV", "--hours", "2", "--pd", "olofsen_2022",
                 "--set", f"{PR}.Vc=384 L", "-o", str(out)]) == 0
    cap = capsys.readouterr()
    for name in ("sim.nc", "sim_summary.csv", f"sim_{PR}.png", "sim_report.html"):
        assert (out / name).is_file(), name
    assert widest_line(cap.out + cap.err) <= 100
    assert "Typical subject:" in cap.out and "(ng/mL)" in cap.out and "olofsen_2022" in cap.out
    assert "arterial" in cap.err  # the pairing warning, as every pairing command prints it
    row, = _read_csv(out / "sim_summary.csv")
    assert float(row["ketamine_plasma_cmax"]) == pytest.approx(10 / 384 * 1000, rel=1e-5)
    with xr.open_dataset(out / "sim.nc") as ds:
        assert ds.time.values[-1] == 2.0
        assert 'text = "10 mg IV"' in ds.attrs["scenario_text"]
        assert "Vc = 384 L" in ds.attrs[f"overrides_{PR}"]


def test_sim_population_and_hours_with_units(tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["sim", PR, "28 mg IN x2 every 5 min", "--hours", "6 h", "--step", "5 min",
                 "--population", "200", "-q", "-o", str(out)]) == 0
    assert (out / "sim_population.nc").is_file() and (out / "sim_population_summary.csv").is_file()
    with xr.open_dataset(out / "sim_population.nc") as ds:
        assert ds.sizes["subject"] == 200


@pytest.mark.parametrize("argv, words", [
    (["sim", "no_such_model", "10 mg IV"], ["no_such_model"]),
    (["sim", "olofsen_2022", "10 mg IV"], ["MODEL", "PD model"]),
    (["sim", PR, "10 mg XX"], ["REGIMEN", "xx"]),
    (["sim", PR, "10 mg IV", "--pd", PR], ["--pd", "PK model"]),
    (["sim", PR, "10 mg IV", "--hours", "soon"], ["--hours"]),
    (["sim", PR, "10 mg IV", "--hours", "2 kg"], ["--hours", "wrong dimension"]),
    (["sim", PR, "10 mg IV", "--set", "Vc=1 L"], ["--set", "MODEL.PARAM=VALUE"]),
    (["sim", PR, "10 mg IV", "--set", f"{PR}.CL=60 L/h"], ["--set perez_ruixo_2021.CL", "no parameter"]),
    (["sim", PR, "10 mg IV", "--population", "-3"], ["--population"]),
])
def test_sim_bad_input_is_one_line_exit_2_and_no_file(tmp_path, capsys, argv, words):
    out = tmp_path / "o"
    assert main(argv + ["-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pkpd: error:") and "Traceback" not in err
    for w in words:
        assert w in err
    assert not out.exists() or not any(out.iterdir())


def test_run_set_changes_one_value_and_names_a_bad_one(tmp_path, capsys):
    sc = tmp_path / "s.toml"
    sc.write_text('[scenario]\nmodels = ["perez_ruixo_2021"]\n[time]\nhorizon = "1 h"\nstep = "1 min"\n'
                  '[[regimens]]\ntext = "10 mg IV"\n[output]\nformats = ["csv"]\n')
    assert main(["run", str(sc), "-o", str(tmp_path / "a"), "--set", f"{PR}.Vc=384 L"]) == 0
    row, = _read_csv(tmp_path / "a" / "s_summary.csv")
    assert float(row["ketamine_plasma_cmax"]) == pytest.approx(10 / 384 * 1000, rel=1e-5)
    capsys.readouterr()
    assert main(["run", str(sc), "-o", str(tmp_path / "b"), "--set", "olofsen_2022.C50=1 ng/mL"]) == 2
    assert "unknown model 'olofsen_2022'" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_every_command_has_help_examples(capsys):
    from pkpd.cli.main import COMMANDS
    for name, mod in COMMANDS.items():
        assert mod.EXAMPLES and all(e.startswith(f"pkpd {name}") for e in mod.EXAMPLES), name
        with pytest.raises(SystemExit):
            main([name, "--help"])
        out = capsys.readouterr().out
        assert "examples:" in out and mod.EXAMPLES[0].split("  ")[0] in out, name

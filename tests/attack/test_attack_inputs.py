"""A wrong answer without a word, and input files that are not files: BOMs, misspelled and missing
columns, FIFOs and devices, oversized files, the spray number in route fractions, fuzzed keys."""
from __future__ import annotations

import os

import numpy as np
import pytest

from attack_kit import MODELS, child, cli, nothing_left, refused, scenario
from pkpd.dosing.events import regimen_events
from pkpd.dosing.notation import parse_regimen
from pkpd.dosing.records import parse_events, read_events
from pkpd.errors import PkpdError
from pkpd.models.pk import parse_model
from pkpd.simulation.sampling import read_covariate_csv

pytestmark = pytest.mark.attack

POP = '''
[population]
n = 300
covariates_file = "subjects.csv"
'''


def _pop_scenario(tmp, csv_text: str, encoding="utf-8"):
    (tmp / "subjects.csv").write_text(csv_text, encoding=encoding)
    return scenario(tmp, **{'[[regimens]]': POP + '\n[[regimens]]'})


def test_excel_bom_keeps_the_weight_column(tmp_path):
    """Excel's "CSV UTF-8" starts with a byte-order mark; WT must still be read (not 70 kg for all)."""
    f = tmp_path / "subjects.csv"
    f.write_text("WT,AGE,SEX\n50,30,F\n110,60,M\n", encoding="utf-8-sig")
    assert f.read_bytes()[:3] == b"\xef\xbb\xbf"
    t = read_covariate_csv(f)
    np.testing.assert_array_equal(t["WT"], [50, 110])
    p = _pop_scenario(tmp_path, "WT,AGE,SEX\n50,30,F\n110,60,M\n", encoding="utf-8-sig")
    code, _, err, _ = cli(["run", p, "-o", tmp_path / "out", "-q", "--no-figures"])
    assert code == 0, err
    import xarray as xr
    with xr.open_dataset(tmp_path / "out" / "s_population.nc") as ds:
        assert sorted(set(ds.covariate_WT.values.round(6))) == [50.0, 110.0]


def test_event_file_with_a_bom_reads(tmp_path):
    f = tmp_path / "ev.csv"
    f.write_text("ID,TIME,AMT,CMT,EVID\n1,0,28,1,1\n", encoding="utf-8-sig")
    assert read_events(f).regimens[1].doses[0].amount.value == 28.0


@pytest.mark.parametrize("header,words", [("Weight_kg,AGE\n", ["'Weight_kg'", "unknown column"]),
                                          ("ID,AGE\n", ["no WT column", "domino"]),
                                          ("ID\n", ["no covariate column"])])
def test_misspelled_or_missing_covariate_columns_are_refused(tmp_path, header, words):
    rows = "".join(f"{70 + i},{30 + i}\n" if "," in header else f"{i}\n" for i in range(3))
    p = _pop_scenario(tmp_path, header + rows)
    refused(cli(["run", p, "-o", tmp_path / "out"]), "subjects.csv" if "Weight" in header or header == "ID\n"
            else "population.covariates_file", *words)
    nothing_left(tmp_path / "out")


@pytest.mark.parametrize("cells,words", [("0,30", ["WT", "0.5–400"]), ("70,-5", ["AGE", "0–120"]),
                                         ("nan,30", ["WT", "finite"])])
def test_impossible_covariates_in_a_file_are_refused(tmp_path, cells, words):
    p = _pop_scenario(tmp_path, "WT,AGE\n" + cells + "\n")
    refused(cli(["run", p, "-o", tmp_path / "out"]), *words)
    nothing_left(tmp_path / "out")


def test_nmsim_refuses_an_event_file_without_the_weight_a_model_uses(tmp_path):
    f = tmp_path / "ev.csv"
    f.write_text("ID,TIME,AMT,CMT,EVID,DV\n1,0,20,1,1,.\n1,1,.,1,0,.\n", encoding="utf-8")
    refused(cli(["nmsim", f, "--model", "domino", "-o", tmp_path / "out.csv"]), "WT", "domino")
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("what", ["scenario", "model", "events", "covariates"])
def test_fifos_devices_and_folders_are_refused_not_read(tmp_path, what):
    """A FIFO would block for ever, /dev/zero never ends: both are refused before reading (child
    process with a timeout, so a regression fails instead of hanging the suite)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for target in (fifo, "/dev/zero", tmp_path):
        if what == "scenario":
            argv = ["check", target]
        elif what == "model":
            argv = ["models", "show", target]
        elif what == "events":
            argv = ["nmsim", target, "--model", "domino"]
        else:
            p = scenario(tmp_path, **{'[[regimens]]': f'[population]\nn = 300\ncovariates_file = "{target}"\n\n'
                                                      '[[regimens]]'})
            argv = ["check", p]
        if what == "model" and target == tmp_path:
            continue  # a folder is simply not a model name
        msg = refused(child(argv, timeout=60), seconds=60)
        assert any(w in msg for w in ("FIFO", "device", "folder", "unknown model")), msg


def test_a_huge_scenario_file_is_refused_by_size(tmp_path):
    p = scenario(tmp_path)
    p.write_text(p.read_text() + "# " + "x" * 5000 + "\n")
    refused(cli(["check", p], env={"PKPD_MAX_TOML_FILE": "4KiB"}), "above the limit", "PKPD_MAX_TOML_FILE")
    refused(cli(["check", p], env={"PKPD_MAX_TOML_FILE": "lots"}), "PKPD_MAX_TOML_FILE", "not a valid")


def test_spray_number_reaches_route_fractions():
    """``fraction = "where(spray > 1, 0, 1)"``: the second spray must give nothing (it gave a full dose)."""
    import tomllib
    text = (MODELS / "domino.toml").read_text(encoding="utf-8") + '''
[[routes.intranasal]]
target = "central"
fraction = "where(spray > 1, 0, 1)"
'''
    m = parse_model(tomllib.loads(text), text, "spray.toml")
    reg = parse_regimen("28 mg IN x2 every 5 min")
    v = m.params.individual()
    ev = regimen_events(m, reg, v, np.array([70.0]))
    assert ev.total_in[0] == pytest.approx(28.0)  # one spray's 28 mg, not 56
    assert sorted(ev.value[0]) == pytest.approx([0.0, 28.0])


@pytest.mark.parametrize("dist", ["[1, 2]", '{ a = 1 }', '["normal"]'])
def test_fuzzed_population_dist_is_an_error_not_a_type_error(tmp_path, dist):
    p = scenario(tmp_path, **{'[[regimens]]': f'[population]\nn = 300\nweight = {{ dist = {dist}, mean = "70 kg", '
                                              f'sd = "10 kg" }}\n\n[[regimens]]'})
    refused(cli(["check", p]), "population.weight.dist")


def test_an_event_file_that_expands_to_too_many_administrations_is_refused(tmp_path):
    """5,000 dose rows with ADDL 100,000 each (5·10⁸ administrations) used to hang."""
    rows = "".join(f"1,{i},10,1,1,1,100000\n" for i in range(5000))
    text = "ID,TIME,AMT,CMT,EVID,II,ADDL\n" + rows
    with pytest.raises(PkpdError, match="administrations"):
        parse_events(text)
    f = tmp_path / "ev.csv"
    f.write_text(text)
    refused(cli(["nmsim", f, "--model", "domino", "-o", tmp_path / "o.csv"]), "administrations", seconds=20)
    assert not (tmp_path / "o.csv").exists()

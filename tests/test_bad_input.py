"""Bad input: one clear message naming file, field and problem; exit 2; no traceback; no files."""
import textwrap

import pytest

from helpers import ONE_COMPARTMENT as MODEL

from pkpd.cli.main import main

GOOD = textwrap.dedent('''
    [scenario]
    title = "t"
    models = ["perez_ruixo_2021"]

    [time]
    horizon = "24 h"
    step = "1 min"

    [[regimens]]
    name = "iv"
    doses = [{ route = "iv", amount = "0.5 mg/kg", duration = "40 min" }]
''')

CASES = {
    # name: (replace old → new in GOOD, words the message must contain)
    "malformed toml": (('title = "t"', 'title = "t'), ["not valid TOML"]),
    "unknown model": (('"perez_ruixo_2021"', '"no_such_model"'), ["unknown model", "no_such_model"]),
    "unknown route": (('route = "iv"', 'route = "rectal"'), ["regimens[0].doses[0].route", "unknown route"]),
    "missing horizon": (('horizon = "24 h"\n', ''), ["time.horizon"]),
    "missing regimens": (('[[regimens]]\nname = "iv"\ndoses = [{ route = "iv", amount = "0.5 mg/kg", duration = "40 min" }]', ''),
                         ["regimens"]),
    "negative dose": (('amount = "0.5 mg/kg"', 'amount = "-0.5 mg/kg"'), ["amount", "negative"]),
    "non-finite dose": (('amount = "0.5 mg/kg"', 'amount = "nan mg"'), ["amount", "finite"]),
    "infinite dose": (('amount = "0.5 mg/kg"', 'amount = "inf mg"'), ["amount", "finite"]),
    "duration in mg": (('duration = "40 min"', 'duration = "40 mg"'), ["duration", "wrong dimension"]),
    "dose in minutes": (('amount = "0.5 mg/kg"', 'amount = "5 min"'), ["amount", "wrong dimension"]),
    "unknown unit": (('amount = "0.5 mg/kg"', 'amount = "0.5 mgg"'), ["amount", "unknown unit"]),
    "step larger than horizon": (('step = "1 min"', 'step = "25 h"'), ["time.step", "larger than the horizon"]),
    "bare number dose": (('amount = "0.5 mg/kg"', 'amount = 35'), ["amount", "no unit"]),
    "unknown key": (('duration = "40 min"', 'duraton = "40 min"'), ["duraton", "unknown key"]),
    "absurd grid": (('step = "1 min"', 'step = "0.00001 s"'), ["time.step", "time points"]),
    "sprays on iv": (('duration = "40 min"', 'sprays = 2'), ["sprays", "intranasal"]),
    "pd model as pk": (('"perez_ruixo_2021"', '"olofsen_2022"'), ["PD model"]),
    "bad weight": (('[time]', '[subject]\nweight = "7000 kg"\n\n[time]'), ["subject.weight", "outside"]),
    "unknown covariate": (('[time]', '[subject]\nshoe_size = 42\n\n[time]'), ["subject.shoe_size", "unknown covariate"]),
    "unknown solver": (('[time]', '[solver]\nmethod = "euler"\n\n[time]'), ["solver.method", "exponential"]),
    # issue 18: rtol below 100 × float64 epsilon is refused, so the range starts at 2.2e-14
    "bad rtol": (('[time]', '[solver]\nrtol = 5\n\n[time]'), ["solver.rtol", "2.2e-14"]),
    "unknown solver key": (('[time]', '[solver]\nhmax = 1\n\n[time]'), ["solver.hmax", "unknown key"]),
    # issue 14: what is given against what the models describe, validity
    "racemic PK with S PD, no conversion": (('models = ["perez_ruixo_2021"]', 'models = ["domino"]\npd = ["simons_2022_pd"]'),
                                            ["scenario.pd", "domino.toml", "simons_2022_pd.toml", "[enantiomers]"]),
    "unknown drug": (('duration = "40 min" }', 'duration = "40 min", drug = "ketamin" }'),
                     ["regimens[0].doses[0].drug", "unknown drug 'ketamin'", "esketamine"]),
    "ambiguous drug": (('duration = "40 min" }', 'duration = "40 min", drug = "ketamine" }'),
                       ["regimens[0].doses[0].drug", "ambiguous"]),
    "unknown drug in notation": (('doses = [{ route = "iv", amount = "0.5 mg/kg", duration = "40 min" }]',
                                  'text = "0.5 mg/kg esketamin over 40 min"'), ["regimens[0].text", "esketamin"]),
    "esketamine into a racemic model": (('models = ["perez_ruixo_2021"]', 'models = ["domino"]\n\n[[regimens]]\n'
                                         'name = "esk"\ntext = "10 mg esketamine IV"'),
                                        ["regimens[0]", "an S-ketamine dose cannot be simulated with domino"]),
    "bad validity flag": (('title = "t"', 'title = "t"\nvalidity = "maybe"'), ["scenario.validity", "warn, refuse"]),
    "outside validity, refused": (('models = ["perez_ruixo_2021"]', 'models = ["herd_anderson_2007"]\nvalidity = "refuse"'),
                                  ["herd_anderson_2007 was estimated over", "AGE 40 years", "refused"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_scenario(case, tmp_path, capsys):
    (old, new), words = CASES[case]
    assert old in GOOD
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(old, new))
    out = tmp_path / "out"
    code = main(["run", str(path), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert str(path) in err, err
    for w in words:
        assert w in err, f"{w!r} not in {err!r}"
    assert not out.exists(), "no output may be written for bad input"


def test_good_scenario_passes(tmp_path, capsys):
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    assert main(["check", str(path)]) == 0


def test_missing_scenario_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_several_problems_are_reported_together(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace('"0.5 mg/kg"', '"-1 mg"').replace('"1 min"', '"1 mg"'))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "2 problems" in err and "time.step" in err and "amount" in err


BAD_MODELS = {
    "no compartments": ("[compartments]\ncentral", "[compartments_x]\ncentral", ["compartments"]),
    "wrong unit kind for volume": ('V = { value = 50, unit = "L"', 'V = { value = 50, unit = "L/h"', ["volume"]),
    "unknown parameter in flow": ('clearance = "CL"', 'clearance = "CLX"', ["flows[0]", "CLX"]),
    "negative volume": ('V = { value = 50', 'V = { value = -50', ["parameters.V", "negative"]),
    "forbidden expression": ('clearance = "CL"', 'clearance = "__import__(\'os\').system(\'true\')"', ["not allowed"]),
    "attribute access": ('clearance = "CL"', 'clearance = "CL.real"', ["not allowed"]),
    "missing source": ('source = "test", grade = "table" }\nCL', 'grade = "table" }\nCL', ["parameters.V.source"]),
    "assumption without range": ('grade = "table" }\nCL', 'grade = "assumption", note = "x" }\nCL', ["range"]),
    "unknown route": ("[[routes.iv]]", "[[routes.rectal]]", ["routes.rectal", "unknown route"]),
    "unknown drug form": ('drug = "S-ketamine"', 'drug = "ketamine"', ["model.drug", "must be one of"]),
    "assumed IIV without range": ('CL = { value = 10, unit = "L/h", source = "test", grade = "table" }',
                                  'CL = { value = 10, unit = "L/h", source = "test", grade = "table", '
                                  'iiv = { cv = 0.3, grade = "assumption", note = "x" } }', ["parameters.CL.iiv.range"]),
    "IIV range not around it": ('CL = { value = 10, unit = "L/h", source = "test", grade = "table" }',
                                'CL = { value = 10, unit = "L/h", source = "test", grade = "table", '
                                'iiv = { cv = 0.3, range = [0.4, 0.5] } }', ["parameters.CL.iiv.range", "around"]),
    "validity: unknown covariate": ("[compartments]", '[validity]\ncovariates = { HEIGHT = [1, 2] }\nsource = "x"\n\n'
                                    "[compartments]", ["validity.covariates.HEIGHT", "unknown name"]),
    "validity: concentration in minutes": ("[compartments]", '[validity]\nconcentrations = { ketamine = ["5 min", '
                                           '"9 min"] }\nsource = "x"\n\n[compartments]',
                                           ["validity.concentrations.ketamine[0]", "wrong dimension"]),
}



@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_bad_model_file(case, tmp_path, capsys):
    old, new, words = BAD_MODELS[case]
    assert old in MODEL, old
    mpath = tmp_path / "m.toml"
    mpath.write_text(MODEL.replace(old, new))
    spath = tmp_path / "s.toml"
    spath.write_text(GOOD.replace('"perez_ruixo_2021"', '"m.toml"'))
    assert main(["check", str(spath)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert str(mpath) in err, err
    for w in words:
        assert w in err, f"{w!r} not in {err!r}"


def test_good_model_file_loads(tmp_path, capsys):
    (tmp_path / "m.toml").write_text(MODEL)
    spath = tmp_path / "s.toml"
    spath.write_text(GOOD.replace('"perez_ruixo_2021"', '"m.toml"'))
    assert main(["check", str(spath)]) == 0


PD_MODEL = textwrap.dedent('''
    [model]
    kind = "pd"
    name = "p"
    title = "t"
    drug = "S-ketamine"
    sampling = "venous"
    citation = "c"

    [parameters]
    C50 = { value = 100, unit = "ng/mL", source = "test", grade = "table" }
    f_S = { value = 0.5, unit = "1", source = "test", grade = "table" }
    R_rel = { value = 0.0, unit = "1", source = "test", grade = "table" }

    [enantiomers]
    s_fraction = "f_S"
    r_potency = "R_rel"

    [effects.ketamine]
    species = "ketamine"
    ke0 = "C50 * 0 + 1"

    [[readouts]]
    name = "e"
    category = "psychotomimetic"
    type = "sigmoid_emax"
    effect = "ketamine"
    C50 = "C50"
    maximum = 1.0
''')

BAD_PD_MODELS = {
    "conversion names no parameter": ('s_fraction = "f_S"', 's_fraction = "fS"', ["enantiomers.s_fraction", "'fS'"]),
    "conversion parameter with a unit": ('f_S = { value = 0.5, unit = "1"', 'f_S = { value = 0.5, unit = "ng/mL"',
                                         ["enantiomers.s_fraction", "dimensionless"]),
    "S share above one": ('f_S = { value = 0.5', 'f_S = { value = 1.5', ["enantiomers.s_fraction", "(0, 1]"]),
    "unknown conversion key": ('r_potency = "R_rel"', 'r_potency = "R_rel"\nratio = 2', ["enantiomers.ratio"]),
    "readout maximum as text": ("maximum = 1.0", 'maximum = "100 %"', ["readouts[0].maximum", "finite number"]),
    "readout bounds reversed": ("maximum = 1.0", "maximum = 1.0\nminimum = 2.0", ["readouts[0].minimum", "below"]),
}


@pytest.mark.parametrize("case", list(BAD_PD_MODELS))
def test_bad_pd_model_file(case, tmp_path, capsys):
    old, new, words = BAD_PD_MODELS[case]
    assert old in PD_MODEL, old
    ppath = tmp_path / "p.toml"
    ppath.write_text(PD_MODEL.replace(old, new))
    spath = tmp_path / "s.toml"
    spath.write_text(GOOD.replace('models = ["perez_ruixo_2021"]', 'models = ["perez_ruixo_2021"]\npd = ["p.toml"]'))
    assert main(["check", str(spath)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(ppath) in err, err
    for w in words:
        assert w in err, f"{w!r} not in {err!r}"


def test_good_pd_model_file_loads(tmp_path, capsys):
    (tmp_path / "p.toml").write_text(PD_MODEL)
    spath = tmp_path / "s.toml"
    spath.write_text(GOOD.replace('models = ["perez_ruixo_2021"]', 'models = ["perez_ruixo_2021"]\npd = ["p.toml"]'))
    assert main(["check", str(spath)]) == 0

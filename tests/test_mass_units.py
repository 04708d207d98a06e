"""``molar = false``: flows and absorption paths that carry a metabolite in parent-mass units.

Hand-computed checks: with all parent clearance forming the metabolite (fraction 1), the
metabolite formed after an IV bolus D is AUC_NK · CL_NK = D · M(NK)/M(K) = D · 223.70/237.73 with
the default molar conversion, and exactly D with ``molar = false`` (the convention of Otto 2021's
and Perez-Ruixo 2021's published code).
"""
import textwrap

import numpy as np
import pytest

from pkpd.cli.main import main
from pkpd.models.mass_units import mass_ratio
from pkpd.simulation.system import build_system

from helpers import model_from_toml, p

RATIO = 223.70 / 237.73


def parent_metabolite(flow_extra="", path_extra="", mm=False):
    flow = ('vmax = "Vmax"\nkm = "Km"' if mm else 'clearance = "CL"')
    return model_from_toml(f'''
[parameters]
V = {p(50.0, 'L')}
CL = {p(20.0, 'L/h')}
Vmax = {p(40.0, 'mg/h')}
Km = {p(2.0, 'mg/L')}
Vn = {p(80.0, 'L')}
CLn = {p(30.0, 'L/h')}
ka = {p(1.0, '1/h')}

[compartments]
central = {{ species = "ketamine", volume = "V" }}
nk = {{ species = "norketamine", volume = "Vn" }}
gut_nk = {{ species = "norketamine" }}

[[flows]]
from = "central"
to = "nk"
{flow}
{flow_extra}

[[flows]]
from = "nk"
clearance = "CLn"

[[routes.iv]]
target = "central"

[[routes.oral]]
target = "nk"
depot = "gut_nk"
ka = "ka"
fraction = "0.5"
{path_extra}
''', nk=True)


def formed_after_iv(m, dose=10.0):
    """Metabolite formed (mg) = CLn · AUC0–∞ of its concentration, AUC from the exact K⁻¹."""
    v = m.params.individual()
    K = build_system(m, v).K[0][:2, :2]  # central, nk (the depot is not reached by IV)
    x0 = np.array([dose, 0.0])
    auc = -np.linalg.solve(K, x0)[1] / v["Vn"][0]
    return auc * v["CLn"][0]


def test_default_converts_by_molar_mass():
    assert formed_after_iv(parent_metabolite()) == pytest.approx(10.0 * RATIO, rel=1e-12)


def test_molar_false_carries_parent_mass():
    m = parent_metabolite("molar = false")
    assert m.flows[0].molar is False
    assert formed_after_iv(m) == pytest.approx(10.0, rel=1e-12)


def test_path_into_metabolite_molar_false():
    """An oral path straight into the metabolite (presystemic formation), fraction 0.5 of 10 mg."""
    from pkpd.dosing.events import regimen_events
    from helpers import regimen
    for extra, expected in (("", 5.0 * RATIO), ("molar = false", 5.0)):
        m = parent_metabolite(path_extra=extra)
        ev = regimen_events(m, regimen({"route": "oral", "amount": "10 mg"}), m.params.individual(), np.array([70.0]))
        assert ev.total_in[0] == pytest.approx(expected, rel=1e-12)


def test_michaelis_menten_flow_molar_false():
    """A Michaelis–Menten flow into the metabolite: the coefficient on the destination is 1, not
    the molar-mass ratio."""
    for extra, coef in (("", RATIO), ("molar = false", 1.0)):
        m = parent_metabolite(flow_extra=extra, mm=True)
        part = build_system(m, m.params.individual()).nonlinear
        dest = [c for t, c in zip(part.tgt, part.coef[0]) if t == m.index["nk"]]
        assert dest == [pytest.approx(coef, rel=1e-12)]


def test_mass_ratio():
    assert mass_ratio("norketamine", "ketamine", True) == pytest.approx(RATIO)
    assert mass_ratio("norketamine", "ketamine", False) == 1.0
    assert mass_ratio("ketamine", "ketamine", True) == 1.0


MODEL = textwrap.dedent('''
    [model]
    name = "m"
    title = "t"
    drug = "S-ketamine"
    sampling = "venous"
    citation = "c"
    plasma = { ketamine = "central", norketamine = "nk" }

    [parameters]
    V = { value = 50, unit = "L", source = "test", grade = "table" }
    CL = { value = 10, unit = "L/h", source = "test", grade = "table" }
    V2 = { value = 50, unit = "L", source = "test", grade = "table" }

    [compartments]
    central = { species = "ketamine", volume = "V" }
    periph = { species = "ketamine", volume = "V2" }
    nk = { species = "norketamine", volume = "V" }

    [[flows]]
    from = "central"
    to = "nk"
    clearance = "CL"

    [[flows]]
    between = ["central", "periph"]
    clearance = "CL"

    [[flows]]
    from = "nk"
    clearance = "CL"

    [[routes.iv]]
    target = "central"
''')

SCENARIO = textwrap.dedent('''
    [scenario]
    title = "t"
    models = ["m.toml"]

    [time]
    horizon = "24 h"
    step = "10 min"

    [[regimens]]
    name = "iv"
    doses = [{ route = "iv", amount = "10 mg" }]
''')

BAD = {
    "not a boolean": (('to = "nk"\nclearance = "CL"', 'to = "nk"\nclearance = "CL"\nmolar = "no"'),
                      ["flows[0].molar", "true or false"]),
    "same species": (('from = "nk"\nclearance = "CL"', 'from = "nk"\nclearance = "CL"\nmolar = false'),
                     ["flows[2].molar", "not an elimination"]),
    "between": (('between = ["central", "periph"]\nclearance = "CL"',
                 'between = ["central", "periph"]\nclearance = "CL"\nmolar = false'),
                ["flows[1].molar", "another species"]),
    "iv path into the parent": (('[[routes.iv]]\ntarget = "central"', '[[routes.iv]]\ntarget = "central"\nmolar = false'),
                                ["routes.iv[0].molar", "another species"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_molar_flag(case, tmp_path, capsys):
    (old, new), words = BAD[case]
    assert old in MODEL
    (tmp_path / "m.toml").write_text(MODEL.replace(old, new))
    (tmp_path / "s.toml").write_text(SCENARIO)
    assert main(["check", str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "m.toml" in err
    for w in words:
        assert w in err, err


def test_good_molar_flag(tmp_path):
    (tmp_path / "m.toml").write_text(MODEL.replace('to = "nk"\nclearance = "CL"', 'to = "nk"\nclearance = "CL"\nmolar = false'))
    (tmp_path / "s.toml").write_text(SCENARIO)
    assert main(["check", str(tmp_path / "s.toml")]) == 0

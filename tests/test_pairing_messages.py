"""PK/PD pairing caveats: what they change and by how much, grouped per PD model, acknowledged with
``[pairing] accept``, and printed the same way by every command that pairs models (issue 17)."""
import re
from pathlib import Path

import pytest

import pkpd
from pkpd.cli import optimize as optimize_cli
from pkpd.cli import tradeoff as tradeoff_cli
from pkpd.cli.main import main
from pkpd.models.pairing import (effect_half_time_min, pairing_messages, pairing_notes, pairing_problems,
                                 pairing_warnings)

ROOT = Path(__file__).resolve().parent.parent


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_sampling_caveat_states_the_window_from_the_pd_half_time():
    """Olofsen 2022's t½ke0 is 8.3 min (abstract): 4 half-times = 33.2 min, when the effect site
    is within 2⁻⁴ = 6 % of equilibrium, so the arterial/venous shift is stated over ~33 min."""
    olo = pkpd.load_model("olofsen_2022")
    assert effect_half_time_min(olo) == pytest.approx(8.3, rel=1e-9)
    w, = pairing_warnings(pkpd.load_model("perez_ruixo_2021"), olo)
    assert "arterial" in w and "venous" in w and "33 min" in w and "8.3 min" in w
    assert "later and lower" in w  # venous concentrations lag arterial ones
    w, = pairing_warnings(pkpd.load_model("perez_ruixo_2021"), pkpd.load_model("simons_2022_pd"))
    assert "33 min" in w


def test_the_drug_form_is_not_a_warning_but_an_error_or_a_note():
    """Racemic PK with an S-ketamine PD model: the drug form is decided elsewhere (an error without
    the PD file's [enantiomers] conversion, a note with one); the warnings keep the sampling caveat."""
    pk, olo = pkpd.load_model("domino"), pkpd.load_model("olofsen_2022")
    ws = pairing_warnings(pk, olo)
    assert len(ws) == 1 and "arterial" in ws[0] and "venous" in ws[0]
    assert pairing_problems(pk, olo) or pairing_notes(pk, olo)


def test_one_warning_per_pd_model_naming_every_pk_model_and_accepted_ones_become_notes():
    pks = [pkpd.load_model("perez_ruixo_2021"), pkpd.load_model("fanta_otto_2021")]
    olo = pkpd.load_model("olofsen_2022")
    warnings, notes = pairing_messages(pks, [olo])
    assert len(warnings) == 1 and not notes
    assert "perez_ruixo_2021 and fanta_otto_2021 predict venous" in warnings[0]
    warnings, notes = pairing_messages(pks, [olo], accept={"perez_ruixo_2021/olofsen_2022"})
    assert len(warnings) == 1 and "fanta_otto_2021 predicts" in warnings[0] and "perez_ruixo" not in warnings[0]
    assert len(notes) == 1 and "accepted pairing perez_ruixo_2021/olofsen_2022" in notes[0]
    warnings, notes = pairing_messages(pks, [olo], accept={"perez_ruixo_2021/olofsen_2022",
                                                           "fanta_otto_2021/olofsen_2022"})
    assert warnings == [] and len(notes) == 1 and "pairings perez_ruixo_2021/olofsen_2022, fanta_otto_2021" in notes[0]
    assert pairing_messages([pkpd.load_model("simons_2022")], [pkpd.load_model("simons_2022_pd")]) == ([], [])


SCENARIO = """
[scenario]
models = ["perez_ruixo_2021"]
pd = ["olofsen_2022"]
[time]
horizon = "1 h"
step = "5 min"
[[regimens]]
text = "10 mg IV"
[output]
formats = ["csv"]
"""


def _scenario(tmp_path, extra: str = "") -> Path:
    p = tmp_path / "s.toml"
    p.write_text(SCENARIO + extra)
    return p


def test_accept_turns_the_warning_into_one_note(tmp_path):
    sc = pkpd.load_scenario(_scenario(tmp_path))
    assert len(sc.warnings) == 1 and "arterial" in sc.warnings[0]
    assert not any("accepted pairing" in n for n in sc.notes)
    sc = pkpd.load_scenario(_scenario(tmp_path, '[pairing]\naccept = ["perez_ruixo_2021/olofsen_2022"]\n'))
    accepted = [n for n in sc.notes if "accepted pairing" in n]
    assert sc.warnings == () and len(accepted) == 1 and "~33 min" in accepted[0]


@pytest.mark.parametrize("table, words", [
    ('[pairing]\naccept = ["olofsen_2022/perez_ruixo_2021"]\n', ["pairing.accept[0]", "perez_ruixo_2021/olofsen_2022"]),
    ('[pairing]\naccept = "perez_ruixo_2021/olofsen_2022"\n', ["pairing.accept", "must list"]),
    ('[pairing]\nacept = []\n', ["pairing.acept", "unknown key"]),
])
def test_bad_pairing_tables_are_named(tmp_path, table, words):
    with pytest.raises(pkpd.PkpdError) as e:
        pkpd.load_scenario(_scenario(tmp_path, table))
    for w in words:
        assert w in e.value.message


def test_every_pairing_command_prints_the_same_warning(tmp_path, capsys, monkeypatch):
    """run, check, sweep, tradeoff, optimize, sim, tci (effect mode) and nmsim print the caveat of
    perez_ruixo_2021 + olofsen_2022 as one ``pkpd: warning:`` with the same text."""
    expected = _flat(pairing_messages([pkpd.load_model("perez_ruixo_2021")], [pkpd.load_model("olofsen_2022")])[0][0])
    path = str(_scenario(tmp_path))
    monkeypatch.setattr(tradeoff_cli, "run_tradeoff", lambda sc, quiet=False: [])
    monkeypatch.setattr(optimize_cli, "run_optimize", lambda sc, quiet=False: [])
    out = str(tmp_path / "out")
    runs = {
        "run": (["run", path, "-q", "-o", out], 0),
        "check": (["check", path], 0),
        "sweep": (["sweep", path, "-o", out], 2),  # no [sweep] table: an error, after the warning
        "tradeoff": (["tradeoff", path, "-o", out], 0),
        "optimize": (["optimize", path, "-o", out], 0),
        "sim": (["sim", "perez_ruixo_2021", "10 mg IV", "--pd", "olofsen_2022", "--hours", "1", "-q", "-o", out], 0),
        "tci": (["tci", "--model", "perez_ruixo_2021", "--mode", "effect", "--pd", "olofsen_2022", "--target",
                 "100 ng/mL", "--duration", "5 min", "-o", out], 0),
        "nmsim": (["nmsim", str(ROOT / "scenarios" / "data" / "trial.csv"), "--model", "perez_ruixo_2021",
                   "--pd", "olofsen_2022", "-o", str(tmp_path / "nm.csv")], 0),
    }
    for name, (argv, code) in runs.items():
        assert main(argv) == code, name
        err = capsys.readouterr().err
        assert err.count("pkpd: warning:") == 1, (name, err)
        assert expected in _flat(err), (name, err)

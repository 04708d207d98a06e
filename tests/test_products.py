"""`pkpd optimize` answers with products that exist: whole 28-mg devices, oral doses in measurable
steps, IV doses in mg/kg steps, always one of the candidates simulated, and says when none works."""
from pathlib import Path

import numpy as np
import pytest

from pkpd.analysis.products import ProductSpec, choose, ladder
from pkpd.cli.main import main
from helpers import regimen

ROOT = Path(__file__).resolve().parent.parent


def test_intranasal_ladder_is_whole_devices():
    base = regimen({"route": "intranasal", "amount": "28 mg", "sprays": 2, "spray_interval": "5 min"}, name="IN")
    lad = ladder(base, ProductSpec(), (0.05, 10), 70.0)
    assert [c.dose_mg for c in lad] == [28.0, 56.0, 84.0]
    assert [c.regimen.doses[0].sprays for c in lad] == [1, 2, 3]
    assert all(isinstance(c.regimen.doses[0].sprays, int) for c in lad)
    assert lad[2].label == "3 devices (84 mg)" and lad[0].dose_mg_per_kg == pytest.approx(28 / 70)


def test_oral_and_iv_ladders_are_stepped_and_within_bounds():
    oral = regimen({"route": "oral", "amount": "0.5 mg/kg"}, name="PO")
    lad = ladder(oral, ProductSpec(oral_step_mg=10), (0.5, 4), 80.0)
    doses = [c.dose_mg for c in lad]
    assert all(d % 10 == 0 for d in doses) and doses == sorted(set(doses))
    assert 0.5 * 40 - 5 <= doses[0] and doses[-1] <= 4 * 40 + 5  # base 40 mg at 80 kg, bounds ×0.5–×4
    iv = regimen({"route": "iv", "amount": "0.25 mg/kg", "duration": "40 min"}, name="IV")
    lad = ladder(iv, ProductSpec(), (0.2, 4), 70.0)
    per_kg = [c.regimen.doses[0].amount.value for c in lad]
    assert all(abs(v / 0.05 - round(v / 0.05)) < 1e-9 for v in per_kg)
    assert min(per_kg) >= 0.05 - 1e-12 and max(per_kg) <= 1.0 + 1e-12
    assert all(c.regimen.doses[0].duration == pytest.approx(40 / 60) for c in lad)


def test_choice_by_hand():
    a = np.array([0.1, 0.3, 0.5, 0.7])
    x = np.array([0.0, 0.05, 0.1, 0.3])
    assert choose(a, x, cap=0.1, min_adequate=0.0).index == 2
    assert choose(a, x, cap=0.1, min_adequate=0.4).index == 2
    c = choose(a, x, cap=0.1, min_adequate=0.6)
    assert c.index is None
    assert c.reason.startswith("infeasible: no candidate reaches ≥ 60% adequate analgesia with ≤ 10% psycho")
    assert "best under the cap: 50% adequate" in c.reason
    assert choose(a, np.full(4, 0.5), cap=0.1, min_adequate=0.0).index is None
    nobody = choose(np.zeros(4), x, cap=0.1, min_adequate=0.0)
    assert nobody.index is None and "to any simulated subject" in nobody.reason
    top = choose(a, np.zeros(4), cap=0.1, min_adequate=0.0)
    assert top.index == 3 and "not binding" in top.reason


def test_optimize_command_answers_in_products(tmp_path, capsys):
    text = (ROOT / "scenarios" / "tradeoff.toml").read_text().replace("n = 4000 ", "n = 120 ")
    text = text.replace("min_adequate = 0.2 ", "min_adequate = 0.95 ")
    assert "min_adequate = 0.95" in text
    sc = tmp_path / "t.toml"
    sc.write_text(text)
    assert main(["optimize", str(sc), "-o", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "infeasible: no candidate reaches ≥ 95% adequate analgesia with ≤ 10% psychotomimetic effect" in out
    csv = (tmp_path / "o" / "t_optimum.csv").read_text()
    assert "regimen,PD,model,choice,dose mg,mg/kg" in csv.splitlines()[0]


def test_bad_products_table(tmp_path, capsys):
    text = (ROOT / "scenarios" / "tradeoff.toml").read_text().replace(
        'products = { device_mg = 28, max_devices = 3, oral_step = "5 mg", iv_step = "0.05 mg/kg" }',
        'products = { device_mg = 28, max_devices = 2.5, iv_step = "5 mg" }')
    assert "max_devices = 2.5" in text
    sc = tmp_path / "t.toml"
    sc.write_text(text)
    assert main(["optimize", str(sc), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "tradeoff.products.max_devices" in err and "tradeoff.products.iv_step" in err

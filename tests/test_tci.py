"""TCI a pump can follow: smooth effect-site rates, plasma targets reached without overshoot, target
changes, mL/h, the whole time course, and PyTCI's published numbers for shared models."""
import csv
import tomllib

import numpy as np
import pytest

from pkpd.analysis.tci import OVERSHOOT, target_schedule, tci, tci_regimen
from pkpd.cli.main import main
from pkpd.errors import PkpdError
from pkpd.models.load import load_model
from pkpd.models.pd import parse_pd_model
from pkpd.simulation.typical import simulate

from helpers import model_from_toml, p

OLO = load_model("olofsen_2022")
LIBRARY = ["domino", "herd_anderson_2007", "fanta_otto_2021", "perez_ruixo_2021", "simons_2022"]
CHANGES = [(0.0, 300.0), (0.5, 500.0), (1.0, 400.0), (1.25, 450.0)]


def reversals(rate: np.ndarray) -> int:
    """Times the rate starts rising again after falling (local minima), ignoring float noise."""
    d = np.diff(rate)
    d = d[np.abs(d) > 1e-9 * max(rate.max(), 1.0)]
    s = np.sign(d)
    return int(np.sum((s[:-1] < 0) & (s[1:] > 0)))


def _segments(r):
    starts = [int(round(t / r.time[1])) for t, _ in r.changes] + [len(r.rate)]
    return list(zip(starts[:-1], starts[1:]))


@pytest.mark.parametrize("name", LIBRARY)
@pytest.mark.parametrize("max_rate", [1200.0, 200.0])
def test_effect_site_rate_reverses_at_most_once_per_target(name, max_rate):
    """Effect-site mode, targets 300 → 500 → 400 → 450 ng/mL: within each target the rate rises again at most
    once after falling (the restart after the pause), and it never flips as the old per-interval peak rule did
    (herd_anderson_2007: 83 → 27 → 82 mg/h every 10 s)."""
    r = tci(load_model(name), CHANGES, 1.75, mode="effect", pd=OLO, max_rate_mg_h=max_rate)
    assert np.all((r.rate >= 0) & (r.rate <= max_rate))
    for a, b in _segments(r):
        assert reversals(r.rate[a:b]) <= 1, (name, a, b)
    # once a hold has run for a minute off the pump's limits, the rate moves by less than 10 % from one 10-s update to the next
    # (the old rule jumped by 200 %; fast-distributing models such as domino drift by ~5 % early on)
    hold = (np.array(r.phase) == "hold") & (r.rate > 0) & (r.rate < max_rate)  # free to move
    settled = np.array([hold[max(k - 6, 0):k + 1].all() and k >= 6 for k in range(len(hold))])
    both = settled[1:] & settled[:-1]
    steps = np.abs(np.diff(r.rate))[both] / np.maximum(r.rate[1:][both], 1e-9)
    assert both.any() and np.all(steps < 0.1)


@pytest.mark.parametrize("name", LIBRARY)
def test_effect_site_never_overshoots_a_rising_target(name):
    """Replayed through the ordinary simulator on a 1-second grid, the effect site stays below each rising
    target × (1 + OVERSHOOT + 2e-4) (OVERSHOOT = 0.1 % guards the update times; between them the curve is
    flat at its peak) and reaches it within 35 min at 1200 mg/h."""
    m = load_model(name)
    r = tci(m, CHANGES[:2], 1.0, mode="effect", pd=OLO)
    ds = simulate(m, tci_regimen(r), horizon=1.0, step=1 / 3600, pd=[OLO])
    ce = ds[[v for v in ds.data_vars if v.startswith("ce_")][0]].values[0, 0]
    t = ds.time.values
    for (a, target), b in zip(r.changes, [0.5, 1.0]):
        seg = (t >= a) & (t < b)
        assert ce[seg].max() <= target * (1 + OVERSHOOT + 2e-4)
        reached = t[seg][ce[seg] >= 0.99 * target]
        assert reached.size and reached[0] - a < 35 / 60


@pytest.mark.parametrize("name", LIBRARY)
def test_plasma_target_reached_fast_without_overshoot(name):
    """Plasma mode at 1200 mg/h, 70 kg: every library model reaches 99 % of 300 ng/mL within 3 min and of
    500 ng/mL within 3 min of the change, and on a 1-second grid plasma never exceeds the target by more
    than 0.1 %; after a decrease the pump stops (rate 0) until plasma has fallen to the new target."""
    m = load_model(name)
    r = tci(m, [(0.0, 300.0), (0.5, 500.0), (1.0, 200.0)], 1.5)
    ds = simulate(m, tci_regimen(r), horizon=1.5, step=1 / 3600)
    t, c = ds.time.values, ds.ketamine_plasma.values[0, 0]
    for a, b, target in ((0.0, 0.5, 300.0), (0.5, 1.0, 500.0)):
        seg = (t >= a) & (t < b)
        assert c[seg].max() <= target * 1.001
        assert t[seg][c[seg] >= 0.99 * target][0] - a < 3 / 60
    down = np.array(r.target) == 200.0
    first = int(np.argmax(r.rate[down] > 0))
    assert np.all(r.rate[down][:first] == 0) and r.plasma[np.flatnonzero(down)[first]] > 200.0 * 0.999
    assert reversals(r.rate[down]) <= 1


def test_target_schedule_and_errors():
    t, c = target_schedule([(0.25, 300.0), (0.5, 0.0)], 1.0)
    assert list(t) == [0.0, 0.25, 0.5] and list(c) == [0.0, 300.0, 0.0]  # pump off before the first target
    with pytest.raises(PkpdError, match="after the end"):
        target_schedule([(0.0, 300.0), (2.0, 400.0)], 1.0)
    with pytest.raises(PkpdError, match="increase"):
        target_schedule([(0.0, 300.0), (0.0, 400.0)], 1.0)
    with pytest.raises(PkpdError, match="positive"):
        target_schedule(0.0, 1.0)
    r = tci(load_model("domino"), [(0.0, 300.0), (0.5, 0.0)], 1.0)
    assert np.all(r.rate[np.array(r.target) == 0] == 0)
    assert r.volume_rate(10.0) == pytest.approx(r.rate / 10.0)
    with pytest.raises(PkpdError, match="mg/mL"):
        r.volume_rate(0.0)


# --- PyTCI (github.com/JMathiszig-Lee/PyTCI, commit 3749d5d) -----------------------------------------

def _three_cmt(V1, k10, k12, k13, k21, k31, ke0, name):
    """A three-compartment model from PyTCI's rate constants (1/min) and V1 (L), with its effect site."""
    pk = model_from_toml(f'''
[parameters]
V1 = {p(V1, 'L')}
V2 = {p(k12 * V1 / k21, 'L')}
V3 = {p(k13 * V1 / k31, 'L')}
CL = {p(k10 * V1 * 60, 'L/h')}
Q2 = {p(k12 * V1 * 60, 'L/h')}
Q3 = {p(k13 * V1 * 60, 'L/h')}

[compartments]
central = {{ species = "ketamine", volume = "V1" }}
p2 = {{ species = "ketamine", volume = "V2" }}
p3 = {{ species = "ketamine", volume = "V3" }}

[[flows]]
from = "central"
clearance = "CL"

[[flows]]
from = "central"
to = "p2"
clearance = "Q2"

[[flows]]
from = "p2"
to = "central"
clearance = "Q2"

[[flows]]
from = "central"
to = "p3"
clearance = "Q3"

[[flows]]
from = "p3"
to = "central"
clearance = "Q3"

[[routes.iv]]
target = "central"
''', name=name)
    text = f'''
[model]
kind = "pd"
name = "{name}_ke0"
title = "effect site"
drug = "S-ketamine"
sampling = "arterial"
citation = "test"
[parameters]
ke0 = {{ value = {ke0 * 60}, unit = "1/h", source = "test", grade = "table" }}
[effects.ketamine]
species = "ketamine"
ke0 = "ke0"
'''
    return pk, parse_pd_model(tomllib.loads(text), text)


def test_plasma_rates_match_pytci_marsh():
    """PyTCI ``Marsh(70).plasma_infusion(2, 1200)`` (target 2 µg/mL, 10-s periods; models/propofol.py: V1 =
    0.228·70 L, k10 0.119, k12 0.112, k13 0.042, k21 0.055, k31 0.0031 /min).  PyTCI's own test
    (tests/test_infusions.py) lists the first six periods; the later ones were printed by running that
    commit: mg/s in periods 0, 1, 6, 12, 30, 60, 119 = 3.27269899102373, 0.1453355022895698,
    0.1426073669682986, 0.1394915840794744, 0.13109133490514963, 0.11977537609572012,
    0.10464955376535014.  PyTCI steps the model by explicit Euler every second (a bolus each second);
    the exact propagators here differ by < 0.5 %."""
    pk, _ = _three_cmt(0.228 * 70, 0.119, 0.112, 0.042, 0.055, 0.0031, 0.26, "marsh")
    r = tci(pk, 2000.0, 20 / 60, max_rate_mg_h=1e9)
    pytci = {0: 3.27269899102373, 1: 0.1453355022895698, 6: 0.1426073669682986, 12: 0.1394915840794744,
             30: 0.13109133490514963, 60: 0.11977537609572012, 119: 0.10464955376535014}
    for k, mg_s in pytci.items():
        assert r.rate[k] / 3600 == pytest.approx(mg_s, rel=5e-3), k


def test_effect_site_bolus_matches_pytci_schnider():
    """PyTCI ``Schnider(40, 70, 190, 'm').effect_bolus(6)`` = 95.6 mg over the first 10 s (tests/
    test_infusions.py): the dose whose effect site reaches 6 µg/mL at a fixed 90 s (PyTCI's ``ttpe``).
    Rate constants as that code computes them (k10 0.43875, k12 0.3748, k13 0.196, k21 1.30301, k31 0.0035,
    ke0 0.456 /min, V1 4.27 L — its k21 differs from Schnider 1998 by an operator-precedence slip, kept here
    so that the model is shared).  Shafer & Gregg's dose puts the effect-site peak (at ~100–120 s here) on
    the target: within 2.5 % of PyTCI's, which fixes the time instead and steps by Euler."""
    pk, pd = _three_cmt(4.27, 0.4387459833795013, 0.3748, 0.196, 1.3030092148605263, 0.0035, 0.456, "schnider")
    r = tci(pk, 6000.0, 5 / 60, mode="effect", pd=pd, max_rate_mg_h=1e9)
    assert r.rate[0] * 10 / 3600 == pytest.approx(95.6, rel=0.025)
    assert np.nanmax(r.effect) <= 6000.0 * (1 + OVERSHOOT)
    assert r.phase[0] == "load" and r.rate[1] == 0


# --- the command -------------------------------------------------------------------------------------

def test_tci_command_full_course_targets_and_ml_per_hour(tmp_path, capsys):
    args = ["tci", "--model", "herd_anderson_2007", "--mode", "effect", "--target", "300 ng/mL",
            "--target", "500 ng/mL@30min", "--duration", "90 min", "--concentration", "10 mg/mL",
            "--max-rate", "120 mL/h", "-o", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert max(len(x) for x in out.splitlines()) <= 100
    assert "500 ng/mL from 30 min" in out and "mL/h" in out and "limit 1200 mg/h" in out
    times = [line.split()[0] for line in out.splitlines() if line[:1].isdigit()]
    assert "85.0" in times and "90.0" in times  # the time course goes to the end, not only 15 min
    rows = list(csv.DictReader((tmp_path / "tci.csv").open()))
    assert len(rows) == 90 * 6 + 1  # every 10-s interval, and the end
    assert float(rows[6]["rate (mL/h)"]) == pytest.approx(float(rows[6]["rate (mg/h)"]) / 10)
    assert (tmp_path / "tci.png").stat().st_size > 20_000


@pytest.mark.parametrize("extra, message", [
    (["--target", "300 ng/mL", "--target", "500 ng/mL"], "start time"),
    (["--target", "300 ng/mL", "--max-rate", "100 mL/h"], "concentration"),
    (["--target", "300 ng/mL", "--target", "400 ng/mL@2h"], "after the end"),
    (["--target", "300 ng/mL@fast"], "--target"),
    (["--target", "300 ng/mL", "--concentration", "10 mg"], "--concentration"),
])
def test_tci_command_errors(tmp_path, capsys, extra, message):
    assert main(["tci", *extra, "-o", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "tci.csv").exists()

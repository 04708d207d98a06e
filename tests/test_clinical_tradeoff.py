"""Calibrated clinical endpoints as the cost and benefit of `pkpd tradeoff` / `pkpd optimize`:
summaries by hand on a made-up population, the clinical choice per visit schedule, and bad input."""

import numpy as np
import pytest
import xarray as xr
from scipy.stats import norm

from pkpd.analysis.clinical import clinical_summaries
from pkpd.analysis.clinical_spec import ClinicalSpec
from pkpd.analysis.endpoints import Course
from pkpd.analysis.products import choose
from pkpd.analysis.tradeoff import Pair
from pkpd.cli.main import main
from pkpd.models.endpoints import EndpointDef, GradedValue
from tests.test_validate import ROOT


def _ep(name, cat, theta, sd=0.0, bg=0.0, att=None, half=None, per=0):
    g = lambda v: GradedValue(v, "assumption", "", "test", (v, v))
    return EndpointDef(name, name, cat, g(0.0), g(sd), g(bg), {"pdA": GradedValue(theta, "calibrated", "test")},
                       half_life=g(half) if half else None, attenuations={"pdA": g(att)} if att is not None else {},
                       background_sessions=per)


def _dataset(a_peaks, s_peaks):
    n = len(a_peaks[0])
    return xr.Dataset({"an_pdA_cmax": (("model", "regimen", "subject"), np.array([a_peaks])),
                       "ps_pdA_cmax": (("model", "regimen", "subject"), np.array([s_peaks]))},
                      coords={"model": ["pk"], "regimen": ["low", "high"], "replicate": ("subject", np.zeros(n, int))})


def test_clinical_summaries_by_hand():
    """Step observation models (no variability): the benefit is the share of subjects whose analgesia
    peak reaches θ = 0.2, plus background 0.1 on the rest; the cost over one session is the share
    whose psychotomimetic peak reaches θ = 0.5 with background 0.08 over 8 sessions carried to one
    (1 − 0.92^(1/8)); with session SD 1, a peak at θ and δ = 2 with t½ = interval, three sessions
    give 1 − 0.5 Φ(1) Φ(1.5) (tolerance model)."""
    a = [[0.1, 0.3, 0.3, 0.3], [0.3, 0.3, 0.3, 0.3]]
    s = [[0.1, 0.1, 0.6, 0.6], [0.5, 0.5, 0.5, 0.5]]
    eps = {"resp": _ep("resp", "analgesia", 0.2, bg=0.1), "ae": _ep("ae", "psychotomimetic", 0.5, bg=0.08, per=8)}
    pair = [Pair("an_pdA", "ps_pdA", "pdA", analgesia_pd="pdA", psychotomimetic_pd="pdA")]
    spec = ClinicalSpec(cost="ae", benefit="resp", schedules=(Course(1),))
    cl = clinical_summaries(_dataset(a, s), pair, eps, spec)
    b1 = 1 - 0.92 ** (1 / 8)
    assert cl.p_benefit.values[0, 0].tolist() == pytest.approx([0.75 + 0.25 * 0.1, 1.0])
    assert cl.p_cost.values[0, 0, :, 0].tolist() == pytest.approx([0.5 + 0.5 * b1, 1.0])
    eps["ae"] = _ep("ae", "psychotomimetic", 0.5, sd=1.0, att=2.0, half=7.0)
    cl = clinical_summaries(_dataset(a, s), pair, eps, ClinicalSpec("ae", "resp", (Course(3, 7.0), Course(1))))
    assert cl.p_cost.values[0, 0, 1].tolist() == pytest.approx([1 - 0.5 * norm.cdf(1) * norm.cdf(1.5), 0.5])
    assert list(cl.schedule.values) == ["3 every 7 d", "1"]


def test_more_sessions_never_fewer_events():
    rng = np.random.default_rng(2)
    a = rng.lognormal(-1, 0.5, (2, 300))
    s = rng.lognormal(-1, 0.8, (2, 300))
    eps = {"resp": _ep("resp", "analgesia", 0.2), "ae": _ep("ae", "psychotomimetic", 0.5, sd=0.8, att=1.0, half=7.2)}
    pair = [Pair("an_pdA", "ps_pdA", "pdA", analgesia_pd="pdA", psychotomimetic_pd="pdA")]
    courses = tuple(Course(n, 3.5) for n in (1, 2, 4, 8, 16))
    cost = clinical_summaries(_dataset(a, s), pair, eps, ClinicalSpec("ae", "resp", courses)).p_cost.values[0, 0]
    assert np.all(np.diff(cost, axis=-1) >= -1e-12)


def test_choice_with_ties_by_hand():
    """Responder shares 0.90, 0.995, 1.0 under the cap: within one point of the best are ties, so the
    lowest such dose (index 1) is chosen; without the tie the top one."""
    a, x = np.array([0.90, 0.995, 1.0]), np.array([0.1, 0.2, 0.25])
    assert choose(a, x, 0.3, 0.5, tie=0.01).index == 1
    assert choose(a, x, 0.3, 0.5).index == 2
    none = choose(a, x, 0.05, 0.5, words=("analgesia responders", "dissociation-AE", "dissociation AEs"))
    assert none.index is None and "no candidate reaches ≥ 50% analgesia responders with ≤ 5% dissociation AEs" \
        in none.reason


def _small(tmp_path, extra=""):
    text = (ROOT / "scenarios" / "tradeoff.toml").read_text()
    for old, new in (("n = 1000", "n = 100"), ("n = 4000 ", "n = 200 "), ("replicates = 20 ", "replicates = 5 ")):
        assert old in text
        text = text.replace(old, new)
    p = tmp_path / "t.toml"
    p.write_text(text + extra)
    return p


def test_optimize_searches_schedules_under_a_clinical_cap(tmp_path, capsys):
    sc = _small(tmp_path)
    assert main(["optimize", str(sc), "-o", str(tmp_path / "o"), "--max-dissociation-ae", "0.3",
                 "--schedules", "8 every 3.5 d, 4 every 7 d"]) == 0
    out = capsys.readouterr().out
    assert "Clinical targets" in out and "tolerance" in out
    assert "over the schedule of each row" in out and "15 min after the first dose" in out
    assert max(len(line) for line in out.split("wrote:")[0].splitlines()) <= 100
    rows = (tmp_path / "o" / "t_optimum_clinical.csv").read_text().splitlines()
    head = rows[0].split(",")
    assert head[:5] == ["regimen", "PD", "model", "schedule", "choice"]
    body = [r for r in rows[1:]]
    assert {r.split(",")[3] for r in body} == {"8 every 3.5 d", "4 every 7 d"}
    for r in body:
        cells = r.split(",")
        if "device" in cells[4]:
            assert cells[4].split()[0].isdigit()  # whole devices
        if cells[10]:
            assert float(cells[10]) <= 0.3 + 1e-12  # the cap holds for every choice
    # an unreachable cap: said in words, no choice
    assert main(["optimize", str(sc), "-o", str(tmp_path / "o2"), "--max-dissociation-ae", "0.001", "-q"]) == 0
    csv = (tmp_path / "o2" / "t_optimum_clinical.csv").read_text()
    assert "infeasible: no candidate reaches ≥ 50% analgesia responders with ≤ 0% dissociation adverse events" in csv


@pytest.mark.parametrize("flags,field", [
    (["--max-dissociation-ae", "1.5"], "--max-dissociation-ae"),
    (["--max-dissociation-ae", "a lot"], "--max-dissociation-ae"),
    (["--schedules", "8 every"], "--schedules[0]"),
    (["--schedules", "2 every 3 mg"], "--schedules[0]"),
])
def test_bad_clinical_flags(tmp_path, capsys, flags, field):
    sc = _small(tmp_path)
    assert main(["optimize", str(sc), "-o", str(tmp_path / "o"), *flags]) == 2
    err = capsys.readouterr().err
    assert field in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("old,new,field", [
    ('schedules = ["8 every 3.5 d"', 'schedules = ["8 weekly"', "tradeoff.clinical.schedules[0]"),
    ("max_cost = 0.3", "max_cost = 3", "tradeoff.clinical.max_cost"),
    ("max_cost = 0.3", "max_cost = 0.3, costs = 1", "tradeoff.clinical.costs"),
])
def test_bad_clinical_table(tmp_path, capsys, old, new, field):
    sc = _small(tmp_path)
    text = sc.read_text()
    assert old in text
    sc.write_text(text.replace(old, new, 1))
    assert main(["optimize", str(sc), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert field in err and str(sc) in err and "Traceback" not in err


def test_unknown_clinical_endpoint(tmp_path, capsys):
    sc = _small(tmp_path)
    sc.write_text(sc.read_text().replace("max_cost = 0.3", 'max_cost = 0.3, cost = "nausea_ae"', 1))
    assert main(["tradeoff", str(sc), "-o", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "nausea_ae" in err and "not psychotomimetic" in err and "tradeoff.clinical.cost" in err and str(sc) in err
    assert not (tmp_path / "o").exists()

"""Clinical endpoints are read in `pkpd tradeoff`/`optimize` the way `pkpd validate` calibrated them
(one definition, :func:`assessment_grid`), and the assumed ranges of the observation model are drawn
per parameter-uncertainty replicate (:mod:`pkpd.analysis.endpoint_uncertainty`)."""

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import norm

from pkpd.analysis.clinical import ceiling_note, clinical_summaries
from pkpd.analysis.clinical_spec import ClinicalSpec
from pkpd.analysis.endpoint_uncertainty import assumed_draws, draw_range, parameter_interval, replicate_incidence
from pkpd.analysis.endpoints import Course, assessment_grid
from pkpd.analysis.tradeoff import Pair, wilson
from pkpd.cli.main import main
from pkpd.errors import PkpdError
from pkpd.models.endpoints import GradedValue, load_endpoints
from pkpd.scenario.trials import DEFAULT_TRIALS, load_trials
from tests.test_clinical_tradeoff import _dataset, _ep

Z = 1.959963984540054


def test_assessment_grid_by_hand():
    """A trial window wins, else the endpoint's own assessment time, else the session; step ≤ a tenth."""
    ep = replace(_ep("r", "analgesia", 0.2), assessment=0.25)
    assert assessment_grid(ep, 8.0, 2 / 60) == pytest.approx((0.25, 0.025))
    assert assessment_grid(ep, 8.0, 2 / 60, window=0.5) == pytest.approx((0.5, 2 / 60))
    assert assessment_grid(replace(ep, assessment=None), 8.0, 2 / 60) == pytest.approx((8.0, 2 / 60))
    assert assessment_grid(ep, 0.1, 2 / 60) == pytest.approx((0.1, 0.01))  # never beyond the horizon


def test_shipped_responder_is_defined_where_it_was_calibrated():
    """The responder endpoint's assessment time is the window of the rows it is calibrated to
    (Shrestha 2016: VAS at 15 min), so validate and tradeoff read the same definition."""
    eps = load_endpoints()
    assert eps["analgesia_responder"].assessment == pytest.approx(0.25)
    assert eps["dissociation_ae"].assessment is None  # counted over the whole session
    tf = load_trials(DEFAULT_TRIALS)
    rows = [t for t in tf.trials if t.endpoint == "analgesia_responder" and t.set == "calibration"]
    assert rows and all(t.window == pytest.approx(0.25) for t in rows)


def test_calibration_row_at_another_time_is_refused(tmp_path, capsys):
    text = DEFAULT_TRIALS.read_text()
    old = 'window = "15 min"\nendpoint = "analgesia_responder"'
    assert old in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(old, old.replace("15 min", "30 min"), 1))
    assert main(["validate", str(bad), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "window" in err and "15 min" in err and str(bad) in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_bad_assessment_time(tmp_path):
    from pkpd.models.endpoints import endpoints_file
    text = endpoints_file().read_text()
    bad = tmp_path / "endpoints.toml"
    bad.write_text(text.replace('assessment = "15 min"', 'assessment = "15 mg"', 1))
    with pytest.raises(PkpdError, match="analgesia_responder.assessment"):
        load_endpoints(bad)


def test_benefit_is_read_from_its_assessment_run():
    """The session run has every analgesia peak at 0.3 (all responders at θ = 0.2); the 15-min run has
    half of them at 0.1: P(responder) = 0.5 + 0.5 × background 0.1 = 0.55 comes from the latter,
    the cost from the session run."""
    eps = {"resp": replace(_ep("resp", "analgesia", 0.2, bg=0.1), assessment=0.25),
           "ae": _ep("ae", "psychotomimetic", 0.5)}
    pair = [Pair("an_pdA", "ps_pdA", "pdA", analgesia_pd="pdA", psychotomimetic_pd="pdA")]
    session = _dataset([[0.3] * 4, [0.3] * 4], [[0.6, 0.6, 0.1, 0.1]] * 2)
    early = _dataset([[0.1, 0.1, 0.3, 0.3], [0.3] * 4], [[0.0] * 4] * 2)
    spec = ClinicalSpec("ae", "resp", (Course(1),))
    cl = clinical_summaries(session, pair, eps, spec, by_endpoint={"resp": early})
    assert cl.p_benefit.values[0, 0].tolist() == pytest.approx([0.55, 1.0])
    assert cl.p_cost.values[0, 0, :, 0].tolist() == pytest.approx([0.5, 0.5])
    assert "15 min after the first dose" in cl.attrs["clinical"]
    assert clinical_summaries(session, pair, eps, spec).p_benefit.values[0, 0].tolist() == pytest.approx([1, 1])


def test_ceiling_note_in_words():
    ep = replace(_ep("resp", "analgesia", 0.2), assessment=0.25)
    note = ceiling_note(np.array([0.5, 0.96, 1.0, np.nan]), ep)
    assert "2 of 3" in note and "15 min" in note and "upper bound" in note
    assert ceiling_note(np.array([0.5, 0.9]), ep) == ""


def test_draw_range_by_hand():
    """Ranges as 95 % intervals, as the published CIs are drawn (pkpd.simulation.sampling)."""
    z = np.array([0.0, Z, -2 * Z])
    half = draw_range(GradedValue(7.2, "assumption", "", "n", (1.4, 21.0)), z)
    assert half.tolist() == pytest.approx([7.2, 7.2 * math.sqrt(15), 7.2 / 15])  # log-normal
    lg = lambda x: math.log(x / (1 - x))
    rate = draw_range(GradedValue(0.1, "assumption", "", "n", (0.05, 0.2)), z, upper=1.0)
    w = (lg(0.2) - lg(0.05)) / 2
    assert rate.tolist() == pytest.approx([0.1, 1 / (1 + math.exp(-(lg(0.1) + w))), 1 / (1 + math.exp(-(lg(0.1) - 2 * w)))])
    sd = draw_range(GradedValue(0.3, "assumption", "", "n", (0.0, 0.6)), z)  # from 0: normal, clipped at 0
    assert sd.tolist() == pytest.approx([0.3, 0.6, 0.0])
    assert draw_range(GradedValue(0.3, "assumption", "", "n", None), z) is None


def test_assumed_draws_which_numbers():
    ep = load_endpoints()["dissociation_ae"]
    d = assumed_draws(ep, "olofsen_2022", 20, seed=1)
    assert set(d) == {"between_cv", "half_life"}  # session SD fitted per model; background has no range
    assert d["between_cv"][0] == 0.5 and d["half_life"][0] == 7.2 and np.ptp(d["half_life"]) > 0
    r = load_endpoints()["analgesia_responder"]
    assert set(assumed_draws(r, "olofsen_2022", 5)) == {"between_cv", "session_sd", "background"}
    assert "background" not in assumed_draws(r, "olofsen_2022", 5, own_background=False)
    assert np.array_equal(assumed_draws(r, "olofsen_2022", 5, 3)["between_cv"],
                          assumed_draws(r, "olofsen_2022", 5, 3)["between_cv"])  # seeded


def _spread(n, ep, reps=20):
    """Peaks e^0.5 θ for everyone, step model (session SD 0): a patient responds when its threshold
    z ≤ 0.5/ω_b, so a replicate's expected incidence is Φ(0.5/ω_b) with its own ω_b."""
    z = np.random.default_rng(n).standard_normal(n)
    peaks = np.full(n, 0.2 * math.exp(0.5))
    per = replicate_incidence(peaks, np.arange(n) % reps, ep, "pdA", Course(1), 0.0, z, seed=4)
    point = float(np.mean(per[0]))
    return per, parameter_interval(per), wilson(np.array(point * n), n)


def test_monte_carlo_shrinks_parameter_uncertainty_does_not():
    g = lambda v, r: GradedValue(v, "assumption", "", "n", r)
    ep = replace(_ep("r", "analgesia", 0.2), between_cv=g(0.5, (0.25, 1.0)), session_sd=g(0.0, None))
    per, (lo1, hi1), (mlo1, mhi1) = _spread(2_000, ep)
    _, (lo2, hi2), (mlo2, mhi2) = _spread(32_000, ep)
    assert (mhi2 - mlo2) < 0.3 * (mhi1 - mlo1)  # Monte Carlo: 1/√16 = 0.25
    assert (hi2 - lo2) > 0.7 * (hi1 - lo1) and hi2 - lo2 > 0.1  # parameter uncertainty stays
    assert per[0, 0] == pytest.approx(norm.cdf(0.5 / 0.5), abs=0.05)  # replicate 0: ω_b as written
    fixed = replace(ep, between_cv=g(0.5, (0.5, 0.5)))  # no range: only binomial noise between replicates
    per3, (lo3, hi3), _ = _spread(32_000, fixed)
    assert hi3 - lo3 < 0.5 * (hi2 - lo2)
    z = np.random.default_rng(32_000).standard_normal(32_000)  # assumed=False: the numbers as written
    same = replicate_incidence(np.full(32_000, 0.2 * math.exp(0.5)), np.arange(32_000) % 20, ep, "pdA", Course(1),
                               0.0, z, seed=4, assumed=False)
    assert np.array_equal(same, per3)


def test_tradeoff_reads_the_responder_at_its_assessment_time(tmp_path):
    """Wiring: `pkpd tradeoff` simulates the same subjects up to 15 min for the responder endpoint.
    The peak up to 15 min never exceeds the session's peak, so P(responder) is never higher than
    when read at the session's peak, and after an oral dose (absorbed over hours) it is lower."""
    from pkpd.analysis.dosefinding import sweep_regimens
    from pkpd.analysis.tradeoff import thresholds_for
    from pkpd.scenario.load import load_scenario
    from pkpd.simulation.population import simulate_population
    from pkpd.workflows.clinical_tables import clinical_dataset
    from pkpd.workflows.run import tradeoff_setup
    from pkpd.workflows.tradeoff import _population
    from tests.test_validate import ROOT
    text = (ROOT / "scenarios" / "tradeoff.toml").read_text().replace("n = 4000 ", "n = 200 ")
    p = tmp_path / "t.toml"
    p.write_text(text.replace("sweep = { dose = [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4] }", "sweep = { dose = [1] }"))
    sc = load_scenario(p)
    spec, pairs = tradeoff_setup(sc)
    variants, _ = sweep_regimens(sc.regimens, spec.sweep)
    pop = replace(_population(sc, spec), replicates=5)
    ds = simulate_population(sc.models, variants, pop, horizon=sc.time.horizon, step=sc.time.step, pd=sc.pd,
                             thresholds=thresholds_for(pairs, spec), progress=False)
    cl = clinical_dataset(ds, pairs, spec, sc, variants, pop)
    at_peak = clinical_summaries(ds, pairs, load_endpoints(), spec.clinical, seed=pop.seed)
    b, b_peak = cl.p_benefit.values, at_peak.p_benefit.values
    assert np.all(b <= b_peak + 1e-12)
    oral = [i for i, r in enumerate(ds.route.values) if r == "oral"]
    assert oral and np.all(b[:, :, oral] < b_peak[:, :, oral] - 0.2)
    assert np.allclose(cl.p_cost.values, at_peak.p_cost.values)  # the cost is read over the session


def test_tradeoff_text_is_within_100_columns_and_names_the_assessment(tmp_path, capsys, monkeypatch):
    import pkpd.workflows.tradeoff as wt
    from tests.test_validate import ROOT
    monkeypatch.setattr(wt, "_validation_summary", lambda: None)  # the shipped validation is tested elsewhere
    text = (ROOT / "scenarios" / "tradeoff.toml").read_text().replace("n = 4000 ", "n = 100 ")
    p = tmp_path / "t.toml"
    p.write_text(text.replace("sweep = { dose = [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4] }", "sweep = { dose = [1, 4] }")
                 .replace("replicates = 20 ", "replicates = 5 "))
    assert main(["tradeoff", str(p), "-o", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out.split("wrote:")[0]
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "up to 15 min after the first dose" in out and "session's peak readout" not in out


def test_frontier_labels_do_not_overlap():
    """Points piled up at a ceiling keep their markers but only the first of a cluster is labelled."""
    import matplotlib
    matplotlib.use("Agg")
    import xarray as xr
    from pkpd.output.analysis_figures import frontier_figure
    x = np.array([0.10, 0.20, 0.30, 0.31, 0.32, 0.60])
    y = np.array([0.50, 0.90, 0.99, 0.995, 1.0, 1.0])
    v = lambda a: (("pair", "model", "regimen"), a[None, None, :])
    tr = xr.Dataset({"p_exceed": v(x), "p_exceed_lo": v(x), "p_exceed_hi": v(x), "p_adequate": v(y),
                     "p_adequate_lo": v(y), "p_adequate_hi": v(y)},
                    coords={"pair": ["pdA"], "model": ["pk"], "regimen": list("abcdef"), "route": ("regimen", ["iv"] * 6)})
    meta = [{"base": "IV"}] * 6
    fig = frontier_figure(tr, meta, doses_mg=[1, 2, 3, 4, 5, 6])
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_text().endswith(" mg")]
    assert labels == ["1 mg", "2 mg", "3 mg"]  # 4 and 5 mg sit within 4 points of 3 mg; 6 mg is dominated


def test_validation_figure_footer_stays_below_the_panels():
    """The key, caption and legend under the panels never reach into a panel or its axis labels
    (they overlapped the bottom row at three rows of panels)."""
    import matplotlib
    matplotlib.use("Agg")
    from pkpd.output.validation_figures import validation_figure
    from pkpd.workflows.validate import Prediction
    tf = load_trials(DEFAULT_TRIALS)
    preds = [Prediction(t, pd, "r", 0.3, (0.28, 0.32), (0.2, 0.4), (0.1, 0.5), 0.3, (0.2, 0.4), 0.05)
             for t in tf.trials for pd in tf.pd]
    fig = validation_figure(preds, tf.title)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    foot = [t.get_window_extent(r) for t in fig.texts if t is not fig._suptitle] + \
        [lg.get_window_extent(r) for lg in fig.legends]
    panels = [ax.get_tightbbox(r) for ax in fig.axes if ax.get_visible()]
    assert len(panels) >= 7 and len(foot) == 3
    assert all(f.y1 < min(p.y0 for p in panels) for f in foot)
    rows = sorted({round(p.y0) for p in panels})  # panels of one row never overlap the row below
    for lo, hi in zip(rows, rows[1:]):
        below = [p for p in panels if round(p.y0) == lo]
        above = [p for p in panels if round(p.y0) == hi]
        assert max(p.y1 for p in below) < min(p.y0 for p in above)


def test_oral_regimens_read_early_are_said_to_be_background():
    from pkpd.analysis.clinical import slow_route_note
    ep = replace(_ep("resp", "analgesia", 0.2, bg=0.1), assessment=0.25)
    ds = _dataset([[0.1] * 4, [0.3] * 4], [[0.0] * 4] * 2).assign_coords(route=("regimen", ["oral", "intranasal"]))
    note = slow_route_note(ds, ep)
    assert "15 min" in note and "oral" in note and "10%" in note
    assert slow_route_note(ds.assign_coords(route=("regimen", ["iv", "intranasal"])), ep) == ""
    assert slow_route_note(ds, replace(ep, assessment=None)) == ""


def test_dose_response_cap_line_is_labelled():
    import matplotlib
    matplotlib.use("Agg")
    import xarray as xr
    from pkpd.output.analysis_figures import dose_response_figure
    x = np.array([0.01, 0.05, 0.2])
    v = lambda a: (("pair", "model", "regimen"), a[None, None, :])
    tr = xr.Dataset({f"p_{k}{s}": v(x) for k in ("exceed", "adequate") for s in ("", "_lo", "_hi")},
                    coords={"pair": ["pdA"], "model": ["pk"], "regimen": list("abc"), "route": ("regimen", ["iv"] * 3)})
    fig = dose_response_figure(tr, [{"base": "IV"}] * 3, [10, 20, 40], cap=0.1)
    assert "psychotomimetic cap 10%" in [t.get_text() for t in fig.axes[0].texts]

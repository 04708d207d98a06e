"""An answer fixed by construction is said in words: one concentration–effect curve for both
effects (Olofsen 2022) makes P(success) = 0 whenever analgesia needs the psychotomimetic level."""
import numpy as np

from pkpd.analysis.tradeoff import TradeoffSpec, evaluate, pairs_for, thresholds_for
from pkpd.models.load import load_model
from pkpd.simulation.population import simulate_population
from pkpd.simulation.sampling import Population
from helpers import regimen

OLO, SIM, PR = load_model("olofsen_2022"), load_model("simons_2022_pd"), load_model("perez_ruixo_2021")


def test_one_curve_for_both_effects_is_said_and_is_zero():
    spec = TradeoffSpec(analgesia_level=0.5, analgesia_duration=0.5)  # the old defaults: 0.5 for 30 min vs 0.5
    pairs = pairs_for((OLO, SIM), spec)
    olo = next(p for p in pairs if p.label == "olofsen_2022")
    sim = next(p for p in pairs if p.label == "simons_2022_pd")
    assert olo.note.startswith("P(success) = 0 by construction") and sim.note == ""
    reg = regimen({"route": "iv", "amount": "0.5 mg/kg", "duration": "40 min"}, name="iv")
    ds = simulate_population(PR, [reg], Population(n=300, seed=2), horizon=6, step=2 / 60, pd=[OLO, SIM],
                             thresholds=thresholds_for(pairs, spec), progress=False)
    tr = evaluate(ds, pairs, spec)
    assert float(tr.p_success.sel(pair="olofsen_2022").values[0, 0]) == 0.0
    assert "P(success) = 0 by construction" in tr.attrs["notes"]


def test_lower_analgesia_level_is_not_degenerate_but_still_explained():
    pairs = pairs_for((OLO,), TradeoffSpec(analgesia_level=0.3))
    assert not pairs[0].note.startswith("P(success) = 0") and "set by these two levels" in pairs[0].note
    assert np.isfinite(pairs[0].window[0]) and pairs[0].window[0] < pairs[0].window[1]


def test_tradeoff_report_has_frontier_validation_and_evidence(tmp_path):
    from pathlib import Path
    from pkpd.cli.main import main
    root = Path(__file__).resolve().parent.parent
    text = (root / "scenarios" / "tradeoff.toml").read_text().replace("n = 4000 ", "n = 100 ")
    text = text.replace("sweep = { dose = [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4] }", "sweep = { dose = [0.5, 1, 2] }")
    sc = tmp_path / "t.toml"
    sc.write_text(text)
    assert main(["tradeoff", str(sc), "-o", str(tmp_path / "o"), "-q"]) == 0
    html = (tmp_path / "o" / "t_frontier_report.html").read_text()
    assert html.count("data:image/png;base64,") == 4  # frontier, clinical frontier, dose–response, validation
    for must in ("RR 3.26", "held-out observed rates inside", "cap", "dose mg", "Definitions",
                 "peak up to 15 min after the first dose", "adverse events and analgesia responders"):
        assert must in html, must
    csv = (tmp_path / "o" / "t_frontier.csv").read_text().splitlines()
    assert "dose mg (75 kg)" in csv[0]
    float(csv[1].split(",")[4])  # the dose is a number in mg
    _renders_in_chromium(tmp_path / "o" / "t_frontier_report.html", tmp_path / "shot.png")


def _renders_in_chromium(page, shot):
    """A screenshot in Debian's headless Chromium: a page with figures, not a blank one."""
    import shutil
    import subprocess
    import tempfile
    import pytest
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); HTML checked as text only")
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={profile}", "--window-size=1280,2400", f"--screenshot={shot}",
                            page.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.is_file(), r.stderr[-2000:]
    import matplotlib.image as mpimg
    img = mpimg.imread(shot)
    assert img.shape[0] >= 2000 and img.std() > 0.05


def test_monte_carlo_share_of_the_replicate_spread_by_hand():
    """Replicates that differ only by binomial noise give a share near 1; replicates whose true
    probabilities differ (parameter uncertainty) give a share well below 1."""
    from pkpd.analysis.tradeoff import _mc_share
    rng = np.random.default_rng(0)
    m, reps = 100, 400
    noise_only = rng.binomial(m, 0.3, size=reps) / m
    assert 0.8 < float(_mc_share(noise_only[None, :], m)[0]) < 1.25
    true_p = rng.uniform(0.1, 0.6, size=reps)
    mixed = rng.binomial(m, true_p) / m
    assert float(_mc_share(mixed[None, :], m)[0]) < 0.5
    assert np.isnan(_mc_share(np.full((1, 5), 0.2), m)[0])


def test_readme_defaults_are_not_degenerate_for_a_shipped_regimen():
    """With the defaults (0.3 for 20 min vs 0.5) intranasal esketamine 56 mg from the shipped
    trade-off scenario gives P(success) strictly between 0 and 1 with both PD models' curves."""
    from pkpd.scenario.load import load_scenario
    from pathlib import Path
    sc = load_scenario(Path(__file__).resolve().parent.parent / "scenarios" / "tradeoff.toml")
    spec = TradeoffSpec()
    assert (spec.analgesia_level, spec.analgesia_duration, spec.psychotomimetic_level) == (0.3, 1 / 3, 0.5)
    pairs = pairs_for(tuple(sc.pd), spec)
    reg = [r for r in sc.regimens if r.routes == ("intranasal",)]
    ds = simulate_population(sc.models, reg, Population(n=600, seed=3), horizon=8, step=2 / 60, pd=sc.pd,
                             thresholds=thresholds_for(pairs, spec), progress=False)
    p = float(evaluate(ds, pairs, spec).p_success.sel(pair="olofsen_2022").values[0, 0])
    assert 0.0 < p < 1.0

"""PD between-subject variability (issue 14): every PD model's potency varies between subjects, the
variability is drawn in population runs, can be swept, and leaves the typical subject unchanged."""
import math

import numpy as np
import pytest

from pkpd.analysis.tradeoff import TradeoffSpec, evaluate, pairs_for, thresholds_for
from pkpd.dosing.notation import parse_regimen
from pkpd.errors import PkpdError
from pkpd.models.library import available_models
from pkpd.models.load import load_model
from pkpd.models.pd import PDModel
from pkpd.models.variability import cv_percent, describe, with_iiv
from pkpd.simulation.population import simulate_population
from pkpd.simulation.sampling import CovariateDist, Population
from pkpd.simulation.typical import simulate

PD_MODELS = sorted(n for n in available_models() if isinstance(load_model(n), PDModel))

#: The potency parameter of every readout: C50 of an Emax readout, the slope of a linear one.
POTENCY = {"olofsen_2022": ["C50"], "olofsen_2022_nk": ["C50"], "tolerance_dissociation": ["C50"],
           "simons_2022_pd": ["C50_high", "C50_pain"], "dahan_2011": ["C50"], "olofsen_2012": ["S_K"],
           "bowdle_1998": ["slope"]}

#: Published typical values that the IIV must not move (literature notes, ketamine_pd.md §1).
TYPICAL = {("olofsen_2022", "C50"): (0.51, "nmol/mL"), ("simons_2022_pd", "C50_high"): (0.3, "nmol/mL"),
           ("dahan_2011", "C50"): (10.5, "ng/mL"), ("olofsen_2012", "S_K"): (-0.038, "mL/ng")}


def test_every_pd_model_is_listed():
    assert sorted(POTENCY) == PD_MODELS


@pytest.mark.parametrize("name", PD_MODELS)
def test_potency_has_iiv_with_provenance(name):
    """No source read publishes a ketamine C50 IIV (ketamine_pd.md §5): each is an assumption of CV
    50 % (range 25–80 %), the spread of ketamine potency between subjects in Schüttler 1987 (S-ketamine
    EEG IC50 0.8 ± 0.4 µg/mL, CV 50 %) and of experimental-pain slopes (Luginbühl 2001: CV 36–60 %)."""
    m = load_model(name)
    for pname in POTENCY[name]:
        iiv = m.parameters[pname].iiv
        assert iiv is not None and iiv.transform == "log"
        assert iiv.grade == "assumption" and iiv.note and iiv.range == (0.25, 0.8)
        assert cv_percent(iiv) == pytest.approx(50.0, rel=1e-12)
        assert describe(iiv) == "CV 50 %"


@pytest.mark.parametrize("key", sorted(TYPICAL))
def test_typical_values_are_the_published_ones(key):
    value, unit = TYPICAL[key]
    p = load_model(key[0]).parameters[key[1]]
    assert p.written == value and p.unit == unit


def test_typical_readouts_do_not_use_the_iiv():
    """The typical subject takes no eta: with the IIV removed (CV 0) every readout is identical."""
    pk, pd = load_model("perez_ruixo_2021"), load_model("olofsen_2022")
    reg = parse_regimen("28 mg esketamine IN x2 every 5 min")
    a = simulate(pk, reg, horizon=4, step=1 / 60, pd=pd)
    b = simulate(pk, reg, horizon=4, step=1 / 60, pd=with_iiv(pd, "C50", "cv", 0.0))
    np.testing.assert_array_equal(a.external_perception_olofsen_2022.values,
                                  b.external_perception_olofsen_2022.values)


def test_population_c50_spread_matches_the_stated_cv():
    """Domino has no PK variability, so with a fixed weight every subject has the same effect-site
    concentration Ce(t); the readout E = Ce²/(C50² + Ce²) (γ = 2) then gives each subject's C50 back:
    C50 = Ce·√((1 − E)/E).  Recovered from a population run, ln C50 has SD √ln(1 + 0.5²) = 0.4724 (CV
    50 %) and median the typical C50 (0.51 nmol/mL = 121.2 ng/mL S-ketamine, 242.5 ng/mL in racemic
    terms through the 0.5 conversion), within 4 standard errors (SE of an SD ≈ σ/√(2n), of a median
    ≈ 1.2533 σ/√n)."""
    pk, pd = load_model("domino"), load_model("olofsen_2022")
    n = 4000
    pop = Population(n=n, seed=11, covariates={"WT": CovariateDist("constant", 70.0)})
    reg = parse_regimen("0.5 mg/kg racemic over 40 min")
    ds = simulate_population(pk, reg, pop, horizon=2, step=5 / 60, pd=pd, mode="full", dtype=np.float64,
                             progress=False)
    ce = ds["ce_olofsen_2022_ketamine"].values[0, 0]  # subjects × time, ng/mL (S-ketamine terms)
    np.testing.assert_allclose(ce, ce[:1].repeat(n, axis=0), rtol=1e-10)  # one PK for all
    j = int(np.argmax(ce[0]))
    E = ds["external_perception_olofsen_2022"].values[0, 0, :, j]
    c50 = ce[0, j] * np.sqrt((1 - E) / E)
    sigma = math.sqrt(math.log1p(0.25))
    assert abs(np.std(np.log(c50), ddof=1) - sigma) < 4 * sigma / math.sqrt(2 * n)
    assert abs(np.log(np.median(c50) / (0.51 * 237.73))) < 4 * 1.2533 * sigma / math.sqrt(n)


def _intranasal_56(pd, n=2000):
    """Esketamine 56 mg intranasal (Perez-Ruixo 2021) in adults: per-subject effect-site peaks and
    whether external perception (Olofsen 2022) reaches 0.5."""
    pk = load_model("perez_ruixo_2021")
    spec = TradeoffSpec(analgesia_level=0.5, analgesia_duration=0.5, psychotomimetic_level=0.5)
    pairs = pairs_for((pd,), spec)
    pop = Population(n=n, seed=20261125, covariates={"WT": CovariateDist("normal", 75, 13, 45, 140),
                                                     "AGE": CovariateDist("uniform", 18, 75)})
    ds = simulate_population(pk, parse_regimen("28 mg esketamine IN x2 every 5 min"), pop, horizon=4,
                             step=2 / 60, pd=pd, thresholds=thresholds_for(pairs, spec), progress=False)
    peak_ce = ds["ce_olofsen_2022_ketamine_cmax"].values.ravel()
    peak_effect = ds["external_perception_olofsen_2022_cmax"].values.ravel()
    p = float(evaluate(ds, pairs, spec).p_exceed.values.ravel()[0])
    return peak_ce, peak_effect >= 0.5, p


def test_psychotomimetic_probability_is_no_longer_a_step_function_of_pk():
    """Without PD variability a subject exceeds the level exactly when its effect-site peak exceeds
    the typical C50 (121.2 ng/mL): P is a step function of PK.  With the assumed C50 IIV, subjects
    below that concentration exceed and some above it do not, and P rises several-fold (issue 14:
    about 3 % before; TRANSFORM-1 reports 26.1 % dissociation over 4 weeks, not fitted here)."""
    pd = load_model("olofsen_2022")
    c50 = 0.51 * 237.73
    ce0, hit0, p0 = _intranasal_56(with_iiv(pd, "C50", "cv", 0.0))
    np.testing.assert_array_equal(hit0, ce0 >= c50 * (1 - 1e-9))
    ce, hit, p = _intranasal_56(pd)
    np.testing.assert_array_equal(ce, ce0)  # same subjects, same PK
    assert hit[ce < 0.8 * c50].any() and not hit[ce > 1.25 * c50].all()
    assert p > 3 * p0 and 0.05 < p < 0.35


def test_with_iiv_resizes_and_keeps_correlations():
    """cv → ω² = ln(1 + cv²); a covariance with another parameter is scaled to keep its correlation
    (Fanta/Otto: ω²(V1) 0.084, ω²(CL) 0.026, cov 0.023, Otto 2021 Table 3)."""
    m = load_model("fanta_otto_2021")
    r0 = 0.023 / math.sqrt(0.084 * 0.026)
    m2 = with_iiv(m, "CL", "cv", 0.3)
    assert m2.parameters["CL"].iiv.omega2 == pytest.approx(math.log1p(0.09))
    cov = m2.params.covariances[("V1", "CL")]
    assert cov / math.sqrt(0.084 * math.log1p(0.09)) == pytest.approx(r0)
    assert m.parameters["CL"].iiv.omega2 == 0.026  # the original is untouched
    with pytest.raises(PkpdError, match="no IIV"):
        with_iiv(m, "Q1", "cv", 0.2)
    with pytest.raises(PkpdError, match="omega"):
        with_iiv(load_model("perez_ruixo_2021"), "FRn", "cv", 0.2)  # logit IIV


def test_iiv_size_can_be_swept(tmp_path):
    """``model.PARAM.cv`` is a sweep parameter: P(unacceptable) grows with the C50 CV at a dose whose
    typical subject stays below the level (more subjects with a low C50)."""
    from pkpd.scenario.load import load_scenario
    from pkpd.workflows.sweep import evaluate_point
    text = '''
[scenario]
models = ["perez_ruixo_2021"]
pd = ["olofsen_2022"]
[time]
horizon = "4 h"
step = "5 min"
[population]
n = 400
seed = 5
[tradeoff]
psychotomimetic_level = 0.5
[sweep]
design = "grid"
[sweep.parameters]
"olofsen_2022.C50.cv" = { values = [0.0, 0.8] }
[[regimens]]
name = "IN 56 mg"
text = "28 mg esketamine IN x2 every 5 min"
'''
    path = tmp_path / "s.toml"
    path.write_text(text)
    sc = load_scenario(path)
    assert sc.sweep.params[0].name == "olofsen_2022.C50.cv"
    lo = evaluate_point(sc, ("olofsen_2022.C50.cv",), np.array([0.0]), 400)
    hi = evaluate_point(sc, ("olofsen_2022.C50.cv",), np.array([0.8]), 400)
    assert hi[0, 0, 4] > lo[0, 0, 4] + 0.05  # metric 4: P(unacceptable)
    np.testing.assert_array_equal(hi[..., :3], lo[..., :3])  # PK metrics: same subjects


def test_unknown_iiv_sweep_name_is_refused(tmp_path):
    from pkpd.scenario.load import load_scenario
    path = tmp_path / "s.toml"
    path.write_text('''
[scenario]
models = ["perez_ruixo_2021"]
pd = ["olofsen_2022"]
[time]
horizon = "4 h"
step = "5 min"
[sweep.parameters]
"olofsen_2022.gamma.cv" = { low = 0.1, high = 0.5 }
[[regimens]]
name = "IN 56 mg"
text = "28 mg esketamine IN x2 every 5 min"
''')
    with pytest.raises(PkpdError, match="unknown parameter"):
        load_scenario(path)

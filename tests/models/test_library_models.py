"""Every library model against the numbers published with it (citations in each docstring).

Derived numbers (half-lives, Vss) come from the literature notes' own arithmetic on the published
parameters; checking them here checks that the model file encodes the published structure.
"""
import numpy as np
import pytest

from pkpd.analysis.metrics import auc
from pkpd.models.library import available_models
from pkpd.models.load import load_model
from pkpd.models.pd import PDModel
from pkpd.simulation.typical import simulate, solve_states

from helpers import regimen


def assert_within(actual, published, tol):
    """|actual − published| ≤ tol elementwise (tol: half a unit in the published last digit)."""
    actual, published, tol = map(np.asarray, (actual, published, tol))
    assert actual.shape == published.shape, (actual, published)
    assert np.all(np.abs(actual - published) <= tol), f"{actual} vs published {published} ± {tol}"


def disposition_half_lives_h(model, species="ketamine", subject=None):
    """Half-lives (h) of the disposition sub-system of ``species`` (non-depot compartments)."""
    v = model.params.individual(covariates=subject or {})
    from pkpd.simulation.system import build_system
    K = build_system(model, v).K[0]
    depots = {p.depot for ps in model.routes.values() for p in ps if p.depot}
    idx = [i for i, c in enumerate(model.compartments) if c.species == species and c.name not in depots
           and not c.name.startswith(("met", "nmet", "portal"))]
    ev = np.linalg.eigvals(K[np.ix_(idx, idx)])
    return np.sort(np.log(2) / -ev.real)


def clearance_L_h(model, subject=None):
    """CL = dose / AUC0–∞ with the exact AUC of the linear system: AUC = −(K⁻¹ x0)_central / V.

    (A trapezoid on a coarse grid misses the sub-minute distribution phases of Domino and Herd.)"""
    from pkpd.simulation.system import build_system
    v = model.params.individual(covariates=subject or {})
    K = build_system(model, v).K[0]
    c = model.index[model.plasma["ketamine"]]
    x0 = np.zeros(K.shape[0])
    x0[c] = 10.0
    auc_inf = -np.linalg.solve(K, x0)[c] / v[model.compartments[c].volume][0]
    return 10.0 / auc_inf


def bioavailability(model, route_dose, iv_dose_mg=10.0, horizon=400.0, step=5 / 60):
    iv = simulate(model, regimen({"route": "iv", "amount": f"{iv_dose_mg} mg"}), horizon=horizon, step=step)
    ds = simulate(model, regimen(route_dose), horizon=horizon, step=step)
    a_iv = auc(iv.ketamine_plasma.values[0, 0], iv.time.values) / iv_dose_mg
    return auc(ds.ketamine_plasma.values[0, 0], ds.time.values) / float(ds.dose[0]) / a_iv, ds


@pytest.mark.parametrize("name", sorted(available_models()))
def test_every_library_model_loads_and_simulates_every_route(name):
    m = load_model(name)
    assert m.meta["citation"]
    for p in m.parameters.values():
        assert p.source or p.is_assumption, p.name
        if p.is_assumption:
            assert p.note and p.suggested_range
    if isinstance(m, PDModel):
        pk = load_model("perez_ruixo_2021")
        ds = simulate(pk, regimen({"route": "iv", "amount": "20 mg", "duration": "40 min"}), horizon=6,
                      step=1 / 60, pd=m)
        for r in m.readouts:
            y = ds[f"{r.name}_{m.name}"].values
            assert np.all(np.isfinite(y)) and np.ptp(y) > 0
        return
    for route in m.routes:
        d = {"route": route, "amount": "20 mg"}
        if route == "intranasal":
            d["sprays"] = 2
        ds = simulate(m, regimen(d), horizon=24, step=1 / 60)
        c = ds.ketamine_plasma.values[0, 0]
        assert np.all(c >= -1e-12) and c.max() > 0, route


class TestFantaOtto:
    """Fanta S et al. Eur J Clin Pharmacol 2015;71:441 (abstract: oral F 8 %, CL 95 L/h/70 kg,
    NK AUC 16.5 × S-ketamine AUC at oral steady state); Otto ME et al. Eur J Clin Pharmacol
    2021;77:1181 (Table 3).  Derived in the notes: Vss 419 L, half-lives 0.21, 1.49, 7.4 h; NK
    half-lives 0.60 and 5.1 h."""

    m = load_model("fanta_otto_2021")

    def test_clearance(self):
        assert clearance_L_h(self.m) == pytest.approx(95.2, rel=2e-3)

    def test_half_lives(self):
        # published to 2–3 significant digits: tolerance half a unit in the last digit
        assert_within(disposition_half_lives_h(self.m), [0.21, 1.49, 7.4], [0.005, 0.005, 0.05])
        assert_within(disposition_half_lives_h(self.m, "norketamine"), [0.60, 5.1], [0.005, 0.05])

    def test_vss(self):
        v = self.m.params.individual()
        assert (v["V1"] + v["Vp1"] + v["Vp2"])[0] == pytest.approx(419, abs=1)

    def test_oral_bioavailability_8_percent(self):
        F, _ = bioavailability(self.m, {"route": "oral", "amount": "0.25 mg/kg"})
        assert F == pytest.approx(0.08, abs=2e-3)

    def test_oral_norketamine_ketamine_auc_ratio(self):
        """16.5 (Fanta abstract; mass concentrations, single-dose AUC0–∞ = steady-state AUCτ) — the
        presystemic fraction is derived from it, so this checks the derivation and its
        implementation, tolerance 2 %."""
        ds = simulate(self.m, regimen({"route": "oral", "amount": "0.25 mg/kg"}), horizon=400, step=5 / 60)
        t = ds.time.values
        r = auc(ds.norketamine_plasma.values[0, 0], t) / auc(ds.ketamine_plasma.values[0, 0], t)
        assert r == pytest.approx(16.5, rel=0.02)

    def _nk_formed_mg(self, dose):
        """Norketamine formed (mg, in S-ketamine mass): AUC0–∞ · CLn (a 400-h horizon)."""
        ds = simulate(self.m, regimen(dose), horizon=400, step=5 / 60)
        return auc(ds.norketamine_plasma.values[0, 0], ds.time.values) / 1000.0 * 57.7

    def test_iv_norketamine_in_s_ketamine_mass(self):
        """Otto 2021's NONMEM code (supplement, as coded in nlmixr2lib Otto_2021_s_ketamine.R) carries
        S-norketamine in S-ketamine mass with fm = 1: every mg of an IV dose becomes one mg of
        norketamine (no 223.70/237.73 conversion), so AUC_NK · CLn = dose."""
        assert self._nk_formed_mg({"route": "iv", "amount": "10 mg"}) == pytest.approx(10.0, rel=2e-3)

    def test_presystemic_fraction(self):
        """Fpre (derived, docs/model_checks.md): F + Fpre = 16.5 · F · CLn / CL = 16.5 · 0.08 · 57.7 /
        95.2 = 0.800, so Fpre = 0.720 of an oral dose reaches norketamine presystemically, unconverted
        as in Otto's code (before, 0.770 was written and 0.770 · 223.70/237.73 = 0.725 delivered).
        Total norketamine formed = (F + Fpre) · dose."""
        assert self.m.parameters["Fpre"].value == pytest.approx(0.720)
        formed = self._nk_formed_mg({"route": "oral", "amount": "20 mg"})
        assert formed / 20.0 - 0.08 == pytest.approx(0.720, abs=2e-3)

    def test_weight_scaling(self):
        """CL ∝ (WT/70)^0.75 (Otto code)."""
        assert clearance_L_h(self.m, {"WT": 35.0}) == pytest.approx(95.2 * 0.5 ** 0.75, rel=2e-3)


class TestSimons:
    """Simons P et al. Front Pain Res 2022;3:946486 (Table 4; abstract: bioavailability 26 ± 1 %,
    80 % of S-ketamine became S-NK and 56 % S-HNK).  Derived in the notes: Vss 225 L, half-lives
    1.5, 21 and 193 min."""

    m = load_model("simons_2022")

    def test_half_lives_and_vss(self):
        assert_within(disposition_half_lives_h(self.m) * 60, [1.5, 21, 193], [0.05, 0.5, 0.5])
        v = self.m.params.individual()
        assert (v["VK1"] + v["VK2"] + v["VK3"])[0] == pytest.approx(225, abs=1)

    def test_thin_film_bioavailability(self):
        F, _ = bioavailability(self.m, {"route": "sublingual", "amount": "50 mg"})
        assert F == pytest.approx(0.26, abs=0.01)

    def test_metabolite_fractions(self):
        """Moles formed = AUC·CL: 80 % of an IV dose becomes S-NK, 0.8·0.7 = 56 % S-HNK."""
        ds = simulate(self.m, regimen({"route": "iv", "amount": "20 mg", "duration": "20 min"}),
                      horizon=600, step=5 / 60)
        t = ds.time.values
        dose_nmol = 20.0 / 237.73 * 1e6
        v = self.m.params.individual()
        nk = auc(ds.norketamine_plasma_molar.values[0, 0], t) * v["CLN1"][0] * 1000  # nmol/mL·h·L/h → nmol
        hnk = auc(ds.hydroxynorketamine_plasma_molar.values[0, 0], t) * v["CLH1"][0] * 1000
        assert nk / dose_nmol == pytest.approx(0.80, abs=0.005)
        assert hnk / dose_nmol == pytest.approx(0.56, abs=0.005)

    def test_swallowed_part_never_reaches_systemic_ketamine(self):
        """The swallowed path feeds hepatic metabolism directly: with F1 = 0 the ketamine AUC is 0."""
        v = self.m.params.individual()
        v = dict(v, F1=np.zeros(1))
        x, sysm, _ = solve_states(self.m, regimen({"route": "sublingual", "amount": "50 mg"}),
                                  np.linspace(0, 12, 145), values=v)
        assert np.abs(x[sysm.states.index("central")]).max() < 1e-12
        assert x[sysm.states.index("nk_central")].max() > 0


class TestDomino:
    """Domino racemic 3-cmt TCI model (opentiva/fus_anes code; notes' derived values at 70 kg:
    V2 10.6 L, V3 178 L, Vss 193 L, CL 116 L/h, half-lives 0.40, 4.6, 115 min)."""

    m = load_model("domino")

    def test_clearance(self):
        assert clearance_L_h(self.m) == pytest.approx(116, rel=0.01)

    def test_half_lives(self):
        assert_within(disposition_half_lives_h(self.m) * 60, [0.40, 4.6, 115], [0.005, 0.05, 0.5])

    def test_v1_scales_with_weight(self):
        for wt in (50.0, 90.0):
            v = self.m.params.individual(covariates={"WT": wt})
            assert v["V1"][0] == pytest.approx(0.063 * wt)

    def test_vss(self):
        v = self.m.params.individual()
        k = lambda n: v[n][0]
        vss = k("V1") * (1 + k("k12") / k("k21") + k("k13") / k("k31"))
        assert vss == pytest.approx(193, rel=0.01)


class TestHerd:
    """Herd D, Anderson BJ. Paediatr Anaesth 2007;17:622 (abstract, per 70 kg: V1 38.7 L, V2 102 L,
    CL 90 L/h, Q 215 L/h; derived half-lives 4.4 and 80 min)."""

    m = load_model("herd_anderson_2007")

    def test_clearance_and_half_lives(self):
        assert clearance_L_h(self.m) == pytest.approx(90, rel=2e-3)
        assert_within(disposition_half_lives_h(self.m) * 60, [4.4, 80], [0.05, 0.5])

    def test_allometric_scaling_for_a_typical_child(self):
        """The study's mean child (32.5 kg): CL = 90·(32.5/70)^0.75 L/h."""
        assert clearance_L_h(self.m, {"WT": 32.5}) == pytest.approx(90 * (32.5 / 70) ** 0.75, rel=2e-3)


class TestPD:
    pk = load_model("perez_ruixo_2021")

    def test_olofsen_2022_half_effect_at_c50_at_steady_state(self):
        """Olofsen E et al. Anesthesiology 2022;136:792: C50 0.51 nmol/mL for both endpoints, t½ke0
        8.3 min.  At a steady plasma concentration of C50 the effect approaches 0.5."""
        pd = load_model("olofsen_2022")
        cl = clearance_L_h(self.pk)
        css_mg_L = 0.51 * 237.73 / 1000
        rate = float(css_mg_L * cl)  # mg/h to hold C50 at steady state (after distribution)
        ds = simulate(self.pk, regimen({"route": "iv", "rate": f"{rate!r} mg/h", "duration": "200 h"}),
                      horizon=200, step=0.25, pd=pd)
        assert ds.ketamine_plasma_molar.values[0, 0, -1] == pytest.approx(0.51, rel=0.01)
        assert ds.antinociception_olofsen_2022.values[0, 0, -1] == pytest.approx(0.5, abs=0.01)
        np.testing.assert_allclose(ds.antinociception_olofsen_2022, ds.external_perception_olofsen_2022)

    def test_effect_site_half_time(self):
        """After a step to a constant plasma concentration, Ce reaches half of it after t½ke0."""
        pd = load_model("olofsen_2022")
        v = pd.params.individual()
        assert np.log(2) / pd.effects[0].ke0(v)[0] * 60 == pytest.approx(8.3)

    def test_simons_drug_high_before_antinociception(self):
        """Simons 2022 Part 2: drug high C50 0.3 vs antinociception 1.2–1.7 nmol/mL: at any
        concentration drug high exceeds antinociception."""
        pd = load_model("simons_2022_pd")
        ds = simulate(load_model("simons_2022"), regimen({"route": "sublingual", "amount": "100 mg"}),
                      horizon=8, step=1 / 60, pd=pd)
        hi = ds.drug_high_simons_2022_pd.values[0, 0]
        pain = ds.antinociception_simons_2022_pd.values[0, 0]
        assert np.all(hi[1:] > pain[1:]) and hi.max() > 2 * pain.max()

    def test_olofsen_2012_abstract_numbers(self):
        """Olofsen 2012: at Ce 100 ng/mL ketamine −3.8 cm, at Ce 50 ng/mL norketamine +1.5 cm,
        net −2.3 cm."""
        pd = load_model("olofsen_2012")
        v = pd.params.individual()
        rd = pd.readouts[0]
        ce = {"ketamine": np.array([[0.100]]), "norketamine": np.array([[0.050]])}  # mg/L
        assert pd.evaluate(rd, v, ce)[0, 0] == pytest.approx(-2.3, abs=1e-9)

    def test_dahan_2011_relief_outlasts_a_100_h_infusion(self):
        """Dahan 2011: t½ 10.9 days; relief persists weeks after a 100-h infusion (abstract: ~50 days)."""
        pd = load_model("dahan_2011")
        ds = simulate(self.pk, regimen({"route": "iv", "rate": "20 mg/h", "duration": "100 h"}),
                      horizon=24 * 60, step=1.0, pd=pd)
        e = ds.chronic_pain_relief_dahan_2011.values[0, 0]
        t = ds.time.values
        c = ds.ketamine_plasma.values[0, 0]
        assert t[np.argmax(e)] > 100  # peak relief after the infusion ends
        i30 = np.searchsorted(t, 100 + 30 * 24)
        assert c[i30] < 1e-3 * c.max() and e[i30] > 0.3 * e.max()

    def test_bowdle_linear_range(self):
        """Bowdle 1998: linear in 50–200 ng/mL; 37–89 % of the maximum at 200 ng/mL."""
        pd = load_model("bowdle_1998")
        v = pd.params.individual()
        y = pd.evaluate(pd.readouts[0], v, {"ketamine": np.array([[0.05, 0.1, 0.2]])})[0]
        np.testing.assert_allclose(y / np.array([50, 100, 200]), y[0] / 50)
        assert 0.37 <= y[-1] <= 0.89

    def test_norketamine_antagonism_option_lowers_effect(self):
        plain = simulate(self.pk, regimen({"route": "oral", "amount": "100 mg"}), horizon=8, step=1 / 60,
                         pd=[load_model("olofsen_2022"), load_model("olofsen_2022_nk")])
        a = plain.antinociception_olofsen_2022.values
        b = plain.antinociception_olofsen_2022_nk.values
        assert np.all(b <= a + 1e-15) and b.max() < a.max()


def test_pairings():
    """Issue 14 changed this: a racemic PK model with an S-ketamine PD model is an error naming both
    files unless the PD file declares an [enantiomers] conversion.  Olofsen 2022 declares one (R-ketamine
    contributed to neither endpoint: effect sites see 0.5 × the racemic concentration), so domino +
    olofsen_2022 is a note; Simons 2022 PD (S-ketamine only) declares none.  Sampling sites still warn."""
    from pkpd.models.pairing import pairing_notes, pairing_problems, pairing_warnings
    simons, simons_pd = load_model("simons_2022"), load_model("simons_2022_pd")
    assert pairing_warnings(simons, simons_pd) == [] and pairing_problems(simons, simons_pd) == []
    dom, olo = load_model("domino"), load_model("olofsen_2022")
    assert pairing_problems(dom, olo) == []
    assert "0.5 × the plasma concentration" in pairing_notes(dom, olo)[0]
    assert any("arterial" in x for x in pairing_warnings(dom, olo))
    (problem,) = pairing_problems(dom, simons_pd)
    assert "domino.toml" in problem and "simons_2022_pd.toml" in problem and "[enantiomers]" in problem

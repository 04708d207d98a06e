"""Perez-Ruixo 2021 against its published numbers.

Perez-Ruixo C, Rossenu S, Zannikos P, et al. Population pharmacokinetics of esketamine nasal
spray and its metabolite noresketamine in healthy subjects and patients with treatment-resistant
depression. Clin Pharmacokinet 2021;60(4):501–516. doi:10.1007/s40262-020-00953-4.

Abstract: nasal fraction 54 % of a 28-mg spray; of the swallowed 46 %, 18.6 % reaches the
circulation; absolute intranasal bioavailability 54 % (56 mg) and 51 % (84 mg); esketamine CL
114 L/h and Vss 752 L.  Label summaries (secondary): Tmax 20–40 min after the last spray.
"""
import numpy as np
import pytest

from pkpd.analysis.metrics import auc
from pkpd.models.load import load_model
from pkpd.simulation.typical import simulate

from helpers import regimen

M = load_model("perez_ruixo_2021")
HORIZON = 240.0  # h: > 30 terminal half-lives of the slowest disposition phase at this CL/V


def _auc(reg):
    ds = simulate(M, reg, horizon=HORIZON, step=2 / 60)
    return float(auc(ds.ketamine_plasma.values[0, 0], ds.time.values)), ds


def _F(route_doses, dose_mg):
    a_iv, _ = _auc(regimen({"route": "iv", "amount": "10 mg"}))
    a, ds = _auc(regimen(*route_doses))
    return (a / dose_mg) / (a_iv / 10.0), ds


def test_clearance_matches_abstract():
    """CL = dose/AUC.  Table values give CL = Qh·CLint/(Qh+CLint) = 109 L/h; the abstract says 114.
    Tolerance 5 %: the difference between the table and the abstract is not resolved in the paper."""
    a, _ = _auc(regimen({"route": "iv", "amount": "10 mg"}))
    cl = 10.0 / (a / 1000.0)  # mg / (mg·h/L) = L/h
    clint = 101 * (1.11 + 2.77)
    assert cl == pytest.approx(151 * clint / (151 + clint), rel=2e-3)  # the model's own algebra
    assert cl == pytest.approx(114, rel=0.05)


def test_central_plus_peripheral_volumes_match_abstract_vss():
    v = M.params.individual()
    assert (v["Vc"] + v["Vp1"] + v["Vp2"])[0] == pytest.approx(752, abs=1)


@pytest.mark.parametrize("sprays,published", [(2, 0.54), (3, 0.51)])
def test_intranasal_bioavailability(sprays, published):
    """Absolute F of 56 mg (2 devices) and 84 mg (3 devices): 54 % and 51 % (abstract, rounded to
    1 %, so tolerance ±1 percentage point)."""
    F, _ = _F([{"route": "intranasal", "amount": "28 mg", "sprays": sprays, "spray_interval": "5 min"}],
              28.0 * sprays)
    assert F == pytest.approx(published, abs=0.01)


def test_single_spray_nasal_fraction():
    """One 28-mg device: FRn + (1 − FRn)·F_swallowed = 0.54 + 0.46·0.178 ≈ 0.62."""
    F, _ = _F([{"route": "intranasal", "amount": "28 mg"}], 28.0)
    f_sw = 0.64 * 151 / (151 + 101 * (1.11 + 2.77))
    assert F == pytest.approx(0.54 + 0.46 * f_sw, abs=2e-3)


def test_oral_bioavailability_matches_swallowed_fraction():
    """Oral solution F = Fgut·(1 − E_H) = 17.8 % from the table; the abstract gives 18.6 % for the
    swallowed part.  Tolerance ±1.5 points (table vs abstract, unresolved)."""
    F, _ = _F([{"route": "oral", "amount": "84 mg"}], 84.0)
    assert F == pytest.approx(0.186, abs=0.015)


def test_intranasal_tmax_after_last_spray():
    """Spravato label summaries (secondary): Tmax 20–40 min after the last spray."""
    ds = simulate(M, regimen({"route": "intranasal", "amount": "28 mg", "sprays": 2, "spray_interval": "5 min"}),
                  horizon=4, step=1 / 60)
    c = ds.ketamine_plasma.values[0, 0]
    tmax_min = ds.time.values[np.argmax(c)] * 60 - 5
    assert 20 <= tmax_min <= 40


def test_oral_dosing_gives_more_norketamine_than_intranasal():
    """First pass: norketamine/ketamine AUC ratio orders oral > intranasal > IV."""
    from pkpd.analysis.metrics import summary
    ds = simulate(M, [regimen({"route": "iv", "amount": "28 mg"}, name="iv"),
                      regimen({"route": "intranasal", "amount": "28 mg", "sprays": 2}, name="in"),
                      regimen({"route": "oral", "amount": "56 mg"}, name="po")], horizon=48, step=5 / 60)
    r = summary(ds).nk_k_auc_ratio.values[0]
    assert r[2] > r[1] > r[0]


# Perez-Ruixo 2021 Table 4: model-predicted exposure of the typical subject per stratum after one
# intranasal dose (ng/mL, ng·h/mL), as transcribed in the nlmixr2lib vignette
# PerezRuixo_2020_esketamine.Rmd.  (ASIAN, JAPANESE, AGE) → dose mg → (esketamine Cmax, AUC0–24,
# noresketamine Cmax, AUC0–24).  "18–60 y" is simulated at 45 y, "> 60 y" at 70 y (the age effect
# on Qh starts at 60).
TABLE4 = {
    ("18-60 y, Caucasian", 0, 0, 45): {28: (43.8, 147.3, 59.1, 274.4), 56: (72.5, 254.7, 119.7, 516.3),
                                       84: (101.0, 362.2, 180.0, 758.0)},
    ("18-60 y, Asian non-Japanese", 1, 0, 45): {28: (44.1, 158.2, 73.4, 371.8), 56: (73.2, 275.9, 148.5, 704.8),
                                                84: (102.4, 393.5, 223.5, 1037.0)},
    ("18-60 y, Asian Japanese", 1, 1, 45): {28: (57.5, 194.7, 72.1, 406.4), 56: (94.5, 335.1, 146.3, 760.8),
                                            84: (131.3, 475.4, 220.4, 1114.0)},
    ("> 60 y, Caucasian", 0, 0, 70): {28: (44.6, 160.4, 57.3, 277.9), 56: (73.8, 275.8, 117.2, 522.0),
                                      84: (102.7, 391.2, 177.0, 765.9)},
    ("> 60 y, Asian non-Japanese", 1, 0, 70): {28: (44.9, 171.0, 71.4, 373.9), 56: (74.4, 296.3, 145.9, 708.0),
                                               84: (103.8, 421.5, 220.4, 1042.0)},
    ("> 60 y, Asian Japanese", 1, 1, 70): {28: (58.8, 212.2, 69.0, 409.2), 56: (96.5, 363.1, 141.7, 765.3),
                                           84: (133.8, 513.9, 214.4, 1121.0)},
}


def _table4_stratum(asian, japanese, age, model=M):
    """Typical subject, 28/56/84 mg as 1/2/3 devices 5 min apart; (Cmax, AUC0–24) of both species."""
    regs = [regimen({"route": "intranasal", "amount": "28 mg", "sprays": n, "spray_interval": "5 min"}, name=str(n))
            for n in (1, 2, 3)]
    ds = simulate(model, regs, horizon=24, step=1 / 60, subject={"ASIAN": asian, "JAPANESE": japanese, "AGE": age})
    t = ds.time.values
    out = {}
    for i, dose in enumerate((28, 56, 84)):
        k, nk = ds.ketamine_plasma.values[0, i], ds.norketamine_plasma.values[0, i]
        out[dose] = (k.max(), auc(k, t), nk.max(), auc(nk, t))
    return out


@pytest.mark.parametrize("stratum", list(TABLE4), ids=[s[0] for s in TABLE4])
def test_table4_every_stratum_within_5_percent(stratum):
    """Perez-Ruixo 2021 Table 4, one stratum (three doses): esketamine and noresketamine Cmax and
    AUC0–24 within 5 %.

    The paper is inconsistent: Table 3's two-compartment noresketamine (Q3/F 26.1 L/h, Vpn/F
    115 L) gives 1.3–1.56× Table 4's noresketamine AUC0–24 in every stratum (nlmixr2lib found the
    same).  We follow Table 4 — the paper's own predictions of what patients are exposed to — and
    keep every Table 3 number except the noresketamine peripheral compartment, which is a one-way
    loss derived from Table 4 (Q3_oneway); see docs/model_checks.md.  Noresketamine formation has
    no molar conversion (the published model carries it in esketamine mass: with the conversion
    every noresketamine Cmax is 6 % low)."""
    name, asian, japanese, age = stratum
    sim = _table4_stratum(asian, japanese, age)
    for dose, published in TABLE4[stratum].items():
        for what, s, p in zip(("esketamine Cmax", "esketamine AUC0-24", "noresketamine Cmax",
                               "noresketamine AUC0-24"), sim[dose], published):
            assert s == pytest.approx(p, rel=0.05), f"{name} {dose} mg {what}: {s:.1f} vs Table 4 {p}"


def test_table3_noresketamine_compartment_misses_table4_auc():
    """The inconsistency itself, so the choice above stays visible: with Table 3's peripheral
    noresketamine compartment (Q3/F 26.1 L/h back and forth to Vpn/F 115 L) the Caucasian
    noresketamine AUC0–24 exceeds Table 4 by more than 30 % at every dose, while Cmax stays
    within 5 %."""
    import tomllib
    from pkpd.models.pk import parse_model
    text = M.source_text.replace(
        '[[flows]]\nfrom = "nk_central"\nclearance = "Q3_oneway"',
        '[[flows]]\nbetween = ["nk_central", "nk_periph"]\nclearance = "Q3"').replace(
        "[compartments]\n", '[compartments]\nnk_periph = { species = "norketamine", volume = "Vpn" }\n').replace(
        "[derived]\n", '[derived]\nQ3 = "26.1"\nVpn = "115"\n')
    literal = parse_model(tomllib.loads(text), text, "table3.toml")
    sim = _table4_stratum(0, 0, 45, literal)
    for dose, published in TABLE4[("18-60 y, Caucasian", 0, 0, 45)].items():
        assert sim[dose][2] == pytest.approx(published[2], rel=0.05)
        assert sim[dose][3] / published[3] > 1.3


def test_noresketamine_formation_in_esketamine_mass():
    """molar = false on liver → noresketamine: after an IV dose, noresketamine formed (AUC·total
    NK clearance, mg) equals kmet/(kel + kmet) of the dose in esketamine mass: 2.77/3.88 = 0.714."""
    ds = simulate(M, regimen({"route": "iv", "amount": "28 mg"}), horizon=400, step=5 / 60)
    nk_auc = auc(ds.norketamine_plasma.values[0, 0], ds.time.values) / 1000.0  # mg·h/L
    formed = nk_auc * (38.0 + 20.2)
    assert formed == pytest.approx(28 * 2.77 / 3.88, rel=2e-3)

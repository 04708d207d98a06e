"""Explorer knobs (issue 17): parameters chosen by role for every shipped model, sliders that move
the curve as pharmacokinetics says, the log axis and repeated dosing; widget callbacks driven
in-process (no browser)."""
import math

import matplotlib
import numpy as np
import pytest

from pkpd.errors import PkpdError
from pkpd.models.library import available_models
from pkpd.models.load import load_model
from pkpd.models.pk import Model
from pkpd.models.roles import knobs, scaled_overrides
from pkpd.simulation.typical import simulate
from pkpd.teaching.explore import State, compute, regimen_for, save_panels
from pkpd.teaching.explore_state import log_floor, scaled_models

matplotlib.use("Agg")

#: Hand-read from each model file: the parameters behind each role, with exponents (value × x**e).
#: Clearance = the flows leaving the compartments that exchange both ways with the parent's plasma
#: compartment; volume = that compartment's volume, micro-constants out of it held as k·V.
PK_ROLES = {
    "domino": {"clearance": (("k10", 1),), "volume": (("V1", 1), ("k10", -1), ("k12", -1), ("k13", -1))},
    "domino_mm": {"clearance": (("k10", 1),),  # Vmax = k10·V1·Km: k10 is its speed
                  "volume": (("V1", 1), ("k10", -1), ("k12", -1), ("k13", -1))},
    "fanta_otto_2021": {"clearance": (("CL", 1),), "volume": (("V1", 1),), "absorption:oral": (("ka", 1),)},
    "herd_anderson_2007": {"clearance": (("CL", 1),), "volume": (("V1", 1),)},
    "perez_ruixo_2021": {"clearance": (("kel", 1), ("kmet", 1)),  # out of the liver, not the central
                         "volume": (("Vc", 1),), "absorption:oral": (("ka_po", 1),),
                         "absorption:intranasal": (("ka_n", 1), ("ka_sw", 1))},
    "simons_2022": {"clearance": (("CLK1", 1),), "volume": (("VK1", 1),),
                    "absorption:sublingual": (("KA1", 1), ("KA2", 1))},
}
PD_ROLES = {
    "bowdle_1998": {"ke0": (("t12ke0", -1),), "potency:slope": (("slope", -1),)},
    "dahan_2011": {"ke0": (("t12_slow", -1),), "potency:C50": (("C50", 1),)},
    "olofsen_2012": {"ke0": (("t12ke0", -1), ("t12ke0_nk", -1)), "potency:S_K+S_NK": (("S_K", -1), ("S_NK", -1))},
    "olofsen_2022": {"ke0": (("t12ke0", -1),), "potency:C50": (("C50", 1),)},
    "olofsen_2022_nk": {"ke0": (("t12ke0", -1), ("t12ke0_nk", -1)), "potency:C50": (("C50", 1),)},
    "simons_2022_pd": {"ke0": (("t12ke0", -1),), "potency:C50_pain": (("C50_pain", 1),),
                       "potency:C50_high": (("C50_high", 1),)},
    "tolerance_dissociation": {"ke0": (("t12ke0", -1),), "potency:C50": (("C50", 1),)},
}


def _roles(ks, route=None):
    return {(f"{k.key}:{route}" if k.key == "absorption" else k.key): k.params for k in ks}


def test_roles_of_every_shipped_model_match_the_hand_read_table():
    models = {n: load_model(str(p)) for n, p in available_models().items()}
    pk = {n: m for n, m in models.items() if isinstance(m, Model)}
    assert set(pk) == set(PK_ROLES) and set(models) - set(pk) == set(PD_ROLES)  # a new model needs a row
    for name, m in pk.items():
        for route in m.routes:
            ks, absent = knobs(m, None, route)
            want = {k: v for k, v in PK_ROLES[name].items() if ":" not in k or k == f"absorption:{route}"}
            assert _roles(ks, route) == want, (name, route)
            if route == "iv":  # no absorption: said, not silently missing
                assert any("iv has no absorption rate" in a for a in absent)
    for name, p in models.items():
        if name in PD_ROLES:
            ks, absent = knobs(pk["herd_anderson_2007"], p, "iv")
            assert _roles([k for k in ks if k.model == name]) == PD_ROLES[name], name


def test_roles_notes_say_what_follows():
    k = {x.key: x for x in knobs(load_model("perez_ruixo_2021"), None, "iv")[0]}
    assert "liver" in k["clearance"].note
    k = {x.key: x for x in knobs(load_model("simons_2022"), None, "iv")[0]}
    assert "nk_central" in k["volume"].note  # VN1 = VK1 in the file
    k = {x.key: x for x in knobs(load_model("domino"), None, "iv")[0]}
    assert "k·V" in k["volume"].note


def test_knobs_compose_by_multiplication():
    m = load_model("domino")
    ks = knobs(m, None, "iv")[0]
    ov = scaled_overrides(ks, {"clearance": 2.0, "volume": 2.0}, (m,))["domino"]
    assert ov["k10"] == pytest.approx(m.parameters["k10"].value)  # ×2 × 1/2
    assert ov["V1"] == pytest.approx(2 * m.parameters["V1"].value)
    assert ov["k12"] == pytest.approx(m.parameters["k12"].value / 2)


def _auc(s: State, hours: float = 48.0) -> float:
    """AUC0–hours of plasma ketamine (ng·h/mL) of the explorer's scaled models on a fine grid."""
    m, _, _, _ = scaled_models(s)
    ds = simulate(m, regimen_for(s), horizon=hours, step=1 / 600)
    return float(np.trapezoid(ds.ketamine_plasma.values[0, 0], ds.time.values))


@pytest.mark.parametrize("model, cl_l_h", [("herd_anderson_2007", 90.0),
                                           ("domino", 0.4381 * 60 * 0.063 * 70)])  # k10·V1 at 70 kg
def test_clearance_knob_scales_auc_as_dose_over_cl(model, cl_l_h):
    """Linear PK: AUC0–∞ = dose / CL (Herd 2007 CL 90 L/h; Domino CL = k10·V1 = 115.9 L/h at 70 kg,
    the 116 L/h of its file's notes).  Doubling CL halves it; doubling V leaves it (the micro-
    constants of Domino are held as clearances) and halves the bolus C0 = dose / V1."""
    base = State(model=model, pd="", route="iv", dose_mg=35, duration_min=0, band=False)
    auc = {f: _auc(State(**{**base.__dict__, "scales": (("clearance", f),)})) for f in (1.0, 2.0)}
    for f, a in auc.items():
        assert a == pytest.approx(35 / (cl_l_h * f) * 1000, rel=2e-3)
    assert _auc(State(**{**base.__dict__, "scales": (("volume", 2.0),)})) == pytest.approx(auc[1.0], rel=2e-3)
    c0 = {f: compute(State(**{**base.__dict__, "scales": (("volume", f),)}))["ketamine_plasma"][0] for f in (1, 2)}
    assert c0[2] == pytest.approx(c0[1] / 2, rel=1e-9)


@pytest.mark.parametrize("model, before, after", [
    ("herd_anderson_2007", 90.0, 180.0),
    ("domino", 115.92126, 231.84252),
    # Perez-Ruixo 2021 eliminates from its liver compartment: CL = Qh·CLint/(Qh + CLint), Qh 151 L/h,
    # CLint = (kel + kmet)·Vh = 3.88 /h × 101 L = 391.9 L/h → 109.0 L/h; CLint × 2 → 126.6 L/h (not 218)
    ("perez_ruixo_2021", 151 * 391.88 / (151 + 391.88), 151 * 783.76 / (151 + 783.76)),
])
def test_clearance_knob_shows_the_systemic_clearance(model, before, after):
    r = compute(State(model=model, pd="", route="iv", band=False, scales=(("clearance", 2.0),)))
    text = next(k["text"] for k in r["knobs"] if k["key"] == "clearance")
    assert f"systemic CL {before:.3g} → {after:.3g} L/h at 70 kg" in text
    from pkpd.simulation.disposition import systemic_clearance
    assert systemic_clearance(load_model(model), {"WT": 70}) == pytest.approx(before, rel=1e-6)
    m, _, _, _ = scaled_models(State(model=model, pd="", route="iv", scales=(("clearance", 2.0),)))
    assert systemic_clearance(m, {"WT": 70}) == pytest.approx(after, rel=1e-6)
    # and it is dose/AUC of the simulated curve
    assert _auc(State(model=model, pd="", route="iv", dose_mg=35, duration_min=0, band=False,
                      scales=(("clearance", 2.0),)), hours=96) == pytest.approx(35 / after * 1000, rel=2e-3)


ONE_CMT_ORAL = """
[model]
name = "one_cmt_oral"
title = "test"
drug = "S-ketamine"
sampling = "arterial"
citation = "test"
plasma = { ketamine = "central" }

[parameters]
Vd = { value = 50.0, unit = "L", source = "test", grade = "table" }
CLe = { value = 10.0, unit = "L/h", source = "test", grade = "table" }
kabs = { value = 1.0, unit = "1/h", source = "test", grade = "table" }

[compartments]
central = { species = "ketamine", volume = "Vd" }
gut = { species = "ketamine" }

[[flows]]
from = "central"
clearance = "CLe"

[[routes.oral]]
target = "central"
depot = "gut"
ka = "kabs"
fraction = "1"
"""


def test_absorption_knob_moves_tmax_as_bateman_says(tmp_path):
    """One compartment, first-order absorption: tmax = ln(ka/k)/(ka − k), k = CL/V = 0.2 /h;
    ka 1 /h: 2.012 h; ka ×2: 1.155 h; AUC = dose/CL (100 mg → 10 000 ng·h/mL) whatever ka."""
    f = tmp_path / "one_cmt_oral.toml"
    f.write_text(ONE_CMT_ORAL)
    k = 0.2
    for factor in (1.0, 2.0):
        s = State(model=str(f), pd="", route="oral", dose_mg=100, band=False, horizon_h=6,
                  scales=(("absorption", factor),))
        m, _, shown, _ = scaled_models(s)
        ka = factor * 1.0
        ds = simulate(m, regimen_for(s), horizon=6, step=1 / 3600)
        tmax = float(ds.time.values[int(np.argmax(ds.ketamine_plasma.values[0, 0]))])
        assert tmax == pytest.approx(math.log(ka / k) / (ka - k), abs=1 / 1800)
        assert shown[-1]["text"] == f"kabs 1 → {ka:g} 1/h"
        assert _auc(s, hours=120) == pytest.approx(100 / 10 * 1000, rel=1e-3)


def test_ke0_and_c50_knobs_move_the_effect_as_the_emax_model_says():
    """Olofsen 2022: E = Ce²/(C50² + Ce²), C50 0.51 nmol/mL = 121.2 ng/mL (M 237.73 g/mol).  C50 ×2:
    the readout follows the formula at 242.5 ng/mL and the therapeutic window (both ends set by
    C50) doubles; ke0 ×2 (t½ke0 8.3 → 4.15 min) brings the effect-site peak earlier."""
    s = dict(model="perez_ruixo_2021", pd="olofsen_2022", route="iv", dose_mg=35, duration_min=0, band=False)
    r1 = compute(State(**s))
    r2 = compute(State(**s, scales=(("potency:C50", 2.0),)))
    ce = r2["effect_site"]
    c50 = 2 * 0.51 * 237.73
    np.testing.assert_allclose(r2["analgesia"], ce ** 2 / (c50 ** 2 + ce ** 2), rtol=1e-6, atol=1e-9)
    assert r2["window"][0] == pytest.approx(2 * r1["window"][0]) and r2["window"][1] == pytest.approx(2 * r1["window"][1])
    r3 = compute(State(**s, scales=(("ke0", 2.0),)))
    assert r3["time"][np.argmax(r3["effect_site"])] < r1["time"][np.argmax(r1["effect_site"])]
    np.testing.assert_allclose(r3["ketamine_plasma"], r1["ketamine_plasma"])  # PK untouched
    assert "t12ke0 8.3 → 4.15 min" in [k["text"] for k in r3["knobs"]]


def _peaks(y: np.ndarray) -> int:
    """Local maxima above a fifth of the highest (the wiggle of a tail is not a peak); a bolus at
    t = 0 peaks at the first point."""
    y = np.concatenate(([0.0], np.nan_to_num(y)))
    i = np.arange(1, len(y) - 1)
    return int(np.sum((y[i] > y[i - 1]) & (y[i] >= y[i + 1]) & (y[i] > 0.2 * y.max())))


def test_repeated_dosing_gives_one_peak_per_dose():
    base = dict(model="perez_ruixo_2021", pd="", route="intranasal", dose_mg=28, band=False)
    assert _peaks(compute(State(**base))["ketamine_plasma"]) == 1
    r = compute(State(**base, doses=4, interval_h=12))
    assert _peaks(r["ketamine_plasma"]) == 4 and r["time"][-1] == pytest.approx(3 * 12 + 8)
    assert r["regimen"] == "28 mg IN x2 every 5 min every 12 h x4"
    r = compute(State(**base, regimen="35 mg IV every 6 h x5"))  # notation replaces the controls
    assert _peaks(r["ketamine_plasma"]) == 5


def test_log_axis_values_and_export(tmp_path):
    y = np.array([0.0, 1e-9, 1.0, 100.0, np.nan])
    np.testing.assert_array_equal(log_floor(y, 100.0), [np.nan, np.nan, 1.0, 100.0, np.nan])
    s = State(model="herd_anderson_2007", pd="", route="iv", band=False, log_axis=True)
    lin = save_panels(State(**{**s.__dict__, "log_axis": False}), tmp_path / "lin")[0].read_bytes()
    log = save_panels(s, tmp_path / "log")[0].read_bytes()
    assert lin != log


def test_bad_knobs_are_one_clear_error():
    with pytest.raises(PkpdError, match="no knob 'absorption'.*knobs: clearance, volume"):
        compute(State(model="herd_anderson_2007", pd="", route="iv", band=False, scales=(("absorption", 2.0),)))
    with pytest.raises(PkpdError, match="from 0.25 to 4"):
        compute(State(model="herd_anderson_2007", pd="", route="iv", band=False, scales=(("clearance", 10.0),)))
    with pytest.raises(PkpdError, match="interval must be a number of hours > 0") as e:
        compute(State(model="herd_anderson_2007", pd="", route="iv", band=False, doses=2, interval_h=float("nan")))
    assert e.value.field == "interval_h"
    with pytest.raises(PkpdError, match="whole number from 1 to 20"):
        compute(State(model="herd_anderson_2007", pd="", route="iv", band=False, doses=0))


def test_app_callbacks_knobs_log_and_repeats():
    pytest.importorskip("panel")
    from pkpd.teaching.explore import app
    h = app(State(band=False))._pkpd
    assert set(h["knobs"]) == {"clearance", "volume", "absorption", "ke0", "potency:C50"}
    k0 = np.nanmax(h["conc"].data["k"])
    h["knobs"]["volume"].value = 1.0  # ×2 central volume: the intranasal peak falls
    assert np.nanmax(h["conc"].data["k"]) < 0.9 * k0
    assert "Vc 192 → 384 L" in h["knob_info"].object
    h["widgets"]["log"].value = True
    assert h["conc_pane"].object is h["figures"]["log"] and h["figures"]["log"].y_scale.__class__.__name__ == "LogScale"
    assert np.nanmin(h["conc_log"].data["k"]) > 0
    h["widgets"]["doses"].value = 3
    assert _peaks(np.asarray(h["conc"].data["k"])) == 3
    h["knobs"]["ke0"].value = -1.0  # ke0 ×0.5: t½ke0 8.3 → 16.6 min
    h["widgets"]["route"].value = "iv"  # no absorption knob on IV, the note says so
    assert "absorption" not in h["knobs"] and "iv has no absorption rate" in h["knob_info"].object
    assert h["knobs"]["volume"].value == 1.0 and h["knobs"]["ke0"].value == -1.0  # same models: factors stay
    h["widgets"]["model"].value = "domino"  # another PK model: its knobs start at ×1, the PD's stay
    assert h["knobs"]["volume"].value == 0.0 and "k·V" in h["knob_info"].object
    assert h["knobs"]["ke0"].value == -1.0 and "t12ke0 8.3 → 16.6 min" in h["knob_info"].object
    h["widgets"]["pd"].value = "simons_2022_pd"  # another PD model: one C50 knob per readout
    assert {k for k in h["knobs"] if k.startswith("potency")} == {"potency:C50_pain", "potency:C50_high"}
    assert h["knobs"]["ke0"].value == 0.0
    h["widgets"]["regimen"].value = "56 mg IN x"
    assert "Cannot simulate" in h["status"].object

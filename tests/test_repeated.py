"""Repeated-dose metrics of simulated curves (trough, Cavg, AUCτ, accumulation, time to 90 % of steady
state) against closed forms, typical and population."""
import json
import math

import numpy as np
import pytest
from scipy.optimize import brentq

from pkpd.analysis.metrics import summary
from pkpd.analysis.repeated import population_repeated, schedule, typical_repeated
from pkpd.cli.main import main
from pkpd.models.load import load_model
from pkpd.simulation.population import simulate_population
from pkpd.simulation.sampling import Population
from pkpd.simulation.typical import simulate

from helpers import one_cmt, regimen

IV_Q12 = {"route": "iv", "amount": "100 mg", "every": "12 h", "times": 6}


def test_iv_bolus_every_tau_closed_forms(tmp_path):
    """One compartment, IV bolus D = 100 mg every τ = 12 h × 6, V 50 L, CL 10 L/h (k = 0.2/h, r = e^(−kτ)).
    Interval n's AUC is ∫₀^{nτ} of one dose's curve, so AUCτ(6) = D/CL·(1 − r⁶) (× 1000 ng·h/mL per mg·h/L),
    Cavg = AUCτ/τ → F·D/(CL·τ); Ctrough = (D/V)·r·(1 − r⁶)/(1 − r); Rac = (1 − r⁶)/(1 − r) → 1/(1 − e^(−kτ));
    Cavg_n/Cavg_ss = 1 − e^(−k·nτ) so t90 = ln 10/k = 11.51 h.  Log-down trapezoids are exact on exponentials."""
    ds = simulate(one_cmt(V=50, CL=10), regimen(IV_Q12), horizon=72, step=1 / 6)
    s = summary(ds, [regimen(IV_Q12)])
    r = math.exp(-2.4)
    get = lambda k: float(s[f"ketamine_plasma_{k}"].values[0, 0])
    assert get("auc_tau") == pytest.approx(100 / 10 * (1 - r ** 6) * 1000, rel=1e-9)
    assert get("cavg") == pytest.approx(100 / (10 * 12) * (1 - r ** 6) * 1000, rel=1e-9)
    assert get("ctrough") == pytest.approx(2000 * r * (1 - r ** 6) / (1 - r), rel=1e-9)
    assert get("accumulation") == pytest.approx((1 - r ** 6) / (1 - r), rel=1e-9)
    assert get("t90ss") == pytest.approx(math.log(10) / 0.2, rel=1e-6)
    assert json.loads(s.attrs["repeated_notes"])["r"] == {}
    s.to_netcdf(tmp_path / "s.nc")  # the notes are text: the summary can be written


def test_oral_time_to_steady_state_and_cavg():
    """One compartment, oral, F 0.5, ka 1.5/h, V 50 L, CL 10 L/h, 100 mg every 8 h × 8.  Cavg over interval n
    is F·D/(CL·τ)·f(nτ) with f(t) = 1 − (ka·e^(−kt) − k·e^(−ka·t))/(ka − k) (one dose's AUC fraction), so t90
    solves f(t) = 0.9 (brentq); Cavg(8) = F·D/(CL·τ)·f(64 h)."""
    V, CL, ka, F, D, tau = 50.0, 10.0, 1.5, 0.5, 100.0, 8.0
    k = CL / V
    reg = regimen({"route": "oral", "amount": "100 mg", "every": "8 h", "times": 8})
    ds = simulate(one_cmt(V=V, CL=CL, ka=ka, F=F), reg, horizon=64, step=1 / 30)
    rep, notes = typical_repeated(ds, [reg])
    f = lambda t: 1 - (ka * math.exp(-k * t) - k * math.exp(-ka * t)) / (ka - k)
    assert float(rep.ketamine_plasma_t90ss[0, 0]) == pytest.approx(brentq(lambda t: f(t) - 0.9, 1, 100), rel=1e-4)
    assert float(rep.ketamine_plasma_cavg[0, 0]) == pytest.approx(F * D / (CL * tau) * 1000 * f(64), rel=1e-4)


def test_steady_state_regimen_and_refusals():
    """A regimen that starts at steady state has t90 = 0 and no accumulation ratio; its Cavg is F·D/(CL·τ)
    exactly.  A single dose, a horizon shorter than the last interval and changing intervals are refused
    with reasons."""
    ss = regimen({"route": "iv", "amount": "100 mg", "every": "12 h", "times": 2, "steady_state": True}, name="ss")
    once = regimen({"route": "iv", "amount": "100 mg"}, name="once")
    short = regimen({"route": "iv", "amount": "100 mg", "every": "12 h", "times": 3, "start": "6 h"}, name="short")
    mixed = regimen({"route": "iv", "amount": "100 mg", "every": "12 h", "times": 2},
                    {"route": "iv", "amount": "100 mg", "start": "30 h"}, name="mixed")
    ds = simulate(one_cmt(V=50, CL=10), [ss, once, short, mixed], horizon=36, step=1 / 6)
    s = summary(ds, [ss, once, short, mixed])
    notes = json.loads(s.attrs["repeated_notes"])
    assert s.ketamine_plasma_cavg.sel(regimen="ss").item() == pytest.approx(100 / (10 * 12) * 1000, rel=1e-9)
    assert s.ketamine_plasma_t90ss.sel(regimen="ss").item() == 0
    assert "steady state" in notes["ss"]["accumulation"]
    assert "one administration" in notes["once"]["cavg"]
    assert "ends at 36 h" in notes["short"]["ctrough"]
    assert "interval changes" in notes["mixed"]["cavg"] or "dosing interval" in notes["mixed"]["cavg"]
    assert schedule(regimen({"route": "intranasal", "amount": "28 mg", "sprays": 3, "spray_interval": "5 min"})).tau \
        is None  # three sprays are one administration


def test_population_full_and_streaming():
    """Per-subject metrics in full mode; in streaming mode the trough's percentiles come from the percentile
    curves (within the streaming bound, 1.16 %) and the rest is refused with the reason."""
    m = load_model("perez_ruixo_2021")
    reg = regimen({"route": "oral", "amount": "50 mg", "every": "8 h", "times": 4})
    pop = Population(n=300, seed=3)
    full = simulate_population(m, [reg], pop, horizon=32, step=1 / 6, mode="full", progress=False)
    stream = simulate_population(m, [reg], pop, horizon=32, step=1 / 6, mode="streaming", progress=False)
    pf, nf = population_repeated(full, [reg])
    ps, ns = population_repeated(stream, [reg])
    trough = pf.ketamine_plasma_ctrough.values[0, 0]
    assert trough.shape == (300,) and np.all(trough > 0) and nf == {"r": {}}
    assert np.all(pf.ketamine_plasma_accumulation.values > 1)
    p = ps.ketamine_plasma_ctrough_percentiles.values[0, 0]
    q = list(stream["quantile"].values)
    for i, qq in enumerate(q):
        lo, hi = np.percentile(trough, [max(qq - 1, 0), min(qq + 1, 100)])
        assert lo * (1 - 0.0117) <= p[i] <= hi * (1 + 0.0117)
    assert "mode = \"full\"" in ns["r"]["cavg"]


def test_run_prints_and_writes_repeated_metrics(root, tmp_path, capsys):
    sc = (root / "scenarios" / "repeated_dosing.toml").read_text().replace(
        'directory = "results/repeated_dosing"', f'directory = "{tmp_path}"')
    (tmp_path / "rd.toml").write_text(sc)
    assert main(["run", str(tmp_path / "rd.toml")]) == 0
    out = capsys.readouterr().out
    block = out[out.index("Repeated dosing"):out.index("Typical subject only")]
    assert max(len(x) for x in block.splitlines()) <= 100
    assert "Oral 50 mg every 8 h" in block and "needs at least 3 dosing intervals" in block
    text = (tmp_path / "rd_repeated.csv").read_text()
    assert text.startswith("model,regimen,output,ctrough (ng/mL)")

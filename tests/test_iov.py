"""Inter-occasion variability (Simons 2022 Table 4 ν², as coded in nlmixr2lib Simons_2022_s_ketamine.R):
absorption parameters redrawn at every administration, disposition ones once per subject and run.

Spread checks compare the empirical variance of log(value / typical) over N subjects with ν²; the
sampling error of a variance estimate is ν²·√(2/N), and tolerances are 4 of those.
"""
import tomllib

import numpy as np
import pytest

from pkpd.cli.main import main
from pkpd.models.load import load_model
from pkpd.models.pk import parse_model
from pkpd.simulation.occasions import occasion_times, plan_occasions, split_regimen
from pkpd.simulation.population import simulate_population
from pkpd.simulation.sampling import Population, individual_values

from helpers import ONE_COMPARTMENT, regimen

M = load_model("simons_2022")
TWO_FILMS = regimen({"route": "sublingual", "amount": "50 mg", "every": "24 h", "times": 2})
NU2 = {"F1": 0.060, "D1": 0.154, "KA1": 0.062, "F2": 0.057, "D2": 0.611, "KA2": 0.376, "MTT_G": 0.937}


def test_simons_iov_terms_and_scopes():
    """Table 4 ν² of the absorption parameters (redrawn per administration) and of MTT K→NK, VH2 and
    CLH1 (disposition: per run); CLH2's between-subject ω² 0.287 is no longer dropped."""
    terms = {t.name: t for t in M.iov}
    assert {k: terms[k].nu2 for k in NU2} == NU2
    assert all(terms[k].scope == "absorption" for k in NU2)
    assert {k: (terms[k].nu2, terms[k].scope) for k in ("MTT_KN", "VH2", "CLH1")} == {
        "MTT_KN": (0.751, "disposition"), "VH2": (0.152, "disposition"), "CLH1": (0.008, "disposition")}
    assert M.parameters["CLH2"].iiv.omega2 == pytest.approx(0.287)


def _plan(n=20_000, regimens=(TWO_FILMS,), seed=3, start=0):
    pop = Population(n=start + n, seed=seed)
    vals = individual_values(M.params, pop, start, start + n, {})
    return plan_occasions(M, list(regimens), pop, start, start + n, vals), vals


def test_iov_spread_matches_nu2_and_occasions_are_independent():
    """Per occasion, var log(P@k / P) = ν² for every absorption parameter (F1, D1, …: no IIV, so
    the ratio is the occasion's κ); the two occasions are uncorrelated (|r| < 4/√N); derived
    k_G = 1/MTT_G follows its occasion's MTT_G.  Disposition: var log(VH2 / 87.5 L) = 0.152 and
    var log(MTT_KN / 20.1 min) = ω² + ν² = 0.021 + 0.751."""
    plan, base = _plan()
    n = 20_000
    tol = lambda v: 4 * v * np.sqrt(2 / n)
    assert plan.n_occasions == 2
    for name, nu2 in NU2.items():
        k0, k1 = (np.log(plan.values[f"{name}@{k}"] / base[name]) for k in (0, 1))
        for kap in (k0, k1):
            assert np.var(kap) == pytest.approx(nu2, abs=tol(nu2)), name
        assert abs(np.corrcoef(k0, k1)[0, 1]) < 4 / np.sqrt(n), name
    np.testing.assert_allclose(plan.values["k_G@1"], 1 / plan.values["MTT_G@1"], rtol=1e-12)
    assert np.var(np.log(plan.values["VH2"] / (87.5))) == pytest.approx(0.152, abs=tol(0.152))
    v = 0.021 + 0.751
    assert np.var(np.log(plan.values["MTT_KN"] / (20.1 / 60))) == pytest.approx(v, abs=tol(v))
    np.testing.assert_allclose(plan.values["k_KN"], 2 / plan.values["MTT_KN"], rtol=1e-12)


def test_draws_depend_on_subject_and_occasion_only():
    """Subjects 5000–5999 drawn on their own equal the same subjects inside a larger draw, and a
    regimen with more occasions keeps the first occasions' draws."""
    whole, _ = _plan(n=8000)
    part, _ = _plan(n=1000, start=5000)
    three, _ = _plan(n=8000, regimens=(regimen({"route": "sublingual", "amount": "50 mg", "every": "24 h",
                                                       "times": 3}),))
    for k in (0, 1):
        np.testing.assert_array_equal(part.values[f"KA1@{k}"], whole.values[f"KA1@{k}"][5000:6000])
        np.testing.assert_array_equal(three.values[f"KA1@{k}"], whole.values[f"KA1@{k}"])
    np.testing.assert_array_equal(part.values["VH2"], whole.values["VH2"][5000:6000])


def test_each_occasion_doses_its_own_compartments():
    """Occasion 2's film goes into copies of the mucosa and gut depots (and its own portal
    transit); the amount entering is Σ_k (F1@k + F2@k) · 50 mg per subject."""
    plan, _ = _plan(n=50)
    ev = plan.events(TWO_FILMS, np.full(50, 70.0))
    np.testing.assert_allclose(ev.total_in, 50 * sum(plan.values[f"F1@{k}"] + plan.values[f"F2@{k}"]
                                                      for k in (0, 1)), rtol=1e-12)
    idx = plan.model.index
    late = {int(c) for c in ev.cmt[ev.time > 12]}
    assert late == {idx["mucosa@1"], idx["gut@1"]}
    assert {"mucosa@1", "gut@1", "portal@1"} <= set(idx) and "central@1" not in idx


def test_occasions_are_administration_times():
    """Sprays of one administration share its occasion; doses at the same time share one."""
    nasal = regimen({"route": "intranasal", "amount": "28 mg", "sprays": 2, "spray_interval": "5 min",
                     "every": "24 h", "times": 2})
    assert occasion_times(nasal) == [0.0, 24.0]
    both = regimen({"route": "sublingual", "amount": "50 mg"}, {"route": "iv", "amount": "20 mg", "start": "6 h"},
                   {"route": "iv", "amount": "5 mg"})
    assert occasion_times(both) == [0.0, 6.0]
    assert [len(r.doses) for r in split_regimen(both)] == [2, 1]


def _zero_iov_model():
    text = M.source_text
    for name in list(NU2) + ["MTT_KN", "VH2", "CLH1"]:
        start = text.index(f"\n{name} = {{ omega2 = ", text.index("\n[iov]\n"))
        end = text.index(",", start)
        text = text[:start] + f"\n{name} = {{ omega2 = 0.0" + text[end:]
    return parse_model(tomllib.loads(text), text, "zero_iov.toml")


def _pop(model, chunk=1024, n=600, seed=2, mode="streaming", **kw):
    return simulate_population(model, [TWO_FILMS], Population(n=n, seed=seed), horizon=48, step=0.5, chunk=chunk,
                               mode=mode, progress=False, **kw)


def test_split_system_is_exact():
    """With every ν² = 0 the per-occasion copies change nothing: the same trajectories as the model
    without [iov] (which has one set of absorption compartments), to rounding."""
    text = M.source_text
    no_iov_text = text[:text.index("\n[iov]\n")] + "\n" + text[text.index("\n# Residual error"):]
    plain = parse_model(tomllib.loads(no_iov_text), no_iov_text, "no_iov.toml")
    a = _pop(_zero_iov_model(), n=300, mode="full", dtype=np.float64)
    b = _pop(plain, n=300, mode="full", dtype=np.float64)
    for v in ("ketamine_plasma", "norketamine_plasma", "hydroxynorketamine_plasma"):
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=1e-9, atol=1e-9 * float(b[v].max()))


def test_iov_changes_the_second_film_only_through_its_own_draws():
    """With IOV, the ketamine peaks after film 1 and film 2 differ within a subject (different
    F1, D1, KA1 draws); without IOV (the ν² = 0 model) the second peak is the first plus carryover."""
    full = _pop(M, n=400, mode="full", dtype=np.float64)
    zero = _pop(_zero_iov_model(), n=400, mode="full", dtype=np.float64)
    t = full.time.values
    peak = lambda ds, lo, hi: ds.ketamine_plasma.values[0, 0][:, (t >= lo) & (t < hi)].max(axis=1)
    r_iov = np.log(peak(full, 24, 30) / peak(full, 0, 6))
    r_zero = np.log(peak(zero, 24, 30) / peak(zero, 0, 6))
    assert np.std(r_zero) < 0.02 and np.std(r_iov) > 0.2


def test_chunk_size_and_thread_count_do_not_change_results():
    import numba
    a = _pop(M, chunk=256)
    b = _pop(M, chunk=1024)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        c = _pop(M, chunk=256)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        d = _pop(M, chunk=256)
    finally:
        numba.set_num_threads(before)
    for v in ("ketamine_plasma_cmax", "norketamine_plasma_auc", "ketamine_plasma_percentiles"):
        np.testing.assert_array_equal(a[v].values, b[v].values, err_msg=v)
        np.testing.assert_array_equal(c[v].values, d[v].values, err_msg=v)


def test_no_iov_without_variability():
    pop = Population(n=10, seed=1, iiv=False)
    assert plan_occasions(M, [TWO_FILMS], pop, 0, 10, individual_values(M.params, pop, 0, 10, {})) is None


MODEL = ONE_COMPARTMENT + '\n[iov]\nCL = { omega2 = 0.1, source = "s" }\n'

BAD = {
    "unknown parameter": ("CL = { omega2 = 0.1", "CLX = { omega2 = 0.1", ["iov.CLX", "not a parameter"]),
    "missing source": (', source = "s" }', " }", ["iov.CL.source"]),
    "additive": ('omega2 = 0.1,', 'omega2 = 0.1, transform = "additive",', ["log or logit"]),
    "unknown key": ('omega2 = 0.1,', 'omega2 = 0.1, occasion = 2,', ["iov.CL.occasion", "unknown key"]),
    "two variances": ('omega2 = 0.1,', 'omega2 = 0.1, cv = 0.3,', ["exactly one"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_iov_section(case, tmp_path, capsys):
    old, new, words = BAD[case]
    assert old in MODEL
    (tmp_path / "m.toml").write_text(MODEL.replace(old, new))
    (tmp_path / "s.toml").write_text('[scenario]\nmodels = ["m.toml"]\n[time]\nhorizon = "4 h"\nstep = "10 min"\n'
                                     '[[regimens]]\nname = "r"\ndoses = [{ route = "iv", amount = "10 mg" }]\n')
    assert main(["check", str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "m.toml" in err
    for w in words:
        assert w in err, err
    (tmp_path / "m.toml").write_text(MODEL)
    assert main(["check", str(tmp_path / "s.toml")]) == 0

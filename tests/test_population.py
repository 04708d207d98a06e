"""Population solver: sampling, determinism, streaming = full, agreement with the single-subject solver."""
import numpy as np
import pytest

from pkpd.errors import PkpdError
from pkpd.models.load import load_model
from pkpd.simulation.sampling import CovariateDist, Population, individual_values, read_covariate_csv, sample_covariates, sample_etas, uncertain_typicals
from pkpd.simulation.population import simulate_population
from pkpd.simulation.typical import simulate, solve_states
from pkpd.simulation.streaming import LOG_REL_ERROR

from helpers import regimen

PR = load_model("perez_ruixo_2021")
FO = load_model("fanta_otto_2021")
PD = load_model("olofsen_2022")
REGS = [regimen({"route": "iv", "amount": "0.5 mg/kg", "duration": "40 min"}, name="iv"),
        regimen({"route": "intranasal", "amount": "28 mg", "sprays": 2, "spray_interval": "5 min"}, name="in"),
        regimen({"route": "oral", "amount": "1 mg/kg"}, name="po")]
WT = {"WT": CovariateDist("normal", 75, 12, 45, 130), "FEMALE": CovariateDist("bernoulli", 0.4)}


def test_eta_moments_and_correlation_follow_the_omega_block():
    """Otto 2021: ω²(V1) 0.084, ω²(CL) 0.026, cov 0.023 (correlation 0.49)."""
    pop = Population(n=40_000, seed=3)
    eta = sample_etas(FO.params, pop, 0, pop.n)
    assert np.var(eta["V1"]) == pytest.approx(0.084, rel=0.03)
    assert np.var(eta["CL"]) == pytest.approx(0.026, rel=0.03)
    assert np.cov(eta["V1"], eta["CL"])[0, 1] == pytest.approx(0.023, rel=0.05)
    assert abs(np.corrcoef(eta["V1"], eta["Vn"])[0, 1]) < 0.03  # different blocks: independent
    assert np.mean(eta["CL"]) == pytest.approx(0.0, abs=0.003)


def test_log_normal_parameters_have_the_typical_value_as_median():
    pop = Population(n=20_000, seed=5)
    v = individual_values(PR.params, pop, 0, pop.n, {})
    assert np.median(v["Vc"]) == pytest.approx(192, rel=0.01)
    # logit-normal FRn stays a fraction
    assert 0 < v["FRn"].min() and v["FRn"].max() < 1


def test_covariate_distributions_and_covariate_effects():
    pop = Population(n=20_000, seed=11, covariates={**WT, "AGE": CovariateDist("uniform", 20, 80)})
    c = sample_covariates(pop, 0, pop.n, ["WT", "AGE", "FEMALE"])
    assert c["WT"].min() >= 45 and c["WT"].max() <= 130
    assert np.mean(c["WT"]) == pytest.approx(75, abs=0.3)
    assert np.mean(c["FEMALE"]) == pytest.approx(0.4, abs=0.01)
    assert 20 <= c["AGE"].min() and c["AGE"].max() <= 80
    # Perez-Ruixo: Qh falls by 2.19 L/h per year above 60 (no IIV: exact)
    v = individual_values(PR.params, Population(n=pop.n, seed=11, covariates=pop.covariates, iiv=False),
                          0, pop.n, c)
    np.testing.assert_allclose(v["Qh"], 151 - 2.19 * np.maximum(c["AGE"] - 60, 0))
    # Fanta/Otto: CL ∝ (WT/70)^0.75
    v = individual_values(FO.params, Population(n=pop.n, seed=11, iiv=False), 0, pop.n, c)
    np.testing.assert_allclose(v["CL"], 95.2 * (c["WT"] / 70) ** 0.75)


def test_sampling_is_independent_of_the_range_drawn():
    pop = Population(n=10_000, seed=9, covariates=WT)
    whole = sample_etas(PR.params, pop, 0, 10_000)["Vc"]
    parts = np.concatenate([sample_etas(PR.params, pop, a, b)["Vc"] for a, b in ((0, 123), (123, 5000), (5000, 10_000))])
    np.testing.assert_array_equal(whole, parts)
    c1 = sample_covariates(pop, 0, 10_000, ["WT"])["WT"]
    c2 = np.concatenate([sample_covariates(pop, a, b, ["WT"])["WT"] for a, b in ((0, 4097), (4097, 10_000))])
    np.testing.assert_array_equal(c1, c2)


def run(**kw):
    args = dict(horizon=8.0, step=2 / 60, pd=PD, progress=False, thresholds={"ketamine_plasma": 50.0})
    args.update(kw)
    pop = args.pop("pop", Population(n=700, seed=1, covariates=WT))
    return simulate_population(PR, REGS, pop, **args)


def test_deterministic_under_seed_and_independent_of_chunk_size():
    a = run(chunk=256)
    b = run(chunk=1024)
    for v in ("ketamine_plasma_cmax", "ketamine_plasma_auc", "antinociception_olofsen_2022_cmax",
              "ketamine_plasma_percentiles"):
        np.testing.assert_array_equal(a[v].values, b[v].values)
    c = run(pop=Population(n=700, seed=2, covariates=WT))
    assert not np.array_equal(a.ketamine_plasma_cmax.values, c.ketamine_plasma_cmax.values)


def test_independent_of_thread_count():
    import numba
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run()
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = run()
    finally:
        numba.set_num_threads(before)
    for v in one.data_vars:
        np.testing.assert_array_equal(one[v].values, two[v].values, err_msg=v)


@pytest.mark.parametrize("mode", ["streaming", "full"])
def test_pipelined_chunks_equal_serial_chunks(mode, monkeypatch):
    """With 2 numba threads the next chunk is solved in a helper thread while the current one is
    (two buffer sets); with 1 thread chunks run one after another.  3 chunks of 256 subjects:
    every output must be bit-for-bit the same, and the pipelined path must have been taken."""
    import numba
    import pkpd.simulation.population as population
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs two numba threads")
    calls = []
    helper = population._solve_with_threads
    monkeypatch.setattr(population, "_solve_with_threads", lambda *a: calls.append(a[2]) or helper(*a))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run(chunk=256, mode=mode, dtype=np.float64)
        assert calls == []
        numba.set_num_threads(2)
        two = run(chunk=256, mode=mode, dtype=np.float64)
    finally:
        numba.set_num_threads(before)
    assert sorted(calls) == [0, 256, 512]
    for v in one.data_vars:
        np.testing.assert_array_equal(one[v].values, two[v].values, err_msg=v)


def test_streaming_metrics_equal_full_metrics_and_percentiles_within_bound():
    full = run(mode="full", dtype=np.float64)
    stream = run(mode="streaming")
    for v in stream.data_vars:
        if v.endswith(("_cmax", "_tmax", "_auc", "_time_above")):
            np.testing.assert_array_equal(full[v].values, stream[v].values, err_msg=v)
    # streaming percentiles: within one log bin of the exact order statistics around the rank
    y = full.ketamine_plasma.values  # model, regimen, subject, time
    ps = stream.ketamine_plasma_percentiles.values
    q = stream["quantile"].values
    n = y.shape[2]
    for ri in range(3):
        srt = np.sort(y[0, ri], axis=0)
        for qi, qq in enumerate(q):
            k = qq / 100 * n
            lo = srt[max(int(np.floor(k)) - 1, 0)]
            hi = srt[min(int(np.ceil(k)), n - 1)]
            est = ps[0, ri, qi]
            ok = (est >= lo * (1 - LOG_REL_ERROR) - 1e-12) & (est <= hi * (1 + LOG_REL_ERROR) + 1e-12)
            assert ok.all(), (ri, qq, np.flatnonzero(~ok)[:5])
    # typically much closer to numpy's interpolated percentiles than the worst case (with 700
    # subjects, neighbouring order statistics can be several % apart where curves rise steeply)
    from pkpd.simulation.population import percentiles
    exact = percentiles(full, "ketamine_plasma").values
    m = exact > 1e-3
    assert np.median(np.abs(ps[m] - exact[m]) / exact[m]) < 0.005


def test_population_kernel_agrees_with_single_subject_solver():
    pop = Population(n=300, seed=4, covariates=WT)
    ds = run(pop=pop, mode="full", dtype=np.float64)
    covs = sample_covariates(pop, 0, pop.n, sorted(PR.params.all_covariates()))
    vals = individual_values(PR.params, pop, 0, pop.n, covs)
    times = ds.time.values
    for s in (0, 17, 299):
        v1 = {k: v[s:s + 1] for k, v in vals.items()}
        for ri, reg in enumerate(REGS):
            x, sysm, _ = solve_states(PR, reg, times, values=v1, subject={"WT": covs["WT"][s]},
                                      pd=PD, step=2 / 60)
            c_ref = x[PR.index["central"]] / v1["Vc"][0] * 1000
            c = ds.ketamine_plasma.values[0, ri, s]
            m = c_ref > 1e-6 * c_ref.max()
            assert np.max(np.abs(c[m] - c_ref[m]) / c_ref[m]) < 1e-8


def test_dense_fallback_model_in_population():
    """Simons 2022 has repeated eigenvalues (transit chain): the population takes the dense path
    and still agrees with the typical-subject simulation when IIV is off."""
    sm = load_model("simons_2022")
    reg = [regimen({"route": "sublingual", "amount": "50 mg"}, name="film")]
    ds = simulate_population(sm, reg, Population(n=256, seed=1, iiv=False), horizon=6, step=2 / 60,
                             mode="full", dtype=np.float64, progress=False)
    assert ds.attrs["dense_fallback_subject_regimens"] == 256
    typ = simulate(sm, reg, horizon=6, step=2 / 60)
    np.testing.assert_allclose(ds.ketamine_plasma.values[0, 0, 0], typ.ketamine_plasma.values[0, 0], rtol=1e-12)


def test_parameter_uncertainty_replicates():
    pop = Population(n=10, seed=1, replicates=4000)
    typ = uncertain_typicals(FO.params, pop)
    assert set(typ) == {"Vn", "CLn", "Vpn", "Qn"}  # the parameters with a published CI
    assert typ["CLn"][0] == pytest.approx(57.7)  # replicate 0 is the point estimate
    sd = (np.log(64.1) - np.log(51.3)) / (2 * 1.959964)
    assert np.std(np.log(typ["CLn"][1:])) == pytest.approx(sd, rel=0.05)
    assert np.median(typ["CLn"][1:]) == pytest.approx(57.7, rel=0.01)


def test_full_mode_refuses_runs_that_do_not_fit():
    big = Population(n=5_000_000, seed=1)
    with pytest.raises(PkpdError, match="GiB.*streaming"):
        simulate_population(PR, REGS, big, horizon=24, step=1 / 60, mode="full", progress=False)


def test_covariates_from_csv(tmp_path):
    f = tmp_path / "subjects.csv"
    f.write_text("ID,WT,AGE,SEX\n1,60,30,F\n2,90,70,M\n3,75,45,female\n")
    t = read_covariate_csv(f)
    np.testing.assert_array_equal(t["WT"], [60, 90, 75])
    np.testing.assert_array_equal(t["FEMALE"], [1, 0, 1])
    pop = Population(n=3, seed=0, table=t)
    c = sample_covariates(pop, 0, 3, ["WT"])
    np.testing.assert_array_equal(c["WT"], [60, 90, 75])
    f.write_text("WT,SEX\n60,X\n")
    with pytest.raises(PkpdError, match="SEX"):
        read_covariate_csv(f)

"""The batched modal kernel and the solver's fused pass (issue 16).

What is promised (docs/design.md, "Solver"): trajectories and PD readouts from the batched kernel
are bit-for-bit those of the per-row modal kernel and of the former readout kernel, for every
library model, route and PD model; per-subject Cmax, Tmax, time above thresholds and onset are
bit-for-bit those of the former two-pass reduction; the AUC's log-down steps use a series that is
within a few ulp of exact (the former ``log(a/v)`` lost up to ~1e-16/log(a/v) relative to the
rounding of a/v), checked here against long-double arithmetic; nothing depends on the chunk size,
the block a row lands in or the thread count.
"""
from __future__ import annotations

from fractions import Fraction

import numba
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pkpd.dosing.notation import parse_regimen
from pkpd.models.load import load_model
from pkpd.simulation.population import simulate_population
from pkpd.simulation.readouts import apply_readout
from pkpd.simulation.sampling import CovariateDist, Population, individual_values, sample_covariates
from pkpd.simulation.streaming import LOG_REL_ERROR, Histograms, percentile_indices
from pkpd.solvers.batched import event_blocks
from pkpd.solvers.dispatch import solve
from pkpd.solvers.lane_metrics import log_down_factor, log_down_factor_mild, metrics_start, metrics_step
from pkpd.solvers.options import BOLUS, RATE_OFF, RATE_ON

from helpers import regimen

WT = {"WT": CovariateDist("normal", 75, 12, 45, 130), "FEMALE": CovariateDist("bernoulli", 0.4)}
ROUTE_REGIMENS = {
    "iv": [{"route": "iv", "amount": "0.5 mg/kg", "duration": "40 min"}, {"route": "iv", "amount": "20 mg"}],
    "oral": [{"route": "oral", "amount": "1 mg/kg"}],
    "intranasal": [{"route": "intranasal", "amount": "28 mg", "sprays": 2, "spray_interval": "5 min"}],
    "sublingual": [{"route": "sublingual", "amount": "50 mg"}],
}
LINEAR_PD = ("olofsen_2022", "olofsen_2022_nk", "dahan_2011", "bowdle_1998", "olofsen_2012", "simons_2022_pd")


def _regimens(model):
    return [regimen(d, name=f"{rt}{i}") for rt in model.routes for i, d in enumerate(ROUTE_REGIMENS[rt])]


def _pds(model):
    """Every linear PD model whose effect compartments sit on species of ``model``."""
    out = []
    for name in LINEAR_PD:
        p = load_model(name)
        # same drug form, or a PD model that declares the conversion (else the pairing is refused)
        if all(e.species in model.species for e in p.effects) and (p.drug == model.drug or p.enantiomers):
            out.append(p)
    return tuple(out)


def _thresholds(model, regs, pds, pop):
    """Thresholds at half and 0.8 × the median peak of each output, so that curves cross them."""
    ds = simulate_population(model, regs, pop, horizon=6.0, step=5 / 60, pd=pds, progress=False)
    return {k[:-5]: (0.5 * float(np.nanmedian(ds[k].values)), 0.8 * float(np.nanmedian(ds[k].values)))
            for k in ds.data_vars if k.endswith("_cmax")}


def _time_above(a, v, th, dt):
    f = (th - a) / (v - a)
    return np.where((a >= th) & (v >= th), dt, np.where((a >= th) | (v >= th), np.where(v >= th, dt * (1 - f), dt * f),
                                                           0.0))


def reference_metrics(y, t, th, th_hi):
    """The former two-pass reduction of trajectories ``y`` (subjects × times), step by step in the
    same order; the log-down AUC in long double through log1p of the exact difference."""
    S, T = y.shape
    cmax = np.full(S, -np.inf)
    tmax = np.full(S, t[0])
    auc = np.zeros(S, dtype=np.longdouble)
    above = np.zeros(S)
    above_hi = np.zeros(S)
    onset = np.where(y[:, 0] >= th, t[0], np.nan)
    with np.errstate(all="ignore"):
        for j in range(T):
            v = y[:, j]
            big = v > cmax
            cmax = np.where(big, v, cmax)
            tmax = np.where(big, t[j], tmax)
            if j == 0:
                continue
            a, dt = y[:, j - 1], t[j] - t[j - 1]
            down = (v < a) & (v > 0) & (a > 0)
            la, lv = a.astype(np.longdouble), v.astype(np.longdouble)
            auc += np.where(down, (la - lv) * dt / np.log1p((la - lv) / lv), 0.5 * (la + lv) * dt)
            above = above + _time_above(a, v, th, dt)
            above_hi = above_hi + _time_above(a, v, th_hi, dt)
            hit = np.isnan(onset) & (a < th) & (th <= v)
            onset = np.where(hit, t[j - 1] + dt * (th - a) / (v - a), onset)
    return {"cmax": cmax, "tmax": tmax, "auc": auc.astype(float), "time_above": above, "onset": onset,
            "time_above_hi": above_hi}


def assert_auc_close(got, want, y, t, rel=1e-13):
    """AUCs agree to ``rel`` of the area under |y| (a readout may change sign: then the AUC is a
    difference of areas and its own size is no measure of its rounding)."""
    scale = np.sum(0.5 * (np.abs(y[:, 1:]) + np.abs(y[:, :-1])) * np.diff(t), axis=1)
    bad = ~(np.abs(got - want) <= rel * scale)
    assert not bad.any(), (np.flatnonzero(bad)[:5], got[bad][:5], want[bad][:5])


@pytest.mark.parametrize("pk", ["perez_ruixo_2021", "fanta_otto_2021", "domino", "herd_anderson_2007",
                                "simons_2022"])
def test_batched_kernel_equals_the_per_row_kernels_on_every_route_and_pd_model(pk):
    """All linear library models × all their routes × every PD model that fits: trajectories,
    readouts and metrics of the batched kernel equal the per-row modal kernel's (post-pass) bit
    for bit; the readouts equal the former readout kernel's; the metrics equal the former
    reduction's (AUC within 1e-13 of long-double arithmetic).  70 subjects: full and partial
    blocks.  Simons 2022 (repeated eigenvalues) exercises the dense fallback."""
    model = load_model(pk)
    regs, pds = _regimens(model), _pds(model)
    pop = Population(n=70, seed=5, covariates=WT)
    th = _thresholds(model, regs, pds, pop)
    kw = dict(horizon=6.0, step=5 / 60, pd=pds, mode="full", dtype=np.float64, thresholds=th, progress=False)
    b = simulate_population(model, regs, pop, method="batched", **kw)
    m = simulate_population(model, regs, pop, method="modal", **kw)
    for v in b.data_vars:
        np.testing.assert_array_equal(b[v].values, m[v].values, err_msg=v)
    if pk == "simons_2022":
        assert b.attrs["dense_fallback_subject_regimens"] == 70 * len(regs)
    _check_readouts_against_the_former_kernel(b, model, pds, pop)
    t = b.time.values
    for name, (lo, hi) in th.items():
        for ri in range(len(regs)):
            ref = reference_metrics(b[name].values[0, ri], t, lo, hi)
            for k, want in ref.items():
                got = b[f"{name}_{k}"].values[0, ri]
                if k == "auc":
                    assert_auc_close(got, want, b[name].values[0, ri], t)
                else:
                    np.testing.assert_array_equal(got, want, err_msg=f"{name} {k}")
    s = simulate_population(model, regs, pop, **{**kw, "mode": "streaming"})
    for v in s.data_vars:
        if v.endswith(("_cmax", "_tmax", "_auc", "_time_above", "_onset", "_time_above_hi")):
            np.testing.assert_array_equal(s[v].values, b[v].values, err_msg=v)


def _check_readouts_against_the_former_kernel(ds, model, pds, pop):
    covs = sample_covariates(pop, 0, pop.n, sorted({c for p in (model, *pds) for c in p.params.all_covariates()}))
    for i, p in enumerate(pds):
        vals = individual_values(p.params, pop, 0, pop.n, covs, purpose=20 + i)
        for rd in p.readouts:
            inputs = {e: p.effect_name(e) for e in rd.inputs}
            names = list(inputs.values())
            for ri in range(ds.sizes["regimen"]):
                y = np.stack([ds[nm].values[0, ri] for nm in names] + [np.zeros_like(ds[names[0]].values[0, ri])],
                             axis=1)
                apply_readout(y, len(names), p, rd, vals, {e: k for k, e in enumerate(inputs)})
                want = -y[:, -1] if rd.direction == "decrease" else y[:, -1]
                np.testing.assert_array_equal(ds[f"{rd.name}_{p.name}"].values[0, ri], want, err_msg=rd.name)


@pytest.mark.parametrize("pk,pd", [("domino_mm", ()), ("perez_ruixo_2021", ("tolerance_dissociation",))])
def test_nonlinear_models_take_the_same_fused_pass(pk, pd):
    """Systems with nonlinear terms are solved into a buffer first; their metrics are the former
    reduction's (AUC within 1e-13 of long double) and equal between full and streaming mode."""
    model = load_model(pk)
    pds = tuple(load_model(p) for p in pd)
    regs = _regimens(model)[:2]
    pop = Population(n=20, seed=3, covariates=WT)
    out = "ketamine_plasma"
    kw = dict(horizon=4.0, step=5 / 60, pd=pds, dtype=np.float64, thresholds={out: (100.0, 300.0)}, progress=False)
    full = simulate_population(model, regs, pop, mode="full", **kw)
    stream = simulate_population(model, regs, pop, mode="streaming", **kw)
    for ri in range(len(regs)):
        ref = reference_metrics(full[out].values[0, ri], full.time.values, 100.0, 300.0)
        for k, want in ref.items():
            got = full[f"{out}_{k}"].values[0, ri]
            if k == "auc":
                assert_auc_close(got, want, full[out].values[0, ri], full.time.values)
            else:
                np.testing.assert_array_equal(got, want, err_msg=k)
            np.testing.assert_array_equal(stream[f"{out}_{k}"].values[0, ri], got)


def _chain_case(rng, S, n):
    """Random n-state chains (each state feeds the next) for S subjects, 2 outputs, and a 0.25-h grid
    over 4 h with two off-grid times: ``(K, W, times)``."""
    K = np.zeros((S, n, n))
    for i in range(n):
        K[:, i, i] = -rng.uniform(0.5, 3.0, S) * (i + 1)
        if i:
            K[:, i, i - 1] = rng.uniform(0.1, 1.0, S)
    W = rng.uniform(0, 1, (S, 2, n))
    return K, W, np.union1d(np.arange(0, 4.0001, 0.25), [0.33, 1.7])


def _random_events(rng, rows, n, shared):
    """Per-row events: boluses and infusions at off-grid times; ``shared`` rows share their times."""
    E = 6
    t = np.sort(rng.uniform(0, 3, (rows, E)), axis=1)
    if shared:
        t[:] = t[0]
    k = np.tile([BOLUS, RATE_ON, BOLUS, RATE_OFF, RATE_ON, RATE_OFF], (rows, 1))
    c = np.tile(rng.integers(0, n, E), (rows, 1))
    c[:, 3] = c[:, 1]
    c[:, 5] = c[:, 4]
    t[:, 3] = np.maximum(t[:, 3], t[:, 1])
    t[:, 5] = np.maximum(t[:, 5], t[:, 4])
    order = np.argsort(t, axis=1, kind="stable")
    take = lambda a: np.ascontiguousarray(np.take_along_axis(a, order, axis=1))
    return take(t), take(k), take(c), np.ascontiguousarray(rng.uniform(1, 5, (rows, E)))


@pytest.mark.parametrize("shared", [True, False])
def test_dispatcher_batched_equals_modal_with_off_grid_events_and_initial_states(shared):
    """Random 4-state systems, 3 regimens × 37 subjects, boluses and overlapping infusions at
    off-grid times, a non-zero initial state: the batched kernel (blocks of shared event times, or
    one row per block) writes exactly what the per-row modal kernel writes, float64 and float32."""
    rng = np.random.default_rng(7)
    S, n, R = 37, 4, 3
    K, W, times = _chain_case(rng, S, n)
    ev = _random_events(rng, R * S, n, shared)
    x0 = rng.uniform(0, 1, (R * S, n))
    for dtype in (np.float64, np.float32):
        a = np.full((R * S, 2, times.size), np.nan, dtype)
        b = np.full((R * S, 2, times.size), np.nan, dtype)
        ia = solve(K, W, times, 0.25, ev, a, repeats=R, x0=x0, linear="batched")
        ib = solve(K, W, times, 0.25, ev, b, repeats=R, x0=x0, linear="modal")
        assert (ia.method, ib.method) == ("batched", "modal")
        np.testing.assert_array_equal(a, b)
    auto = solve(K, W, times, 0.25, ev, a, repeats=R, x0=x0)
    assert auto.method == ("batched" if shared else "modal")  # batched only where rows share event times


@pytest.mark.parametrize("linear", ["batched", "modal", "dense"])
def test_kept_values_are_the_trajectories_at_the_kept_times(linear):
    """The fused work's kept values (sampled observations, the finite check) are the outputs at the
    chosen time indices plus the last, whatever kernel runs (the batched kernel, or the modal and
    dense kernels followed by the fused pass), with events between and at output times: compared
    with the same kernel's full output (buffers pre-filled with NaN, so a missed write shows)."""
    from pkpd.solvers.fused import fused_work
    rng = np.random.default_rng(11)
    S, n, R = 21, 3, 2
    K, W, times = _chain_case(rng, S, n)
    ev = _random_events(rng, R * S, n, True)
    full = np.full((R * S, 2, times.size), np.nan)
    solve(K, W, times, 0.25, ev, full, repeats=R, linear=linear)
    at = np.array([0, 3, 7, 9])
    f = fused_work(2, R * S, keep_at=at, n_times=times.size, kept_out=np.full((R * S + 5, 2, 5), np.nan))
    solve(K, W, times, 0.25, ev, None, repeats=R, linear=linear, fused=f)
    np.testing.assert_array_equal(f.keep_at, [0, 3, 7, 9, times.size - 1])
    np.testing.assert_array_equal(f.kept[:R * S], full[:, :, f.keep_at])
    assert np.isnan(f.kept[R * S:]).all()  # rows beyond the call's are left alone


def test_the_finite_check_reads_the_kept_last_time_when_nothing_is_stored():
    """A system growing at e^(1000 t) overflows float64: refused at the solver boundary also when
    the fused work stores no trajectory (it checks the kept values at the last output time), and
    fused work that does not keep the last time is a programming error."""
    from pkpd.errors import PkpdError
    from pkpd.solvers.fused import fused_work
    K, W = np.array([[[1000.0]]]), np.ones((1, 1, 1))
    times = np.linspace(0.0, 2.0, 21)
    ev = (np.array([[0.0]]), np.zeros((1, 1), np.int64), np.zeros((1, 1), np.int64), np.array([[1.0]]))
    for linear in ("batched", "modal", "dense"):
        with pytest.raises(PkpdError, match="not finite"):
            solve(K, W, times, 0.1, ev, None, linear=linear, fused=fused_work(1, 1, metrics=True, n_times=21))
    with pytest.raises(ValueError, match="last output time"):
        solve(-K, W, times, 0.1, ev, None, fused=fused_work(1, 1, metrics=True))


def test_event_blocks_group_equal_event_times_only():
    t = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 2.0], [0.0, 1.0], [0.0, 2.0]])
    k = np.zeros((5, 2), np.int64)
    c = np.zeros((5, 2), np.int64)
    order, starts, counts = event_blocks(t, k, c, lanes=2)
    blocks = [sorted(order[s:s + n].tolist()) for s, n in zip(starts, counts)]
    assert sorted(blocks) == [[0, 1], [2, 4], [3]]
    c[1, 1] = 3  # same times, another compartment: not the same events
    order, starts, counts = event_blocks(t, k, c, lanes=4)
    assert sorted(sorted(order[s:s + n].tolist()) for s, n in zip(starts, counts)) == [[0, 3], [1], [2, 4]]


@pytest.mark.parametrize("neighbour", [0.9, 0.5])  # a brisk (10 %) and a steep (50 %) fall
def test_a_lanes_auc_does_not_depend_on_its_neighbours_falls(neighbour):
    """Falls below ~2 % take the four-term series and steeper ones the nine-term series (or the
    log): per lane, so a lane's AUC is the same whether or not another lane of its block falls
    briskly in the same step (the two series differ in the last bit for some falls)."""
    rng = np.random.default_rng(0)
    n = 4096
    a = 1.0 + rng.random(n)
    v = a * (1 - rng.uniform(0, 0.0195, n))  # every fall below 2 %: s < 0.01
    s = (a - v) / (a + v)
    differ = np.array([log_down_factor(x * x) != log_down_factor_mild(x * x) for x in s])
    assert differ.sum() > 5  # falls where the choice of series shows in the last bit

    def auc(last):
        y0, y1 = np.append(a, 1.0)[None], np.append(v, last)[None]
        ms, prev, th = np.zeros((6, 1, n + 1)), np.zeros((1, n + 1)), np.full((1, 2), np.inf)
        metrics_start(y0, ms, prev, th, 0.0, n + 1)
        metrics_step(y1, ms, prev, th, 0.25, 0.0, False, n + 1)
        return ms[2, 0, :n]
    np.testing.assert_array_equal(auc(neighbour), auc(1.0))


@settings(max_examples=300, deadline=None)
@given(st.floats(0.1, 1e6), st.floats(0.0, 1.0), st.sampled_from(["full", "mild"]))
def test_log_down_factor_is_within_a_few_ulp_of_exact(v, u, series):
    """The log-down area of a step a → v (a > v) is the trapezoid × 1/P(s²), s = (a−v)/(a+v),
    P(x) = atanh(√x)/√x.  Checked against exact rational arithmetic (atanh series to 1e-30), each
    series over the falls the kernel gives it: ``log_down_factor`` s ≤ 0.1, the four-term
    ``log_down_factor_mild`` s ≤ 0.01 (and a hair above: the kernel's test ``1.01 v < 0.99 a`` is
    rounded)."""
    s = u * (0.1 if series == "full" else 0.01 * (1 + 1e-12))
    a = v * (1 + s) / (1 - s)
    if not a > v:
        return
    sr = (a - v) / (a + v)
    f = log_down_factor if series == "full" else log_down_factor_mild
    got = 0.5 * (a + v) * float(f(sr * sr))
    fa, fv = Fraction(a), Fraction(v)
    x = (fa - fv) / (fa + fv)
    acc, term, k = Fraction(0), x, 0
    while True:
        add = term / (2 * k + 1)
        acc += add
        if abs(add) < abs(acc) * Fraction(1, 10 ** 30):
            break
        term *= x * x
        k += 1
    exact = float((fa - fv) / (2 * acc))
    assert abs(got - exact) <= 4 * np.spacing(exact)


def test_percentile_grid():
    """24 h at 1-min steps (plus event times at 0.32 and 0.53 h): by default every 5 min, 289 times;
    percentile_step = step keeps every output time; 15 min → 97 times."""
    times = np.union1d(np.arange(1441) / 60, [0.32, 0.53])
    at = percentile_indices(times, 1 / 60)
    assert at.size == 289 and np.allclose(np.diff(times[at]), 5 / 60)
    assert percentile_indices(times, 1 / 60, 1 / 60).size == times.size
    assert percentile_indices(times, 1 / 60, 0.25).size == 97
    assert percentile_indices(np.arange(241) * 2 / 60, 2 / 60).size == 241  # 8 h at 2 min: all


def test_streaming_percentiles_on_the_coarse_grid_stay_within_the_bound():
    """Streaming percentiles at the default percentile times (24 h at 1 min → every 5 min) lie
    within one log bin (1.16 %) of the order statistics around their rank, from full trajectories."""
    pr, pd = load_model("perez_ruixo_2021"), load_model("olofsen_2022")
    regs = [regimen({"route": "iv", "amount": "0.5 mg/kg", "duration": "40 min"}, name="iv")]
    pop = Population(n=400, seed=2, covariates=WT)
    kw = dict(horizon=24.0, step=1 / 60, pd=pd, progress=False)
    full = simulate_population(pr, regs, pop, mode="full", dtype=np.float64, **kw)
    stream = simulate_population(pr, regs, pop, mode="streaming", **kw)
    at = percentile_indices(full.time.values, 1 / 60)
    np.testing.assert_array_equal(stream.time.values, full.time.values[at])
    y = np.sort(full.ketamine_plasma.values[0, 0][:, at], axis=0)
    ps = stream.ketamine_plasma_percentiles.values[0, 0]
    n = y.shape[0]
    for qi, q in enumerate(stream["quantile"].values):
        k = q / 100 * n
        lo, hi = y[max(int(np.floor(k)) - 1, 0)], y[min(int(np.ceil(k)), n - 1)]
        est = ps[qi]
        assert np.all((est >= lo * (1 - LOG_REL_ERROR) - 1e-12) & (est <= hi * (1 + LOG_REL_ERROR) + 1e-12)), q


def test_full_float32_trajectories_do_not_depend_on_chunk_size_or_threads():
    """Float32 trajectories are written by the kernel straight into the run's array: identical for
    chunks of 256 and 1024 and for 1 and 2 numba threads."""
    import numba
    pr, pd = load_model("perez_ruixo_2021"), load_model("olofsen_2022")
    regs = _regimens(pr)
    pop = Population(n=600, seed=8, covariates=WT)
    kw = dict(horizon=6.0, step=2 / 60, pd=pd, mode="full", dtype=np.float32, progress=False,
              thresholds={"ketamine_plasma": 40.0})
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate_population(pr, regs, pop, chunk=256, **kw)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = simulate_population(pr, regs, pop, chunk=1024, **kw)
    finally:
        numba.set_num_threads(before)
    for v in one.data_vars:
        np.testing.assert_array_equal(one[v].values, two[v].values, err_msg=v)
    assert one.ketamine_plasma.dtype == np.float32


def test_eig_stack_is_numpy_eig_on_every_core():
    """The parallel dgeev calls return numpy's eigenvalues and (real parts of) eigenvectors bit for
    bit, for symmetric matrices, general ones with complex pairs, and PK systems — on the kernel's
    path (stacks of 200 and 300) and numpy's own (a stack below ``SMALL_STACK``)."""
    from pkpd.solvers.lapack import SMALL_STACK, eig_stack
    rng = np.random.default_rng(3)
    A = rng.normal(size=(300, 7, 7))
    A[:150] = A[:150] @ np.swapaxes(A[:150], 1, 2)
    pr = load_model("perez_ruixo_2021")
    pop = Population(n=200, seed=1, covariates=WT)
    vals = individual_values(pr.params, pop, 0, 200, sample_covariates(pop, 0, 200, sorted(pr.params.all_covariates())))
    from pkpd.simulation.system import build_system
    assert SMALL_STACK < 200
    for K in (A, build_system(pr, vals).K, A[145:150 + SMALL_STACK // 2]):
        lr, li, V = eig_stack(K)
        lam, Vn = np.linalg.eig(K)
        np.testing.assert_array_equal(lr, lam.real)
        np.testing.assert_array_equal(li, np.imag(lam))
        np.testing.assert_array_equal(V, Vn.real)


def test_scenario_percentile_step(tmp_path):
    """``[population] percentile_step`` sets the streaming percentile times (12 h at 2 min: by
    default every 4 min, 181 times, at most 300; "20 min" → 37); a bad value is one error naming
    the field."""
    from pathlib import Path
    from pkpd.errors import PkpdError
    from pkpd.scenario.load import load_scenario
    from pkpd.workflows.run import run_population
    text = (Path(__file__).resolve().parent.parent / "scenarios" / "population.toml").read_text()
    text = text.replace("n = 2000", "n = 300").replace('directory = "results/population"',
                                                        f'directory = "{tmp_path}"')
    p = tmp_path / "s.toml"
    p.write_text(text)
    assert run_population(load_scenario(p)).sizes["time"] == 181
    p.write_text(text.replace('mode = "streaming"', 'mode = "streaming"\npercentile_step = "20 min"'))
    ds = run_population(load_scenario(p))
    assert ds.sizes["time"] == 37 and np.allclose(np.diff(ds.time.values), 1 / 3)
    p.write_text(text.replace('mode = "streaming"', 'mode = "streaming"\npercentile_step = "soon"'))
    with pytest.raises(PkpdError) as e:
        load_scenario(p)
    assert "population.percentile_step" in str(e.value)


def test_inv_stack_is_numpy_inv():
    """Inverses through numpy's own dgesv equal np.linalg.inv bit for bit; singular → LinAlgError."""
    from pkpd.solvers.lapack import inv_stack
    A = np.random.default_rng(4).normal(size=(500, 9, 9))
    np.testing.assert_array_equal(inv_stack(A), np.linalg.inv(A))
    with pytest.raises(np.linalg.LinAlgError):
        inv_stack(np.zeros((2, 3, 3)))


def test_metrics_mode_gives_the_streaming_metrics_without_histograms():
    """``mode="metrics"`` (sweeps): the same per-subject metrics as streaming, no percentiles."""
    pr, pd = load_model("perez_ruixo_2021"), load_model("olofsen_2022")
    regs = _regimens(pr)
    pop = Population(n=100, seed=6, covariates=WT)
    kw = dict(horizon=6.0, step=5 / 60, pd=pd, progress=False, thresholds={"ketamine_plasma": 40.0})
    s = simulate_population(pr, regs, pop, mode="streaming", **kw)
    m = simulate_population(pr, regs, pop, mode="metrics", **kw)
    assert not any(v.endswith("_percentiles") for v in m.data_vars) and m.sizes["time"] == 0
    for v in m.data_vars:
        np.testing.assert_array_equal(m[v].values, s[v].values, err_msg=v)


def test_basis_checks_on_every_core_decide_as_the_numpy_formulas():
    """``eigenbasis`` now checks the condition number and the reconstruction ``V Λ V⁻¹ ≈ K`` in a
    numba loop on every core; its decisions equal the former numpy formulas' on matrices with real
    eigenvalues and well- or ill-conditioned bases, random ones (complex pairs), nearly defective ones (a Jordan block perturbed by 1e-7 … 1e-13) and a
    repeated eigenvalue."""
    from pkpd.solvers.lapack import eig_stack
    from pkpd.solvers.modal import _COND_MAX, eigenbasis
    rng = np.random.default_rng(5)
    A = rng.normal(size=(200, 6, 6))
    P = rng.normal(size=(200, 6, 6))
    P[100:, :, 0] = P[100:, :, 1] + 10.0 ** -rng.uniform(2, 9, (100, 1)) * P[100:, :, 0]  # ill-conditioned
    D = -np.sort(rng.uniform(0.1, 5.0, (200, 6)), axis=1)
    A[:, :, :] = np.einsum("sij,sj,sjk->sik", P, D, np.linalg.inv(P))  # real eigenvalues
    J = np.zeros((60, 6, 6))
    for i in range(60):
        J[i] = np.diag(-np.ones(6)) + np.diag(np.ones(5), 1)
        J[i, 5, 0] = 10.0 ** -rng.uniform(7, 13)
    R = np.tile(np.diag([-1.0, -1.0, -2.0, -3.0, -4.0, -5.0]), (5, 1, 1))
    K = np.concatenate([A, J, R, rng.normal(size=(40, 6, 6))])
    lam, V, Vinv, ok = eigenbasis(K)
    lr, li, Vr = eig_stack(K)
    want = np.all(np.abs(li) <= 1e-12 * (1.0 + np.abs(lr)), axis=1)
    Vi = np.zeros_like(Vr)
    with np.errstate(all="ignore"):
        for i in np.flatnonzero(want):
            try:
                Vi[i] = np.linalg.inv(Vr[i])
            except np.linalg.LinAlgError:
                want[i] = False
        cond = np.abs(Vr).sum(axis=2).max(axis=1) * np.abs(Vi).sum(axis=2).max(axis=1)
    want &= np.isfinite(cond) & (cond < _COND_MAX)
    recon = np.einsum("sij,sj,sjk->sik", Vr, lr, Vi)
    want &= ~(np.abs(recon - K).max(axis=(1, 2)) > 1e-9 * (np.abs(K).max(axis=(1, 2)) + 1e-300))
    np.testing.assert_array_equal(ok, want)
    assert ok.sum() > 100 and (~ok).sum() > 60  # both sides of every check are exercised


def test_states_no_dose_reaches_are_left_out_exactly():
    """States that no dose and no initial state reach (here a defective Jordan block upstream of
    the dosed compartment, which alone would send every subject to the dense fallback) are left
    out of the solve: the subjects then take the modal kernels, and the outputs — of a state two
    flows from the dose, too — equal the full system's matrix exponential (scipy ``expm``) to
    1e-12.  With a dose into that block, every state is kept and the subjects fall back to dense."""
    from scipy.linalg import expm
    S, times = 6, np.linspace(0.0, 5.0, 51)
    K = np.zeros((S, 5, 5))
    ks = np.linspace(0.5, 1.5, S)
    K[:, 0, 0], K[:, 1, 0] = -1.2 * ks, 0.7 * ks  # 0 → 1 → 2 (two hops from the dose)
    K[:, 1, 1], K[:, 2, 1], K[:, 2, 2] = -0.9, 0.4, -0.3
    K[:, 3, 3], K[:, 4, 4], K[:, 4, 3], K[:, 0, 3] = -1.0, -1.0, 1.0, 0.5  # Jordan block 3, 4 feeding 0
    W = np.zeros((S, 2, 5))
    W[:, 0, 0], W[:, 1, 2] = 1.0, 2.0
    ev = (np.array([[0.0, 2.0]] * S), np.full((S, 2), BOLUS, np.int64), np.zeros((S, 2), np.int64),
          np.ones((S, 2)) * 3.0)
    out = np.full((S, 2, times.size), np.nan)
    info = solve(K, W, times, 0.1, ev, out)
    assert not info.dense_rows.any() and info.method in ("batched", "modal")
    for s in range(S):
        x = np.zeros(5)
        x[0] = 3.0
        for j, t in enumerate(times):
            xt = expm(K[s] * t) @ x + (expm(K[s] * (t - 2.0)) @ np.eye(5)[0] * 3.0 if t >= 2.0 else 0.0)
            np.testing.assert_allclose(out[s, :, j], W[s] @ xt, rtol=1e-12, atol=1e-14)
    ev3 = (ev[0], ev[1], np.full((S, 2), 3, np.int64), ev[3])
    assert solve(K, W, times, 0.1, ev3, out).dense_rows.all()


def test_blocks_advance_only_the_modes_their_rows_need(monkeypatch):
    """Subjects left to dgeev (here every 7th, forced) order their modes unlike the block-decomposed
    ones: blocks keep them apart, so no block advances a mode none of its rows' doses reach (the
    depot modes under IV dosing), and the results stay those of the per-row kernel."""
    import pkpd.solvers.batched as batched
    import pkpd.solvers.modal as modal

    real = modal.block_eigen

    def some_to_dgeev(K):
        lam, V, Vinv, done = real(K)
        done[::7] = False
        return lam, V, Vinv, done
    monkeypatch.setattr(modal, "block_eigen", some_to_dgeev)
    seen = []
    run = batched.run_ranges

    def spy(fn, n, *a):
        if fn is batched._blocks:
            for _, union, masks in batched.blocks_of_call(a):
                seen.append((masks.all(axis=0) == masks.any(axis=0)).all() and union.size == masks[0].sum())
        return run(fn, n, *a)
    monkeypatch.setattr(batched, "run_ranges", spy)
    model = load_model("perez_ruixo_2021")
    regs = [parse_regimen(r, r) for r in ("0.5 mg/kg IV over 40 min", "56 mg IN", "1 mg/kg oral")]
    b = simulate_population(model, regs, Population(n=96, seed=3), horizon=6, step=0.1, mode="full", method="batched",
                            progress=False, dtype=np.float64)
    m = simulate_population(model, regs, Population(n=96, seed=3), horizon=6, step=0.1, mode="full", method="modal",
                            progress=False, dtype=np.float64)
    assert len(seen) > 9 and all(seen)
    np.testing.assert_array_equal(b.ketamine_plasma.values, m.ketamine_plasma.values)


def test_a_read_only_time_grid_compiles_no_second_kernel():
    """numba compiles a kernel once per argument types, and a read-only array is another type: a
    population's time grid comes read-only from xarray, and used to cost a second compile of every
    kernel it reached (~100 s for the re-linearised one in CI).  The solver boundary copies it."""
    import pkpd.solvers.batched as batched
    pr = load_model("perez_ruixo_2021")
    grid = np.arange(21) / 10
    grid.setflags(write=False)
    simulate_population(pr, _regimens(pr)[:1], Population(n=40, seed=1, covariates=WT), horizon=2, step=0.1,
                        progress=False)
    Histograms(grid.size, [("log", 100.0, 0.0)]).add(np.ones((3, 1, grid.size)), grid, np.full((1, 2), np.inf))
    arrays = [t for sig in batched._blocks.signatures for t in sig if isinstance(t, numba.types.Array)]
    assert arrays and all(t.mutable for t in arrays)

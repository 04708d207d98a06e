"""Eigen-decomposition through the block structure of compartment matrices (pkpd.solvers.block_eigen).

What is promised (docs/design.md, "Solver"): the linear kernels' basis comes from the diagonal
blocks (Jacobi on symmetrisable ones) and block substitution where that is safe and
well-conditioned, else from ``dgeev`` exactly as before; trajectories agree with the all-``dgeev``
path within 1e-12 of each output's range on every library model, route and PD model; the dense
fallback takes the same subjects.
"""
from __future__ import annotations

import numpy as np
import pytest

import pkpd.solvers.modal as modal
from pkpd.models.load import load_model
from pkpd.simulation.population import simulate_population
from pkpd.simulation.sampling import Population
from pkpd.solvers.block_eigen import BLOCK_COND_MAX, block_eigen, block_structure

from test_batched import WT, _pds, _regimens


def _propagators(lam, V, Vinv, t):
    return np.einsum("sij,sj,sjk->sik", V, np.exp(lam * t), Vinv)


def _mammillary(rng, S):
    """Central + 2 peripherals + liver (two-way), a metabolite fed by the liver, an effect site fed
    by the central compartment, and a depot feeding the central one: blocks 4 + 1 + 1 + 1."""
    K = np.zeros((S, 7, 7))
    kin = rng.uniform(0.05, 2.0, (S, 3))
    kout = rng.uniform(0.05, 2.0, (S, 3))
    for j in range(3):
        K[:, j + 1, 0] = kin[:, j]
        K[:, 0, j + 1] = kout[:, j]
        K[:, j + 1, j + 1] = -kout[:, j]
    K[:, 0, 0] = -kin.sum(axis=1) - rng.uniform(0.01, 0.5, S)
    K[:, 4, 3] = rng.uniform(0.1, 1.0, S)  # liver → metabolite
    K[:, 3, 3] -= K[:, 4, 3]
    K[:, 4, 4] = -rng.uniform(0.05, 3.0, S)
    K[:, 5, 0] = 1e-4
    K[:, 5, 5] = -rng.uniform(0.05, 5.0, S)
    K[:, 0, 6] = rng.uniform(0.2, 3.0, S)  # depot → central
    K[:, 6, 6] = -K[:, 0, 6]
    perm = rng.permutation(7)
    return np.ascontiguousarray(K[:, perm][:, :, perm])


def test_block_structure_orders_components_upstream_first():
    K = _mammillary(np.random.default_rng(1), 1)[0]
    perm, starts = block_structure(K != 0)
    A = K[perm][:, perm]
    nb = starts.size - 1
    for b in range(nb):
        for c in range(b + 1, nb):  # nothing flows upstream
            assert not A[starts[b]:starts[b + 1], starts[c]:starts[c + 1]].any()
    assert sorted(np.diff(starts)) == [1, 1, 1, 4]
    assert block_structure(np.ones((13, 13), dtype=bool)) is None  # one block too large: dgeev


def test_block_basis_agrees_with_dgeev_on_random_compartment_matrices():
    """The block basis reconstructs ``K`` and ``exp(K t)`` as ``dgeev``'s does, within 1e-12 of the
    propagator's largest entry; subjects left to ``dgeev`` get its numbers bit for bit."""
    rng = np.random.default_rng(7)
    K = _mammillary(rng, 3000)
    lam, V, Vinv, ok = modal.eigenbasis(K, blocks=True)
    l0, V0, Vi0, ok0 = modal.eigenbasis(K)
    _, _, _, done = block_eigen(K)
    assert done.mean() > 0.95 and ok.all() and ok0.all()
    for t in (1 / 60, 1.0, 24.0):
        E, E0 = _propagators(lam, V, Vinv, t), _propagators(l0, V0, Vi0, t)
        assert (np.abs(E - E0).max(axis=(1, 2)) <= 1e-12 * np.abs(E0).max(axis=(1, 2))).all()
    np.testing.assert_allclose(np.sort(lam, axis=1), np.sort(l0, axis=1), rtol=1e-12, atol=1e-14)
    for a, b in ((lam, l0), (V, V0), (Vinv, Vi0)):
        np.testing.assert_array_equal(a[~done], b[~done])
    cond = np.abs(V0).sum(axis=2).max(axis=1) * np.abs(Vi0).sum(axis=2).max(axis=1)
    assert not done[cond > 2 * BLOCK_COND_MAX].any()  # ill-conditioned: dgeev's basis


def test_unsafe_or_unstructured_subjects_take_the_former_path():
    """A one-way cycle (not symmetrisable), a chain of equal rates (defective: a Jordan block), two
    metabolites with the same rate fed by one parent (diagonalisable, uncoupled) and a NaN."""
    cycle = np.array([[-1.0, 0.0, 0.5], [1.0, -2.0, 0.0], [0.0, 2.0, -0.5]])
    chain = np.array([[-1.0, 0.0, 0.0], [1.0, -1.0, 0.0], [0.0, 1.0, -1.0]])
    twins = np.array([[-3.0, 0.0, 0.0], [1.0, -1.0, 0.0], [2.0, 0.0, -1.0]])
    K = np.stack([cycle, chain, twins])
    lam, V, Vinv, ok = modal.eigenbasis(K, blocks=True)
    l0, V0, Vi0, ok0 = modal.eigenbasis(K)
    np.testing.assert_array_equal(ok, ok0)
    assert list(ok) == [ok0[0], False, True]
    # each subject with the structure of its own pattern
    done = list(block_eigen(K)[3])
    assert done == [False, False, True]
    lam, V, Vinv, ok = modal.eigenbasis(K[2:], blocks=True)
    np.testing.assert_allclose(_propagators(lam, V, Vinv, 2.0)[0], _propagators(l0, V0, Vi0, 2.0)[2], rtol=0,
                               atol=1e-14)
    K[2, 1, 0] = np.nan
    with pytest.raises(np.linalg.LinAlgError):  # as np.linalg.eig
        modal.eigenbasis(K, blocks=True)


@pytest.mark.parametrize("pk", ["perez_ruixo_2021", "fanta_otto_2021", "domino", "herd_anderson_2007",
                                "simons_2022"])
def test_trajectories_agree_with_the_dgeev_path_on_every_model_and_route(pk, monkeypatch):
    """Every linear library model × route × fitting PD model, 60 subjects: outputs within 1e-12
    of each output's range of the all-``dgeev`` path, the same dense-fallback subjects, and the
    block path took subjects (Simons 2022: repeated eigenvalues, all dense either way)."""
    model = load_model(pk)
    regs, pds = _regimens(model), _pds(model)
    kw = dict(horizon=24.0, step=5 / 60, pd=pds, mode="full", dtype=np.float64, progress=False)
    pop = Population(n=60, seed=11, covariates=WT)
    taken = []
    real = modal.block_eigen

    def counting(*a):
        out = real(*a)
        taken.append(int(out[3].sum()))
        return out
    monkeypatch.setattr(modal, "block_eigen", counting)
    new = simulate_population(model, regs, pop, **kw)
    monkeypatch.setattr(modal, "block_eigen", lambda K: (np.zeros(K.shape[:2]), np.zeros(K.shape), np.zeros(K.shape),
                                                         np.zeros(K.shape[0], dtype=bool)))  # all by dgeev
    old = simulate_population(model, regs, pop, **kw)
    assert new.attrs.get("dense_fallback_subject_regimens") == old.attrs.get("dense_fallback_subject_regimens")
    assert (sum(taken) > 0) == (pk != "simons_2022")
    for v in old.data_vars:
        if "time" not in old[v].dims:
            continue
        a, b = new[v].values, old[v].values
        scale = np.nanmax(np.abs(b), axis=-1, keepdims=True)
        assert np.array_equal(np.isnan(a), np.isnan(b)), v
        bad = np.abs(a - b) > 1e-12 * scale
        assert not bad.any(), (v, np.nanmax(np.abs(a - b) / scale))


def test_a_subjects_numbers_do_not_depend_on_the_others(monkeypatch):
    """Bit for bit the same basis for a subject alone, in another order, among others with another
    pattern (a zero rate: its own structure) and on 1 or 2 threads: Jacobi lanes stop rotating
    when they converge, and the structure comes from each subject's own pattern."""
    import numba
    rng = np.random.default_rng(3)
    K = _mammillary(rng, 200)
    K[::7, 4, :] = K[::7, :, 4] = 0.0  # an inert state in some subjects: a different pattern
    weak = np.arange(1, 200, 10)  # nearly uncoupled peripherals: Jacobi converges in fewer sweeps
    K[weak] = np.where((K[weak] > 0) & (K[weak] < 5), K[weak] * 1e-7, K[weak])
    whole = block_eigen(K)
    assert whole[3].mean() > 0.9
    order = rng.permutation(200)
    shuffled = block_eigen(K[order])
    alone = [block_eigen(K[i:i + 1]) for i in (0, 1, 7, 150, 151)]
    for a, b in zip(whole, shuffled):
        np.testing.assert_array_equal(a[order], b)
    for i, one in zip((0, 1, 7, 150, 151), alone):
        for a, b in zip(whole, one):
            np.testing.assert_array_equal(a[i], b[0])
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        for a, b in zip(whole, block_eigen(K)):
            np.testing.assert_array_equal(a, b)
    finally:
        numba.set_num_threads(threads)


def _expm_long(A):
    """exp(A) in long double: Taylor series of A / 2^s, then s squarings (the reference)."""
    A = A.astype(np.longdouble)
    s = max(0, int(np.ceil(np.log2(max(float(np.abs(A).sum(axis=0).max()), 1e-300) / 0.25))))
    B = A / np.longdouble(2) ** s
    E = term = np.eye(A.shape[0], dtype=np.longdouble)
    for k in range(1, 30):
        term = term @ B / k
        E = E + term
    for _ in range(s):
        E = E @ E
    return E


def _hard_cases(rng, S=30):
    """Stiff (rates 1e-4 … 1e4 /h), twin peripherals (a repeated eigenvalue inside a block), no
    elimination (an eigenvalue 0), a metabolite / an effect site whose rate nearly equals a parent
    eigenvalue, an absorption rate near the elimination rate, a one-way chain of 1×1 blocks."""
    def mam(kin, kout, kel):
        K = np.zeros((S, len(kin) + 1, len(kin) + 1))
        for j, (a, b) in enumerate(zip(kin, kout)):
            K[:, j + 1, 0], K[:, 0, j + 1], K[:, j + 1, j + 1] = a, b, -b
        K[:, 0, 0] = -sum(kin) - kel
        return K
    u = lambda lo, hi: rng.uniform(lo, hi, S)  # noqa: E731
    k = u(0.1, 1)
    cases = {"stiff": mam([u(1e2, 1e4), u(1e-3, 1e-2)], [u(1e2, 1e4), u(1e-4, 1e-3)], u(1e-2, 1)),
             "twins": mam([k, k], [k / 2, k / 2], u(0.1, 1)), "no elimination": mam([k, 2 * k], [k / 2, k / 3], 0 * k)}
    parent = mam([k, 2 * k], [k / 2, k / 3], u(0.1, 1))
    slowest = np.linalg.eigvals(parent).real.max(axis=1)
    for gap in (1e-1, 1e-3, 1e-5):
        K = np.zeros((S, 4, 4))
        K[:, :3, :3] = parent
        K[:, 0, 0] -= 0.3 * k
        K[:, 3, 0] = 0.3 * k
        K[:, 3, 3] = np.linalg.eigvals(K[:, :3, :3]).real.min(axis=1) * (1 + gap)
        cases[f"metabolite {gap:g}"] = K
        E = K.copy()
        E[:, 3, 0], E[:, 3, 3] = 1e-4, slowest * (1 + gap)
        cases[f"effect site {gap:g}"] = E
        ke = u(0.1, 2)
        cases[f"absorption {gap:g}"] = np.stack([np.array([[-k_ * (1 + gap), 0], [k_ * (1 + gap), -k_]]) for k_ in ke])
    r = rng.uniform(0.1, 3, (S, 5))
    C = np.zeros((S, 5, 5))
    for i in range(5):
        C[:, i, i] = -r[:, i]
        if i:
            C[:, i, i - 1] = r[:, i - 1]
    cases["one-way chain"] = C
    return cases


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="needs an extended long double")
def test_block_basis_is_as_accurate_as_dgeev_on_hard_cases():
    """Against exp(K t) in long double: where the block basis is taken its propagator is within
    10 ε (cond(V) + max|K| t) of the largest entry (rounding of the eigenvalues grows with max|K| t,
    of the basis with its condition number: stiff systems differ from ``dgeev``'s by up to ~1e-11,
    the block basis being the closer), and over each family no worse than twice ``dgeev``'s."""
    eps = np.finfo(float).eps
    taken = 0
    for name, K in _hard_cases(np.random.default_rng(5)).items():
        lam, V, Vinv, ok = modal.eigenbasis(K, blocks=True)
        l0, V0, Vi0, ok0 = modal.eigenbasis(K)
        done = block_eigen(K)[3]
        taken += done.sum()
        cond = np.abs(V).sum(axis=2).max(axis=1) * np.abs(Vinv).sum(axis=2).max(axis=1)
        for t in (1 / 60, 1.0, 24.0):
            X = np.stack([_expm_long(k * t) for k in K])
            sc = np.abs(X).max(axis=(1, 2)).astype(float)
            err = (np.abs(_propagators(lam, V, Vinv, t) - X).max(axis=(1, 2))).astype(float) / sc
            err0 = (np.abs(_propagators(l0, V0, Vi0, t) - X).max(axis=(1, 2))).astype(float) / sc
            bound = 10 * eps * (cond + np.abs(K).max(axis=(1, 2)) * t)
            assert (err[done] <= bound[done]).all(), (name, t, err[done].max())
            if done.any() and ok0.any():  # over the family: no worse than dgeev's (subjects vary both ways)
                assert err[done].max() <= 2 * err0[ok0].max() + 1e-15, (name, t, err[done].max(), err0[ok0].max())
    assert taken > 0.5 * 30 * 12

"""Nonlinear benchmark: Michaelis–Menten Domino model (domino_mm), IV 2 mg/kg bolus + 1 mg/kg/h for
2 h, 24 h on a 1-minute grid; pkpd's default (``solver = "auto"``: the re-linearised exponential
integrator) and, for comparison, its exponential integrator linearised once and its
Dormand–Prince kernel, for a population against a per-subject scipy LSODA loop and libroadrunner
CVODE at the same rtol (1e-6 and 1e-8), each against Radau at rtol 1e-12.  Weights vary across
subjects (V1 is per kg).  Beside the same-rtol ratio (issue 16's target) each case reports a
work-precision one: pkpd at the loosest rtol whose error is still no larger than LSODA's.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/bench_nonlinear.py

``--cpu``: CPU time (``time.process_time``, less sensitive to other jobs than wall time) per
subject of pkpd auto end to end and of its kernel alone, and of the LSODA loop; run it with
``NUMBA_NUM_THREADS=1`` for one core's cost.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pkpd.models.load import load_model  # noqa: E402
from pkpd.dosing.notation import parse_regimen  # noqa: E402
from pkpd.simulation.sampling import CovariateDist, Population, sample_covariates  # noqa: E402
from pkpd.simulation.population import simulate_population  # noqa: E402
from pkpd.simulation.typical import solve_states  # noqa: E402
from pkpd.testing import max_rel_error, michaelis_menten_system, solve_piecewise, tolerance_system  # noqa: E402

M = load_model("domino_mm")
REG = parse_regimen("2 mg/kg IV then 1 mg/kg/h for 2 h", "bolus + infusion")
N = 2000
GRID = np.arange(24 * 60 + 1) / 60


def subject(wt):
    v = M.params.individual(covariates={"WT": wt})
    x, sysm, ev = solve_states(M, REG, np.array([0.0, 1e-9]), subject={"WT": wt})
    K = sysm.K[0].copy()
    return K, ev, float(v["V1"][0]), float(v["Vmax"][0]), float(v["Km"][0])


def scipy_run(wt, method="LSODA", rtol=1e-8, atol=1e-12):
    f, n, ev, V1 = michaelis_menten_system(M, REG, wt)
    return solve_piecewise(f, n, ev, GRID, method=method, rtol=rtol, atol=atol)[0] / V1 * 1000


def roadrunner_run(wt, rtol=1e-8):
    import antimony
    import roadrunner
    K, ev, V1, Vmax, Km = subject(wt)
    n = K.shape[0]
    lines = ["model m"] + [f"  x{i} = 0" for i in range(n)] + [f"  b{i} = 0" for i in range(n)]
    lines.append(f"  V1 = {V1!r}; Vmax = {Vmax!r}; Km = {Km!r}")
    for i in range(n):
        terms = " + ".join(f"({float(K[i, j])!r})*x{j}" for j in range(n))
        mm = " - Vmax*(x0/V1)/(Km + x0/V1)" if i == 0 else ""
        lines.append(f"  x{i}' = {terms} + b{i}{mm}")
    # events at t = 0 become initial values (roadrunner would otherwise see them at reset and again)
    init = np.zeros(n)
    rate0 = np.zeros(n)
    for j in range(ev.time.shape[1]):
        c, kind, v, te = int(ev.cmt[0, j]), int(ev.kind[0, j]), float(ev.value[0, j]), float(ev.time[0, j])
        if te == 0.0 and kind == 0:
            init[c] += v
            continue
        if te == 0.0 and kind == 1:
            rate0[c] += v
            continue
        act = {0: f"x{c} = x{c} + {v!r}", 1: f"b{c} = b{c} + {v!r}", 2: f"b{c} = b{c} - {v!r}"}[kind]
        lines.append(f"  E{j}: at (time >= {te!r}), t0=false, fromTrigger=false: {act}")
    lines[1:1 + 2 * n] = ([f"  x{i} = {float(init[i])!r}" for i in range(n)]
                         + [f"  b{i} = {float(rate0[i])!r}" for i in range(n)])
    lines.append("end")
    antimony.clearPreviousLoads()
    antimony.loadAntimonyString("\n".join(lines))
    rr = roadrunner.RoadRunner(antimony.getSBMLString("m"))
    rr.integrator.relative_tolerance = rtol
    rr.integrator.absolute_tolerance = 1e-12
    t0 = time.perf_counter()
    res = rr.simulate(times=list(GRID), selections=["time", "x0"])
    return np.asarray(res)[:, 1] / V1 * 1000, time.perf_counter() - t0


def main():
    from pkpd.solvers.options import AUTO, DOPRI, EXPONENTIAL, SolverOptions
    pop = Population(n=N, seed=1, covariates={"WT": CovariateDist("normal", 75, 12, 45, 130)})
    wts = sample_covariates(pop, 0, N, ["WT"])["WT"]
    sub = 20
    refs = [scipy_run(w, "Radau", 1e-12, 1e-14) for w in wts[:sub]]
    rows = []
    for rtol in (1e-6, 1e-8):
        res = {"case": f"domino_mm, {N} subjects, {REG.name}, 24 h @ 1 min, rtol {rtol:g}", "rtol": rtol}
        for name, method in (("auto", AUTO), ("exponential", EXPONENTIAL), ("dopri", DOPRI)):
            opts = SolverOptions(method, rtol, 1e-12)
            simulate_population(M, [REG], Population(n=16, seed=1), horizon=24, step=1 / 60, mode="full",
                                dtype=np.float64, progress=False, solver=opts)  # warm: the same kernels as timed
            t0 = time.perf_counter()
            ds = simulate_population(M, [REG], pop, horizon=24, step=1 / 60, mode="full", dtype=np.float64,
                                     progress=False, solver=opts)
            res[f"pkpd_{name}_ms_per_subject"] = round((time.perf_counter() - t0) / N * 1e3, 3)
            res[f"pkpd_{name}_max_rel_error"] = float(f"{max(max_rel_error(ds.ketamine_plasma.values[0, 0, i], refs[i]) for i in range(sub)):.2e}")
        t0 = time.perf_counter()
        outs = [scipy_run(w, rtol=rtol) for w in wts[:sub]]
        t_sc = (time.perf_counter() - t0) / sub
        res["scipy_lsoda_ms_per_subject"] = round(t_sc * 1e3, 2)
        res["scipy_max_rel_error"] = float(f"{max(max_rel_error(o, r) for o, r in zip(outs, refs)):.2e}")
        t_pk = res["pkpd_auto_ms_per_subject"] / 1e3
        res["ratio_vs_scipy"] = round(t_sc / t_pk, 1)
        res["scipy_subsample"] = sub
        res.update(equal_accuracy(pop, refs, rtol, res["scipy_max_rel_error"], t_sc))
        try:
            rr = [roadrunner_run(w, rtol=rtol) for w in wts[:sub]]
            res["roadrunner_ms_per_subject"] = round(np.mean([t for _, t in rr]) * 1e3, 3)
            res["roadrunner_max_rel_error"] = float(f"{max(max_rel_error(o, r) for (o, _), r in zip(rr, refs)):.2e}")
            res["ratio_vs_roadrunner"] = round(res["roadrunner_ms_per_subject"] / 1e3 / t_pk, 1)
        except ImportError:
            pass
        print(json.dumps(res, indent=1))
        rows.append(res)
    (Path(__file__).parent / "results_nonlinear.json").write_text(json.dumps(rows, indent=2) + "\n")


def equal_accuracy(pop, refs, rtol, err_lsoda, t_sc):
    """Work-precision: the loosest pkpd rtol (rtol × 1, √10, 10) whose error against Radau is still
    no larger than LSODA's at ``rtol``, and the ratio there — reported beside the same-rtol ratio
    (the target's), because at the same rtol pkpd is several times more accurate than LSODA."""
    from pkpd.solvers.options import AUTO, SolverOptions
    best = None
    for f in (1.0, 10 ** 0.5, 10.0):
        opts = SolverOptions(AUTO, rtol * f, 1e-12)
        simulate_population(M, [REG], Population(n=16, seed=1), horizon=24, step=1 / 60, mode="full",
                            dtype=np.float64, progress=False, solver=opts)
        t0 = time.perf_counter()
        ds = simulate_population(M, [REG], pop, horizon=24, step=1 / 60, mode="full", dtype=np.float64,
                                 progress=False, solver=opts)
        t = (time.perf_counter() - t0) / N
        err = max(max_rel_error(ds.ketamine_plasma.values[0, 0, i], refs[i]) for i in range(len(refs)))
        if err <= err_lsoda:
            best = {"equal_accuracy_pkpd_rtol": float(f"{rtol * f:.3g}"), "equal_accuracy_pkpd_max_rel_error":
                    float(f"{err:.2e}"), "equal_accuracy_pkpd_ms_per_subject": round(t * 1e3, 3),
                    "equal_accuracy_ratio_vs_scipy": round(t_sc / t, 1)}
    return best or {}


def hybrid_case():
    """Perez-Ruixo + tolerance_dissociation (tolerance state driven by the effect site): the
    hybrid path (linear part exact) against a scipy LSODA loop on the whole system."""
    pk, tol = load_model("perez_ruixo_2021"), load_model("tolerance_dissociation")
    reg = parse_regimen("28 mg IN x2 every 5 min", "IN 56 mg")
    n = 2000
    pop = Population(n=n, seed=1)
    simulate_population(pk, [reg], Population(n=16, seed=1), horizon=24, step=1 / 60, pd=[tol], progress=False)
    t0 = time.perf_counter()
    ds = simulate_population(pk, [reg], pop, horizon=24, step=1 / 60, pd=[tol], mode="full", dtype=np.float64,
                             progress=False)
    t_pk = (time.perf_counter() - t0) / n
    # the same equations for the typical subject, integrated by scipy (whole system)
    f, nst, ev, _, T = tolerance_system(pk, tol, reg)
    grid = ds.time.values

    def run(method, rtol, atol):
        return solve_piecewise(f, nst, ev, grid, method=method, rtol=rtol, atol=atol)[T]

    reps = 10
    t0 = time.perf_counter()
    for _ in range(reps):
        sc = run("LSODA", 1e-8, 1e-12)
    t_sc = (time.perf_counter() - t0) / reps
    ref = run("Radau", 1e-12, 1e-14)
    typ = simulate_population(pk, [reg], Population(n=1, seed=1, iiv=False), horizon=24, step=1 / 60, pd=[tol],
                              mode="full", dtype=np.float64, progress=False)
    err_pk = max_rel_error(typ.tolerance_dissociation_T.values[0, 0, 0], ref)
    return {"case": f"perez_ruixo_2021 + tolerance_dissociation (hybrid path), {n} subjects, IN 56 mg, 24 h @ 1 min",
            "pkpd_ms_per_subject": round(t_pk * 1e3, 3), "pkpd_max_rel_error_T": float(f"{err_pk:.2e}"),
            "scipy_lsoda_ms_per_subject": round(t_sc * 1e3, 2),
            "scipy_max_rel_error_T": float(f"{max_rel_error(sc, ref):.2e}"), "ratio_vs_scipy": round(t_sc / t_pk, 1)}


def cpu_case():
    """CPU time per subject: pkpd auto end to end and its kernel alone (best of 3), LSODA (20 subjects)."""
    import pkpd.solvers.dispatch as dispatch
    from pkpd.solvers.options import AUTO, SolverOptions
    pop = Population(n=N, seed=1, covariates={"WT": CovariateDist("normal", 75, 12, 45, 130)})
    wts = sample_covariates(pop, 0, N, ["WT"])["WT"][:20]
    kernel = [0.0]
    orig = dispatch.solve_relinearised

    def timed(*a, **k):
        t0 = time.process_time()
        r = orig(*a, **k)
        kernel[0] += time.process_time() - t0
        return r
    dispatch.solve_relinearised = timed
    out = []
    for rtol in (1e-6, 1e-8):
        opts = SolverOptions(AUTO, rtol, 1e-12)
        run = lambda p: simulate_population(M, [REG], p, horizon=24, step=1 / 60, mode="full", dtype=np.float64,
                                            progress=False, solver=opts)
        run(Population(n=16, seed=1))
        best = (np.inf, 0.0)
        for _ in range(3):
            kernel[0] = 0.0
            t0 = time.process_time()
            run(pop)
            best = min(best, (time.process_time() - t0, kernel[0]))
        scipy_run(wts[0], rtol=rtol)
        t0 = time.process_time()
        for w in wts:
            scipy_run(w, rtol=rtol)
        t_sc = (time.process_time() - t0) / len(wts)
        out.append({"rtol": rtol, "pkpd_auto_cpu_us_per_subject": round(best[0] / N * 1e6, 1),
                    "kernel_cpu_us_per_subject": round(best[1] / N * 1e6, 1),
                    "scipy_lsoda_cpu_us_per_subject": round(t_sc * 1e6), "cpu_ratio": round(t_sc / (best[0] / N), 1)})
        print(json.dumps(out[-1]))
    dispatch.solve_relinearised = orig
    return out


if __name__ == "__main__" and "--cpu" in sys.argv:
    cpu_case()
elif __name__ == "__main__":
    main()
    h = hybrid_case()
    print(json.dumps(h, indent=1))
    path = Path(__file__).parent / "results_nonlinear.json"
    path.write_text(json.dumps({"michaelis_menten": json.loads(path.read_text()), "hybrid_tolerance": h}, indent=2)
                    + "\n")

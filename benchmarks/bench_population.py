"""Population-solver benchmark: pkpd against a scipy LSODA loop and libroadrunner (CVODE).

Standard case (issue 4): Perez-Ruixo 2021 esketamine model with the Olofsen 2022 effect site
(10 states: 3 disposition + liver + 3 depots + 2 noresketamine + effect site), 10,000 subjects
× 3 regimens (IV 0.5 mg/kg over 40 min, intranasal 2 × 28 mg, oral 1 mg/kg) × 24 h on a 1-minute
grid.  All numbers are measured in the same run on the same machine.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/bench_population.py

Reports in one run: the cold start (empty and warm numba cache), warm full and streaming times,
the ratios to a scipy LSODA loop and libroadrunner, 10⁶ subjects × 1 regimen (streaming) time
and peak memory, the thread scaling, this machine's memory and floating-point limits and the
roofline fraction (benchmarks/roofline.py); every timing is repeated (``--repeats``, default 3)
and its spread recorded, with the load average (the machine is shared).

Options: --quick (smaller sizes, for a smoke run), --skip-million, --repeats N, --json FILE,
--only-scaling (redo the scaling, 10⁶ and thread part into an existing JSON file).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pkpd.dosing.events import regimen_events  # noqa: E402
from pkpd.models.load import load_model  # noqa: E402
from pkpd.simulation.sampling import CovariateDist, Population, individual_values, sample_covariates  # noqa: E402
from pkpd.simulation.population import simulate_population  # noqa: E402
from pkpd.scenario.doses import parse_dose  # noqa: E402
from pkpd.dosing.regimen import Regimen  # noqa: E402
from pkpd.simulation.grid import output_times  # noqa: E402
from pkpd.simulation.system import build_system  # noqa: E402
from pkpd.testing import max_rel_error, reference_solution, solve_piecewise  # noqa: E402

import roofline  # noqa: E402  (benchmarks/roofline.py)

HORIZON, STEP = 24.0, 1 / 60


def regimens():
    mk = lambda name, *d: Regimen(name, tuple(parse_dose(x, "dose") for x in d))
    return [mk("IV 0.5 mg/kg over 40 min", {"route": "iv", "amount": "0.5 mg/kg", "duration": "40 min"}),
            mk("IN 2 x 28 mg", {"route": "intranasal", "amount": "28 mg", "sprays": 2, "spray_interval": "5 min"}),
            mk("oral 1 mg/kg", {"route": "oral", "amount": "1 mg/kg"})]


def population(n):
    return Population(n=n, seed=2026, covariates={"WT": CovariateDist("normal", 75, 12, 45, 130),
                                                  "FEMALE": CovariateDist("bernoulli", 0.5)})


MODEL, PD = load_model("perez_ruixo_2021"), load_model("olofsen_2022")


LAST_CPU = [0.0]  # CPU seconds (all threads of this process) of the last run_pkpd call


def run_pkpd(n, mode="full", regs=None, pd=None, dtype=np.float32, **kw):
    """The standard case (``pd=()``: PK only) for ``n`` subjects; returns (wall seconds, dataset)."""
    t0, c0 = time.perf_counter(), time.process_time()
    ds = simulate_population(MODEL, regs or regimens(), population(n), horizon=HORIZON, step=STEP,
                             pd=PD if pd is None else pd, mode=mode, dtype=dtype, progress=False, **kw)
    LAST_CPU[0] = time.process_time() - c0
    return time.perf_counter() - t0, ds


def subject_systems(n_sub):
    """K, events and output scaling of the first ``n_sub`` subjects × each regimen."""
    pop = population(n_sub)
    covs = sample_covariates(pop, 0, n_sub, sorted(MODEL.params.all_covariates()))
    vals = individual_values(MODEL.params, pop, 0, n_sub, covs)
    pdv = PD.params.individual(n=n_sub)
    sysm = build_system(MODEL, vals, PD.links(pdv, MODEL.species))
    cases = []
    for reg in regimens():
        ev = regimen_events(MODEL, reg, vals, covs["WT"])
        for s in range(n_sub):
            cases.append((sysm.K[s], ev, s, 1000.0 / vals["Vc"][s]))
    return cases


GRID = None  # the output grid of the pkpd run, shared by every method


def times_for(ev, s):
    return GRID if GRID is not None else output_times(HORIZON, STEP, ev.time[s][np.isfinite(ev.time[s])])


class _Ev:  # one subject's events as a 1-row Events-like object
    def __init__(self, ev, s):
        self.time, self.kind, self.cmt, self.value = (a[s:s + 1] for a in (ev.time, ev.kind, ev.cmt, ev.value))


def scipy_loop(cases, rtol=1e-8):
    """Per subject-regimen scipy LSODA (rtol 1e-8, analytic Jacobian): one solve_ivp call per
    interval between dose events, output through ``t_eval``; returns (seconds per case, states, CPU
    seconds per case of this thread — what its one core spent, whatever else the machine runs)."""
    outs = []
    t0, c0 = time.perf_counter(), time.thread_time()
    for K, ev, s, _ in cases:
        outs.append(solve_piecewise(lambda _, y, b: K @ y + b, K.shape[0], _Ev(ev, s), times_for(ev, s),
                                    rtol=rtol, jac=lambda *_: K))
    return (time.perf_counter() - t0) / len(cases), outs, (time.thread_time() - c0) / len(cases)


def roadrunner_loop(cases, rtol=1e-8):
    """Per subject-regimen libroadrunner CVODE on an SBML model of the same system; returns (seconds
    per case, states, model build seconds, CPU seconds per case of this thread)."""
    import antimony
    import roadrunner
    models = {}
    outs = []
    setup = 0.0
    t_sim = 0.0
    c_sim = 0.0
    for K, ev, s, _ in cases:
        e = _Ev(ev, s)
        key = (e.kind.tobytes(), e.cmt.tobytes(), K.shape[0])
        if key not in models:
            t0 = time.perf_counter()
            models[key] = _make_rr(K.shape[0], e, antimony, roadrunner, rtol)
            setup += time.perf_counter() - t0
        rr, names = models[key]
        t0, c0 = time.perf_counter(), time.thread_time()
        rr.resetAll()
        n = K.shape[0]
        vals = {f"k_{i}_{j}": K[i, j] for i in range(n) for j in range(n)}
        for j in range(e.time.shape[1]):
            vals[f"te{j}"] = e.time[0, j]
            vals[f"v{j}"] = e.value[0, j]
        for k, v in vals.items():
            if k in names:
                rr[k] = float(v)
        tt = times_for(ev, s)
        # start just before 0 so that events at t = 0 fire as a trigger crossing after reset
        res = rr.simulate(times=[-1e-9] + list(tt), selections=["time"] + [f"x{i}" for i in range(n)])
        t_sim += time.perf_counter() - t0
        c_sim += time.thread_time() - c0
        outs.append(np.asarray(res)[1:, 1:].T)
    return t_sim / len(cases), outs, setup, c_sim / len(cases)


def _make_rr(n, e, antimony, roadrunner, rtol):
    lines = ["model m"]
    lines += [f"  x{i} = 0" for i in range(n)]
    lines += [f"  b{i} = 0" for i in range(n)]
    lines += [f"  k_{i}_{j} = 0" for i in range(n) for j in range(n)]
    for i in range(n):
        terms = " + ".join(f"k_{i}_{j}*x{j}" for j in range(n))
        lines.append(f"  x{i}' = {terms} + b{i}")
    for j in range(e.time.shape[1]):
        c, kind = int(e.cmt[0, j]), int(e.kind[0, j])
        lines.append(f"  te{j} = 0; v{j} = 0")
        act = {0: f"x{c} = x{c} + v{j}", 1: f"b{c} = b{c} + v{j}", 2: f"b{c} = b{c} - v{j}"}[kind]
        lines.append(f"  E{j}: at (time >= te{j}), t0=false, fromTrigger=false: {act}")
    lines.append("end")
    antimony.clearPreviousLoads()
    if antimony.loadAntimonyString("\n".join(lines)) < 0:
        raise RuntimeError(antimony.getLastError())
    rr = roadrunner.RoadRunner(antimony.getSBMLString("m"))
    rr.integrator.relative_tolerance = rtol
    rr.integrator.absolute_tolerance = 1e-12
    names = set(rr.model.getGlobalParameterIds())
    return rr, names


def accuracy(cases, outs, pk_rows):
    """Max relative error of central-compartment concentration against Radau rtol 1e-12."""
    errs = []
    for (K, ev, s, scale), o, pk in zip(cases, outs, pk_rows):
        ref = reference_solution(K, _Ev(ev, s), times_for(ev, s), rtol=1e-12, atol=1e-16)
        c_ref = ref[MODEL.index["central"]]
        if o is not None:
            errs.append(max_rel_error(o[MODEL.index["central"]], c_ref))
        else:
            errs.append(max_rel_error(pk, c_ref * scale))
    return max(errs)


def cold_start(cache_dir: str) -> dict:
    """A fresh process: import pkpd, run the standard case (full, float32); seconds to import, to
    the end of the first run, and of a second run in the same process (so the start-up cost is
    the first minus the second)."""
    code = textwrap.dedent(f"""
        import time, sys
        t0 = time.perf_counter()
        sys.path.insert(0, {str(ROOT)!r})
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import bench_population as b
        t1 = time.perf_counter()
        b.run_pkpd(10000)
        t2 = time.perf_counter()
        b.run_pkpd(10000)
        print(t1 - t0, t2 - t0, time.perf_counter() - t2)
    """)
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    imp, first, again = map(float, out.stdout.strip().splitlines()[-1].split())
    return {"import": round(imp, 2), "first_run_total": round(first, 2), "start_up": round(first - again, 2)}


def scaling_run(n: int, threads: int | None = None, regimen: int = 0) -> dict:
    """Streaming, one regimen, in a fresh process (after a 2,000-subject warm-up): wall seconds and
    the process's peak resident memory."""
    code = textwrap.dedent(f"""
        import time, sys
        sys.path.insert(0, {str(ROOT)!r})
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import bench_population as b
        regs = b.regimens()[{regimen}:{regimen} + 1]
        b.run_pkpd(2000, mode="streaming", regs=regs)
        load = open("/proc/loadavg").read().split()[0]
        t, ds = b.run_pkpd({n}, mode="streaming", regs=regs, chunk=2048)
        # VmHWM: this process's own peak (ru_maxrss would include the forking parent's)
        hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
        print(t, int(hwm) / 1024, b.LAST_CPU[0], load)
    """)
    env = dict(os.environ)
    if threads:
        env["NUMBA_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    t, rss, cpu, load = map(float, out.stdout.strip().splitlines()[-1].split())
    return {"subjects": n, "threads": threads or os.cpu_count(), "seconds": round(t, 3), "peak_rss_MiB": round(rss),
            "cpu_seconds": round(cpu, 3), "load_average_before": load}


def modes_advanced(n: int = 64) -> float:
    """The mean number of modes the batched kernel advances per subject-regimen in the standard case
    (it leaves out the modes no dose of a block excites, e.g. the depots of other routes under IV
    dosing), counted from the blocks of a small run with the kernel's own test."""
    import pkpd.solvers.batched as batched
    counts = []
    run = batched.run_ranges

    def spy(fn, nb, *a):
        if fn is batched._blocks:
            for rows, act, _ in batched.blocks_of_call(a):
                counts.extend([act.shape[0]] * rows.shape[0])
        return run(fn, nb, *a)
    batched.run_ranges = spy
    try:
        run_pkpd(n, mode="streaming")
    finally:
        batched.run_ranges = run
    return round(float(np.mean(counts)), 2)


def spread(xs) -> dict:
    """min / median / max of repeated measurements."""
    xs = sorted(xs)
    return {"min": xs[0], "median": xs[len(xs) // 2], "max": xs[-1], "runs": list(xs)}


def load_average() -> str:
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-million", action="store_true")
    ap.add_argument("--repeats", type=int, default=3, help="repeat every timing (default 3; the spread is reported)")
    ap.add_argument("--json", default=str(Path(__file__).parent / "results.json"))
    ap.add_argument("--only-scaling", action="store_true", help="rerun only the scaling, 10⁶-subject and thread "
                    "part, updating the JSON file in place")
    a = ap.parse_args()
    n_std, R = (1000 if a.quick else 10000), max(1, a.repeats)
    if a.only_scaling:
        res = json.loads(Path(a.json).read_text())
        res["load_average_at_scaling"] = load_average()
        _million(res, a, R)
        res["load_average_at_scaling_end"] = load_average()
        Path(a.json).write_text(json.dumps(res, indent=2) + "\n")
        return
    res = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
           "python": platform.python_version(), "standard_case": f"{n_std} subjects x 3 regimens x 24 h @ 1 min",
           "load_average_at_start": load_average()}
    print("pkpd population benchmark —", res["machine"], "— load average", res["load_average_at_start"])
    res["cold_start_empty_cache"], res["cold_start_warm_cache"] = _cold(R)
    _warm(res, n_std, R)
    _peers(res, a.quick)
    _million(res, a, R)
    limits = roofline.probe()
    res["machine_limits"] = limits
    w = roofline.work(n_states=modes_advanced(), n_out=3, n_derived=2, n_times=1444, n_pct=289)
    res["work_per_subject_regimen"] = w
    peers = {k: res[f"{k}_ms_per_subject_regimen"] * 1e3 for k in ("scipy_lsoda", "roadrunner")
             if f"{k}_ms_per_subject_regimen" in res}
    res["roofline"] = roofline.roofline(limits, w, res["us_per_subject_regimen_full"]["min"],
                                        res["us_per_subject_regimen_streaming"]["min"], peers)
    print(f"machine: fill {limits['fill_GBps']} GB/s, first touch {limits['first_touch_GBps']} GB/s, lane "
          f"multiply-add {limits['lane_muladd_GFLOPps']} GFLOP/s ({limits['threads']} threads)")
    print(f"modes advanced per subject-regimen (mean over the regimens): {w['n_states']}")
    print("roofline (µs per subject-regimen):", json.dumps(res["roofline"]))
    res["load_average_at_end"] = load_average()
    Path(a.json).write_text(json.dumps(res, indent=2) + "\n")
    print(f"results: {a.json}")


def _cold(R: int) -> tuple[dict, dict]:
    empty, warm = [], []
    for _ in range(R):
        with tempfile.TemporaryDirectory() as cache:
            empty.append(cold_start(cache))
            warm.append(cold_start(cache))
    out = []
    for runs in (empty, warm):
        out.append({k: spread([r[k] for r in runs]) for k in runs[0]})
    for label, o in zip(("empty", "warm"), out):
        print(f"cold start, {label} numba cache: first run ends {o['first_run_total']['median']} s after start "
              f"(import {o['import']['median']} s; start-up cost {o['start_up']['median']} s; "
              f"runs {o['first_run_total']['runs']})")
    return out[0], out[1]


def _warm(res: dict, n_std: int, R: int) -> None:
    run_pkpd(500)  # warm up in this process
    run_pkpd(500, mode="streaming")
    run_pkpd(500, pd=(), dtype=np.float64)
    full, stream, pk, cpu_full, cpu_stream, cpu_pk, loads = [], [], [], [], [], [], []
    for _ in range(R):
        loads.append(load_average())
        full.append(run_pkpd(n_std)[0])
        cpu_full.append(LAST_CPU[0])
        stream.append(run_pkpd(n_std, mode="streaming")[0])
        cpu_stream.append(LAST_CPU[0])
        # the peers' task: PK trajectories at every output time in float64, no PD readouts
        pk.append(run_pkpd(n_std, pd=(), dtype=np.float64)[0])
        cpu_pk.append(LAST_CPU[0])
    res["us_per_subject_regimen_pk_only_full_float64"] = spread([round(t / (3 * n_std) * 1e6, 2) for t in pk])
    res["cpu_us_per_subject_regimen_pk_only_full_float64"] = spread([round(c / (3 * n_std) * 1e6, 2) for c in cpu_pk])
    # CPU time (both threads) is what other engineers' jobs on the shared cores disturb least
    res["warm_load_average_before_each"] = loads
    res["cpu_us_per_subject_regimen_full"] = spread([round(c / (3 * n_std) * 1e6, 2) for c in cpu_full])
    res["cpu_us_per_subject_regimen_streaming"] = spread([round(c / (3 * n_std) * 1e6, 2) for c in cpu_stream])
    res["warm_full_float32_seconds"] = spread([round(t, 3) for t in full])
    res["warm_streaming_seconds"] = spread([round(t, 3) for t in stream])
    res["us_per_subject_regimen_full"] = spread([round(t / (3 * n_std) * 1e6, 2) for t in full])
    res["us_per_subject_regimen_streaming"] = spread([round(t / (3 * n_std) * 1e6, 2) for t in stream])
    res["streaming_over_full"] = round(np.median(stream) / np.median(full), 3)
    print(f"warm, full trajectories (float32): {res['warm_full_float32_seconds']['runs']} s "
          f"({res['us_per_subject_regimen_full']['median']} µs per subject-regimen, median)")
    print(f"warm, streaming: {res['warm_streaming_seconds']['runs']} s; streaming / full = {res['streaming_over_full']}")
    print(f"CPU µs per subject-regimen (both threads): full {res['cpu_us_per_subject_regimen_full']['runs']}, "
          f"streaming {res['cpu_us_per_subject_regimen_streaming']['runs']}, PK only (the peers' task) "
          f"{res['cpu_us_per_subject_regimen_pk_only_full_float64']['runs']}; load averages {loads}")


def _peers(res: dict, quick: bool) -> None:
    # the fastest of the repeats: the others' jobs on the shared cores only ever slow a run down
    per_case = res["us_per_subject_regimen_full"]["min"] * 1e-6
    per_case_cpu = res["cpu_us_per_subject_regimen_full"]["min"] * 1e-6  # per core: the peers use one
    n_sub = 10 if quick else 20
    cases = subject_systems(n_sub)  # regimen-major, subject-minor; the same subjects as the run
    ds64 = simulate_population(MODEL, regimens(), population(n_sub), horizon=HORIZON, step=STEP, pd=PD,
                               mode="full", dtype=np.float64, progress=False)
    global GRID
    GRID = ds64.time.values
    pk_rows = [ds64.ketamine_plasma.values[0, ri, s] for ri in range(3) for s in range(n_sub)]
    res["pkpd_max_rel_error"] = float(f"{accuracy(cases, [None] * len(cases), pk_rows):.2e}")
    t_sc, outs_sc, c_sc = scipy_loop(cases)
    res["scipy_lsoda_ms_per_subject_regimen"] = round(t_sc * 1e3, 3)
    res["scipy_subsample"] = len(cases)
    res["scipy_max_rel_error"] = float(f"{accuracy(cases, outs_sc, pk_rows):.2e}")
    res["ratio_vs_scipy"] = round(t_sc / per_case, 1)
    # per core: CPU time against CPU time (the peer's wall time also counts its waits for a core
    # that another job holds, which pkpd's CPU time does not)
    res["scipy_cpu_ms_per_subject_regimen"] = round(c_sc * 1e3, 3)
    res["ratio_vs_scipy_per_core"] = round(c_sc / per_case_cpu, 1)
    pk_case = res["us_per_subject_regimen_pk_only_full_float64"]["min"] * 1e-6
    pk_case_cpu = res["cpu_us_per_subject_regimen_pk_only_full_float64"]["min"] * 1e-6
    res["ratio_vs_scipy_pk_only"] = {"wall": round(t_sc / pk_case, 1), "per_core": round(c_sc / pk_case_cpu, 1)}
    print(f"scipy LSODA rtol 1e-8: {t_sc * 1e3:.2f} ms per subject-regimen (timed on {len(cases)}, scaled) "
          f"→ pkpd is {res['ratio_vs_scipy']}× faster ({res['ratio_vs_scipy_per_core']}× per core; on the peers' task, "
          f"PK only: {res['ratio_vs_scipy_pk_only']}); max rel err scipy {res['scipy_max_rel_error']}, "
          f"pkpd {res['pkpd_max_rel_error']}")
    try:
        t_rr, outs_rr, setup, c_rr = roadrunner_loop(cases)
        res["roadrunner_ms_per_subject_regimen"] = round(t_rr * 1e3, 3)
        res["roadrunner_model_build_seconds"] = round(setup, 2)
        res["roadrunner_max_rel_error"] = float(f"{accuracy(cases, outs_rr, pk_rows):.2e}")
        res["ratio_vs_roadrunner"] = round(t_rr / per_case, 1)
        res["roadrunner_cpu_ms_per_subject_regimen"] = round(c_rr * 1e3, 3)
        res["ratio_vs_roadrunner_per_core"] = round(c_rr / per_case_cpu, 1)
        res["ratio_vs_roadrunner_pk_only"] = {"wall": round(t_rr / pk_case, 1), "per_core": round(c_rr / pk_case_cpu, 1)}
        print(f"libroadrunner CVODE rtol 1e-8: {t_rr * 1e3:.2f} ms per subject-regimen → pkpd is "
              f"{res['ratio_vs_roadrunner']}× faster ({res['ratio_vs_roadrunner_per_core']}× per core); max rel err {res['roadrunner_max_rel_error']}")
    except ImportError:
        print("libroadrunner not installed: pip install -e '.[bench]'")


def _million(res: dict, a, R: int) -> None:
    sizes = [1000, 10000] if a.quick else [1000, 10000, 100000]
    res["scaling_streaming_1_regimen"] = [scaling_run(n) for n in sizes]
    for r in res["scaling_streaming_1_regimen"]:
        print(f"streaming, 1 regimen: {r['subjects']:>9,} subjects: {r['seconds']:8.2f} s, peak RSS "
              f"{r['peak_rss_MiB']} MiB")
    if not a.skip_million and not a.quick:
        runs = [scaling_run(1_000_000) for _ in range(R)]
        res["million_streaming_1_regimen"] = {"seconds": spread([r["seconds"] for r in runs]),
                                              "peak_rss_MiB": spread([r["peak_rss_MiB"] for r in runs]),
                                              "cpu_seconds": spread([r["cpu_seconds"] for r in runs]),
                                              "load_average_before": [r["load_average_before"] for r in runs]}
        print(f"10⁶ subjects × 1 regimen (IV), streaming: {[r['seconds'] for r in runs]} s, peak RSS "
              f"{[r['peak_rss_MiB'] for r in runs]} MiB, CPU {[r['cpu_seconds'] for r in runs]} s, load "
              f"{[r['load_average_before'] for r in runs]}")
    n_thr = 10000 if a.quick else 50000
    res["threads"] = [scaling_run(n_thr, t) for t in (1, 2)]
    print(f"threads ({n_thr:,} subjects, streaming): 1 → {res['threads'][0]['seconds']} s, "
          f"2 → {res['threads'][1]['seconds']} s")


if __name__ == "__main__":
    main()

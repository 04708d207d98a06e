"""Sweep benchmark: the default local executor against one thread and a 2-worker local Dask
cluster, and the time of a Saltelli study (10 parameters, N base samples, 1,000 subjects per point).

Each point: the Perez-Ruixo model with the Olofsen 2022 effect site, intranasal 2 × 28 mg,
24 h at 5-minute steps, streaming metrics and the trade-off outcomes.

* ``lhs``: a Latin hypercube over four parameters (C50, γ, Vc, dose), ``--points`` points, run by
  the default local executor (one thread per core), by one thread (the former default: one
  process, numba's threads inside each kernel) and by a local Dask cluster of 2 workers.
* ``saltelli``: ten parameters (C50, γ, t½ke0, Vc, Vp1, Q1, Qh, ka_n, FRn, dose; ranges for timing
  only), ``--base`` base samples → base·(10 + 2) points, default executor; the time per point is
  scaled to N = 1024 (12,288 points), which is what the README quotes.

    .venv/bin/python benchmarks/bench_sweep.py [--points 1000] [--subjects 1000] [--base 128]
"""
import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pkpd.scenario.load import load_scenario  # noqa: E402
from pkpd.workflows.executors import local_cores  # noqa: E402
import pkpd.workflows.executors as executors  # noqa: E402
from pkpd.workflows.sweep import run_sweep  # noqa: E402

TEN = '''"olofsen_2022.C50" = { low = 0.38, high = 0.66 }
"olofsen_2022.gamma" = { low = 1.0, high = 4.0 }
"olofsen_2022.t12ke0" = { low = 5.1, high = 13.0 }
"perez_ruixo_2021.Vc" = { low = 150, high = 250 }
"perez_ruixo_2021.Vp1" = { low = 100, high = 200 }
"perez_ruixo_2021.Q1" = { low = 60, high = 110 }
"perez_ruixo_2021.Qh" = { low = 120, high = 180 }
"perez_ruixo_2021.ka_n" = { low = 1.5, high = 4.5 }
"perez_ruixo_2021.FRn" = { low = 0.4, high = 0.7 }
dose = { low = 0.5, high = 2.0 }
'''


def scenario_text(design: str, points: int, subjects: int, tmp: str) -> str:
    text = (ROOT / "scenarios" / "sweep.toml").read_text()
    text = (text.replace('design = "saltelli"', f'design = "{design}"').replace("points = 64", f"points = {points}")
            .replace("n = 200\nsensitivity", f"n = {subjects}\nsensitivity").replace('horizon = "6 h"', 'horizon = "24 h"')
            .replace('directory = "results/sweep"', f'directory = "{tmp}/out"'))
    if design == "saltelli":
        a = text.index("[sweep.parameters]\n") + len("[sweep.parameters]\n")
        b = text.index("\n[[regimens]]")
        text = text[:a] + TEN + text[b:]
    return text


def timed(sc, spec, store: Path, **kw) -> float:
    t0 = time.perf_counter()
    run_sweep(sc, spec, progress=False, fresh=True, store_dir=store, **kw)
    return time.perf_counter() - t0


def one_thread(sc, spec, store: Path) -> float:
    """The former default: every batch in this process, numba threads inside the kernels."""
    keep = executors.local_cores
    executors.local_cores = lambda: 1
    try:
        return timed(sc, spec, store)
    finally:
        executors.local_cores = keep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--subjects", type=int, default=1000)
    ap.add_argument("--base", type=int, default=128, help="Saltelli base samples of the timed run")
    ap.add_argument("--json", default=str(Path(__file__).parent / "results_sweep.json"))
    a = ap.parse_args()
    res = {"points": a.points, "subjects_per_point": a.subjects, "grid": "24 h at 5 min, 1 regimen",
           "cores": local_cores(), "load_average_at_start": open("/proc/loadavg").read().split()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "sweep.toml"
        p.write_text(scenario_text("lhs", a.points, a.subjects, tmp))
        sc = load_scenario(p)
        run_sweep(sc, replace(sc.sweep, points=8), progress=False, store_dir=Path(tmp) / "warm", fresh=True)
        for label, f in (("local_default", lambda: timed(sc, sc.sweep, Path(tmp) / "a")),
                         ("local_one_thread", lambda: one_thread(sc, sc.sweep, Path(tmp) / "b")),
                         ("dask_2_workers", lambda: timed(sc, sc.sweep, Path(tmp) / "c", workers=2))):
            t = f()
            res[f"{label}_seconds"] = round(t, 2)
            res[f"{label}_subject_sims_per_s"] = round(a.points * a.subjects / t)
            print(f"{label}: {t:.1f} s, {a.points * a.subjects / t:,.0f} subject-simulations/s")
        res["default_over_one_thread"] = round(res["local_one_thread_seconds"] / res["local_default_seconds"], 2)
        res["dask_overhead_vs_default_pct"] = round((res["dask_2_workers_seconds"] / res["local_default_seconds"] - 1)
                                                    * 100, 1)
        q = Path(tmp) / "saltelli.toml"
        q.write_text(scenario_text("saltelli", a.base, 1000, tmp))
        sc = load_scenario(q)
        n_pts = a.base * 12
        t = timed(sc, sc.sweep, Path(tmp) / "s")
        res["saltelli"] = {"parameters": 10, "base": a.base, "points": n_pts, "subjects_per_point": 1000,
                           "seconds": round(t, 1), "seconds_per_point": round(t / n_pts, 4),
                           "extrapolated_N1024_points": 1024 * 12,
                           "extrapolated_N1024_minutes": round(t / n_pts * 1024 * 12 / 60, 1)}
        print(f"Saltelli, 10 parameters, N = {a.base} ({n_pts} points × 1,000 subjects): {t:.1f} s → N = 1024 "
              f"(12,288 points): {res['saltelli']['extrapolated_N1024_minutes']} min")
    res["load_average_at_end"] = open("/proc/loadavg").read().split()[0]
    Path(a.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()

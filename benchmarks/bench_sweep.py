"""Sweep benchmark: 1,000 points × 1,000 subjects, locally and on a 2-worker local Dask cluster.

Each point: the Perez-Ruixo model with the Olofsen 2022 effect site, intranasal 2 × 28 mg,
24 h at 5-minute steps, streaming metrics and the trade-off outcomes; a Latin hypercube over four
parameters (C50, γ, Vc, dose).  Reports throughput (subject-simulations per second) and the
overhead of the Dask path relative to the local path (target < 15 %).

    .venv/bin/python benchmarks/bench_sweep.py [--points 1000] [--subjects 1000]
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pkpd.scenario.load import load_scenario  # noqa: E402
from pkpd.workflows.sweep import run_sweep  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--subjects", type=int, default=1000)
    ap.add_argument("--json", default=str(Path(__file__).parent / "results_sweep.json"))
    a = ap.parse_args()
    text = (ROOT / "scenarios" / "sweep.toml").read_text()
    text = (text.replace('design = "saltelli"', 'design = "lhs"').replace("points = 64", f"points = {a.points}")
            .replace("n = 200\nsensitivity", f"n = {a.subjects}\nsensitivity").replace('horizon = "6 h"', 'horizon = "24 h"')
            .replace('batch', 'batch'))
    res = {"points": a.points, "subjects_per_point": a.subjects, "grid": "24 h at 5 min, 1 regimen"}
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "sweep.toml"
        p.write_text(text.replace('directory = "results/sweep"', f'directory = "{tmp}/out"'))
        sc = load_scenario(p)
        run_sweep(sc, sc.sweep.__class__(**{**sc.sweep.__dict__, "points": 8}), progress=False,
                  store_dir=Path(tmp) / "warm", fresh=True)  # compile / load kernels
        for label, kw in (("local", {}), ("dask_2_workers", {"workers": 2})):
            t0 = time.perf_counter()
            run_sweep(sc, sc.sweep, progress=False, fresh=True, store_dir=Path(tmp) / label, **kw)
            t = time.perf_counter() - t0
            res[f"{label}_seconds"] = round(t, 2)
            res[f"{label}_subject_sims_per_s"] = round(a.points * a.subjects / t)
            print(f"{label}: {t:.1f} s, {a.points * a.subjects / t:,.0f} subject-simulations/s")
    res["dask_overhead_pct"] = round((res["dask_2_workers_seconds"] / res["local_seconds"] - 1) * 100, 1)
    print(f"Dask overhead vs local: {res['dask_overhead_pct']} % (target < 15 %), including cluster start-up")
    Path(a.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()

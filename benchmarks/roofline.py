"""This machine's limits for a population run, measured with small numpy/numba probes, and the
roofline of the standard case: the least time per subject-regimen that the bytes it must move and
the floating-point operations it must do allow, for full and streaming output.

* memory: ``fill`` (write a pre-faulted 512 MiB array, every thread), ``copy`` (read + write),
  ``first touch`` (write a freshly allocated array: the kernel zeroes every page on first write —
  what a full-mode run's trajectory array costs, since it is new memory), measured twice: with
  numpy's default (transparent huge pages where the kernel allows them) and with the 4 KiB pages a
  full-mode run asks for (:func:`pkpd.simulation.population._small_pages`: huge pages stalled
  erratically on the benchmark VM), which is the one its limit uses;
* floating point: multiply-adds on lane arrays in L1 (``a = a·b + c`` over 256 independent lanes,
  every thread) — the pattern of the batched kernel (numba emits separate multiplies and adds, no
  FMA, so that results match the per-row kernel bit for bit); and, for the hardware's side, a
  1024² matrix product by OpenBLAS (FMA, register blocking), which no per-step kernel reaches.

Bytes and operations per subject-regimen are counted from the kernel's loops (:func:`work`).
"""
from __future__ import annotations

import time

import numba
import numpy as np
from numba import njit, prange

from pkpd.simulation.population import _small_pages

MiB = 1024 ** 2


@njit(parallel=True, cache=True)
def _fill(b, v):
    for i in prange(b.shape[0]):
        b[i] = v


@njit(parallel=True, cache=True)
def _copy(a, b):
    for i in prange(a.shape[0]):
        b[i] = a[i] * 1.000001


@njit(parallel=True, cache=True, error_model="numpy")
def _muladd(a, b, c, iters):
    """``iters`` rounds of ``a = a·b + c`` on each thread's row of 256 lanes (2 flops per lane)."""
    for t in prange(a.shape[0]):
        for _ in range(iters):
            for lane in range(a.shape[1]):
                a[t, lane] = a[t, lane] * b + c


def _best(f, repeats: int = 5) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def probe(size_mib: int = 512) -> dict:
    """Measured limits (best of 5): GB/s for fill, copy, first touch; GFLOP/s of lane multiply-adds."""
    n = size_mib * MiB // 8
    a, b = np.ones(n), np.empty(n)
    _fill(b, 1.0)
    _copy(a, b)
    fill = n * 8 / _best(lambda: _fill(b, 2.0)) / 1e9
    copy = 2 * n * 8 / _best(lambda: _copy(a, b)) / 1e9
    a = b = None  # free 1 GiB before the first-touch probes

    def touch(small: bool):
        c = np.empty(n // 2)
        if small:
            _small_pages(c)
        _fill(c, 1.0)
    touch(False)
    first = (n // 2) * 8 / _best(lambda: touch(False), 3) / 1e9
    touch(True)
    first_small = (n // 2) * 8 / _best(lambda: touch(True), 3) / 1e9
    th = numba.get_num_threads()
    x = np.ones((th, 256))
    iters = 200_000
    _muladd(x, 0.999999, 1e-7, 10)
    gflops = th * 256 * 2 * iters / _best(lambda: _muladd(x, 0.999999, 1e-7, iters), 3) / 1e9
    m = np.random.default_rng(0).random((1024, 1024))
    dgemm = 2 * 1024 ** 3 / _best(lambda: m @ m, 3) / 1e9  # OpenBLAS, FMA, all cores: the hardware's side
    return {"threads": th, "fill_GBps": round(fill, 2), "copy_GBps": round(copy, 2),
            "first_touch_GBps": round(first, 2), "first_touch_4KiB_pages_GBps": round(first_small, 2),
            "lane_muladd_GFLOPps": round(gflops, 1),
            "dgemm_GFLOPps": round(dgemm, 1)}


def work(n_states: float, n_out: int, n_derived: int, n_times: int, n_pct: int, itemsize: int = 4) -> dict:
    """Bytes and flops per subject-regimen of the batched kernel.

    ``n_states``: the modes the kernel advances — the states the regimen's doses reach (the kernel
    skips the others, e.g. the depots of other routes; the mean over the regimens of a run).
    Per time step: modes ``3n`` (exp·z + φ·u; ``n`` without input — counted as ``2n``), outputs
    ``2·n_out·n``, sigmoid-Emax readouts 6 each, metrics 19 per row (peak 1, log-down AUC 16 — the
    two fall tests 4, s and s² 4, the four-term series of the usual step 6, product and sum 2 —,
    trapezoid 2; steps with a fall above ~2 % take the nine-term series, 10 more); binning 20 per
    row at each percentile time.  Bytes: full mode writes
    every row at every time; streaming writes and reads one uint16 bin per row and percentile time.
    Both write and read back the metrics (6 doubles per row).  ``flops_peer`` / ``bytes_peer``: only
    what the peers (scipy, libroadrunner) deliver — the outputs at every output time in float64,
    new memory — without the readouts and metrics pkpd also delivers.
    """
    n_all = n_out + n_derived
    per_step = 2 * n_states + 2 * n_out * n_states + 6 * n_derived + 19 * n_all
    flops = n_times * per_step
    metrics = 2 * n_all * 6 * 8
    return {"n_states": n_states, "flops": round(flops), "flops_streaming": round(flops + 20 * n_all * n_pct),
            "flops_peer": round(n_times * (2 * n_states + 2 * n_out * n_states)), "bytes_peer": n_out * n_times * 8,
            "bytes_full": n_all * n_times * itemsize + metrics, "bytes_streaming": 2 * n_all * n_pct * 2 + metrics}


def roofline(limits: dict, w: dict, us_full: float, us_streaming: float, peers_us: dict | None = None) -> dict:
    """Least time per subject-regimen (µs) allowed by memory and floating point, and the measured
    times' distance to it (fraction of the limit reached: limit / measured).

    The full-mode limit takes the first touch of 4 KiB pages (what a run asks for).  ``peers_us``
    (name → µs per subject-regimen, e.g. scipy's LSODA loop): the largest speed-up over each peer
    that the limits allow — for the work requested (full, streaming) and for the peers' own work
    (``flops_peer``, ``bytes_peer``: the outputs in float64, nothing else; the memory limit counts
    too) — so a target above it is out of reach on this machine whatever the code does.  The
    limits are for all the probe's threads, the peers' times for one: per core, halve them."""
    gf = limits["lane_muladd_GFLOPps"] * 1e3
    t_flop = w["flops"] / gf
    t_flop_s = w["flops_streaming"] / gf
    t_flop_peer = w["flops_peer"] / gf
    t_mem_full = w["bytes_full"] / (limits["fill_GBps"] * 1e3)
    touch = limits.get("first_touch_4KiB_pages_GBps", limits["first_touch_GBps"]) * 1e3
    t_mem_full_new = w["bytes_full"] / touch
    peer = max(t_flop_peer, w.get("bytes_peer", 0) / touch)
    t_mem_s = w["bytes_streaming"] / (limits["fill_GBps"] * 1e3)
    full = max(t_flop, t_mem_full_new)
    stream = max(t_flop_s, t_mem_s)
    out = {"us_flop_limit": round(t_flop, 2), "us_flop_limit_peer_work": round(t_flop_peer, 2),
           "us_limit_peer_work": round(peer, 2),
           "us_memory_limit_full_prefaulted": round(t_mem_full, 2),
           "us_memory_limit_full_new_memory": round(t_mem_full_new, 2),
           "us_memory_limit_streaming": round(t_mem_s, 3), "us_limit_full": round(full, 2),
           "us_limit_streaming": round(stream, 2), "fraction_full": round(full / us_full, 3),
           "fraction_streaming": round(stream / us_streaming, 3)}
    for name, us in (peers_us or {}).items():
        out[f"max_ratio_vs_{name}"] = {"full": round(us / full, 1), "streaming": round(us / stream, 1),
                                       "peer_work_only": round(us / peer, 1)}
    return out

"""Analgesia against psychotomimetic exposure: per-subject outcomes, population summaries,
dose sweeps with Pareto frontiers, and constrained dose finding.

Definitions (defaults in :class:`TradeoffSpec`, all scenario inputs; printed with every result):

* **adequate analgesia**: the analgesia readout stays at or above ``analgesia_level`` for at
  least ``analgesia_duration`` in total;
* **unacceptable psychotomimetic effect**: the psychotomimetic readout reaches
  ``psychotomimetic_level`` at any time;
* **success**: adequate analgesia without an unacceptable psychotomimetic effect;
* **therapeutic window time**: time the effect-site concentration spends at or above the
  concentration that gives ``analgesia_level`` but below the one that gives
  ``psychotomimetic_level`` (typical PD parameters; zero when the psychotomimetic concentration
  is the lower one — side effects come first).

Probabilities are fractions of simulated subjects, with a Wilson 95 % interval for the finite
population (sampling error only) and, with parameter-uncertainty replicates, the 5–95 % range of
the replicate estimates (uncertainty about the typical subject).  Several PD models give several
answers side by side (dimension ``pair``): the spread between them is model disagreement.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
import numpy as np
import xarray as xr
from pkpd.errors import PkpdError
from pkpd.analysis.clinical_spec import ClinicalSpec
from pkpd.analysis.products import ProductSpec
from pkpd.models.pd import PDModel


_Z = 1.959963984540054


@dataclass(frozen=True)
class Pair:
    """An analgesia readout and a psychotomimetic readout (population output names)."""

    analgesia: str
    psychotomimetic: str
    label: str
    window_output: str | None = None  # effect-site output both readouts depend on
    window: tuple[float, float] | None = None  # (analgesic Ce, psychotomimetic Ce), ng/mL
    note: str = ""  # said in words when an answer is fixed by construction (one curve for both effects)
    analgesia_pd: str = ""  # the PD models the readouts come from (clinical endpoint thresholds are per PD model)
    psychotomimetic_pd: str = ""


@dataclass(frozen=True)
class TradeoffSpec:
    # defaults: analgesia below the psychotomimetic level, so one shared curve (Olofsen 2022) still
    # leaves a window; these are definitions on volunteer readouts, not clinical thresholds — the
    # calibrated clinical endpoints are in models/endpoints/ (pkpd validate)
    analgesia_level: float = 0.3
    analgesia_duration: float = 1 / 3  # h
    psychotomimetic_level: float = 0.5
    cap: float = 0.10  # optimise: at most this fraction of subjects with unacceptable effects
    pairs: tuple[tuple[str, str], ...] = ()  # explicit (analgesia, psychotomimetic) output names
    sweep: dict = field(default_factory=dict)  # parameter → list of values
    dose_bounds: tuple[float, float] = (0.05, 10.0)  # optimise: dose multiples searched
    n: int | None = None  # subjects for sweeps/optimisation (default: the scenario's population)
    min_adequate: float = 0.0  # optimise: at least this fraction of subjects with adequate analgesia
    replicates: int = 20  # parameter-uncertainty replicates in trade-off runs (0: off)
    products: ProductSpec = field(default_factory=ProductSpec)  # optimise: what can be given
    clinical: ClinicalSpec = field(default_factory=ClinicalSpec)  # calibrated clinical cost and benefit

    def describe(self) -> str:
        return (f"adequate analgesia = analgesia readout ≥ {self.analgesia_level:g} for ≥ "
                f"{self.analgesia_duration * 60:g} min; unacceptable psychotomimetic effect = readout ≥ "
                f"{self.psychotomimetic_level:g} at any time")


def _invert(rd, values: dict, level: float) -> float:
    """Effect-site concentration (ng/mL) at which a sigmoid Emax readout reaches ``level``."""
    if rd.type != "sigmoid_emax" or rd.antagonist is not None:
        return math.nan
    g = float(np.ravel(rd.params["gamma"](values))[0]) if "gamma" in rd.params else 1.0
    emax = float(np.ravel(rd.params["Emax"](values))[0]) if "Emax" in rd.params else 1.0
    e0 = float(np.ravel(rd.params["E0"](values))[0]) if "E0" in rd.params else 0.0
    c50 = float(np.ravel(rd.params["C50"](values))[0]) * 1000.0
    f = (level - e0) / emax
    if not 0 < f < 1:
        return math.nan
    return c50 * (f / (1 - f)) ** (1 / g)


def pairs_for(pds: tuple[PDModel, ...], spec: TradeoffSpec) -> list[Pair]:
    """The readout pairs to evaluate: explicit ones, else the first analgesia and first
    psychotomimetic readout of each PD model that has both."""
    by_name = {f"{r.name}_{p.name}": (p, r) for p in pds for r in p.readouts}
    raw = list(spec.pairs)
    if not raw:
        for p in pds:
            a = [r for r in p.readouts if r.category == "analgesia"]
            s = [r for r in p.readouts if r.category == "psychotomimetic"]
            if a and s:
                raw.append((f"{a[0].name}_{p.name}", f"{s[0].name}_{p.name}"))
    out = []
    for a, s in raw:
        for name, cat in ((a, "analgesia"), (s, "psychotomimetic")):
            if name not in by_name:
                raise PkpdError(f"unknown readout {name!r} (readouts: {', '.join(sorted(by_name)) or 'none'})",
                                field="tradeoff.pairs")
            if by_name[name][1].category != cat:
                raise PkpdError(f"{name!r} is not a {cat} readout", field="tradeoff.pairs")
        (pa, ra), (ps, rs) = by_name[a], by_name[s]
        label = pa.name if pa is ps else f"{pa.name} + {ps.name}"
        win_out, win = None, None
        if pa is ps and ra.effect == rs.effect:
            v = pa.params.individual()
            lo, hi = _invert(ra, v, spec.analgesia_level), _invert(rs, v, spec.psychotomimetic_level)
            if np.isfinite(lo) and np.isfinite(hi):
                win_out, win = pa.effect_name(ra.effect), (lo, hi)
        out.append(Pair(a, s, label, win_out, win, degenerate_note(pa, ra, rs, spec), pa.name, ps.name))
    if not out:
        raise PkpdError("no PD model with both an analgesia and a psychotomimetic readout: add one under "
                        "scenario.pd (e.g. olofsen_2022, simons_2022_pd) or name readout pairs in [tradeoff]")
    return out


def _same_curve(ra, rs) -> bool:
    """Both readouts are the same function of the same effect site (one curve for both effects)."""
    if ra.type != rs.type or ra.effect != rs.effect or ra.antagonist or rs.antagonist:
        return False
    if ra.c50_scale is not None or rs.c50_scale is not None or ra.slopes or rs.slopes:
        return False
    return {k: v.text for k, v in ra.params.items()} == {k: v.text for k, v in rs.params.items()}


def degenerate_note(p: PDModel, ra, rs, spec: TradeoffSpec) -> str:
    """Words for an answer that the definitions fix by construction ("" when there is none)."""
    if not _same_curve(ra, rs):
        return ""
    a, s = spec.analgesia_level, spec.psychotomimetic_level
    if a >= s:
        return (f"P(success) = 0 by construction: {p.name} uses one concentration–effect curve for {ra.name} and "
                f"{rs.name}, so every subject whose analgesia readout reaches {a:g} has reached the psychotomimetic "
                f"level {s:g} too; set analgesia_level below psychotomimetic_level, or compare PD models with "
                "separate curves")
    return (f"{p.name} uses one concentration–effect curve for {ra.name} and {rs.name}: success means the "
            f"readout stays between {a:g} and {s:g}, so the answer is set by these two levels, not by a "
            "measured difference between the effects")


def thresholds_for(pairs: list[Pair], spec: TradeoffSpec) -> dict:
    """Population thresholds the trade-off needs (readout levels, window concentrations)."""
    th = {}
    for p in pairs:
        th[p.analgesia] = spec.analgesia_level
        th[p.psychotomimetic] = spec.psychotomimetic_level
        if p.window_output:
            th[p.window_output] = (p.window[0], p.window[1])
    return th


def wilson(k: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Wilson 95 % interval of a proportion ``k/n``."""
    p = k / n
    den = 1 + _Z ** 2 / n
    centre = (p + _Z ** 2 / (2 * n)) / den
    half = _Z * np.sqrt(p * (1 - p) / n + _Z ** 2 / (4 * n * n)) / den
    # exact at the ends (0/n → lower 0, n/n → upper 1) instead of rounding residue
    lo = np.where(k <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    hi = np.where(k >= n, 1.0, np.clip(centre + half, 0.0, 1.0))
    return lo, hi


def outcomes(ds: xr.Dataset, pair: Pair, spec: TradeoffSpec) -> dict[str, np.ndarray]:
    """Per-subject outcomes (model × regimen × subject) for one pair."""
    a_time = ds[f"{pair.analgesia}_time_above"].values
    s_peak = ds[f"{pair.psychotomimetic}_cmax"].values
    adequate = a_time >= spec.analgesia_duration - 1e-9
    exceed = s_peak >= spec.psychotomimetic_level
    nan = np.isnan(a_time) | np.isnan(s_peak)
    out = {
        "adequate": np.where(nan, np.nan, adequate),
        "exceed": np.where(nan, np.nan, exceed),
        "success": np.where(nan, np.nan, adequate & ~exceed),
        "analgesia_time": a_time,
        "analgesia_auec": ds[f"{pair.analgesia}_auc"].values,
        "analgesia_onset": ds[f"{pair.analgesia}_onset"].values,
        "analgesia_peak": ds[f"{pair.analgesia}_cmax"].values,
        "psychotomimetic_peak": s_peak,
        "psychotomimetic_time": ds[f"{pair.psychotomimetic}_time_above"].values,
        "psychotomimetic_auec": ds[f"{pair.psychotomimetic}_auc"].values,
    }
    if pair.window_output:
        lo, hi = pair.window
        t_lo = ds[f"{pair.window_output}_time_above"].values
        t_hi = ds[f"{pair.window_output}_time_above_hi"].values
        out["window_time"] = np.clip(t_lo - t_hi, 0.0, None) if lo < hi else np.zeros_like(t_lo)
    return out


_PROBS = ("adequate", "exceed", "success")


_CONT = {"analgesia_time": "h", "analgesia_auec": "effect*h", "analgesia_onset": "h", "analgesia_peak": "1",
         "psychotomimetic_peak": "1", "psychotomimetic_time": "h", "psychotomimetic_auec": "effect*h",
         "window_time": "h"}


def evaluate(ds: xr.Dataset, pairs: list[Pair], spec: TradeoffSpec) -> xr.Dataset:
    """Population trade-off summaries, dims ``pair × model × regimen``."""
    M, R = ds.sizes["model"], ds.sizes["regimen"]
    P = len(pairs)
    n = ds.sizes["subject"]
    reps = int(ds.attrs.get("uncertainty_replicates", 0))
    rep = ds.replicate.values
    data: dict[str, np.ndarray] = {}
    for pi, pair in enumerate(pairs):
        oc = outcomes(ds, pair, spec)
        for k in _PROBS:
            x = oc[k]
            valid = ~np.all(np.isnan(x), axis=-1)
            cnt = np.nansum(x, axis=-1)
            lo, hi = wilson(cnt, n)
            for name, val in ((f"p_{k}", cnt / n), (f"p_{k}_lo", lo), (f"p_{k}_hi", hi)):
                data.setdefault(name, np.full((P, M, R), np.nan))[pi] = np.where(valid, val, np.nan)
            if reps > 1:
                per = np.stack([np.nanmean(x[..., rep == r], axis=-1) for r in range(reps)], axis=-1)
                data.setdefault(f"p_{k}_unc_lo", np.full((P, M, R), np.nan))[pi] = np.nanpercentile(per, 5, axis=-1)
                data.setdefault(f"p_{k}_unc_hi", np.full((P, M, R), np.nan))[pi] = np.nanpercentile(per, 95, axis=-1)
                data.setdefault(f"p_{k}_mc_share", np.full((P, M, R), np.nan))[pi] = _mc_share(per, n / reps)
        for k in _CONT:
            if k not in oc:
                continue
            x = oc[k]
            with np.errstate(all="ignore"), _quiet():
                q = np.nanpercentile(x, [5, 50, 95], axis=-1)
            for j, suffix in enumerate(("p5", "median", "p95")):
                data.setdefault(f"{k}_{suffix}", np.full((P, M, R), np.nan))[pi] = q[j]
        data.setdefault("onset_reached", np.full((P, M, R), np.nan))[pi] = np.mean(~np.isnan(oc["analgesia_onset"]), -1)
    long = {"p_adequate": "probability of adequate analgesia", "p_exceed":
            "probability of an unacceptable psychotomimetic effect", "p_success":
            "probability of adequate analgesia without unacceptable psychotomimetic effect",
            "onset_reached": "fraction of subjects whose analgesia reaches the level"}
    for k in _PROBS:
        long[f"p_{k}_mc_share"] = (f"share of the replicate spread of p_{k} explained by binomial noise alone "
                                   "(≥ 1: the uncertainty band is Monte Carlo noise)")
    variables = {}
    for k, v in data.items():
        base = k.split("_p5")[0].split("_median")[0].split("_p95")[0]
        unit = "1" if k.startswith(("p_", "onset_reached")) else _CONT.get(base, "")
        ln = long.get(k, k.replace("_", " "))
        if k.endswith("_mc_share"):
            unit = "1"
        if k.endswith(("_lo", "_hi")) and k.startswith("p_"):
            ln = f"{long.get(k.rsplit('_', 1)[0].replace('_unc', ''), k)} ({'uncertainty ' if '_unc_' in k else 'Wilson 95 % '}{'lower' if k.endswith('lo') else 'upper'})"
        variables[k] = (("pair", "model", "regimen"), v, {"units": unit, "long_name": ln})
    out = xr.Dataset(variables, coords={"pair": [p.label for p in pairs], "model": ds.model.values,
                                        "regimen": ds.regimen.values, "route": ("regimen", ds.route.values),
                                        "analgesia": ("pair", [p.analgesia for p in pairs]),
                                        "psychotomimetic": ("pair", [p.psychotomimetic for p in pairs])})
    out.attrs.update({"definitions": spec.describe(), "population_size": n,
                      "notes": " | ".join(p.note for p in pairs if p.note),
                      "uncertainty_replicates": reps,
                      "windows": "; ".join(f"{p.label}: {p.window[0]:.1f}–{p.window[1]:.1f} ng/mL"
                                           for p in pairs if p.window) or "none"})
    return out


def _mc_share(per: np.ndarray, m: float) -> np.ndarray:
    """Share of the spread across replicates that binomial noise alone would give: the variance of
    a proportion from ``m`` subjects, p(1−p)/m, over the observed variance of the replicate
    estimates (≥ 1: the "parameter uncertainty" band is Monte Carlo noise; well below 1: it is
    parameter uncertainty).  NaN where the replicates agree exactly."""
    with np.errstate(all="ignore"), _quiet():
        p = np.nanmean(per, axis=-1)
        var = np.nanvar(per, axis=-1, ddof=1)
        return np.where(var > 0, p * (1 - p) / m / var, np.nan)


class _quiet:
    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *a):
        self._w.__exit__(*a)


def table_rows(tr: xr.Dataset) -> tuple[list[str], list[list[str]]]:
    header = ["PD", "model", "regimen", "P(adequate analgesia)", "P(unacceptable psychotomimetic)", "P(success)",
              "analgesia time (h)", "window time (h)"]
    rows = []
    pc = lambda v, lo, hi: "—" if np.isnan(v) else f"{v:.0%} [{lo:.0%}–{hi:.0%}]"
    for pi, pr in enumerate(tr.pair.values):
        for mi, m in enumerate(tr.model.values):
            for ri, r in enumerate(tr.regimen.values):
                g = lambda k: float(tr[k].values[pi, mi, ri]) if k in tr else math.nan
                row = [str(pr), str(m), str(r)]
                for k in _PROBS:
                    cell = pc(g(f"p_{k}"), g(f"p_{k}_lo"), g(f"p_{k}_hi"))
                    if f"p_{k}_unc_lo" in tr and not np.isnan(g(f"p_{k}_unc_lo")):
                        cell += f" (unc. {g(f'p_{k}_unc_lo'):.0%}–{g(f'p_{k}_unc_hi'):.0%})"
                    row.append(cell)
                at = g("analgesia_time_median")
                row.append("—" if np.isnan(at) else f"{at:.2f} [{g('analgesia_time_p5'):.2f}–{g('analgesia_time_p95'):.2f}]")
                w = g("window_time_median")
                row.append("—" if np.isnan(w) else f"{w:.2f}")
                rows.append(row)
    return header, rows

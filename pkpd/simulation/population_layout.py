"""The layout of a population run: which outputs each model gives, memory limits, and the
histogram ranges the streaming percentiles use (fixed by the typical subject)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pkpd.errors import PkpdError
from pkpd.simulation.system import build_system

#: Full-trajectory runs larger than this are refused (bytes); use streaming.
FULL_MODE_LIMIT = 4 * 1024 ** 3


@dataclass(frozen=True)
class Out:
    """One population output: a concentration (ng/mL), effect site, PD state or readout."""

    name: str
    species: str
    quantity: str  # plasma | effect | state | readout
    units: str
    long_name: str
    attrs: dict


@dataclass(frozen=True)
class ModelLayout:
    """One PK model's outputs in a population run and the PD readouts evaluated on them."""

    model: object  # pkpd.models.pk.Model
    outs: list
    reads: list  # (PDModel, Readout) pairs


def model_layout(m, pd) -> ModelLayout:
    """Outputs of model ``m`` with PD models ``pd`` attached (typical parameters fix the layout)."""
    v1 = m.params.individual()
    pdv1 = [(p, p.params.individual()) for p in pd]
    links = [lk for p, pv in pdv1 for lk in p.links(pv, m.species, m)]
    sysm = build_system(m, v1, links, pdv1)
    outs = [Out(o.name, o.species, o.quantity, "1" if o.quantity == "state" else "ng/mL", o.long_name,
                {"species": o.species, "quantity": o.quantity, **({"pd_model": o.pd_model} if o.pd_model else {})})
            for o in sysm.outputs if o.quantity != "amount"]
    reads = []
    for p in pd:
        for rd in p.readouts:
            if all(p.effect_name(e) in {o.name for o in outs} for e in rd.inputs):
                reads.append((p, rd))
                flipped = rd.direction == "decrease"
                outs.append(Out(f"{rd.name}_{p.name}", "", "readout", rd.unit,
                                f"{rd.name.replace('_', ' ')} ({p.name})" + (", sign flipped" if flipped else ""),
                                {"category": rd.category, "pd_model": p.name, "direction": "increase",
                                 "sign_flipped": int(flipped), "readout": rd.name.replace("_", " ")}))
    return ModelLayout(m, outs, reads)


def pair(th) -> tuple[float, float]:
    """A threshold, or (lower, upper) thresholds, as a pair (upper inf when not given)."""
    if isinstance(th, (tuple, list)):
        return float(th[0]), float(th[1])
    return float(th), np.inf


def estimate_full_bytes(n: int, n_regimens: int, n_models: int, n_out: int, n_times: int, itemsize: int) -> int:
    """Bytes of full trajectories for ``n`` subjects (the arrays a ``mode="full"`` run keeps)."""
    return n * n_regimens * n_models * n_out * n_times * itemsize


def check_full_memory(n: int, n_regimens: int, n_models: int, n_out: int, n_times: int, itemsize: int) -> None:
    """Refuse a full-trajectory run above :data:`FULL_MODE_LIMIT`, with the estimate."""
    need = estimate_full_bytes(n, n_regimens, n_models, n_out, n_times, itemsize)
    if need > FULL_MODE_LIMIT:
        raise PkpdError(f"full trajectories would need {need / 1024 ** 3:.1f} GiB "
                        f"({n:,} subjects × {n_regimens} regimens × {n_models} models × {n_out} outputs × "
                        f"{n_times:,} times); the limit is {FULL_MODE_LIMIT / 1024 ** 3:.0f} GiB: use mode = "
                        f"\"streaming\"", field="population.mode")


def histogram_ranges(typical, layout: ModelLayout, mi: int, ri: int) -> list[tuple]:
    """Per output, the histogram range of the streaming percentiles for model ``mi`` and regimen
    ``ri``: log bins around the typical subject's peak for concentrations, linear bins around
    the typical curve for states and readouts."""
    ranges = []
    for o in layout.outs:
        y = _typical_curve(typical, o.name, mi, ri)
        if o.quantity == "state":
            lo, hi = float(np.min(y)), float(np.max(y))
            span = max(hi - lo, 1e-9)
            ranges.append(("linear", lo - span, hi + span))
        elif o.quantity == "readout":
            if o.attrs.get("sign_flipped"):
                y = -y
            lo, hi = np.min(y), np.max(y)
            span = max(hi - lo, 1e-9)
            rd = next(rd for p, rd in layout.reads if f"{rd.name}_{p.name}" == o.name)
            if rd.type == "sigmoid_emax":
                ranges.append(("linear", min(lo, 0.0) - 0.05 * span, max(hi * 2, 1.0)))
            else:
                ranges.append(("linear", lo - 3 * span, hi + 3 * span))
        else:
            ranges.append(("log", float(np.max(y)) if o.name in typical else 1.0, 0.0))
    return ranges


def _typical_curve(typical, name: str, mi: int, ri: int) -> np.ndarray:
    """The typical subject's finite values of output ``name``, or [0, 1] when there are none (the
    output is missing, or the model cannot give the regimen): a harmless histogram range."""
    y = typical[name].values[mi, ri] if name in typical else np.array([])
    y = y[np.isfinite(y)]
    return y if y.size else np.array([0.0, 1.0])

"""Every limit pkpd enforces, its default and the knob that changes it.

Two kinds:

* **resource limits** (:data:`LIMITS`): how much memory, time, input and work one run may take.
  Each has a default that leaves room on a 24 GiB workstation and an environment variable that
  changes it (``PKPD_MAX_MEMORY=16GiB pkpd run …``); :func:`limit` reads it at the moment of the
  check, so a test or a session can change it without restarting.  The estimates they are
  compared with come from :mod:`pkpd.simulation.resources`.
* **sanity ranges** (:data:`RANGES`): values no patient has (0 kg, a negative age, 1e308 mg).  They
  are typo guards, not clinical limits and not literature values: a model's own validity range is
  narrower and is the model file's business.

``docs/reliability.md`` lists them all; a test checks that the list there matches this module.
A base module: it imports nothing from the package.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from pkpd.errors import PkpdError

_GIB = 1024 ** 3


@dataclass(frozen=True)
class Limit:
    """One resource limit: ``default`` in ``unit``, changed by the environment variable ``env``."""

    name: str
    default: float
    unit: str  # "bytes", "hours" or "count"
    env: str
    what: str


#: The resource limits, by name.
LIMITS = {lim.name: lim for lim in (
    Limit("memory", 8 * _GIB, "bytes", "PKPD_MAX_MEMORY",
          "estimated memory of one simulation, trade-off, sweep point or TCI profile"),
    Limit("hours", 24.0, "hours", "PKPD_MAX_HOURS",
          "estimated run time of one command on one core (population, trade-off, sweep)"),
    Limit("toml_bytes", 16 * 1024 ** 2, "bytes", "PKPD_MAX_TOML_FILE", "size of a scenario or model file"),
    Limit("csv_bytes", 256 * 1024 ** 2, "bytes", "PKPD_MAX_CSV_FILE",
          "size of an event, covariate or concentration CSV file"),
    Limit("event_rows", 1_000_000, "count", "PKPD_MAX_EVENT_ROWS", "rows of an event (NONMEM-style) CSV file"),
    Limit("administrations", 200_000, "count", "PKPD_MAX_ADMINISTRATIONS",
          "administrations of one regimen after repeats (times, ADDL) and sprays are expanded"),
    Limit("output_times", 2_000_000, "count", "PKPD_MAX_OUTPUT_TIMES", "output times of one run"),
    Limit("design_points", 100_000, "count", "PKPD_MAX_DESIGN_POINTS", "points of a sweep design"),
    Limit("tradeoff_points", 10_000, "count", "PKPD_MAX_TRADEOFF_POINTS",
          "regimen variants of a trade-off sweep (regimens × sweep grid)"),
    Limit("pump_updates", 2_000_000, "count", "PKPD_MAX_PUMP_UPDATES", "pump updates of one TCI profile"),
    Limit("solver_steps", 1_000_000, "count", "PKPD_MAX_SOLVER_STEPS",
          "steps (accepted + rejected) of one nonlinear solve per subject and regimen"),
)}


_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMGT]?i?B?)?\s*$", re.IGNORECASE)
_FACTOR = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 1024, "m": 1e6, "mb": 1e6, "mib": 1024 ** 2,
           "g": 1e9, "gb": 1e9, "gib": _GIB, "t": 1e12, "tb": 1e12, "tib": 1024 ** 4, "ki": 1024,
           "mi": 1024 ** 2, "gi": _GIB, "ti": 1024 ** 4}


def limit(name: str) -> float:
    """The current value of limit ``name`` (its environment variable, else the default).

    Sizes may carry a unit (``16GiB``, ``500MB``); a malformed value is an error naming the
    variable, never silently ignored.
    """
    lim = LIMITS[name]
    text = os.environ.get(lim.env)
    if text is None or not text.strip():
        return lim.default
    m = _SIZE.match(text)
    unit = (m.group(2) or "").lower() if m else ""
    if m is None or unit not in _FACTOR or (unit and lim.unit != "bytes"):
        raise PkpdError(f"{lim.env}={text!r} is not a valid {lim.unit} value (e.g. "
                        f"{'16GiB' if lim.unit == 'bytes' else '48' if lim.unit == 'hours' else '200000'})")
    value = float(m.group(1)) * _FACTOR[unit]
    if not math.isfinite(value) or value <= 0:
        raise PkpdError(f"{lim.env} must be > 0")
    return value


def describe(name: str, value: float | None = None) -> str:
    """``value`` (default: the current limit) in words: ``8 GiB``, ``24 h``, ``100,000``."""
    lim = LIMITS[name]
    v = limit(name) if value is None else value
    if lim.unit == "bytes":
        return human_bytes(v)
    if lim.unit == "hours":
        return human_hours(v)
    return f"{v:,.0f}"


def human_bytes(b: float) -> str:
    """Bytes as ``1.5 GiB`` (binary prefixes)."""
    for unit, f in (("TiB", 1024 ** 4), ("GiB", _GIB), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if b >= f:
            return f"{b / f:.3g} {unit}"
    return f"{b:.0f} bytes"


def human_hours(h: float) -> str:
    """Hours as ``3.2 h``, ``12 min`` or ``40 s``."""
    if h >= 1:
        return f"{h:,.3g} h" if h < 1e6 else f"{h:.2e} h"
    if h * 60 >= 1:
        return f"{h * 60:.3g} min"
    return f"{h * 3600:.2g} s"


def check_count(name: str, count: float, what: str, knob: str) -> None:
    """Refuse ``count`` above limit ``name``: the count, the limit, what to change and the variable."""
    cap = limit(name)
    if count > cap:
        lim = LIMITS[name]
        raise PkpdError(f"{what}: {count:,.0f}, above the limit of {cap:,.0f} ({lim.what}); {knob}, or raise "
                        f"the limit with {lim.env}=N")


@dataclass(frozen=True)
class Range:
    """A sanity range ``[low, high]`` in ``unit``: values outside no patient has."""

    name: str
    low: float
    high: float
    unit: str


#: Sanity ranges (typo guards; models have narrower validity ranges of their own).
RANGES = {r.name: r for r in (
    Range("weight", 0.5, 400.0, "kg"),
    Range("age", 0.0, 120.0, "years"),
    Range("dose_per_kg", 0.0, 100.0, "mg/kg per administration"),
    Range("dose", 0.0, 40_000.0, "mg per administration"),  # 100 mg/kg at 400 kg
    Range("rate_per_kg", 0.0, 100.0, "mg/kg/h"),
    Range("rate", 0.0, 40_000.0, "mg/h"),
)}


def out_of_range(name: str, value: float) -> str | None:
    """Why ``value`` lies outside sanity range ``name`` (None when inside; NaN is outside)."""
    r = RANGES[name]
    if not (r.low <= value <= r.high):
        return f"{value:g} {r.unit} is outside {r.low:g}–{r.high:g} {r.unit} (no patient has it)"
    return None

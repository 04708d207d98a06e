"""The ``[tradeoff]`` table: what counts as analgesia and as unacceptable psychotomimetic effect.

::

    [tradeoff]
    analgesia_level = 0.3            # readout value that counts as analgesia (default 0.3)
    analgesia_duration = "20 min"    # adequate analgesia: at least this long at that level (default)
    psychotomimetic_level = 0.5      # unacceptable psychotomimetic effect: reaching this
    cap = 0.10                       # pkpd optimize: at most 10 % of subjects above it
    dose_bounds = [0.05, 10]         # pkpd optimize: dose multiples searched (oral, IV)
    min_adequate = 0.5               # pkpd optimize: at least 50 % of subjects with adequate analgesia
    products = { device_mg = 28, max_devices = 3, oral_step = "5 mg", iv_step = "0.05 mg/kg" }
    n = 4000                         # subjects per sweep point / optimiser step
    replicates = 20                  # parameter-uncertainty replicates (0: off); n/replicates per replicate
    pairs = [["antinociception_olofsen_2022", "external_perception_olofsen_2022"]]
    sweep = { dose = [0.25, 0.5, 1, 2], duration = ["20 min", "40 min"], sprays = [1, 2, 3] }
    clinical = { schedules = ["8 every 3.5 d"], max_cost = 0.3 }   # see pkpd.scenario.schedules

Every key is optional (:class:`pkpd.analysis.tradeoff.TradeoffSpec` has the defaults).
"""
from __future__ import annotations

import math
from pkpd import units
from pkpd.errors import Collector, PkpdError
from pkpd.analysis.dosefinding import SWEEPABLE
from pkpd.analysis.products import ProductSpec
from pkpd.analysis.tradeoff import TradeoffSpec
from pkpd.scenario.schedules import parse_clinical


KEYS = {"analgesia_level", "analgesia_duration", "psychotomimetic_level", "cap", "dose_bounds", "n", "pairs",
        "sweep", "min_adequate", "products", "replicates", "clinical"}
PRODUCT_KEYS = {"device_mg", "max_devices", "oral_step", "iv_step"}


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def parse_tradeoff(tbl, col: Collector) -> TradeoffSpec | None:
    """Check the ``[tradeoff]`` table; None if it is not a table (problems go to ``col``)."""
    f = "tradeoff"
    if not isinstance(tbl, dict):
        col.add("must be a table", f)
        return None
    for k in sorted(set(tbl) - KEYS):
        col.add(f"unknown key '{k}'", f"{f}.{k}")
    kw = {**_levels(tbl, col), **_search(tbl, col)}
    if "sweep" in tbl:
        sweep = _sweep(tbl["sweep"], col)
        if sweep is not None:
            kw["sweep"] = sweep
    return TradeoffSpec(**kw)


def _levels(tbl: dict, col: Collector) -> dict:
    """analgesia_level, psychotomimetic_level, analgesia_duration and cap, where given and valid."""
    f = "tradeoff"
    kw = {}
    for k in ("analgesia_level", "psychotomimetic_level"):
        if k in tbl:
            v = tbl[k]
            if not _number(v) or not math.isfinite(v):
                col.add("must be a number (in the readout's unit)", f"{f}.{k}")
            else:
                kw[k] = float(v)
    if "analgesia_duration" in tbl:
        try:
            kw["analgesia_duration"] = units.parse(tbl["analgesia_duration"], "time", f"{f}.analgesia_duration").value
        except PkpdError as e:
            col.catch(e)
    for k in ("cap", "min_adequate"):
        if k in tbl:
            v = tbl[k]
            if not _number(v) or not 0 <= v <= 1:
                col.add("must be a fraction of subjects from 0 to 1", f"{f}.{k}")
            else:
                kw[k] = float(v)
    if "products" in tbl:
        prod = _products(tbl["products"], col)
        if prod is not None:
            kw["products"] = prod
    if "clinical" in tbl:
        clin = parse_clinical(tbl["clinical"], col)
        if clin is not None:
            kw["clinical"] = clin
    return kw


def _products(tbl, col: Collector) -> ProductSpec | None:
    """``products``: device size (mg) and count, oral step (mg), IV step (mg/kg); None if invalid."""
    f = "tradeoff.products"
    if not col.table(tbl, PRODUCT_KEYS, f):
        return None
    kw, n_err = {}, len(col.errors)
    if "device_mg" in tbl:
        v = tbl["device_mg"]
        if not _number(v) or not 0 < v <= 1000:
            col.add("must be mg per device, 0 < x ≤ 1000", f"{f}.device_mg")
        else:
            kw["device_mg"] = float(v)
    if "max_devices" in tbl:
        v = tbl["max_devices"]
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 10:
            col.add("must be a whole number of devices from 1 to 10", f"{f}.max_devices")
        else:
            kw["max_devices"] = v
    for k, kind, field_name in (("oral_step", "amount", "oral_step_mg"), ("iv_step", "amount", "iv_step_mg_per_kg")):
        if k in tbl:
            try:
                q = units.parse(tbl[k], kind, f"{f}.{k}", allow_per_kg=True)
                if (k == "iv_step") != q.per_kg or not q.value > 0:
                    raise PkpdError("must be > 0 " + ("in mg/kg" if k == "iv_step" else "in mg"), field=f"{f}.{k}")
                kw[field_name] = q.value
            except PkpdError as e:
                col.catch(e)
    return ProductSpec(**kw) if len(col.errors) == n_err else None


def _search(tbl: dict, col: Collector) -> dict:
    """dose_bounds, n and pairs, where given and valid."""
    f = "tradeoff"
    kw = {}
    if "dose_bounds" in tbl:
        v = tbl["dose_bounds"]
        if not (isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v) and 0 < v[0] < v[1] <= 1000):
            col.add("must be [low, high] dose multiples with 0 < low < high ≤ 1000", f"{f}.dose_bounds")
        else:
            kw["dose_bounds"] = (float(v[0]), float(v[1]))
    if "replicates" in tbl:
        v = tbl["replicates"]
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 1000:
            col.add("must be a whole number of replicates from 0 to 1000 (0: no parameter uncertainty)",
                    f"{f}.replicates")
        else:
            kw["replicates"] = v
    if "n" in tbl:
        v = tbl["n"]
        if not isinstance(v, int) or isinstance(v, bool) or not 10 <= v <= 1_000_000:
            col.add("must be a whole number from 10 to 1,000,000", f"{f}.n")
        else:
            kw["n"] = v
    if "pairs" in tbl:
        v = tbl["pairs"]
        if not (isinstance(v, list) and all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
                                            for p in v)):
            col.add("must be a list of [analgesia readout, psychotomimetic readout] pairs", f"{f}.pairs")
        else:
            kw["pairs"] = tuple(tuple(p) for p in v)
    return kw


def _sweep(sw, col: Collector) -> dict[str, list] | None:
    """``sweep``: parameter → values (at most two parameters); None if it is not a non-empty table."""
    f = "tradeoff.sweep"
    if not isinstance(sw, dict) or not sw:
        col.add(f"must be a table of parameter = [values] ({', '.join(SWEEPABLE)})", f)
        return None
    if len(sw) > 2:
        col.add("sweep at most two parameters at once", f)
    out = {}
    for k, vals in sw.items():
        g = f"{f}.{k}"
        if k not in SWEEPABLE:
            col.add(f"cannot sweep {k!r} (sweepable: {', '.join(SWEEPABLE)})", g)
            continue
        if not isinstance(vals, list) or not vals or len(vals) > 200:
            col.add("must be a list of 1–200 values", g)
            continue
        try:
            parsed = _sweep_values(k, vals, g, col)
        except PkpdError as e:
            col.catch(e)
            continue
        if parsed is not None:
            out[k] = parsed
    return out


def _sweep_values(k: str, vals: list, g: str, col: Collector) -> list | None:
    """The values of one swept parameter (dose multiples, spray counts or times in h); None if invalid."""
    if k == "dose":
        parsed = [float(v) for v in vals if _number(v)]
        if len(parsed) != len(vals) or any(not (0 < v <= 1000) for v in parsed):
            col.add("dose values are multiples of each regimen's doses, 0 < x ≤ 1000", g)
            return None
    elif k == "sprays":
        parsed = [v for v in vals if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 20]
        if len(parsed) != len(vals):
            col.add("spray counts must be whole numbers from 1 to 20", g)
            return None
    else:
        parsed = [units.parse(v, "time", g).value for v in vals]
        if any(v <= 0 for v in parsed) and k == "duration":
            col.add("durations must be > 0", g)
            return None
    return parsed

"""TODO docstring (scenario.tradeoff_table)"""
from __future__ import annotations

import math
from pkpd import units
from pkpd.errors import Collector, PkpdError
from pkpd.analysis.dosefinding import SWEEPABLE
from pkpd.analysis.tradeoff import TradeoffSpec


def parse_tradeoff(tbl, col: Collector):
    """The ``[tradeoff]`` table::

        [tradeoff]
        analgesia_level = 0.5            # readout value that counts as analgesia
        analgesia_duration = "30 min"    # adequate analgesia: at least this long at that level
        psychotomimetic_level = 0.5      # unacceptable psychotomimetic effect: reaching this
        cap = 0.10                       # pkpd optimize: at most 10 % of subjects above it
        dose_bounds = [0.05, 10]         # pkpd optimize: dose multiples searched
        n = 500                          # subjects per sweep point / optimiser step
        pairs = [["antinociception_olofsen_2022", "external_perception_olofsen_2022"]]
        sweep = { dose = [0.25, 0.5, 1, 2], duration = ["20 min", "40 min"], sprays = [1, 2, 3] }
    """
    f = "tradeoff"
    if not isinstance(tbl, dict):
        col.add("must be a table", f)
        return None
    for k in sorted(set(tbl) - {"analgesia_level", "analgesia_duration", "psychotomimetic_level", "cap",
                                "dose_bounds", "n", "pairs", "sweep"}):
        col.add(f"unknown key '{k}'", f"{f}.{k}")
    kw = {}
    for k in ("analgesia_level", "psychotomimetic_level"):
        if k in tbl:
            v = tbl[k]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                col.add("must be a number (in the readout's unit)", f"{f}.{k}")
            else:
                kw[k] = float(v)
    if "analgesia_duration" in tbl:
        try:
            kw["analgesia_duration"] = units.parse(tbl["analgesia_duration"], "time", f"{f}.analgesia_duration").value
        except PkpdError as e:
            col.catch(e)
    if "cap" in tbl:
        v = tbl["cap"]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1:
            col.add("must be a fraction of subjects from 0 to 1", f"{f}.cap")
        else:
            kw["cap"] = float(v)
    if "dose_bounds" in tbl:
        v = tbl["dose_bounds"]
        if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                            for x in v) and 0 < v[0] < v[1] <= 1000):
            col.add("must be [low, high] dose multiples with 0 < low < high ≤ 1000", f"{f}.dose_bounds")
        else:
            kw["dose_bounds"] = (float(v[0]), float(v[1]))
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
    if "sweep" in tbl:
        sw = tbl["sweep"]
        out = {}
        if not isinstance(sw, dict) or not sw:
            col.add(f"must be a table of parameter = [values] ({', '.join(SWEEPABLE)})", f"{f}.sweep")
        else:
            if len(sw) > 2:
                col.add("sweep at most two parameters at once", f"{f}.sweep")
            for k, vals in sw.items():
                g = f"{f}.sweep.{k}"
                if k not in SWEEPABLE:
                    col.add(f"cannot sweep {k!r} (sweepable: {', '.join(SWEEPABLE)})", g)
                    continue
                if not isinstance(vals, list) or not vals or len(vals) > 200:
                    col.add("must be a list of 1–200 values", g)
                    continue
                try:
                    if k == "dose":
                        parsed = [float(v) for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
                        if len(parsed) != len(vals) or any(not (0 < v <= 1000) for v in parsed):
                            col.add("dose values are multiples of each regimen's doses, 0 < x ≤ 1000", g)
                            continue
                    elif k == "sprays":
                        parsed = [v for v in vals if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 20]
                        if len(parsed) != len(vals):
                            col.add("spray counts must be whole numbers from 1 to 20", g)
                            continue
                    else:
                        parsed = [units.parse(v, "time", g).value for v in vals]
                        if any(v <= 0 for v in parsed) and k == "duration":
                            col.add("durations must be > 0", g)
                            continue
                    out[k] = parsed
                except PkpdError as e:
                    col.catch(e)
            kw["sweep"] = out
    return TradeoffSpec(**kw)

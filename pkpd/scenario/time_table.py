"""The ``[time]`` table: the output time grid.

::

    [time]
    horizon = "24 h"                   # simulate from 0 to the horizon
    step = "1 min"                     # output every step (at most MAX_TIMES points)
"""
from __future__ import annotations

from pkpd import units
from pkpd.errors import Collector, PkpdError
from pkpd.scenario.spec import MAX_TIMES, TimeGrid


KEYS = {"horizon", "step"}


def parse_time(tbl, col: Collector) -> TimeGrid | None:
    """Check the ``[time]`` table; the grid, or None (problems added to ``col``)."""
    if not isinstance(tbl, dict):
        col.add("missing [time] table with horizon and step", "time")
        return None
    for k in sorted(set(tbl) - KEYS):
        col.add(f"unknown key '{k}'", f"time.{k}")
    try:
        hz = units.parse(tbl.get("horizon", ""), "time", "time.horizon").value
        st = units.parse(tbl.get("step", ""), "time", "time.step").value
    except PkpdError as e:
        col.catch(e)
        return None
    if hz <= 0:
        col.add("must be > 0", "time.horizon")
    elif st <= 0:
        col.add("must be > 0", "time.step")
    elif st > hz:
        col.add(f"step ({tbl['step']}) is larger than the horizon ({tbl['horizon']})", "time.step")
    elif hz / st > MAX_TIMES:
        col.add(f"{hz / st:.3g} time points; at most {MAX_TIMES:,} (use a larger step)", "time.step")
    else:
        return TimeGrid(hz, st)
    return None

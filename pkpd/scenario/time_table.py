"""The ``[time]`` table: the output time grid.

::

    [time]
    horizon = "24 h"                   # simulate from 0 to the horizon
    step = "1 min"                     # output every step (at most the output_times limit of points)
"""
from __future__ import annotations

from pkpd import units
from pkpd.errors import Collector, PkpdError
from pkpd.scenario.spec import TimeGrid
from pkpd.simulation.arguments import check_grid


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
        hz, st = check_grid(hz, st, prefix="time.")
    except PkpdError as e:
        col.catch(e)
        return None
    return TimeGrid(hz, st)

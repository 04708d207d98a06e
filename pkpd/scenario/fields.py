"""Small field checks shared by several scenario tables (each table's own checks live with it)."""
from __future__ import annotations

from pkpd.errors import Collector


def text(col: Collector, tbl: dict, key: str, f: str, default=None):
    """``tbl[key]`` when it is text (or absent: ``default``); otherwise record "must be text" at ``f``."""
    v = tbl.get(key, default)
    if v is not None and not isinstance(v, str):
        col.add("must be text", f)
        return default
    return v

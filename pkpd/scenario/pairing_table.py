"""The ``[pairing]`` table (optional): PK/PD pairings the scenario's author knows about.

::

    [pairing]
    accept = ["perez_ruixo_2021/olofsen_2022"]   # "PK model/PD model"

A pairing with a caveat (arterial PD on venous PK, S-ketamine PD on racemic PK:
:mod:`pkpd.models.pairing`) is then printed once as a short note instead of a warning.  Each
entry must name a pairing of this scenario that has a caveat, so a stale entry is caught.
"""
from __future__ import annotations

from pkpd.errors import Collector
from pkpd.models.pairing import ACCEPT_FORMAT, caveat_pairs


KEYS = {"accept"}


def parse_pairing(tbl, col: Collector, models, pds) -> tuple[str, ...]:
    """The accepted ``"PK/PD"`` pairings of ``[pairing]`` (checked against the scenario's models)."""
    if not isinstance(tbl, dict):
        col.add("must be a table: accept = [\"PK/PD\", …]", "pairing")
        return ()
    for k in sorted(set(tbl) - KEYS):
        col.add(f"unknown key '{k}' (known: accept)", f"pairing.{k}")
    acc = tbl.get("accept", [])
    if not isinstance(acc, list) or not all(isinstance(a, str) for a in acc):
        col.add(f"'accept' must list pairings as text, {ACCEPT_FORMAT}", "pairing.accept")
        return ()
    known = caveat_pairs(models, pds)
    for i, a in enumerate(acc):
        if a not in known:
            have = ", ".join(sorted(known)) or "none"
            col.add(f"{a!r} is not a PK/PD pairing of this scenario with a caveat ({ACCEPT_FORMAT}; "
                    f"pairings with a caveat: {have})", f"pairing.accept[{i}]")
    return tuple(a for a in acc if a in known)

"""The routes of administration: one table, one row per route.

Each :class:`Route` row holds everything the rest of the package needs to know about a
route: its key (as written in model and scenario files), long name, NONMEM compartment
number (``CMT`` in event records), code and words in the compact regimen notation, whether
it takes an infusion (``duration``/``rate``) or several sprays per administration, and its
plot colour.  Adding a route is adding one row to :data:`ROUTE_TABLE`; the lookups
:data:`ROUTES`, :data:`ROUTE_CMT`, :data:`CMT_ROUTE`, :data:`ROUTE_WORDS` and
:data:`ROUTE_BY_KEY` are derived from it (and checked for clashes on import).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    """One route of administration.

    Attributes
    ----------
    key : str
        Identifier used in model files, scenario files and :class:`pkpd.dosing.regimen.Dose`.
    name : str
        Long name, for listings.
    cmt : int
        NONMEM ``CMT`` number of its dose records.
    code : str
        Code written by :func:`pkpd.dosing.notation.format_regimen` (its lower case must be
        one of ``words``).
    words : tuple of str
        Lower-case words naming the route in the notation and in a ``ROUTE`` column of event
        records (the key among them).
    infusion : bool
        Takes a zero-order infusion (``duration`` h, or ``rate`` mg/h with a duration).
    sprays : bool
        Takes several sprays (devices) per administration.
    color : str
        Plot colour.
    """

    key: str
    name: str
    cmt: int
    code: str
    words: tuple[str, ...]
    infusion: bool = False
    sprays: bool = False
    color: str = "#555555"

    @property
    def label(self) -> str:
        """Short name in messages: the code when the key is its abbreviation (``IV``), else the key."""
        return self.code if self.key == self.code.lower() else self.key


#: Every route, in listing order.  A new route is one more row.
ROUTE_TABLE: tuple[Route, ...] = (
    Route("iv", "intravenous", 1, "IV", ("iv", "intravenous"), infusion=True, color="#c0392b"),
    Route("oral", "oral", 2, "PO", ("po", "oral"), color="#2874a6"),
    Route("intranasal", "intranasal", 3, "IN", ("in", "intranasal", "nasal"), sprays=True, color="#1e8449"),
    Route("sublingual", "sublingual / buccal (oral mucosal)", 4, "SL", ("sl", "sublingual", "buccal"),
          color="#b9770e"),
    Route("im", "intramuscular", 5, "IM", ("im", "intramuscular"), color="#7d3c98"),
)


def _check(table: tuple[Route, ...]) -> None:
    """Raise ValueError if two rows share a key, CMT, code or word, or a row cannot be read back."""
    for attr in ("key", "cmt", "code"):
        values = [getattr(r, attr) for r in table]
        if len(set(values)) != len(values):
            raise ValueError(f"route table: duplicate {attr}")
    words = [w for r in table for w in r.words]
    if len(set(words)) != len(words):
        raise ValueError("route table: a word names two routes")
    for r in table:
        if r.key not in r.words or r.code.lower() not in r.words or any(w != w.lower() for w in r.words):
            raise ValueError(f"route table: {r.key!r} must list its key and lower-case code among its "
                             f"lower-case words")


_check(ROUTE_TABLE)


#: key → row.
ROUTE_BY_KEY: dict[str, Route] = {r.key: r for r in ROUTE_TABLE}

#: Routes a model may support, with their long names.
ROUTES: dict[str, str] = {r.key: r.name for r in ROUTE_TABLE}

#: Notation / ``ROUTE``-column word → route key.
ROUTE_WORDS: dict[str, str] = {w: r.key for r in ROUTE_TABLE for w in r.words}

#: Route key → NONMEM ``CMT``.
ROUTE_CMT: dict[str, int] = {r.key: r.cmt for r in ROUTE_TABLE}

#: NONMEM ``CMT`` → route key.
CMT_ROUTE: dict[int, str] = {r.cmt: r.key for r in ROUTE_TABLE}


def or_list(items) -> str:
    """``"a, b or c"`` (``"a"`` for one item, ``""`` for none)."""
    items = list(items)
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else "".join(items)


def infusion_routes() -> tuple[Route, ...]:
    """The rows that take an infusion (``duration``/``rate``), in table order."""
    return tuple(r for r in ROUTE_TABLE if r.infusion)


def spray_routes() -> tuple[Route, ...]:
    """The rows that take several sprays per administration, in table order."""
    return tuple(r for r in ROUTE_TABLE if r.sprays)

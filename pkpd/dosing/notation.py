"""Compact regimen notation, readable by a clinician, parsed by a small grammar (no eval).

Examples::

    0.5 mg/kg over 40 min                       IV infusion
    0.15 mg/kg IV                               IV bolus
    20 mg/h for 2 h                             IV infusion by rate
    28 mg IN x2 every 5 min                     2 sprays, 5 min apart (one administration)
    56 mg IN every 84 h x2 ... (not sprays)     repeats: 'every T xN' is N doses T apart
    100 mg PO every 24 h x7 then 50 mg every 12 h x20
    0.1 mg/kg IV then 10 mg/h for 2 h           bolus, then an infusion right after it
    0.25 mg/kg/h for 20 min then 0.1 mg/kg/h for 100 min
    0.5 mg/kg racemic over 40 min               what is given: racemic | esketamine | arketamine

Grammar (tokens separated by spaces; case-insensitive)::

    regimen  := segment ("then" segment)*
    segment  := QUANTITY clause*
    clause   := ROUTE | "over" TIME | "for" TIME | "x" N "every" TIME     (sprays)
              | "every" TIME "x" N                                       (repeats)
              | "at" TIME                                                (start time)
              | "ss"                          (at steady state on this dose before the first one)
              | DRUG                          (what is given)
    ROUTE    := a word of a route in pkpd.models.routes.ROUTE_TABLE:
                iv | intravenous | po | oral | in | intranasal | nasal | sl | sublingual | buccal
                | im | intramuscular
    DRUG     := esketamine | s-ketamine | racemic [ketamine] | racemate | arketamine | r-ketamine
                (pkpd.models.drugs; "ketamine" alone is refused as ambiguous)

A segment without a route takes the previous segment's (the first defaults to IV when it is an
infusion); likewise a segment without a drug takes the previous segment's (the first: none
stated, i.e. the form each PK model describes, said with every result).  A segment after ``then`` starts when the previous one ends: after its last
administration's interval when repeated, after its infusion, else at the same time (a bolus
then an infusion); ``at TIME`` gives a segment an explicit start time instead.
"""
from __future__ import annotations

import re
from pkpd import units
from pkpd.dosing.regimen import Dose, Regimen
from pkpd.errors import PkpdError
from pkpd.models.drugs import DRUG_WORDS, resolve_drug
from pkpd.models.routes import ROUTE_BY_KEY, ROUTE_TABLE, ROUTE_WORDS, infusion_routes, or_list


KEYWORDS = {"over", "for", "every", "at", "then", "bolus", "infusion", "ss"}


_X = re.compile(r"^[x×](\d+)?$")


_NUM = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


#: Single-token drug words of the notation (not the one-letter "s"/"r", too easily a typo).
_DRUG_WORDS = {w for w in DRUG_WORDS if " " not in w and len(w) > 1}


#: The word format_regimen writes for each drug.
_WORD_OF = {"S-ketamine": "esketamine", "racemic ketamine": "racemic", "R-ketamine": "arketamine"}


#: The route a segment without one takes when it is an infusion (and is the first segment).
_DEFAULT_INFUSION = infusion_routes()[0].key


def _tokens(text: str) -> list[str]:
    text = text.replace("×", "x").replace(",", " ")
    raw = text.lower().split()
    out = []
    for tok in raw:
        m = re.match(r"^(x)(\d+)$", tok)
        if m:
            out += ["x", m.group(2)]
        else:
            out.append(tok)
    return out


class _Stream:
    def __init__(self, toks, text, field):
        self.toks, self.i, self.text, self.field = toks, 0, text, field

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self):
        t = self.peek()
        self.i += 1
        return t

    def error(self, msg):
        where = " ".join(self.toks[: self.i]) + " ⟨here⟩ " + " ".join(self.toks[self.i:])
        return PkpdError(f"{msg} in {self.text!r} (at: {where.strip()})", field=self.field)

    def quantity(self, kind: str, allow_per_kg=False) -> units.Quantity:
        num = self.take()
        if num is None or not _NUM.match(num):
            raise self.error(f"expected a number for a {kind.replace('_', ' ')}")
        unit = self.take()
        if unit is None or unit in KEYWORDS or unit in ROUTE_WORDS or unit in _DRUG_WORDS or _X.match(unit):
            raise self.error(f"expected a unit after {num}")
        return units.parse(f"{num} {unit}", kind, self.field, allow_per_kg=allow_per_kg)

    def count(self) -> int:
        n = self.take()
        if n is None or not n.isdigit() or int(n) < 1:
            raise self.error("expected a whole number ≥ 1 after 'x'")
        return int(n)


def parse_regimen(text: str, name: str | None = None, field: str | None = None) -> Regimen:
    """Parse compact notation into a regimen.

    Parameters
    ----------
    text : str
        The notation (see the module docstring): doses in mg or mg/kg, rates in mg/h or
        mg/kg/h, times with a unit (``min``, ``h``, …), at most 2000 characters.
    name : str, optional
        Name of the regimen; the stripped text when None.
    field : str, optional
        Where the text came from (e.g. ``regimens[0].text``), attached to errors.

    Returns
    -------
    Regimen
        Its doses in order, start times in h.

    Raises
    ------
    PkpdError
        On empty or overlong text, a malformed or unknown token (the message quotes the text
        and marks the offending token with ⟨here⟩), or a dose :class:`Dose` rejects.
    """
    _check_text(text, field)
    st = _Stream(_tokens(text), text, field)
    doses: list[Dose] = []
    start, route, drug = 0.0, None, None
    while True:
        d = _segment(st, start, route, drug)
        doses.append(d)
        route, start, drug = d.route, _segment_end(d), d.drug
        if not _then(st):
            break
    return Regimen(name or text.strip(), tuple(doses))


def _check_text(text, field) -> None:
    if not isinstance(text, str) or not text.strip():
        raise PkpdError("empty regimen text", field=field)
    if len(text) > 2000:
        raise PkpdError("regimen text longer than 2000 characters", field=field)


def _segment(st: _Stream, start: float, prev_route: str | None, prev_drug: str | None = None) -> Dose:
    """One segment (up to ``then`` or the end), starting at ``start`` h unless it says ``at``."""
    kind, q = _dose_quantity(st)
    kw: dict = {kind: q}
    seg_route, at = _clauses(st, kw)
    kw.setdefault("drug", prev_drug)
    route = _segment_route(st, seg_route, prev_route, kw, kind)
    if kind == "rate" and "duration" not in kw:
        raise st.error("a rate needs 'for TIME'")
    try:
        return Dose(route=route, start=start if at is None else at, **kw)
    except PkpdError as e:
        raise PkpdError(f"{e.problem} in {st.text!r}", field=st.field) from None


def _dose_quantity(st: _Stream) -> tuple[str, units.Quantity]:
    """The segment's dose: ``("amount", mg or mg/kg)`` or ``("rate", mg/h or mg/kg/h)``."""
    mark = st.i
    try:
        q = st.quantity("amount", allow_per_kg=True)
        kind = "amount"
    except PkpdError as first:
        st.i = mark
        try:
            q = st.quantity("rate", allow_per_kg=True)
            kind = "rate"
        except PkpdError:
            st.i = mark
            if "unknown unit" in first.problem or "finite" in first.problem:
                raise st.error(first.problem.split(";")[0]) from None
            raise st.error("expected a dose such as '28 mg', '0.5 mg/kg' or a rate such as '20 mg/h'") from None
    if q.value < 0:
        raise st.error("a dose cannot be negative")
    return kind, q


def _clauses(st: _Stream, kw: dict) -> tuple[str | None, float | None]:
    """Read the segment's clauses into ``kw`` (Dose keywords); returns its route key (or None)
    and its ``at`` start time, h (or None)."""
    seg_route = None
    at = None
    while st.peek() is not None and st.peek() != "then":
        tok = st.take()
        if tok in ROUTE_WORDS:
            if seg_route is not None:
                raise st.error("two routes in one dose")
            seg_route = ROUTE_WORDS[tok]
        elif tok in ("bolus", "infusion"):
            continue
        elif tok == "ss":
            kw["steady_state"] = True
        elif tok in _DRUG_WORDS or tok == "ketamine":
            _drug(st, tok, kw)
        elif tok in ("over", "for"):
            kw["duration"] = st.quantity("time").value
            if kw["duration"] <= 0:
                raise st.error("a duration must be > 0")
        elif tok == "x":
            _sprays(st, kw)
        elif tok == "every":
            _repeats(st, kw)
        elif tok == "at":
            at = st.quantity("time").value
        else:
            raise st.error(f"unexpected word {tok!r}")
    return seg_route, at


def _drug(st: _Stream, tok: str, kw: dict) -> None:
    """A drug word (``racemic`` may be followed by ``ketamine``); one per segment."""
    if "drug" in kw:
        raise st.error("two drugs in one dose")
    if tok == "racemic" and st.peek() == "ketamine":
        st.take()
    try:
        kw["drug"] = resolve_drug(tok)
    except PkpdError as e:
        raise st.error(e.problem) from None


def _sprays(st: _Stream, kw: dict) -> None:
    """``x N every TIME`` (after the ``x``): N sprays TIME apart."""
    n = st.count()
    if st.take() != "every":
        raise st.error("'x N' must be followed by 'every TIME' (N sprays TIME apart)")
    kw["sprays"] = n
    kw["spray_interval"] = st.quantity("time").value


def _repeats(st: _Stream, kw: dict) -> None:
    """``every TIME x N`` (after the ``every``): N doses TIME apart."""
    kw["every"] = st.quantity("time").value
    if kw["every"] <= 0:
        raise st.error("'every' needs a positive interval")
    if st.peek() != "x":
        raise st.error("how many doses? write 'every TIME x N'")
    st.take()
    kw["times"] = st.count()


def _segment_route(st: _Stream, seg_route, prev_route, kw: dict, kind: str) -> str:
    """The segment's route: its own, else the previous segment's, else the first infusion route
    of the table (IV) for an infusion."""
    if seg_route is None:
        seg_route = prev_route if prev_route is not None else (
            _DEFAULT_INFUSION if "duration" in kw or kind == "rate" else None)
    if seg_route is None:
        raise st.error(f"name the route ({or_list(r.code for r in ROUTE_TABLE)})")
    return seg_route


def _then(st: _Stream) -> bool:
    """Consume a ``then``; whether another segment follows."""
    if st.peek() != "then":
        return False
    st.take()
    if st.peek() is None:
        raise st.error("nothing after 'then'")
    return True


def _segment_end(d: Dose) -> float:
    """Where a segment after ``d`` starts, h: after its last interval when repeated, after its
    infusion, else at its start (a bolus then an infusion)."""
    if d.times > 1:
        return d.start + d.times * d.every
    if d.duration is not None:
        return d.start + d.duration
    return d.start


def format_regimen(reg: Regimen) -> str:
    """Compact notation for a regimen, exact enough to read back.

    Parameters
    ----------
    reg : Regimen
        Doses in mg or mg/kg (rates mg/h or mg/kg/h); numbers are written short (``28 mg``,
        ``every 5 min``, ``every 12 h``) where that reads back to the same value, else in full.

    Returns
    -------
    str
        Segments joined by ``then``, each with the route's code; :func:`parse_regimen`
        reads it back to the same doses (an ``at`` is written only where a segment does not
        start where the previous one ends).

    Raises
    ------
    KeyError
        If a dose's route is not in :data:`pkpd.models.routes.ROUTE_TABLE`.
    """
    parts = []
    implied = 0.0
    for d in reg.doses:
        q = d.rate if d.rate is not None else d.amount
        unit = ("mg/kg/h" if q.per_kg else "mg/h") if d.rate is not None else ("mg/kg" if q.per_kg else "mg")
        s = f"{_number(q.value)} {unit} {ROUTE_BY_KEY[d.route].code}"
        if d.duration is not None:
            s += f" {'for' if d.rate is not None else 'over'} {_time(d.duration)}"
        if d.sprays > 1:
            s += f" x{d.sprays} every {_time(d.spray_interval)}"
        if d.every is not None:  # also for one administration: a steady state needs its interval
            s += f" every {_time(d.every)} x{d.times}"
        if d.steady_state:
            s += " SS"
        if d.drug is not None:
            s += f" {_WORD_OF[d.drug]}"
        if abs(d.start - implied) > 1e-12:
            s += f" at {_time(d.start)}"
        parts.append(s)
        implied = _segment_end(d)
    return " then ".join(parts)


def _number(x: float) -> str:
    """``x`` short (``28``, ``0.5``) when that reads back to the same float, else in full."""
    short = f"{x:g}"
    return short if float(short) == x else repr(x)


def _time(h: float) -> str:
    """A time for the notation: ``12 h`` or ``5 min`` when that reads back to exactly ``h`` hours,
    else the hours in full (``0.7000000000000001 h``)."""
    for text in (f"{h:g} h", f"{h * 60:g} min"):
        if units.parse(text, "time").value == h:
            return text
    return f"{h!r} h"

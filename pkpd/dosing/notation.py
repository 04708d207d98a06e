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

Grammar (tokens separated by spaces; case-insensitive)::

    regimen  := segment ("then" segment)*
    segment  := QUANTITY clause*
    clause   := ROUTE | "over" TIME | "for" TIME | "x" N "every" TIME     (sprays)
              | "every" TIME "x" N                                       (repeats)
              | "at" TIME                                                (start time)
              | "ss"                          (at steady state on this dose before the first one)
    ROUTE    := iv | po | oral | in | intranasal | sl | sublingual | buccal | im

A segment without a route takes the previous segment's (the first defaults to IV when it is an
infusion).  A segment after ``then`` starts when the previous one ends: after its last
administration's interval when repeated, after its infusion, else at the same time (a bolus
then an infusion); ``at TIME`` gives a segment an explicit start time instead.
"""
from __future__ import annotations

import re
from pkpd import units
from pkpd.dosing.regimen import Dose, Regimen
from pkpd.errors import PkpdError
from pkpd.models.routes import ROUTE_WORDS


KEYWORDS = {"over", "for", "every", "at", "then", "bolus", "infusion", "ss"}


_X = re.compile(r"^[x×](\d+)?$")


_NUM = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


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
        if unit is None or unit in KEYWORDS or unit in ROUTE_WORDS or _X.match(unit):
            raise self.error(f"expected a unit after {num}")
        return units.parse(f"{num} {unit}", kind, self.field, allow_per_kg=allow_per_kg)

    def count(self) -> int:
        n = self.take()
        if n is None or not n.isdigit() or int(n) < 1:
            raise self.error("expected a whole number ≥ 1 after 'x'")
        return int(n)


def parse_regimen(text: str, name: str | None = None, field: str | None = None) -> Regimen:
    """Parse compact notation into a :class:`Regimen`; errors name ``field`` and point at the token."""
    if not isinstance(text, str) or not text.strip():
        raise PkpdError("empty regimen text", field=field)
    if len(text) > 2000:
        raise PkpdError("regimen text longer than 2000 characters", field=field)
    st = _Stream(_tokens(text), text, field)
    doses: list[Dose] = []
    start = 0.0
    route = None
    while True:
        seg_start = start
        # the dose: an amount (mg, mg/kg) or a rate (mg/h, mg/kg/h)
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
        kw: dict = {kind: q}
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
            elif tok in ("over", "for"):
                kw["duration"] = st.quantity("time").value
                if kw["duration"] <= 0:
                    raise st.error("a duration must be > 0")
            elif tok == "x":
                n = st.count()
                if st.take() != "every":
                    raise st.error("'x N' must be followed by 'every TIME' (N sprays TIME apart)")
                kw["sprays"] = n
                kw["spray_interval"] = st.quantity("time").value
            elif tok == "every":
                kw["every"] = st.quantity("time").value
                if kw["every"] <= 0:
                    raise st.error("'every' needs a positive interval")
                if st.peek() != "x":
                    raise st.error("how many doses? write 'every TIME x N'")
                st.take()
                kw["times"] = st.count()
            elif tok == "at":
                at = st.quantity("time").value
            else:
                raise st.error(f"unexpected word {tok!r}")
        if seg_route is None:
            seg_route = route if route is not None else ("iv" if "duration" in kw or kind == "rate" else None)
        if seg_route is None:
            raise st.error("name the route (IV, PO, IN, SL or IM)")
        route = seg_route
        if kind == "rate" and "duration" not in kw:
            raise st.error("a rate needs 'for TIME'")
        try:
            d = Dose(route=route, start=seg_start if at is None else at, **kw)
        except PkpdError as e:
            raise PkpdError(f"{e.problem} in {text!r}", field=field) from None
        doses.append(d)
        # where the next segment starts
        if d.times > 1:
            start = d.start + d.times * d.every
        elif d.duration is not None:
            start = d.start + d.duration
        else:
            start = d.start
        if st.peek() == "then":
            st.take()
            if st.peek() is None:
                raise st.error("nothing after 'then'")
            continue
        break
    return Regimen(name or text.strip(), tuple(doses))


def format_regimen(reg: Regimen) -> str:
    """Compact notation for a regimen; :func:`parse_regimen` reads it back to the same doses."""
    code = {"iv": "IV", "oral": "PO", "intranasal": "IN", "sublingual": "SL", "im": "IM"}
    parts = []
    implied = 0.0
    for d in reg.doses:
        q = d.rate if d.rate is not None else d.amount
        unit = ("mg/kg/h" if q.per_kg else "mg/h") if d.rate is not None else ("mg/kg" if q.per_kg else "mg")
        s = f"{q.value!r} {unit} {code[d.route]}"
        if d.duration is not None:
            s += f" {'for' if d.rate is not None else 'over'} {d.duration!r} h"
        if d.sprays > 1:
            s += f" x{d.sprays} every {d.spray_interval!r} h"
        if d.times > 1:
            s += f" every {d.every!r} h x{d.times}"
        if d.steady_state:
            s += " SS"
        if abs(d.start - implied) > 1e-12:
            s += f" at {d.start!r} h"
        parts.append(s)
        implied = (d.start + d.times * d.every if d.times > 1 else
                   d.start + d.duration if d.duration is not None else d.start)
    return " then ".join(parts)

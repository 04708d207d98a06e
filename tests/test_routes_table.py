"""The route table (pkpd.models.routes): the derived lookups agree with it, every route round-trips
through the compact notation and NONMEM records, and Dose's route checks follow its flags."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pkpd import units
from pkpd.dosing.notation import format_regimen, parse_regimen
from pkpd.dosing.records import parse_events, records_csv, records_to_regimen, regimen_to_records
from pkpd.dosing.regimen import Dose, Regimen
from pkpd.errors import PkpdError
from pkpd.models.routes import (CMT_ROUTE, ROUTE_BY_KEY, ROUTE_CMT, ROUTE_TABLE, ROUTE_WORDS, ROUTES, Route, _check,
                                infusion_routes, or_list, spray_routes)
from pkpd.output.figures import ROUTE_COLORS

KEYS = [r.key for r in ROUTE_TABLE]


def test_derived_lookups_agree_with_the_table():
    assert list(ROUTES) == KEYS
    assert ROUTES == {r.key: r.name for r in ROUTE_TABLE}
    assert ROUTE_CMT == {r.key: r.cmt for r in ROUTE_TABLE}
    assert CMT_ROUTE == {r.cmt: r.key for r in ROUTE_TABLE}
    assert all(CMT_ROUTE[ROUTE_CMT[k]] == k for k in KEYS)
    assert ROUTE_WORDS == {w: r.key for r in ROUTE_TABLE for w in r.words}
    assert ROUTE_BY_KEY == {r.key: r for r in ROUTE_TABLE}
    assert ROUTE_COLORS == {r.key: r.color for r in ROUTE_TABLE}
    for r in ROUTE_TABLE:
        assert ROUTE_WORDS[r.key] == r.key and ROUTE_WORDS[r.code.lower()] == r.key


def test_table_rows_are_unique_and_readable():
    for attr in ("key", "cmt", "code", "color"):
        assert len({getattr(r, attr) for r in ROUTE_TABLE}) == len(ROUTE_TABLE), attr
    assert infusion_routes() and spray_routes()
    new = Route("sc", "subcutaneous", 6, "SC", ("sc", "subcutaneous"))
    _check(ROUTE_TABLE + (new,))  # one more row is all a new route needs
    for bad in (Route("sc", "x", 1, "SC", ("sc",)),                 # CMT taken
                Route("sc", "x", 6, "SC", ("sc", "iv")),            # word taken
                Route("sc", "x", 6, "SQ", ("sc",)),                 # code not among its words
                Route("iv", "x", 6, "SC", ("sc", "iv"))):           # key taken
        with pytest.raises(ValueError):
            _check(ROUTE_TABLE + (bad,))


def test_messages_name_the_table_routes():
    """The messages built from the table read as they did when the routes were written out."""
    with pytest.raises(PkpdError, match=r"name the route \(IV, PO, IN, SL or IM\)"):
        parse_regimen("28 mg")
    with pytest.raises(PkpdError, match=r"needs a CMT column \(1 IV, 2 oral, 3 intranasal, 4 sublingual, 5 IM\)"):
        parse_events("ID,TIME,AMT\n1,0,10\n")
    with pytest.raises(PkpdError, match=r"CMT must be 1 \(IV\), 2 \(oral\), 3 \(intranasal\), 4 \(sublingual\) or "
                                        r"5 \(IM\), got 9"):
        parse_events("ID,TIME,AMT,CMT\n1,0,10,9\n")
    with pytest.raises(PkpdError, match=r"RATE > 0 \(zero-order input\) is supported for IV records only"):
        parse_events("ID,TIME,AMT,CMT,RATE\n1,0,10,2,5\n")
    assert or_list(["a"]) == "a" and or_list(["a", "b", "c"]) == "a, b or c"


_num = lambda lo, hi: st.floats(lo, hi, allow_nan=False).map(lambda x: round(x, 4)).filter(lambda x: x >= lo)


@st.composite
def doses(draw, route: Route, records: bool = False):
    """A dose any ``route`` takes; with ``records``, one NONMEM records can carry back
    (steady state at TIME 0 and without sprays)."""
    per_kg = draw(st.booleans())
    kind = draw(st.sampled_from(["amount", "rate"] if route.infusion else ["amount"]))
    unit = {"amount": "mg/kg" if per_kg else "mg", "rate": "mg/kg/h" if per_kg else "mg/h"}[kind]
    # per kg at most 100 (mg/kg, mg/kg/h): above that is outside the sanity ranges (issue 18)
    kw = {kind: units.parse(f"{draw(_num(0.001, 100 if per_kg else 500))!r} {unit}", kind, allow_per_kg=True)}
    if kind == "rate" or (route.infusion and draw(st.booleans())):
        kw["duration"] = draw(_num(0.01, 24))
    if route.sprays and draw(st.booleans()):
        kw["sprays"] = draw(st.integers(2, 4))
        kw["spray_interval"] = draw(_num(0, 0.5))
    if draw(st.booleans()):
        kw["times"] = draw(st.integers(2, 10))
        kw["every"] = draw(_num(max(0.05, kw.get("duration", 0.0)), 48))
        kw["steady_state"] = draw(st.booleans()) and not (records and kw.get("sprays", 1) > 1)
    kw["start"] = 0.0 if records and kw.get("steady_state") else draw(_num(0, 100))
    return Dose(route.key, **kw)


@pytest.mark.parametrize("key", KEYS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_route_round_trips_through_notation(key, data):
    d = data.draw(doses(ROUTE_BY_KEY[key]))
    text = format_regimen(Regimen("r", (d,)))
    assert ROUTE_BY_KEY[key].code in text.split()
    assert parse_regimen(text).doses == (d,)
    # after another route's dose, with or without an explicit start
    other = data.draw(doses(ROUTE_BY_KEY[data.draw(st.sampled_from(KEYS))]))
    reg = Regimen("r", (other, d))
    assert parse_regimen(format_regimen(reg)).doses == reg.doses


def _same_given(a: Dose, b: Dose, weight: float):
    """``b`` (read from records, mg) gives what ``a`` gives to a subject of ``weight`` kg."""
    assert (b.route, b.start, b.times, b.sprays, b.steady_state) == (a.route, a.start, a.times, a.sprays,
                                                                       a.steady_state)
    assert b.spray_interval == pytest.approx(a.spray_interval, abs=1e-12)  # a difference of record times
    assert b.every == (a.every if a.times > 1 or a.steady_state else None)
    assert (b.duration is None) == (a.duration is None)
    if a.duration is not None:
        assert b.duration == pytest.approx(a.duration, rel=1e-12)
    w = np.array([weight])
    assert b.amount_per_administration(w)[0] == pytest.approx(a.amount_per_administration(w)[0], rel=1e-12)


@pytest.mark.parametrize("key", KEYS)
@settings(max_examples=60, deadline=None)
@given(data=st.data(), weight=_num(20, 150))
def test_every_route_round_trips_through_records(key, data, weight):
    d = data.draw(doses(ROUTE_BY_KEY[key], records=True))
    rows = regimen_to_records(Regimen("r", (d,)), weight=weight)
    assert {r["CMT"] for r in rows} == {ROUTE_BY_KEY[key].cmt}
    assert len(rows) == d.sprays
    back = records_to_regimen(rows)
    assert len(back.doses) == 1
    _same_given(d, back.doses[0], weight)
    ev = parse_events(records_csv(rows))
    assert len(ev.regimens[1].doses) == 1
    _same_given(d, ev.regimens[1].doses[0], weight)


@pytest.mark.parametrize("key", KEYS)
def test_route_column_words_give_the_routes_cmt(key):
    r = ROUTE_BY_KEY[key]
    for w in r.words:
        ev = parse_events(f"ID,TIME,AMT,ROUTE,CMT\n1,0,10,{w.upper()},.\n")
        assert ev.rows[0]["CMT"] == r.cmt
        assert ev.regimens[1].doses[0].route == key


_MG = units.parse("10 mg", "amount")


@pytest.mark.parametrize("key", KEYS)
@settings(max_examples=20, deadline=None)
@given(duration=_num(0.01, 24), sprays=st.integers(2, 6))
def test_dose_checks_follow_the_table_flags(key, duration, sprays):
    row = ROUTE_BY_KEY[key]
    infusion_keys = or_list(r.key for r in infusion_routes())
    if row.infusion:
        assert Dose(key, amount=_MG, duration=duration).duration == duration
        assert Dose(key, rate=units.parse("5 mg/h", "rate"), duration=duration).rate.value == 5.0
    else:
        for kw in ({"amount": _MG}, {"rate": units.parse("5 mg/h", "rate")}):
            with pytest.raises(PkpdError) as e:
                Dose(key, duration=duration, **kw)
            assert e.value.problem == f"'duration' (an infusion) is for the {infusion_keys} route, not {key!r}"
    if row.sprays:
        assert Dose(key, amount=_MG, sprays=sprays, spray_interval=0.1).sprays == sprays
    else:
        with pytest.raises(PkpdError) as e:
            Dose(key, amount=_MG, sprays=sprays)
        assert e.value.problem == f"'sprays' is for the {or_list(r.key for r in spray_routes())} route"
    assert Dose(key, amount=_MG, sprays=1).sprays == 1

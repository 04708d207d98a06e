"""Fuzzing the loaders: hypothesis-generated documents (valid structure with bad values, wrong types,
missing keys, huge numbers, NaN, unicode, deeply nested junk).  Every case must end in a
PkpdError with a message — never another exception."""
import copy
import tomllib

import numpy as np

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pkpd.errors import PkpdError
from pkpd.dosing.records import parse_events
from pkpd.models.pk import parse_model
from pkpd.dosing.notation import parse_regimen
from pkpd.models.pd import parse_pd_model
from pkpd.scenario.load import parse_scenario

pytestmark = pytest.mark.slow

from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parents[2]
SCENARIO = tomllib.loads((HERE / "scenarios" / "routes.toml").read_text())
MODEL = tomllib.loads((HERE / "models" / "perez_ruixo_2021.toml").read_text())
PD = tomllib.loads((HERE / "models" / "pd" / "olofsen_2022.toml").read_text())

junk_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["nan mg", "inf h", "1e308 mg", "-0 mg", "28 mg/kg/h", "0.5 mg/kg", "40 min", "1/0",
                     "__import__('os')", "🙂", "mg", "", " ", "1 mg\n2 mg", "10**1000", "exp(1e308)"]))
junk = st.recursive(junk_scalar, lambda c: st.one_of(st.lists(c, max_size=4),
                                                      st.dictionaries(st.text(max_size=8), c, max_size=4)),
                    max_leaves=25)


def paths(doc, prefix=()):
    """Every (path) to a value in a nested dict/list document."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, prefix + (i,))
    return out


def mutate(doc, data):
    doc = copy.deepcopy(doc)
    ps = [p for p in paths(doc) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        p = data.draw(st.sampled_from(ps))
        parent = doc
        try:
            for k in p[:-1]:
                parent = parent[k]
            if isinstance(parent, dict) != isinstance(p[-1], str):
                continue  # an earlier mutation changed the shape: TOML tables only have text keys
            action = data.draw(st.sampled_from(["replace", "delete", "wrap"]))
            if action == "delete" and isinstance(parent, dict):
                del parent[p[-1]]
            elif action == "wrap":
                parent[p[-1]] = {"x": [parent[p[-1]], {"y": parent[p[-1]]}]}
            else:
                parent[p[-1]] = data.draw(junk)
        except (KeyError, IndexError, TypeError):
            pass
    return doc


def only_pkpd_errors(fn, *a, **k):
    try:
        fn(*a, **k)
    except PkpdError as e:
        assert e.message and isinstance(e.message, str)
    # any other exception propagates and fails the test


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.data())
def test_fuzz_scenario(data):
    """Bad documents fail with PkpdError; documents that pass the checks also simulate cleanly."""
    from pkpd.workflows.run import run_scenario
    try:
        sc = parse_scenario(mutate(SCENARIO, data), "", "fuzz.toml")
    except PkpdError as e:
        assert e.message
        return
    try:
        ds = run_scenario(sc)
    except PkpdError as e:
        assert e.message
        return
    c = ds.ketamine_plasma.values
    assert not (c[~np.isnan(c)] < -1e-9 * max(1.0, float(np.nanmax(c)))).any()


@SETTINGS
@given(st.data())
def test_fuzz_pk_model(data):
    only_pkpd_errors(parse_model, mutate(MODEL, data), "", "fuzz_model.toml")


@SETTINGS
@given(st.data())
def test_fuzz_pd_model(data):
    only_pkpd_errors(parse_pd_model, mutate(PD, data), "", "fuzz_pd.toml")


@SETTINGS
@given(junk)
def test_fuzz_whole_documents(doc):
    for fn in (parse_scenario, parse_model, parse_pd_model):
        only_pkpd_errors(fn, doc if isinstance(doc, dict) else {"x": doc}, "", "junk.toml")


COLS = ["ID", "TIME", "AMT", "RATE", "CMT", "EVID", "II", "ADDL", "SS", "SPRAY", "WT", "SEX"]
cell = st.one_of(st.sampled_from([".", "", "0", "1", "2", "3", "-1", "nan", "inf", "1e400", "28", "0.0833", "M", "F",
                                  "x", "🙂", "1,2", '"', "\n"]), st.floats(allow_nan=True).map(repr),
                 st.integers(-5, 10).map(str))


@SETTINGS
@given(st.lists(st.sampled_from(COLS), min_size=1, max_size=12, unique=True),
       st.lists(st.lists(cell, min_size=0, max_size=13), max_size=12))
def test_fuzz_event_records(cols, rows):
    text = ",".join(cols) + "\n" + "\n".join(",".join(r) for r in rows)
    only_pkpd_errors(parse_events, text, "fuzz.csv")


@SETTINGS
@given(st.lists(st.one_of(st.sampled_from(["28", "mg", "0.5", "mg/kg", "IV", "PO", "IN", "x2", "x", "every", "5",
                                           "min", "h", "then", "over", "for", "at", "SS", "mg/h", "-1", "nan",
                                           "1e999", "2"]), st.text(max_size=5)), max_size=14))
def test_fuzz_notation(tokens):
    only_pkpd_errors(parse_regimen, " ".join(tokens), None, "regimens[0].text")

"""Fuzzed scenario tables the loader fuzzer did not reach: ``[population]`` (distributions as lists or
tables: the ``TypeError: unhashable type`` of issue 18), ``[tradeoff]``, ``[sweep]``, ``[solver]``
and ``[output]``.  Only PkpdError may come out (hypothesis, derandomized in CI)."""
from __future__ import annotations

import copy
import tomllib

import pytest
from hypothesis import given, settings, strategies as st

from attack_kit import ROOT
from pkpd.errors import PkpdError
from pkpd.scenario.load import parse_scenario

pytestmark = pytest.mark.attack

DOCS = {name: tomllib.loads((ROOT / "scenarios" / f"{name}.toml").read_text(encoding="utf-8"))
        for name in ("population", "tradeoff", "sweep")}
DOCS["population"]["solver"] = {"method": "dopri", "rtol": 1e-8, "atol": 1e-12, "max_steps": 10_000}
DOCS["population"]["output"] = {"directory": "x", "formats": ["csv"], "log_scale": False}

junk = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10 ** 20, 10 ** 20), st.floats(allow_nan=True),
              st.text(max_size=12), st.sampled_from(["normal", "uniform", "lognormal", "0 kg", "-1 kg", "1e308 kg",
                                                     "nan year", "../x", "\x00", "70 kg"])),
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=6), c, max_size=3)),
    max_leaves=12)


def _paths(doc, prefix=()):
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, prefix + (i,))
    return out


TABLES = ("population", "tradeoff", "sweep", "solver", "output")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(DOCS)), st.data())
def test_fuzzed_tables_end_in_pkpd_errors(name, data):
    doc = copy.deepcopy(DOCS[name])
    paths = [p for p in _paths(doc) if p and p[0] in TABLES]
    for _ in range(data.draw(st.integers(1, 3))):
        p = data.draw(st.sampled_from(paths))
        parent = doc
        try:
            for k in p[:-1]:
                parent = parent[k]
            parent[p[-1]] = data.draw(junk)
        except (KeyError, IndexError, TypeError):
            pass
    try:
        parse_scenario(doc, "", str(ROOT / "scenarios" / f"{name}.toml"))
    except PkpdError as e:
        assert e.message

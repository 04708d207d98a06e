"""docs/scenario_reference.md lists exactly the keys the scenario parser accepts (issue 17): one
section per table with the table's ``KEYS``, sub-tables with theirs, every route, and nothing the
parser would reject."""
import re
import tomllib
from pathlib import Path

import pytest

from pkpd.scenario.schedules import CLINICAL_KEYS
from pkpd.analysis.dosefinding import SWEEPABLE
from pkpd.models.routes import ROUTE_TABLE
from pkpd.scenario import (doses, output_table, pairing_table, population_table, regimens_table,
                           scenario_table, solver_table, subject_table, sweep_table, time_table, tradeoff_table)
from pkpd.scenario.load import SECTIONS, parse_scenario

DOC = Path(__file__).resolve().parent.parent / "docs" / "scenario_reference.md"

#: heading in the reference → the keys its parser accepts
EXPECTED = {
    "[scenario]": scenario_table.KEYS,
    "[subject]": subject_table.KEYS,
    "[time]": time_table.KEYS,
    "[[regimens]]": regimens_table.KEYS,
    "[[regimens]] dose tables": doses.DOSE_KEYS,
    "[population]": population_table.KEYS,
    "[population] distribution tables": {"dist"} | set().union(*population_table.DISTRIBUTIONS.values()),
    "[tradeoff]": tradeoff_table.KEYS,
    "[tradeoff] products": tradeoff_table.PRODUCT_KEYS,
    "[tradeoff] clinical": CLINICAL_KEYS,
    "[tradeoff] sweep": set(SWEEPABLE),
    "[sweep]": sweep_table.KEYS,
    "[sweep.parameters] entries": sweep_table.PARAMETER_KEYS,
    "[solver]": solver_table.KEYS,
    "[pairing]": pairing_table.KEYS,
    "[output]": output_table.KEYS,
}


def _sections() -> dict[str, dict[str, list[str]]]:
    """heading → key → row cells, from the markdown tables under each ``##``/``###`` heading."""
    out: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"#{2,3} `(\[[^`]+\])`(.*)$", line)
        if m:
            current = (m.group(1) + m.group(2)).strip()
            out[current] = {}
            continue
        if line.startswith("#"):
            current = None  # a heading that is not a table's (Routes, the command line)
        m = re.match(r"\| `([^`]+)` \|(.*)\|$", line)
        if current is not None and m:
            out[current][m.group(1)] = [c.strip() for c in m.group(2).split("|")]
    return out


def test_every_table_lists_exactly_its_parsers_keys():
    sections = _sections()
    assert set(EXPECTED) <= set(sections), set(EXPECTED) - set(sections)
    for heading, keys in EXPECTED.items():
        listed = {k for k in sections[heading] if not k.startswith("<")}
        assert listed == set(keys), (heading, listed ^ set(keys))
        for k, cells in sections[heading].items():
            assert len(cells) == 4 and all(cells), (heading, k, cells)  # type, unit, default, meaning


def test_every_section_of_a_scenario_file_has_a_heading():
    top = {h[1:-1].strip("[]") for h in _sections() if " " not in h}
    assert top >= set(SECTIONS) - {"regimens"} and "[[regimens]]" in _sections()


def test_every_route_is_documented():
    text = DOC.read_text(encoding="utf-8")
    routes = re.findall(r"^\| `(\w+)` \| [^|]+ \| (\d) \|", text, flags=re.M)
    assert {(r.key, str(r.cmt)) for r in ROUTE_TABLE} == set(routes)


def test_the_documented_keys_are_accepted_and_a_misspelt_one_is_not(tmp_path):
    """A scenario using a key of every optional table parses; the same with one key misspelt is
    an error naming it (so a listed key is not merely a name in a set)."""
    text = """
[scenario]
title = "t"
description = "d"
models = ["perez_ruixo_2021"]
pd = ["olofsen_2022"]
[subject]
weight = "70 kg"
age = "40 year"
sex = "female"
[time]
horizon = "2 h"
step = "10 min"
[[regimens]]
name = "a"
doses = [{ route = "iv", amount = "10 mg", duration = "10 min", start = "0 h", every = "1 h", times = 2 }]
[[regimens]]
text = "28 mg IN x2 every 5 min"
[population]
n = 20
seed = 1
mode = "streaming"
precision = "float32"
chunk = 256
iiv = true
uncertainty = 0
female = 0.5
weight = { dist = "lognormal", median = "70 kg", cv = 0.2, min = "40 kg", max = "150 kg" }
age = { dist = "uniform", low = "20 year", high = "60 year" }
thresholds = { ketamine_plasma = "100 ng/mL" }
[tradeoff]
analgesia_level = 0.3
analgesia_duration = "20 min"
psychotomimetic_level = 0.5
cap = 0.1
dose_bounds = [0.1, 5]
n = 20
sweep = { dose = [0.5, 1] }
[sweep]
design = "grid"
points = 2
seed = 0
n = 20
sensitivity = "p_success"
batch = 1
[sweep.parameters]
dose = { values = [0.5, 1.0] }
[solver]
method = "auto"
rtol = 1e-6
atol = 1e-12
[pairing]
accept = ["perez_ruixo_2021/olofsen_2022"]
[output]
directory = "x"
formats = ["csv"]
log_scale = true
"""
    sc = parse_scenario(tomllib.loads(text), text, str(tmp_path / "s.toml"))
    assert sc.population.population.n == 20 and sc.warnings == ()
    for good, bad in (("log_scale = true", "logscale = true"), ("cap = 0.1", "capp = 0.1"),
                      ("batch = 1", "batches = 1"), ('sex = "female"', 'gender = "female"')):
        broken = text.replace(good, bad)
        with pytest.raises(Exception) as e:
            parse_scenario(tomllib.loads(broken), broken, str(tmp_path / "s.toml"))
        assert bad.split(" ")[0] in str(e.value)

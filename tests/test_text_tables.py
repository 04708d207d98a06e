"""Terminal tables within 100 columns, and tidy population CSVs whose numbers are the statistics
of the per-subject metrics (issue 17)."""
import csv
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pkpd
from pkpd.output.population_tables import population_csv_rows, population_rows, population_table
from pkpd.output.text_table import render, render_grouped

words = st.text(alphabet="abcdefghij()/·–%", min_size=1, max_size=12)
cell_text = st.lists(words, min_size=1, max_size=4).map(" ".join)
numbers = st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: f"{v:.3g}")


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(
    st.lists(cell_text, min_size=n, max_size=n),
    st.lists(st.tuples(cell_text, st.lists(numbers, min_size=n - 1, max_size=n - 1)), min_size=0, max_size=5))))
def test_render_fits_the_width_and_keeps_every_cell(table):
    """Any table whose words are shorter than the limit fits in 100 columns, and every cell (and
    every header word) is in the output."""
    header, body = table
    rows = [[k] + v for k, v in body]
    text = render(header, rows, numeric_from=1)
    assert max(len(line) for line in text.splitlines()) <= 100
    flat = " ".join(text.split())
    for r in rows:
        for c in r:
            assert all(w in flat for w in c.split())
    for h in header:
        assert all(w in flat for w in h.split())


def test_render_layout_by_hand():
    text = render(["regimen", "ketamine Cmax (ng/mL)"], [["IV", "12.5"], ["Oral 1 mg/kg", "3.0"]], 1)
    assert text.splitlines() == [
        "              ketamine",
        "                  Cmax",
        "regimen        (ng/mL)",
        "────────────  ────────",
        "IV                12.5",
        "Oral 1 mg/kg       3.0",
    ]


def test_wide_table_is_split_repeating_the_key_column():
    header = ["regimen"] + [f"column number {i} (ng/mL)" for i in range(12)]
    rows = [["a regimen", *[f"{i}.000000" for i in range(12)]]]
    text = render(header, rows, 1)
    parts = text.split("\n\n")
    assert len(parts) > 1 and all(p.splitlines()[-1].startswith("a regimen") for p in parts)
    assert max(len(x) for x in text.splitlines()) <= 100


def test_grouped_tables_are_titled_by_their_key():
    text = render_grouped(["PD", "model", "regimen", "P"], [["a", "m", "r1", "1%"], ["b", "m", "r1", "2%"]], 2, 3)
    assert text.startswith("a on m\n") and "\n\nb on m\n" in text


@pytest.fixture(scope="module")
def pop_with_a_missing_route():
    """Two models, one without an intranasal route, 300 subjects, a threshold."""
    models = [pkpd.load_model("perez_ruixo_2021"), pkpd.load_model("fanta_otto_2021")]
    regs = [pkpd.parse_regimen("20 mg IV over 20 min"), pkpd.parse_regimen("56 mg IN")]
    return pkpd.simulate_population(models, regs, pkpd.Population(n=300, seed=5), horizon=6, step=5 / 60,
                                    thresholds={"ketamine_plasma": 50.0})


def test_population_csv_holds_the_statistics_as_numbers(pop_with_a_missing_route):
    """Median and 5th/95th percentiles of each metric are numpy's percentiles of the per-subject
    values; the share above the threshold is the mean of (time above > 0); a regimen a model
    cannot give has empty cells, not text."""
    ds = pop_with_a_missing_route
    header, rows = population_csv_rows(ds)
    text = io.StringIO()
    csv.writer(text).writerows([header] + rows)
    got = list(csv.DictReader(io.StringIO(text.getvalue())))
    x = ds.ketamine_plasma_cmax.values[0, 0]
    r = got[0]
    assert (r["model"], r["regimen"]) == ("perez_ruixo_2021", "20 mg IV over 20 min")
    for col, q in (("median", 50), ("p5", 5), ("p95", 95)):
        assert float(r[f"ketamine_plasma_cmax_{col}"]) == pytest.approx(np.percentile(x, q), rel=1e-5)
    above = ds.ketamine_plasma_time_above.values[0, 0]
    assert float(r["ketamine_plasma_p_above"]) == pytest.approx(np.mean(above > 0), rel=1e-9)
    assert float(r["ketamine_plasma_threshold"]) == 50.0
    missing = next(g for g in got if g["model"] == "fanta_otto_2021" and g["regimen"] == "56 mg IN")
    assert missing["ketamine_plasma_cmax_median"] == ""
    for g in got:
        for k, v in g.items():
            if k not in ("model", "regimen", "route") and v:
                float(v)


def test_population_terminal_table_leaves_out_what_was_not_simulated(pop_with_a_missing_route, recwarn):
    text = population_table(pop_with_a_missing_route)
    assert max(len(line) for line in text.splitlines()) <= 100
    fanta = text.split("fanta_otto_2021\n", 1)[1]
    assert "56 mg IN" not in fanta and "20 mg IV over 20 min" in fanta
    header, rows = population_rows(pop_with_a_missing_route)
    assert "ketamine peak (ng/mL)" in header and "% of subjects with ketamine > 50 ng/mL" in header
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_model_listings_fit_100_columns(capsys):
    from pkpd.cli.main import main
    assert main(["models"]) == 0
    for name in pkpd.available_models():
        try:
            pkpd.load_model(name)
        except pkpd.PkpdError:
            continue  # not a model file (the library folder also holds e.g. endpoints.toml)
        assert main(["models", "show", name]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100

"""``docs/reliability.md`` lists every limit with its default and knob, and every sanity range: the
table is checked against :mod:`pkpd.limits`, so a changed default cannot go unrecorded."""
from __future__ import annotations

import pytest

from attack_kit import ROOT
from pkpd.limits import LIMITS, RANGES, describe

pytestmark = pytest.mark.attack


def test_every_limit_and_range_is_documented_with_its_default():
    doc = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`"): line for line in doc.splitlines() if line.startswith("| `")}
    for name, lim in LIMITS.items():
        assert name in rows, f"limit {name} missing from docs/reliability.md"
        assert describe(name, lim.default) in rows[name] and f"`{lim.env}`" in rows[name], rows[name]
    for name, r in RANGES.items():
        assert name in rows, f"range {name} missing from docs/reliability.md"
        assert f"{r.high:g}" in rows[name].replace(",", ""), rows[name]

"""The Cochrane review's numbers travel with every result (shared/literature/ketamine_pd.md §4.3:
Ferraro et al. 2025, CD015373 — 67 RCTs, N = 2309; IV adverse events RR 3.26, 1.05–10.09, low
certainty; pain MD −15.79, −32.09 to 0.51, very low certainty)."""
from pathlib import Path

from pkpd.cli.main import main
from pkpd.output.evidence import evidence_html, evidence_text

ROOT = Path(__file__).resolve().parent.parent
NUMBERS = ("67 randomised trials", "N = 2309", "RR 3.26", "1.05–10.09", "MD −15.79", "−32.09 to 0.51")


def test_terminal_statement_has_the_numbers_and_fits_100_columns():
    text = evidence_text(100)
    flat = " ".join(text.split())
    for n in NUMBERS:
        assert n in flat, n
    assert "low certainty" in flat and "very low certainty" in flat
    assert max(len(line) for line in text.splitlines()) <= 100


def test_report_banner_and_run_output_carry_the_review(tmp_path, capsys):
    assert all(n in evidence_html() for n in NUMBERS)
    assert main(["run", str(ROOT / "scenarios" / "routes.toml"), "-o", str(tmp_path), "--no-figures"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "RR 3.26 (95 % CI 1.05–10.09), low certainty" in out
    report = (tmp_path / "routes_report.html").read_text()
    assert "RR 3.26 (95 % CI 1.05–10.09)" in report and "CD015373" in report

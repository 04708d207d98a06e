"""What the clinical evidence says, stated once, shown with every result.

The numbers are those of the Cochrane review that motivates the project, as read in
``shared/literature/ketamine_pd.md`` §4.3 (Ferraro et al. 2025, CD015373): the simulator's answers
are explorations under low-certainty evidence, and every output says so with the review's numbers.
"""
from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One result of the review: outcome, estimate with its 95 % CI, and the GRADE certainty."""

    outcome: str
    estimate: str
    certainty: str


#: The review: citation, scope and findings (no proof of benefit; more adverse events with IV use).
CITATION = ("Ferraro MC et al. Ketamine and other NMDA receptor antagonists for chronic pain. "
            "Cochrane Database Syst Rev 2025, CD015373")
SCOPE = "67 randomised trials, N = 2309 adults with chronic non-cancer pain"
FINDINGS = (
    Finding("pain intensity, IV ketamine vs placebo, immediate term (0–100)",
            "MD −15.79 (95 % CI −32.09 to 0.51)", "very low"),
    Finding("any adverse event, IV ketamine vs placebo", "RR 3.26 (95 % CI 1.05–10.09)", "low"),
)
CONCLUSION = ("no clear evidence of a clinically meaningful pain reduction at any time point; more "
              "adverse events with intravenous use")


def evidence_text(width: int = 100) -> str:
    """The evidence statement for a terminal, wrapped to ``width`` columns."""
    lines = [f"Evidence (Cochrane 2025, {SCOPE}): {CONCLUSION}."]
    lines += [f"  {f.outcome}: {f.estimate}, {f.certainty} certainty." for f in FINDINGS]
    lines.append("These are model predictions built on published parameters of varying quality, not dosing "
                 "advice; where models disagree, the disagreement is the finding.")
    return "\n".join(textwrap.fill(s, width, subsequent_indent="    ") for s in lines)


def evidence_html() -> str:
    """The same statement as an HTML banner (the report's ``.banner`` style)."""
    items = "".join(f"<li>{html.escape(f.outcome)}: <strong>{html.escape(f.estimate)}</strong>, "
                    f"{html.escape(f.certainty)} certainty</li>" for f in FINDINGS)
    return ("<div class='banner'><strong>Read with care.</strong> The evidence for ketamine in chronic pain is "
            f"of low certainty — {html.escape(CITATION)} ({html.escape(SCOPE)}): {html.escape(CONCLUSION)}."
            f"<ul style='margin:.4em 0'>{items}</ul>These are model predictions built on published parameters "
            "of varying quality, not dosing advice; where models disagree, the disagreement is the finding.</div>")

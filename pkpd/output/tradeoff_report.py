"""The ``pkpd tradeoff`` report: one self-contained HTML file with the evidence banner, the
definitions (and what they fix by construction), the frontier figure and table, how well the
model predicted published trials (the validation figure and coverage), and the models."""
from __future__ import annotations

import base64
import html
from datetime import datetime, timezone

from pkpd.output.evidence import evidence_html
from pkpd.output.report import _CSS, _models_section, _table
from pkpd.version import __version__


def _img(png: bytes, caption: str) -> str:
    b64 = base64.b64encode(png).decode("ascii")
    return (f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{b64}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def tradeoff_report(scenario, definitions: str, notes: list[str], frontier: tuple, frontier_png: bytes,
                    validation: tuple | None = None, dose_response_png: bytes | None = None,
                    clinical_png: bytes | None = None) -> str:
    """HTML text.  ``frontier`` is (header, rows); ``validation`` is (png, coverage lines) or None."""
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{html.escape(scenario.title)} — trade-off</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(scenario.title)}: analgesia against psychotomimetic exposure</h1>",
             f"<p class='meta'>pkpd {__version__} · {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · scenario "
             f"{html.escape(str(scenario.path))}</p>", evidence_html(),
             f"<p><strong>Definitions.</strong> {html.escape(definitions)}.</p>"]
    parts += [f"<div class='warn'>⚠ {html.escape(n)}</div>" for n in notes]
    parts.append("<h2>Frontier</h2>" + _img(frontier_png, "Share of subjects with adequate analgesia against the "
                                                          "share with an unacceptable psychotomimetic effect; "
                                                          "dashed lines: cap and analgesia target"))
    parts.append("<p class='meta'>frontier points (every point is in the CSV)</p>" + _table(*frontier, numeric_from=4))
    if clinical_png is not None:
        parts.append("<h2>Clinical endpoints</h2><p>The same sweep through the calibrated clinical endpoints "
                     "(<code>pkpd validate</code>): patients with a dissociation adverse event at least once over the "
                     "treatment course (with the tolerance model) against analgesia responders per session, read at "
                     "the endpoint's assessment time after the dose, as <code>pkpd validate</code> calibrated it (see "
                     "Definitions). The readout-level frontier above counts volunteer readouts crossing "
                     "chosen levels; these count what a trial would report.</p>"
                     + _img(clinical_png, "Clinical frontier: P(analgesia responder) against P(dissociation AE over "
                                          "the course); bars: Monte Carlo 95 %; the table and CSV give the parameter-"
                                          "uncertainty intervals"))
    if dose_response_png is not None:
        parts.append("<h2>Probability against dose</h2>" + _img(
            dose_response_png, "Solid: adequate analgesia; dashed: unacceptable psychotomimetic effect; shaded: "
                               "parameter uncertainty (5–95 % across replicates); bars: Monte Carlo error"))
    if validation is not None:
        png, lines = validation
        parts.append("<h2>How well do these models predict trials?</h2>"
                     "<p>Predicted against observed event rates (adverse events and analgesia responders) of published trials (<code>pkpd validate</code>); "
                     "thresholds are calibrated to the calibration rows only, the held-out rows are never fitted "
                     "to.</p><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>"
                     + _img(png, "Predicted vs observed incidence (calibration grey, held-out red)"))
    parts.append("<h2>Models</h2>" + _models_section(scenario.models, scenario.pd))
    parts.append(f"<h2>Scenario file</h2><pre>{html.escape(scenario.source_text)}</pre></body></html>")
    return "\n".join(parts)

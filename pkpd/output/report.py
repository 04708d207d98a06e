"""One self-contained HTML report per run: tables, figures (embedded PNG), the models with their
citations, every assumed parameter flagged, the warnings and the scenario text."""
from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pkpd.version import __version__
from pkpd.output.evidence import evidence_html


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1180px;margin:2em auto;
padding:0 1.2em;color:#1f2d3a;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;border-bottom:2px solid #e3e8ee;padding-bottom:.2em;
margin-top:2em}.meta{color:#5b6b7a;font-size:.9em}
.banner{background:#fff4e5;border-left:5px solid #e67e22;padding:.7em 1em;margin:1em 0}
.warn{background:#fdecea;border-left:5px solid #c0392b;padding:.5em 1em;margin:.4em 0;font-size:.92em}
table{border-collapse:collapse;font-size:.86em;margin:.6em 0;width:100%}
th,td{border:1px solid #dde3ea;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f6f9}td.num{text-align:right;font-variant-numeric:tabular-nums}
.assume{background:#fff8db}figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #e3e8ee}
figcaption{color:#5b6b7a;font-size:.88em}pre{background:#f6f8fa;padding:1em;overflow-x:auto;font-size:.82em}
"""


def _table(header, rows, numeric_from=None) -> str:
    h = "".join(f"<th>{html.escape(str(c))}</th>" for c in header)
    body = []
    for r in rows:
        cells = "".join(
            f"<td class='num'>{html.escape(str(c))}</td>" if numeric_from is not None and i >= numeric_from
            else f"<td>{html.escape(str(c))}</td>" for i, c in enumerate(r))
        body.append(f"<tr>{cells}</tr>")
    return (f"<div style='overflow-x:auto'><table><thead><tr>{h}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _models_section(models, pds) -> str:
    rows, assumed = [], []
    for m in list(models) + list(pds):
        kind = "PD" if hasattr(m, "readouts") else "PK"
        doi = m.meta.get("doi", "")
        rows.append([m.name, kind, m.drug, m.meta.get("sampling", ""), m.meta.get("citation", "")
                     + (f" doi:{doi}" if doi else "")])
        for p in m.parameters.values():
            if p.is_assumption:
                rng = f"{p.suggested_range[0]:g}–{p.suggested_range[1]:g}" if p.suggested_range else ""
                assumed.append([m.name, p.name, f"{p.written:g} {p.unit}", rng, p.note])
    out = _table(["model", "kind", "drug", "sampling", "citation"], rows)
    if assumed:
        out += "<p><strong>Assumed parameters</strong> — not published; vary them before trusting a result:</p>"
        out += _table(["model", "parameter", "value", "try", "why"], assumed).replace("<tr><td>", "<tr class='assume'><td>")
    return out


def build_report(scenario, typical_table, population_table=None, tradeoff_table=None,
                 figures=(), tradeoff_definitions: str = "") -> str:
    """HTML text.  Tables are (header, rows); figures are (caption, png bytes)."""
    warns = list(scenario.warnings)
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{html.escape(scenario.title)} — pkpd report</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(scenario.title)}</h1>",
             f"<p class='meta'>pkpd {__version__} · {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · scenario "
             f"{html.escape(str(scenario.path))}</p>",
             evidence_html()]
    if scenario.description:
        parts.append(f"<p>{html.escape(scenario.description)}</p>")
    for w in warns:
        parts.append(f"<div class='warn'>⚠ {html.escape(w)}</div>")
    for n in scenario.notes:
        parts.append(f"<p class='meta'>Note: {html.escape(n)}</p>")
    parts.append("<h2>Typical subject</h2>" + _table(*typical_table, numeric_from=4))
    if population_table is not None:
        parts.append("<h2>Population</h2><p class='meta'>median [5th–95th percentile] across simulated subjects</p>"
                     + _table(*population_table, numeric_from=2))
    if tradeoff_table is not None:
        parts.append("<h2>Analgesia vs psychotomimetic effect</h2>"
                     f"<p class='meta'>{html.escape(tradeoff_definitions)}; cells: % of subjects "
                     "[Wilson 95 % interval]</p>" + _table(*tradeoff_table, numeric_from=3))
    if figures:
        parts.append("<h2>Figures</h2>")
        for cap, png in figures:
            b64 = base64.b64encode(png).decode("ascii")
            parts.append(f"<figure><img alt='{html.escape(cap)}' src='data:image/png;base64,{b64}'>"
                         f"<figcaption>{html.escape(cap)}</figcaption></figure>")
    parts.append("<h2>Models</h2>" + _models_section(scenario.models, scenario.pd))
    parts.append(f"<h2>Scenario file</h2><pre>{html.escape(scenario.source_text)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)

"""Visit schedules in words: ``"8 every 3.5 d"`` (8 sessions, 3.5 days apart), ``"4 every 1 week"``,
``"1"`` (one session); the ``[tradeoff] clinical`` table and ``pkpd optimize --schedules`` read them.

::

    [tradeoff]
    clinical = { cost = "dissociation_ae", benefit = "analgesia_responder",
                 schedules = ["8 every 3.5 d", "4 every 7 d", "12 every 3.5 d"],  # the first: the trade-off's
                 max_cost = 0.3,          # pkpd optimize: P(dissociation AE over the course) ≤ 30 %
                 min_benefit = 0.5 }      # and P(analgesia responder) ≥ 50 %
"""
from __future__ import annotations

import re

from pkpd import units
from pkpd.analysis.clinical_spec import ClinicalSpec
from pkpd.analysis.endpoints import Course
from pkpd.errors import Collector, PkpdError

_SCHEDULE = re.compile(r"^\s*(\d+)\s*(?:(?:sessions?\s+)?every\s+(.+?))?\s*$", re.IGNORECASE)
CLINICAL_KEYS = {"cost", "benefit", "schedules", "max_cost", "min_benefit"}


def parse_schedule(text, field: str) -> Course:
    """``"N every TIME"`` or ``"1"`` → :class:`Course`; one :class:`PkpdError` naming ``field`` otherwise."""
    m = _SCHEDULE.match(text) if isinstance(text, str) else None
    if m is None:
        raise PkpdError(f"{text!r} is not a visit schedule: write 'N every TIME' (e.g. '8 every 3.5 d') or '1'",
                        field=field)
    n = int(m.group(1))
    if not 1 <= n <= 1000:
        raise PkpdError(f"{n} sessions: must be 1 to 1000", field=field)
    if m.group(2) is None:
        if n > 1:
            raise PkpdError(f"{n} sessions need their interval: '{n} every TIME'", field=field)
        return Course(1)
    q = units.parse(m.group(2), "time", field).value
    if not 0 < q <= 24 * 365:
        raise PkpdError("the interval must be > 0 and at most a year", field=field)
    return Course(n, q / 24.0)


def parse_schedules(texts, field: str) -> tuple[Course, ...]:
    """A list of schedules (1–20), each checked."""
    if isinstance(texts, str):
        texts = [t for t in texts.split(",") if t.strip()]
    if not isinstance(texts, list) or not 1 <= len(texts) <= 20:
        raise PkpdError("must be a list of 1–20 visit schedules ('8 every 3.5 d', …)", field=field)
    return tuple(parse_schedule(t, f"{field}[{i}]") for i, t in enumerate(texts))


def parse_clinical(tbl, col: Collector) -> ClinicalSpec | None:
    """``[tradeoff] clinical``: endpoint names, schedules and the optimiser's clinical targets."""
    f = "tradeoff.clinical"
    if not col.table(tbl, CLINICAL_KEYS, f):
        return None
    kw, n_err = {}, len(col.errors)
    for k in ("cost", "benefit"):
        if k in tbl:
            if not isinstance(tbl[k], str) or not tbl[k].strip():
                col.add("must be an endpoint name (models/endpoints/endpoints.toml)", f"{f}.{k}")
            else:
                kw[k] = tbl[k]
    if "schedules" in tbl:
        try:
            kw["schedules"] = parse_schedules(tbl["schedules"], f"{f}.schedules")
        except PkpdError as e:
            col.catch(e)
    for k in ("max_cost", "min_benefit"):
        if k in tbl:
            v = tbl[k]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1:
                col.add("must be a fraction of patients from 0 to 1", f"{f}.{k}")
            else:
                kw[k] = float(v)
    return ClinicalSpec(**kw) if len(col.errors) == n_err else None

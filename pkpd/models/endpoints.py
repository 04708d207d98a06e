"""Clinical endpoint definitions (``models/endpoints/endpoints.toml``): the observation model that turns a
readout into a trial-reported event, with a grade and source for every number.

::

    [endpoints.dissociation_ae]
    description = "spontaneously reported dissociation adverse event, ≥ 1 per patient over the course"
    category = "psychotomimetic"          # the PD readout category that drives it, or "exposure" with
                                          # output = "ketamine_plasma" (an empirical exposure–incidence
                                          # model on the peak concentration, ng/mL; thresholds per PK model)
    between_cv = { value = 0.5, grade = "assumption", range = [0.25, 1.0], note = "…" }
    session_sd = { value = 0.3, grade = "assumption", range = [0.0, 0.6], note = "…" }
    background = { value = 0.035, grade = "table", source = "TRANSFORM-1 placebo 4/113" }

    [endpoints.dissociation_ae.threshold]     # median reporting threshold, per PD model
    olofsen_2022 = { value = 0.2, grade = "calibrated", source = "TRANSFORM-1 56 mg …", range = [0.15, 0.3] }

    [endpoints.dissociation_ae.session_sd_by_model]   # optional: fitted where calibration rows with
    olofsen_2022 = { value = 0.6, grade = "calibrated", source = "…", range = [0.4, 0.9] }  # different
                                                      # session counts identify it (else session_sd)

    # optional, the tolerance model (attenuation over repeated sessions, pkpd.analysis.endpoints):
    tolerance_half_life = { value = 7.2, grade = "assumption", range = [1.4, 21], note = "days" }
    [endpoints.dissociation_ae.attenuation_by_model]  # rise of the log threshold per unit tolerance load
    olofsen_2022 = { value = 0.3, grade = "calibrated", source = "…", range = [0.0, 0.8],
                     ends = [[0.0, 0.4, 1.9], [0.8, 1.2, 1.6]] }  # [δ, session SD, threshold] refitted
                                                                  # at each end of the range

    background_sessions = 8               # optional: the course (sessions) the background rate was
                                          # observed over; carried to other courses at a constant hazard
    assessment = "15 min"                 # optional: read the readout's peak from the first dose up to
                                          # this time (the time it was calibrated at); default: the session

    [endpoints.analgesia_responder_13mm]  # a stricter or looser criterion of a calibrated endpoint:
    threshold_from = "analgesia_responder"  # its thresholds × threshold_scale (graded), no fit of its own
    threshold_scale = { value = 0.65, grade = "assumption", range = [0.5, 0.8], note = "…" }

``between_cv``/``session_sd`` are SDs of the log threshold; ``background`` is the once-per-patient
rate in placebo arms over a course, used when a trial gives no control arm.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from pkpd import units
from pkpd.errors import Collector, PkpdError
from pkpd.models.common import text_field
from pkpd.models.library import library_dirs, read_toml
from pkpd.models.parameters import GRADES

_VALUE_KEYS = {"value", "grade", "source", "note", "range"}
_ENDS_NOTE = "[δ, session SD, threshold] at each end of the attenuation range"


@dataclass(frozen=True)
class GradedValue:
    """A number with its provenance (grade as in :data:`pkpd.models.parameters.GRADES`)."""

    value: float
    grade: str
    source: str = ""
    note: str = ""
    range: tuple[float, float] | None = None
    # attenuation only: the whole calibrated set (δ, session SD, threshold) at each end of its range,
    # SD and threshold refitted there, so the range is propagated as fits, not as one number moved alone
    ends: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None


@dataclass(frozen=True)
class EndpointDef:
    """One clinical endpoint: what is counted, which readout drives it, and its observation model."""

    name: str
    description: str
    category: str  # analgesia | psychotomimetic | exposure
    between_cv: GradedValue
    session_sd: GradedValue
    background: GradedValue
    thresholds: dict  # PD model (PK model for exposure) → GradedValue: median threshold, readout scale or ng/mL
    output: str = ""  # exposure endpoints: the concentration output whose peak drives them
    session_sds: dict = field(default_factory=dict)  # model → fitted session-to-session SD (GradedValue)
    half_life: GradedValue | None = None  # tolerance model: t½ of the tolerance load, days (None: no tolerance)
    attenuations: dict = field(default_factory=dict)  # model → δ, rise of log threshold per unit load
    background_sessions: int = 0  # sessions the default background was observed over (0: any course)
    # h after the first dose up to which the readout's peak is read (the time the endpoint was calibrated
    # at: an analgesia responder is assessed at 15 min, not at the session's peak); None: the whole session
    assessment: float | None = None

    def attenuation(self, model: str) -> GradedValue | None:
        """The tolerance model's attenuation ``δ`` for ``model`` (None: no tolerance model for it)."""
        return self.attenuations.get(model) if self.half_life is not None else None

    def session(self, model: str) -> GradedValue:
        """The session-to-session SD for ``model``: fitted where the calibration identified it."""
        return self.session_sds.get(model, self.session_sd)

    @property
    def empirical(self) -> bool:
        """Driven by a concentration, not a PD readout: an empirical exposure–incidence model."""
        return self.category == "exposure"

    def threshold(self, pd_name: str) -> GradedValue:
        """The threshold for PD model ``pd_name``; an error naming the file when there is none."""
        if pd_name not in self.thresholds:
            raise PkpdError(f"endpoint {self.name!r} has no threshold for PD model {pd_name!r} (has: "
                            f"{', '.join(self.thresholds) or 'none'}): calibrate it with 'pkpd validate "
                            f"--calibrate'", field=f"endpoints.{self.name}.threshold")
        return self.thresholds[pd_name]


def endpoints_file() -> Path:
    """The endpoint definitions in the model library (the first ``endpoints/endpoints.toml`` found;
    a folder of its own, so the model listing never takes it for a PK model)."""
    for d in library_dirs():
        if (d / "endpoints" / "endpoints.toml").is_file():
            return d / "endpoints" / "endpoints.toml"
    raise PkpdError("no endpoints/endpoints.toml in the model library (" + ", ".join(map(str, library_dirs())) + ")")


def load_endpoints(path: Path | None = None) -> dict[str, EndpointDef]:
    """Read and check the endpoint definitions; every problem reported together with its field."""
    path = Path(path) if path is not None else endpoints_file()
    data, _ = read_toml(path, "endpoints file")
    col = Collector(str(path))
    tbl = data.get("endpoints")
    if not isinstance(tbl, dict) or not tbl:
        col.add("missing [endpoints.NAME] tables", "endpoints")
        col.raise_if_any()
    out = {name: _endpoint(name, spec, col) for name, spec in tbl.items()}
    col.raise_if_any()
    for name, spec in tbl.items():
        if "threshold_from" in spec:
            out[name] = _derived(out[name], spec, out, col)
    col.raise_if_any()
    return out


def _derived(ep: EndpointDef, spec: dict, known: dict, col: Collector) -> EndpointDef:
    """Thresholds of another endpoint × a graded scale (range: both ranges' ends multiplied)."""
    f = f"endpoints.{ep.name}"
    src = known.get(spec["threshold_from"])
    if src is None or src.name == ep.name or not src.thresholds:
        col.add("must name another endpoint with its own thresholds (known: "
                f"{', '.join(sorted(k for k, e in known.items() if e.thresholds and k != ep.name))})",
                f"{f}.threshold_from")
        return ep
    sc = _graded(spec["threshold_scale"], f"{f}.threshold_scale", col, 100.0)
    out = {}
    for model, g in src.thresholds.items():
        lo, hi = g.range if g.range is not None else (g.value, g.value)
        slo, shi = sc.range if sc.range is not None else (sc.value, sc.value)
        # the weakest grade of the two: the scale is an assumption
        out[model] = GradedValue(g.value * sc.value, "assumption", f"{src.name} threshold ({g.source}) × "
                                 f"threshold_scale {sc.value:g} ({sc.grade})", sc.note, (lo * slo, hi * shi))
    return replace(ep, thresholds=out)


def _endpoint(name: str, spec, col: Collector) -> EndpointDef | None:
    f = f"endpoints.{name}"
    if not isinstance(spec, dict):
        col.add("must be a table", f)
        return None
    known = ("description", "category", "output", "between_cv", "session_sd", "background", "threshold",
             "session_sd_by_model", "tolerance_half_life", "attenuation_by_model", "background_sessions",
             "threshold_from", "threshold_scale", "assessment")
    for k in sorted(set(spec) - set(known)):
        col.add(f"unknown key (known: {', '.join(known)})", f"{f}.{k}")
    desc = text_field(col, spec, "description", f)
    cat = text_field(col, spec, "category", f, choices=("analgesia", "psychotomimetic", "exposure"))
    output = text_field(col, spec, "output", f, required=cat == "exposure")
    if output and cat != "exposure":
        col.add("'output' is for category = \"exposure\" (a readout category picks its PD readout)", f"{f}.output")
    vals = {k: _graded(spec.get(k), f"{f}.{k}", col, upper) for k, upper in
            (("between_cv", 3.0), ("session_sd", 3.0), ("background", 1.0))}
    if "threshold_from" in spec:  # derived: resolved by load_endpoints once every endpoint is read
        thresholds = {}
        text_field(col, spec, "threshold_from", f)
        _graded(spec.get("threshold_scale"), f"{f}.threshold_scale", col, 100.0)
        if "threshold" in spec:
            col.add("give either 'threshold' or 'threshold_from', not both", f"{f}.threshold")
    else:
        thresholds = _by_model(spec.get("threshold"), f"{f}.threshold", col, math.inf, positive=True)
    sds = _by_model(spec.get("session_sd_by_model", {}), f"{f}.session_sd_by_model", col, 3.0)
    half = _graded(spec["tolerance_half_life"], f"{f}.tolerance_half_life", col, 366.0) \
        if "tolerance_half_life" in spec else None
    if half is not None and not half.value > 0:
        col.add("must be > 0 (days)", f"{f}.tolerance_half_life.value")
    att = _by_model(spec.get("attenuation_by_model", {}), f"{f}.attenuation_by_model", col, 10.0, ends=True)
    if att and "tolerance_half_life" not in spec:
        col.add("attenuation needs the tolerance model's 'tolerance_half_life' (days)", f"{f}.attenuation_by_model")
    bs = spec.get("background_sessions", 0)
    if not isinstance(bs, int) or isinstance(bs, bool) or not 0 <= bs <= 1000:
        col.add("must be a whole number of sessions from 0 to 1000", f"{f}.background_sessions")
        bs = 0
    return EndpointDef(name, desc, cat, vals["between_cv"], vals["session_sd"], vals["background"], thresholds,
                       output, sds, half, att, bs, _assessment(spec, f, col))


def _assessment(spec: dict, f: str, col: Collector) -> float | None:
    """``assessment = "15 min"``: a positive time (h), or None when absent."""
    if "assessment" not in spec:
        return None
    try:
        v = units.parse(spec["assessment"], "time", f"{f}.assessment").value
    except PkpdError as e:
        col.catch(e)
        return None
    if not (math.isfinite(v) and v > 0):
        col.add("must be a time > 0, e.g. \"15 min\"", f"{f}.assessment")
        return None
    return v


def _by_model(tbl, f: str, col: Collector, upper: float, positive: bool = False, ends: bool = False) -> dict:
    """A table of model name → graded value (thresholds, fitted session SDs, attenuations with ``ends``)."""
    if not isinstance(tbl, dict):
        col.add("must be a table: model name → { value, grade, source, range }", f)
        return {}
    out = {}
    for name, v in tbl.items():
        g = _graded(v, f"{f}.{name}", col, upper, ends)
        if g is not None and positive and g.value <= 0:
            col.add("must be > 0", f"{f}.{name}.value")
        out[name] = g
    return out


def _graded(v, f: str, col: Collector, upper: float, ends: bool = False) -> GradedValue | None:
    """``{ value, grade, source, note, range }`` checked: a finite value in [0, upper), a known grade,
    a note and range for assumptions, a source naming the trials for calibrated values."""
    if not isinstance(v, dict):
        col.add("must be a table { value, grade, source, note, range }", f)
        return None
    keys = _VALUE_KEYS | ({"ends"} if ends else set())
    for k in sorted(set(v) - keys):
        col.add(f"unknown key (known: {', '.join(sorted(keys))})", f"{f}.{k}")
    x = v.get("value")
    if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x) or not 0 <= x < upper:
        col.add(f"must be a number in [0, {upper:g})", f"{f}.value")
        return None
    grade = text_field(col, v, "grade", f, choices=tuple(GRADES))
    source, note = text_field(col, v, "source", f, required=False), text_field(col, v, "note", f, required=False)
    rng = v.get("range")
    if rng is not None and not (isinstance(rng, list) and len(rng) == 2
                                and all(isinstance(r, (int, float)) and not isinstance(r, bool) for r in rng)
                                and rng[0] <= rng[1]):
        col.add("must be [low, high]", f"{f}.range")
        rng = None
    if grade == "assumption" and (not note or rng is None):
        col.add("an assumption needs a 'note' (why) and a 'range' (what to try)", f)
    if grade == "calibrated" and not source:
        col.add("a calibrated value needs a 'source' naming the trials it was fitted to", f)
    return GradedValue(float(x), grade, source, note, tuple(rng) if rng is not None else None,
                       _ends(v.get("ends"), f"{f}.ends", col))


def _ends(e, f: str, col: Collector):
    """``ends = [[δ, SD, θ], [δ, SD, θ]]``: finite, non-negative, θ > 0 (None when absent)."""
    if e is None:
        return None
    ok = (isinstance(e, list) and len(e) == 2 and all(
        isinstance(r, list) and len(r) == 3 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                    and math.isfinite(x) and x >= 0 for x in r) and r[2] > 0
        for r in e))
    if not ok:
        col.add(f"must be two rows {_ENDS_NOTE}, finite, ≥ 0, threshold > 0", f)
        return None
    return tuple(tuple(float(x) for x in r) for r in e)

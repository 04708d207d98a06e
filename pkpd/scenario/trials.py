"""Trials files: observed event rates to check predictions against (``pkpd validate``).

::

    [validation]
    title = "…"
    pk = "perez_ruixo_2021"             # PK model for every trial unless a trial names its own
    pd = ["olofsen_2022", "simons_2022_pd"]
    subjects = 2000                      # simulated patients per trial arm
    replicates = 20                      # parameter-uncertainty replicates (subjects split among them)
    seed = 11
    horizon = "8 h"                      # one session is simulated
    step = "2 min"
    weight = { dist = "normal", mean = "78 kg", sd = "16 kg", min = "45 kg", max = "150 kg" }

    [[trials]]
    id = "TRANSFORM-1 56 mg"
    source = "Fedgchin 2019, Int J Neuropsychopharmacol 22:616, Table 5"
    set = "calibration"                  # or "held-out": never used to fit anything
    drug = "esketamine"
    regimen = "28 mg IN x2 every 5 min"  # one session, compact notation (pkpd.parse_regimen); a list of
                                         # several = patients split equally among them (flexible dosing)
    sessions = 8                         # sessions in the observed course
    interval = "3.5 d"                   # optional: time between sessions (default twice weekly)
    prior_sessions = 0                   # optional: sessions before the counted window (tolerance only)
    window = "15 min"                    # optional: the endpoint is assessed within this time after
                                         # the first dose (default: the whole simulated session)
    weight = { dist = "normal", … }      # optional: this trial's body weights (default: [validation])
    endpoint = "dissociation_ae"         # a name in models/endpoints/endpoints.toml
    active = { events = 30, n = 115 }
    control = { events = 4, n = 113 }    # optional: the background rate of this trial
    notes = "…"
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pkpd import units
from pkpd.analysis.endpoints import Course
from pkpd.dosing.notation import parse_regimen
from pkpd.dosing.regimen import Regimen
from pkpd.errors import Collector, PkpdError
from pkpd.models.library import read_toml
from pkpd.scenario.fields import text
from pkpd.scenario.population_table import _dist
from pkpd.simulation.sampling import CovariateDist

SETS = ("calibration", "held-out")
#: The shipped trials file (``pkpd validate`` without an argument).
DEFAULT_TRIALS = Path(__file__).resolve().parents[2] / "scenarios" / "validation" / "trials.toml"
DRUGS = ("esketamine", "racemic ketamine")
_TRIAL_KEYS = {"id", "source", "set", "drug", "regimen", "sessions", "endpoint", "active", "control", "notes", "pk",
               "interval", "prior_sessions", "window", "weight"}
_VALIDATION_KEYS = {"title", "pk", "pd", "subjects", "replicates", "seed", "horizon", "step", "weight"}


@dataclass(frozen=True)
class Arm:
    """Observed events among ``n`` patients."""

    events: int
    n: int

    @property
    def rate(self) -> float:
        return self.events / self.n


@dataclass(frozen=True)
class Trial:
    """One trial arm comparison: regimen, course, endpoint and the observed counts."""

    id: str
    source: str
    set: str
    drug: str
    regimens: tuple[Regimen, ...]  # one session each; patients split equally among them
    sessions: int
    endpoint: str
    active: Arm
    control: Arm | None
    pk: str
    notes: str = ""
    interval: float = 3.5  # days between sessions
    prior: int = 0  # sessions before the counted window (they build tolerance only)
    window: float | None = None  # h after the first dose within which the endpoint is assessed
    weight: CovariateDist | None = None  # this trial's body weights, kg (None: the file's)

    @property
    def course(self) -> Course:
        """The observed course: counted sessions, their interval and earlier sessions."""
        return Course(self.sessions, self.interval, self.prior)


@dataclass(frozen=True)
class TrialsFile:
    """A parsed trials file: simulation settings and the trials."""

    path: Path
    title: str
    pk: str
    pd: tuple[str, ...]
    subjects: int
    replicates: int
    seed: int
    horizon: float  # h
    step: float  # h
    weight: CovariateDist | None  # body weight, kg
    trials: tuple[Trial, ...]


def load_trials(path) -> TrialsFile:
    """Read and check a trials file; every problem is reported together, naming its field."""
    path = Path(path)
    data, _ = read_toml(path, "trials file")
    col = Collector(str(path))
    v = data.get("validation")
    if not isinstance(v, dict):
        col.add("missing [validation] table (pk, pd, subjects, …)", "validation")
        col.raise_if_any()
    for k in sorted(set(v) - _VALIDATION_KEYS):
        col.add(f"unknown key (known: {', '.join(sorted(_VALIDATION_KEYS))})", f"validation.{k}")
    pk = _required(col, v, "pk", "validation")
    pd = v.get("pd", [])
    if isinstance(pd, str):
        pd = [pd]
    if not isinstance(pd, list) or not pd or not all(isinstance(x, str) for x in pd):
        col.add("must be a list of PD model names", "validation.pd")
        pd = []
    settings = _settings(v, col)
    raw = data.get("trials")
    if not isinstance(raw, list) or not raw:
        col.add("missing [[trials]] entries", "trials")
        raw = []
    trials = [tr for tr in (_trial(t, i, pk, col) for i, t in enumerate(raw)) if tr is not None]
    ids = [t.id for t in trials]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        col.add(f"duplicate trial id {dup!r}", "trials")
    col.raise_if_any()
    return TrialsFile(path, text(col, v, "title", "validation.title") or path.stem, pk, tuple(pd), *settings,
                      tuple(trials))


def _settings(v: dict, col: Collector) -> tuple:
    out = []
    for k, default, lo, hi in (("subjects", 2000, 100, 1_000_000), ("replicates", 20, 0, 1000), ("seed", 0, 0, 2**63)):
        x = v.get(k, default)
        if not isinstance(x, int) or isinstance(x, bool) or not lo <= x <= hi:
            col.add(f"must be a whole number from {lo} to {hi}", f"validation.{k}")
            x = default
        out.append(x)
    for k, default in (("horizon", "8 h"), ("step", "2 min")):
        try:
            q = units.parse(v.get(k, default), "time", f"validation.{k}").value
            if not q > 0:
                raise PkpdError("must be > 0", field=f"validation.{k}")
            out.append(q)
        except PkpdError as e:
            col.catch(e)
            out.append(units.parse(default, "time").value)
    w = v.get("weight")
    out.append(None if w is None else _dist(w, "weight", "validation.weight", col))
    return tuple(out)


def _trial(t, i: int, pk: str, col: Collector) -> Trial | None:
    f = f"trials[{i}]"
    if not isinstance(t, dict):
        col.add("must be a table", f)
        return None
    for k in sorted(set(t) - _TRIAL_KEYS):
        col.add(f"unknown key (known: {', '.join(sorted(_TRIAL_KEYS))})", f"{f}.{k}")
    n_err = len(col.errors)
    tid, source, tset, drug, endpoint = (_required(col, t, k, f) for k in ("id", "source", "set", "drug", "endpoint"))
    notes = text(col, t, "notes", f"{f}.notes", "")
    if tset and tset not in SETS:
        col.add(f"must be one of {', '.join(SETS)}", f"{f}.set")
    if drug and drug not in DRUGS:
        col.add(f"must be one of {', '.join(DRUGS)}", f"{f}.drug")
    regs = _regimens(t, f, tid, col)
    sessions = t.get("sessions", 1)
    if not isinstance(sessions, int) or isinstance(sessions, bool) or not 1 <= sessions <= 1000:
        col.add("must be a whole number from 1 to 1000", f"{f}.sessions")
    prior = t.get("prior_sessions", 0)
    if not isinstance(prior, int) or isinstance(prior, bool) or not 0 <= prior <= 1000:
        col.add("must be a whole number from 0 to 1000", f"{f}.prior_sessions")
    interval, window = _time(t, "interval", "3.5 d", f, col), _time(t, "window", None, f, col)
    weight = _dist(t["weight"], "weight", f"{f}.weight", col) if "weight" in t else None
    active, control = _arm(t.get("active"), f"{f}.active", col), None
    if "control" in t:
        control = _arm(t.get("control"), f"{f}.control", col)
    if len(col.errors) > n_err or not regs or active is None:
        return None
    return Trial(tid, source, tset, drug, regs, sessions, endpoint, active, control, t.get("pk", pk), notes or "",
                 interval / 24.0, prior, window, weight)


def _time(t: dict, key: str, default, f: str, col: Collector) -> float | None:
    """An optional positive time (h) at ``t[key]``; ``default`` (text or None) when absent."""
    raw = t.get(key, default)
    if raw is None:
        return None
    try:
        v = units.parse(raw, "time", f"{f}.{key}").value
    except PkpdError as e:
        col.catch(e)
        return None
    if not v > 0:
        col.add("must be > 0", f"{f}.{key}")
        return None
    return v


def _regimens(t: dict, f: str, tid: str, col: Collector) -> tuple[Regimen, ...]:
    """``regimen``: one notation text, or a list of them (flexible dosing, patients split equally)."""
    raw = t.get("regimen")
    if raw is None:
        col.add("missing 'regimen'", f"{f}.regimen")
        return ()
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(x, str) for x in texts):
        col.add("must be compact regimen notation, or a list of them", f"{f}.regimen")
        return ()
    out = []
    for j, x in enumerate(texts):
        try:
            out.append(parse_regimen(x, x, field=f"{f}.regimen" + (f"[{j}]" if len(texts) > 1 else "")))
        except PkpdError as e:
            col.catch(e)
    return tuple(out) if len(out) == len(texts) else ()


def _required(col: Collector, tbl: dict, key: str, f: str) -> str:
    """The text at ``tbl[key]``; "missing" or "must be text" recorded at ``f.key`` otherwise."""
    v = tbl.get(key)
    if v is None:
        col.add(f"missing '{key}'", f"{f}.{key}")
        return ""
    if not isinstance(v, str) or not v.strip():
        col.add("must be text", f"{f}.{key}")
        return ""
    return v


def _arm(a, f: str, col: Collector) -> Arm | None:
    if not isinstance(a, dict) or set(a) != {"events", "n"}:
        col.add("must be { events = K, n = N }", f)
        return None
    k, n = a["events"], a["n"]
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (k, n)) or not 0 <= k <= n or n < 1:
        col.add("events and n must be whole numbers with 0 ≤ events ≤ n, n ≥ 1", f)
        return None
    return Arm(k, n)

"""Inter-occasion variability (IOV): the ``[iov]`` section of a PK model file.

::

    [iov]
    KA1 = { omega2 = 0.062, source = "Simons 2022 Table 4 (ν²)" }
    F1 = { cv = 0.25, source = "…", note = "…" }

Each entry names a parameter and gives its variance between occasions (``cv`` / ``omega`` /
``omega2``, ``transform`` log by default, as for IIV in :mod:`pkpd.models.parameters`) with its
``source`` (and optional ``note``).  In population runs (with between-subject variability on) a
new κ ~ N(0, ν²) is drawn at every occasion and applied like an eta.

What an occasion is depends on where the parameter acts (:func:`classify`):

* **absorption** parameters — used only by absorption paths (fraction, release, lag, ka) and by
  flows out of absorption compartments (route depots and volume-less compartments fed only by
  them, such as a gut-to-liver transit): redrawn at every administration time, exactly, each
  administration getting its own copy of the absorption compartments
  (:mod:`pkpd.simulation.occasions`);
* **disposition** parameters (anything else): the system cannot change between doses, so one κ is
  drawn per subject and run — the whole regimen is one occasion, which is exact for a regimen
  within one visit (between-subject variance ω² + ν²) and an approximation across visits.
"""
from __future__ import annotations

from dataclasses import dataclass
from pkpd.errors import Collector, PkpdError
from pkpd.models.parameters import IIV, Parameter, _load_iiv

_KEYS = {"cv", "omega", "omega2", "transform", "source", "note"}


@dataclass(frozen=True)
class IOVTerm:
    """Variability between occasions of parameter ``name``: ``variability.omega2`` is ν²;
    ``scope`` is ``absorption`` (redrawn per administration) or ``disposition`` (per run)."""

    name: str
    variability: IIV
    source: str
    note: str = ""
    scope: str = "absorption"

    @property
    def nu2(self) -> float:
        return self.variability.omega2


def parse_iov(tbl, col: Collector, params: dict[str, Parameter]) -> tuple[IOVTerm, ...]:
    """``[iov]``: parameter name → variability between occasions (problems go to ``col``)."""
    if tbl is None:
        return ()
    if not isinstance(tbl, dict):
        col.add("must be a table: PARAMETER = { omega2 = …, source = \"…\" }", "iov")
        return ()
    out = []
    for name, spec in tbl.items():
        f = f"iov.{name}"
        if name not in params:
            col.add(f"{name!r} is not a parameter of this model", f)
            continue
        if not isinstance(spec, dict):
            col.add("must be a table such as { omega2 = 0.06, source = \"…\" }", f)
            continue
        for k in sorted(set(spec) - _KEYS):
            col.add(f"unknown key '{k}'", f"{f}.{k}")
        source, note = spec.get("source"), spec.get("note", "")
        if not isinstance(source, str) or not source.strip():
            col.add("'source' must say where the number comes from", f"{f}.source")
        if not isinstance(note, str):
            col.add("'note' must be text", f"{f}.note")
        try:
            var = _load_iiv({k: v for k, v in spec.items() if k in ("cv", "omega", "omega2", "transform")}, f)
        except PkpdError as e:
            col.catch(e)
            continue
        if var.transform == "additive":
            col.add("IOV takes a log or logit transform", f"{f}.transform")
            continue
        out.append(IOVTerm(name, var, str(source or ""), note if isinstance(note, str) else ""))
    return tuple(out)


def occasion_compartments(compartments, flows, routes) -> set[str]:
    """Absorption compartments: every route depot and path target without a volume that is fed
    only by absorption compartments (a transit such as the gut-to-liver portal), to a fixpoint."""
    volume = {c.name: c.volume for c in compartments}
    occ = {p.depot for ps in routes.values() for p in ps if p.depot}
    candidates = {c.name for c in compartments if volume[c.name] is None} - occ
    changed = True
    while changed:
        changed = False
        for c in sorted(candidates - occ):
            sources = {fl.source for fl in flows if fl.dest == c}
            if sources and sources <= occ:
                occ.add(c)
                changed = True
    return occ


def absorption_names(compartments, flows, routes, derived: dict) -> tuple[set[str], set[str]]:
    """(names used by absorption, names used elsewhere), derived values expanded to what they use."""
    occ = occasion_compartments(compartments, flows, routes)
    absorb, other = set(), set()
    for ps in routes.values():
        for p in ps:
            for e in (p.fraction, p.ka, p.release, p.lag):
                if e is not None:
                    absorb |= e.names
    for fl in flows:
        if fl.source in occ:
            absorb |= fl.rate.names
        else:
            other |= fl.rate.names | (fl.fraction.names if fl.fraction is not None else set())
    other |= {c.volume for c in compartments if c.volume}
    expand = lambda names: _closure(names, derived)
    return expand(absorb), expand(other)


def _closure(names: set[str], derived: dict) -> set[str]:
    """``names`` plus every name the derived ones among them use, recursively."""
    out, todo = set(), list(names)
    while todo:
        n = todo.pop()
        if n not in out:
            out.add(n)
            if n in derived:
                todo += list(derived[n].names)
    return out


def classify(terms: tuple[IOVTerm, ...], compartments, flows, routes, derived: dict) -> tuple[IOVTerm, ...]:
    """Each term with its ``scope``: absorption if its parameter acts only on absorption."""
    absorb, other = absorption_names(compartments, flows, routes, derived)
    return tuple(IOVTerm(t.name, t.variability, t.source, t.note,
                         "absorption" if t.name in absorb and t.name not in other else "disposition")
                 for t in terms)

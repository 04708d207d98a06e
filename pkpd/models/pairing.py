"""Which PK and PD models belong together: errors for pairs that cannot be right, notes on the
conversions that make a pair of different ketamine forms work, warnings for caveats.

* a PK model of another ketamine form than the PD model (racemic PK, S-ketamine PD) is an error
  unless the PD file declares an ``[enantiomers]`` conversion (:mod:`pkpd.models.enantiomers`);
  then the conversion is a note, shown with every run (:func:`pairing_problems`,
  :func:`pairing_notes`);
* arterial against venous sampling is a warning that says what it changes and by how much: the PD
  model was fitted to arterial concentrations and the PK model predicts venous ones (or the
  reverse).  Venous concentrations lag arterial ones after fast inputs (the arterially sampled
  Leiden models over-predict venous concentrations early in an infusion, Otto 2021), so the
  simulated effect onset after an IV bolus or the start of an infusion is shifted; the shift fades
  as blood and effect site equilibrate, which takes about 4 effect-site equilibration half-times
  (94 % of the way): the window printed is 4 × the PD model's t½ke0.  The size of ketamine's
  arterial–venous gap itself is not in the literature notes (Henthorn 2018 modelled it; values not
  seen), so no factor is given.

A scenario acknowledges a known sampling caveat with ``[pairing] accept = ["PK/PD", …]``; an
accepted caveat becomes a one-line note.  :func:`pairing_messages` turns every caveat of a run into
warnings (one per PD model, PK models named together) and notes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
import numpy as np
from pkpd.models.enantiomers import conversion_note, mismatch_message
from pkpd.models.pd import PDModel
from pkpd.models.pk import Model

#: How an accepted pairing is written in ``[pairing] accept``.
ACCEPT_FORMAT = "PK_MODEL/PD_MODEL"


@dataclass(frozen=True)
class Caveat:
    """One caveat of attaching PD model ``pd`` to PK model ``pk`` (``kind``: ``sampling``)."""

    kind: str
    pk: str
    pd: str
    pk_value: str  # the PK model's drug or sampling site
    pd_value: str  # the PD model's

    @property
    def pair(self) -> str:
        return f"{self.pk}/{self.pd}"


def pairing_problems(pk: Model, pd: PDModel) -> list[str]:
    """Errors for attaching ``pd`` to ``pk``: forms of ketamine that differ without a conversion."""
    if pk.drug != pd.drug and pd.enantiomers is None:
        return [mismatch_message(pk, pd)]
    return []


def pairing_notes(pk: Model, pd: PDModel) -> list[str]:
    """How ``pk``'s concentrations are converted for ``pd`` (empty when they are of one form)."""
    note = conversion_note(pk, pd)
    return [note] if note else []


def pairing_caveats(pk: Model, pd: PDModel) -> list[Caveat]:
    """The caveats of attaching ``pd`` to ``pk`` that do not stop a run (sampling site)."""
    ps, ds = pk.meta.get("sampling"), pd.meta.get("sampling")
    if ps and ds and "unknown" not in (ps, ds) and ps != ds:
        return [Caveat("sampling", pk.name, pd.name, ps, ds)]
    return []


def pairing_warnings(pk: Model, pd: PDModel) -> list[str]:
    """The warning text of each caveat of attaching ``pd`` to ``pk`` (empty when consistent)."""
    return [_text(c.kind, pd, [pk]) for c in pairing_caveats(pk, pd)]


def pairing_messages(models, pds, accept=()) -> tuple[list[str], list[str]]:
    """Warnings and notes for every PK × PD pairing of a run.

    Parameters
    ----------
    models, pds : sequences of Model and PDModel
    accept : iterable of str
        Accepted pairings, ``"PK/PD"`` (a scenario's ``[pairing] accept``).

    Returns
    -------
    (warnings, notes) : lists of str
        One warning per PD model and kind of caveat, naming every PK model it concerns, with what
        it changes and by how much; one short note per accepted caveat.
    """
    accept = set(accept)
    groups: dict[tuple[str, str, bool], list[Caveat]] = {}
    for p in pds:
        for m in models:
            for c in pairing_caveats(m, p):
                groups.setdefault((p.name, c.kind, c.pair in accept), []).append(c)
    by_name = {p.name: p for p in pds}
    pks = {m.name: m for m in models}
    warnings = [_text(kind, by_name[pname], [pks[c.pk] for c in cs])
                for (pname, kind, accepted), cs in groups.items() if not accepted]
    notes = [_note(cs, by_name[pname]) for (pname, kind, accepted), cs in groups.items() if accepted]
    return warnings, notes


def caveat_pairs(models, pds) -> set[str]:
    """Every ``"PK/PD"`` pairing of these models that has a caveat (what ``accept`` may name)."""
    return {c.pair for p in pds for m in models for c in pairing_caveats(m, p)}


def effect_half_time_min(pd: PDModel, species: str = "ketamine") -> float:
    """The longest blood–effect-site equilibration half-time (min) of ``pd``'s effect sites on
    ``species``, at typical values (NaN without one)."""
    try:
        links = pd.links(pd.params.individual(), (species,))
    except Exception:  # a PD model that cannot be evaluated alone: no window to state
        return math.nan
    ke0 = [float(np.max(lk.ke0)) for lk in links if lk.species == species and np.all(lk.ke0 > 0)]
    return 60.0 * math.log(2) / min(ke0) if ke0 else math.nan


def _text(kind: str, pd: PDModel, pks: list[Model]) -> str:
    names = " and ".join(m.name for m in pks)
    pk_site = pks[0].meta.get("sampling")
    pd_site = pd.meta.get("sampling")
    t = effect_half_time_min(pd)
    window = (f"about the first {4 * t:.0f} min after each IV dose or rate change (4 × its t½ke0 of {t:.1f} min)"
              if math.isfinite(t) else "the first minutes after each IV dose or rate change")
    lag = "lag" if pk_site == "venous" else "lead"
    later = "later and lower" if pk_site == "venous" else "earlier and higher"
    return (f"{pd.name} was fitted to {pd_site} concentrations but {names} predict{'s' if len(pks) == 1 else ''} "
            f"{pk_site} ones, which {lag} {pd_site} ones after fast inputs: the simulated effect rises {later} "
            f"than in the PD study over {window}; slower inputs (oral, intranasal) and steady infusions "
            f"change less.  If intended: [pairing] accept = "
            f"[{', '.join(repr(f'{m.name}/{pd.name}').replace(chr(39), chr(34)) for m in pks)}]")


def _note(cs: list[Caveat], pd: PDModel) -> str:
    """One line for accepted caveats of one kind on one PD model."""
    c = cs[0]
    pairs = ", ".join(x.pair for x in cs)
    head = f"accepted pairing{'s' if len(cs) > 1 else ''} {pairs}"
    t = effect_half_time_min(pd)
    span = f"~{4 * t:.0f} min" if math.isfinite(t) else "minutes"
    return f"{head} ({c.pd_value} PD, {c.pk_value} PK: IV effect onset shifted over {span})"

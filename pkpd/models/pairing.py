"""Which PK and PD models belong together, and what a mismatched pairing changes.

Two caveats, each stated with what it changes and by how much:

* **drug** — the PD model was estimated on S-ketamine concentrations and the PK model simulates
  racemic ketamine, or the reverse.  About half of a racemic concentration is R-ketamine, which
  is 52 ± 27 % less potent than S-ketamine for pain pressure (Dahan 2024) and contributed to
  neither endpoint of Olofsen 2022; so the S-equivalent of a racemic concentration is 50–74 % of
  it (``0.5·(1 + r)`` with the relative R potency ``r`` from 0 to 0.48), i.e. a racemic
  concentration read against an S-ketamine potency overstates the effect as if the concentration
  were 1.35–2× too high, and an S-ketamine concentration read against a racemic potency
  understates it by the same factor (shared literature notes, ``ketamine_pd.md``).
* **sampling** — the PD model was fitted to arterial concentrations and the PK model predicts
  venous ones (or the reverse).  Venous concentrations lag arterial ones after fast inputs (the
  arterially sampled Leiden models over-predict venous concentrations early in an infusion, Otto
  2021), so the simulated effect onset after an IV bolus or the start of an infusion is shifted;
  the shift fades as blood and effect site equilibrate, which takes about 4 effect-site
  equilibration half-times (94 % of the way): the window printed is 4 × the PD model's t½ke0.
  The size of ketamine's arterial–venous gap itself is not in the literature notes (Henthorn
  2018 modelled it; values not seen), so no factor is given.

A scenario acknowledges a known pairing with ``[pairing] accept = ["PK/PD", …]``; an accepted
caveat becomes a one-line note.  :func:`pairing_messages` turns every caveat of a run into
warnings (one per PD model and kind, PK models named together) and notes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
import numpy as np
from pkpd.models.pd import PDModel
from pkpd.models.pk import Model

#: How an accepted pairing is written in ``[pairing] accept``.
ACCEPT_FORMAT = "PK_MODEL/PD_MODEL"


@dataclass(frozen=True)
class Caveat:
    """One caveat of attaching PD model ``pd`` to PK model ``pk``: ``kind`` is ``drug`` or ``sampling``."""

    kind: str
    pk: str
    pd: str
    pk_value: str  # the PK model's drug or sampling site
    pd_value: str  # the PD model's

    @property
    def pair(self) -> str:
        return f"{self.pk}/{self.pd}"


def pairing_caveats(pk: Model, pd: PDModel) -> list[Caveat]:
    """The caveats of attaching ``pd`` to ``pk`` (empty when consistent)."""
    out = []
    if pk.drug != pd.drug:
        out.append(Caveat("drug", pk.name, pd.name, pk.drug, pd.drug))
    ps, ds = pk.meta.get("sampling"), pd.meta.get("sampling")
    if ps and ds and "unknown" not in (ps, ds) and ps != ds:
        out.append(Caveat("sampling", pk.name, pd.name, ps, ds))
    return out


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
    if kind == "drug":
        pk_drug = pks[0].drug
        if pd.drug == "S-ketamine":
            change = ("a racemic concentration read against an S-ketamine potency overstates the effect as "
                      "if the concentration were 1.35–2× too high")
        else:
            change = ("an S-ketamine concentration read against a racemic potency understates the effect as "
                      "if the concentration were 1.35–2× too low")
        return (f"{pd.name} was estimated on {pd.drug} concentrations but {names} simulate{'s' if len(pks) == 1 else ''} "
                f"{pk_drug}: about half of racemic ketamine is R-ketamine, 52 ± 27 % less potent (Dahan 2024) "
                f"or inactive (Olofsen 2022), so {change}")
    pk_site = pks[0].meta.get("sampling")
    pd_site = pd.meta.get("sampling")
    t = effect_half_time_min(pd)
    window = (f"about the first {4 * t:.0f} min after each IV dose or rate change (4 × its t½ke0 of {t:.1f} min)"
              if math.isfinite(t) else "the first minutes after each IV dose or rate change")
    lag = "lag" if pk_site == "venous" else "lead"
    later = "later and lower" if pk_site == "venous" else "earlier and higher"
    return (f"{pd.name} was fitted to {pd_site} concentrations but {names} predict{'s' if len(pks) == 1 else ''} "
            f"{pk_site} ones, which {lag} arterial ones after fast inputs: the simulated effect rises {later} "
            f"than in the PD study over {window}; slower inputs (oral, intranasal) and steady infusions "
            f"change less.  If intended: [pairing] accept = "
            f"[{', '.join(repr(f'{m.name}/{pd.name}').replace(chr(39), chr(34)) for m in pks)}]")


def _note(cs: list[Caveat], pd: PDModel) -> str:
    """One line for accepted caveats of one kind on one PD model."""
    c = cs[0]
    pairs = ", ".join(x.pair for x in cs)
    head = f"accepted pairing{'s' if len(cs) > 1 else ''} {pairs}"
    if c.kind == "drug":
        return f"{head} ({c.pd_value} PD, {c.pk_value} PK: effect off by a concentration factor of 1.35–2)"
    t = effect_half_time_min(pd)
    span = f"~{4 * t:.0f} min" if math.isfinite(t) else "minutes"
    return f"{head} ({c.pd_value} PD, {c.pk_value} PK: IV effect onset shifted over {span})"

"""Which PK and PD models belong together: errors for pairs that cannot be right, notes on the
conversions that make a pair of different ketamine forms work, warnings for caveats.

* a PK model of another ketamine form than the PD model (racemic PK, S-ketamine PD) is an error
  unless the PD file declares an ``[enantiomers]`` conversion (:mod:`pkpd.models.enantiomers`);
  then the conversion is a note, shown with every run;
* arterial against venous sampling is a warning (effect onset shifts).
"""
from __future__ import annotations

from pkpd.models.enantiomers import conversion_note, mismatch_message
from pkpd.models.pd import PDModel
from pkpd.models.pk import Model


def pairing_problems(pk: Model, pd: PDModel) -> list[str]:
    """Errors for attaching ``pd`` to ``pk``: forms of ketamine that differ without a conversion."""
    if pk.drug != pd.drug and pd.enantiomers is None:
        return [mismatch_message(pk, pd)]
    return []


def pairing_notes(pk: Model, pd: PDModel) -> list[str]:
    """How ``pk``'s concentrations are converted for ``pd`` (empty when they are of one form)."""
    note = conversion_note(pk, pd)
    return [note] if note else []


def pairing_warnings(pk: Model, pd: PDModel) -> list[str]:
    """Caveats of attaching ``pd`` to ``pk`` that do not stop a run (sampling site)."""
    out = []
    ps, ds = pk.meta.get("sampling"), pd.meta.get("sampling")
    if ps and ds and "unknown" not in (ps, ds) and ps != ds:
        out.append(f"{pd.name} uses {ds} concentrations but {pk.name} predicts {ps} ones: early "
                   f"concentrations differ between arterial and venous blood, so effect onset is shifted")
    return out

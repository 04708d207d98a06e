"""Which PK and PD models belong together, and why a pairing may mislead."""
from __future__ import annotations

from pkpd.models.pd import PDModel
from pkpd.models.pk import Model


def pairing_warnings(pk: Model, pd: PDModel) -> list[str]:
    """Warnings for attaching PD model ``pd`` to PK model ``pk`` (empty when consistent)."""
    out = []
    if pk.drug != pd.drug:
        out.append(f"{pd.name} was estimated on {pd.drug} concentrations but {pk.name} simulates {pk.drug}: "
                   f"concentrations are not comparable (R-ketamine is less potent)")
    ps, ds = pk.meta.get("sampling"), pd.meta.get("sampling")
    if ps and ds and "unknown" not in (ps, ds) and ps != ds:
        out.append(f"{pd.name} uses {ds} concentrations but {pk.name} predicts {ps} ones: early "
                   f"concentrations differ between arterial and venous blood, so effect onset is shifted")
    return out

"""The ``molar`` flag of a flow or absorption path that crosses species.

By default a flow or path from one species into another (ketamine → norketamine) carries the
same moles, so the mass it delivers is converted by the molar masses (223.70 / 237.73 for
norketamine).  Some published models do not do this: Otto 2021's NONMEM code and Perez-Ruixo
2021's model carry the metabolite in *parent-mass equivalents* (mg of ketamine), and their
apparent metabolite volumes and clearances were estimated that way, so the published metabolite
concentrations (ng/mL of metabolite, as measured) come out only without the conversion.
``molar = false`` on such a flow or path says so: the mass passes 1:1 and the metabolite's
apparent parameters absorb the factor.  Concentrations are still reported as ng/mL of the
metabolite (and nmol/mL by the metabolite's own molar mass), exactly as the paper reports them.
"""
from __future__ import annotations

from pkpd import units
from pkpd.errors import Collector


def molar_flag(spec: dict, f: str, col: Collector, source_species: str | None, dest_species: str | None,
               elimination: bool = False) -> bool:
    """The ``molar`` key of a flow or path table ``spec`` at field ``f`` (default True).

    It must be a boolean and is only meaningful between two different species (not on an
    ``elimination`` flow); a problem is collected in ``col`` (and the default returned) otherwise.
    Unknown species (a compartment already reported as bad) are not checked again.
    """
    if "molar" not in spec:
        return True
    v = spec["molar"]
    if not isinstance(v, bool):
        col.add("'molar' must be true or false", f"{f}.molar")
        return True
    if elimination:
        col.add("'molar' is for a flow into another species, not an elimination", f"{f}.molar")
        return True
    if source_species is not None and dest_species is not None and source_species == dest_species:
        col.add(f"'molar' is for a flow into another species ({source_species} → {dest_species} needs no conversion)",
                f"{f}.molar")
        return True
    return v


def mass_ratio(dest_species: str, source_species: str, molar: bool) -> float:
    """mg delivered into ``dest_species`` per mg leaving ``source_species``: the molar-mass ratio,
    or 1 when the model carries the destination in parent-mass equivalents (``molar = false``)."""
    if not molar:
        return 1.0
    return units.MOLAR_MASS[dest_species] / units.MOLAR_MASS[source_species]

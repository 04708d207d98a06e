"""The ``[enantiomers]`` section of a PD file: how concentrations of another ketamine form drive it.

A PD model was estimated on concentrations of one form (``[model] drug``): S-ketamine
(Leiden studies, esketamine given) or racemic ketamine (Bowdle 1998).  A PK model of another
form predicts other concentrations, which drive the PD model only through a declared,
cited conversion::

    [enantiomers]
    s_fraction = "f_S"     # parameter: S-ketamine share of a racemic plasma concentration
    r_potency = "r_rel"    # parameter: potency of R-ketamine relative to S (0: no contribution)

Both name ``[parameters]`` entries (so each has its unit, source, grade and range, can be swept
and drawn from its CI).  The effect sites then see S-ketamine-equivalent concentrations::

    equivalent(S) = 1,  equivalent(R) = r_rel,  equivalent(racemic) = f_S + (1 − f_S)·r_rel

and a PK model of form ``pk`` drives a PD model of form ``pd`` at ``scale = equivalent(pk) /
equivalent(pd)`` times its plasma concentration: racemic PK into Olofsen 2022 (R contributes
nothing) gives 0.5 × the racemic concentration; S-ketamine PK into Bowdle's racemic VAS gives
2 × the S concentration.  The scale multiplies the input of every effect compartment of the PD
model (``dCe/dt = ke0 (scale·Cp − Ce)``), so ``Ce`` is in the PD model's own terms.

Without the section a PK/PD pair of different forms is an error naming both files
(:func:`concentration_scale`, :func:`pkpd.models.pairing.pairing_problems`).
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
from pkpd.errors import Collector, PkpdError
from pkpd.models.drugs import article


_KEYS = ("s_fraction", "r_potency")


@dataclass(frozen=True)
class EnantiomerConversion:
    """Names of the parameters giving the S share of racemic concentrations and R's relative potency."""

    s_fraction: str
    r_potency: str


def parse_enantiomers(table, col: Collector, params: dict) -> EnantiomerConversion | None:
    """``[enantiomers]``: both keys must name parameters (fractions, dimensionless)."""
    if table is None:
        return None
    if not isinstance(table, dict):
        col.add("must be a table: s_fraction = \"PARAM\", r_potency = \"PARAM\"", "enantiomers")
        return None
    for k in sorted(set(table) - set(_KEYS)):
        col.add(f"unknown key '{k}' (known: {', '.join(_KEYS)})", f"enantiomers.{k}")
    names = {}
    for k in _KEYS:
        v = table.get(k)
        if not isinstance(v, str) or v not in params:
            col.add(f"must name a parameter of [parameters] (got {v!r})", f"enantiomers.{k}")
            continue
        if params[v].kind != "fraction":
            col.add(f"parameter {v!r} must be dimensionless (unit \"1\")", f"enantiomers.{k}")
            continue
        names[k] = v
    if len(names) != len(_KEYS):
        return None
    conv = EnantiomerConversion(names["s_fraction"], names["r_potency"])
    f, r = params[conv.s_fraction].value, params[conv.r_potency].value
    if not 0 < f <= 1:
        col.add(f"the S share of racemic concentrations must be in (0, 1] (got {f:g})", "enantiomers.s_fraction")
    if r < 0:
        col.add(f"a relative potency cannot be negative (got {r:g})", "enantiomers.r_potency")
    return conv


def equivalent(drug: str, s_fraction, r_potency):
    """S-ketamine-equivalent concentration per unit concentration of a model of ``drug``."""
    if drug == "S-ketamine":
        return np.ones_like(np.asarray(s_fraction, dtype=float))
    if drug == "R-ketamine":
        return np.asarray(r_potency, dtype=float)
    return s_fraction + (1.0 - s_fraction) * r_potency


def concentration_scale(pk, pd, values: dict[str, np.ndarray]) -> np.ndarray:
    """Per-subject factor from PK model ``pk``'s plasma concentrations to PD model ``pd``'s terms.

    ``values`` are ``pd``'s individual parameters (arrays ``(n,)``).  1 when both describe the
    same form.

    Raises
    ------
    PkpdError
        When the forms differ and ``pd`` declares no ``[enantiomers]`` conversion (naming both
        files), or when the conversion makes the PD form's concentrations ineffective (÷ 0).
    """
    n = len(values["WT"])
    if pk.drug == pd.drug:
        return np.ones(n)
    conv = pd.enantiomers
    if conv is None:
        raise PkpdError(mismatch_message(pk, pd))
    f, r = values[conv.s_fraction], values[conv.r_potency]
    den = equivalent(pd.drug, f, r)
    if np.any(den <= 0):
        raise PkpdError(f"{pd.name} ({pd.path}): with R-ketamine potency 0, {pd.drug} concentrations have no "
                        f"effect, so {pk.drug} concentrations of {pk.name} cannot be converted")
    return np.broadcast_to(equivalent(pk.drug, f, r) / den, (n,)).astype(float)


def mismatch_message(pk, pd) -> str:
    """The error for a PK/PD pair of different forms without a declared conversion."""
    return (f"PD model {pd.name} ({pd.path}) was estimated on {pd.drug} concentrations but PK model "
            f"{pk.name} ({pk.path}) describes {pk.drug}: the concentrations are not comparable and "
            f"{pd.name} declares no [enantiomers] conversion (S share of racemic concentrations, R-ketamine "
            f"potency); choose {article(pd.drug)} {pd.drug} PK model or a PD model that declares one")


def conversion_note(pk, pd) -> str:
    """How ``pk``'s concentrations drive ``pd`` (for notes and attributes); ``""`` when the forms match."""
    if pk.drug == pd.drug or pd.enantiomers is None:
        return ""
    c = pd.enantiomers
    p = pd.parameters
    f, r = p[c.s_fraction].value, p[c.r_potency].value
    scale = float(equivalent(pk.drug, f, r) / equivalent(pd.drug, f, r))
    return (f"{pk.name} ({pk.drug}) drives {pd.name} ({pd.drug}) through its [enantiomers] conversion: "
            f"effect sites see {scale:.3g} × the plasma concentration (S share of racemic {c.s_fraction} = "
            f"{f:g}, R-ketamine relative potency {c.r_potency} = {r:g}; sources in the PD file)")

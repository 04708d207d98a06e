"""The building blocks of a PK model: compartments, first-order flows and absorption paths.

Plain frozen records, checked and assembled by :func:`pkpd.models.pk.parse_model` into a
:class:`pkpd.models.pk.Model`.  Internal units throughout: amounts mg, volumes L, times h.
"""
from __future__ import annotations

from dataclasses import dataclass
from pkpd import expr


@dataclass(frozen=True)
class Compartment:
    """A compartment of one species; ``volume`` names a parameter or derived value (L)."""

    name: str
    species: str
    volume: str | None = None  # parameter/derived name (L); None for a depot
    description: str = ""


@dataclass(frozen=True)
class Flow:
    """A first-order transfer: ``rate`` (1/h, expression) out of ``source``.

    ``dest`` None means elimination.  The destination gains
    ``rate · fraction · M(dest species)/M(source species)`` per unit amount in ``source``
    (without the molar-mass ratio when ``molar`` is False: see :mod:`pkpd.models.mass_units`).
    """

    source: str
    dest: str | None
    rate: expr.Expression
    fraction: expr.Expression | None = None
    molar: bool = True


@dataclass(frozen=True)
class AbsorptionPath:
    """One absorption path of a route.

    ``fraction`` is the share of the dose (may use ``spray``), ``ka`` the first-order
    absorption rate constant out of ``depot`` (1/h), ``release`` a zero-order release
    duration (h) and ``lag`` a lag time (h).  ``molar`` False: a path into a metabolite
    compartment carries the dose in parent-mass equivalents (:mod:`pkpd.models.mass_units`).
    """

    target: str
    fraction: expr.Expression
    depot: str | None = None
    ka: expr.Expression | None = None  # 1/h
    release: expr.Expression | None = None  # zero-order release duration, h
    lag: expr.Expression | None = None  # h
    molar: bool = True

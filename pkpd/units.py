"""Quantities with units at the edges; plain floats in internal units inside.

Internal units: amount **mg**, volume **L**, time **h**, concentration **mg/L**,
rate **mg/h**, rate constant **1/h**, clearance **L/h**, body weight **kg**,
age **year**.  Parsing and conversion use pint; a quantity "per kilogram"
(``0.5 mg/kg``, ``1 mg/kg/h``, ``0.063 L/kg``) is a per-body-weight quantity and
is multiplied by the subject's weight where it is used.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
import pint
from pkpd.errors import PkpdError


#: Molar masses of the free bases, g/mol (= ng/nmol).
MOLAR_MASS = {"ketamine": 237.73, "norketamine": 223.70, "hydroxynorketamine": 239.70}


#: Internal unit of each kind of quantity.
INTERNAL = {
    "amount": "mg",
    "volume": "L",
    "time": "h",
    "concentration": "mg/L",
    "rate": "mg/h",
    "rate_constant": "1/h",
    "clearance": "L/h",
    "weight": "kg",
    "age": "year",
    "height": "cm",
    "fraction": "dimensionless",
    "per_concentration": "L/mg",  # PD slopes: effect per unit concentration
}


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    ureg.define("fraction = [] = frac")
    return ureg


@dataclass(frozen=True)
class Quantity:
    """A parsed input quantity in internal units.

    ``per_kg`` is true for per-body-weight quantities (``mg/kg``); multiply
    ``value`` by the body weight in kg to get the absolute quantity.
    """

    value: float
    kind: str
    per_kg: bool = False
    text: str = field(default="", compare=False)  # as written; equality is by value

    def absolute(self, weight_kg: float) -> float:
        return self.value * weight_kg if self.per_kg else self.value


def _per_kg(q: pint.Quantity) -> bool:
    """Is this a per-body-weight unit: kilogram in the denominator (``mg/kg``, ``L/kg``)?

    Only the kilogram counts: ``mL/ng`` (a PD slope) is not per body weight.
    """
    return any(power < 0 and name == "kilogram" for name, power in q._units.items())


def parse(value, kind: str, field: str | None = None, *, allow_per_kg: bool = False,
          default_unit: str | None = None) -> Quantity:
    """Parse ``"0.5 mg/kg"``-style text (or a bare number) into internal units.

    Parameters
    ----------
    value : str or float
        Text with a unit, or a number (only when ``default_unit`` is given or
        ``kind`` is ``fraction``).
    kind : str
        One of :data:`INTERNAL`'s keys; the dimension is checked against it.
    field : str, optional
        Field name used in error messages.
    allow_per_kg : bool
        Accept per-body-weight units (``mg/kg``).
    """
    ureg = registry()
    target = INTERNAL[kind]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PkpdError(f"expected a quantity such as '{_example(kind)}', got {type(value).__name__}", field=field)
    if isinstance(value, (int, float)):
        if kind == "fraction":
            text = str(value)
            q = ureg.Quantity(float(value), "dimensionless")
        elif default_unit is not None:
            text = f"{value} {default_unit}"
            q = ureg.Quantity(float(value), default_unit)
        else:
            raise PkpdError(f"a bare number {value!r} has no unit; write it with one, e.g. '{_example(kind)}'", field=field)
    else:
        text = value.strip()
        if not text:
            raise PkpdError(f"empty quantity; write e.g. '{_example(kind)}'", field=field)
        try:
            q = ureg.Quantity(text)
        except (pint.errors.UndefinedUnitError) as e:
            raise PkpdError(f"unknown unit in {text!r} ({e}); write e.g. '{_example(kind)}'", field=field) from None
        except Exception:
            raise PkpdError(f"cannot read {text!r} as a quantity; write e.g. '{_example(kind)}'", field=field) from None
        if not isinstance(q, pint.Quantity):  # a bare number written as text
            q = ureg.Quantity(float(q), "dimensionless")
    mag = q.magnitude
    if not isinstance(mag, (int, float)) or not math.isfinite(float(mag)):
        raise PkpdError(f"{text!r} is not a finite number", field=field)
    per_kg = _per_kg(q)
    if per_kg:
        if not allow_per_kg:
            raise PkpdError(f"{text!r}: a per-kilogram quantity is not allowed here", field=field)
        q = q * ureg.Quantity(1, "kg")
    try:
        out = q.to(target).magnitude
    except pint.errors.DimensionalityError:
        raise PkpdError(
            f"{text!r} has the wrong dimension for a {kind.replace('_', ' ')} "
            f"(expected something like '{_example(kind)}')", field=field) from None
    return Quantity(float(out), kind, per_kg, text)


def convert(value: float, unit: str, field: str | None = None) -> Quantity:
    """Convert a model-file number ``value`` given in ``unit`` to internal units.

    The kind is inferred from the unit's dimension (``L/h`` → clearance,
    ``1/h`` → rate constant, ``L/kg`` → per-kg volume, ``1`` → fraction).
    """
    kind = kind_of(unit)
    if kind is None:
        raise PkpdError(f"unknown or unsupported unit {unit!r}", field=field)
    if kind == "fraction":
        return parse(float(value), "fraction", field)
    return parse(f"{float(value)!r} {unit}", kind, field, allow_per_kg=True)


def kind_of(unit: str) -> str | None:
    """The kind (key of :data:`INTERNAL`) whose dimension ``unit`` has, per kg removed."""
    ureg = registry()
    if unit.strip() in ("", "1", "-", "fraction", "dimensionless"):
        return "fraction"
    try:
        q = ureg.Quantity(1.0, unit)
    except Exception:
        return None
    if _per_kg(q):
        q = q * ureg.Quantity(1, "kg")
    for kind, target in INTERNAL.items():
        if kind in ("age", "height", "weight", "concentration"):
            continue  # ambiguous with time/length/amount: only by explicit request
        if q.dimensionality == ureg.Quantity(1, target).dimensionality:
            return kind
    if q.dimensionality == ureg.Quantity(1, "mg/L").dimensionality:
        return "concentration"
    return None


def _example(kind: str) -> str:
    return {
        "amount": "28 mg",
        "volume": "192 L",
        "time": "40 min",
        "concentration": "100 ng/mL",
        "rate": "10 mg/h",
        "rate_constant": "2.93 1/h",
        "clearance": "84.3 L/h",
        "weight": "70 kg",
        "age": "40 year",
        "height": "175 cm",
        "fraction": "0.54",
        "per_concentration": "0.038 mL/ng",
    }[kind]

"""Typical-value overrides: change one parameter of a model for one run (like mrgsolve's ``param()``).

An override is ``{model name: {parameter: value}}``.  A value is text with a unit (``"60 L/h"``,
``"0.6 nmol/mL"``, ``"10 min"``), converted to the internal unit of the parameter's kind (mg, L,
h, mg/L); a dimensionless parameter also takes a bare number written as text (``"2.5"``).  A
Python number is taken as already in internal units (as :func:`pkpd.simulate_population` always
did).  Only ``[parameters]`` can be overridden (derived values follow from them); an overridden
parameter keeps its between-subject variability but loses its confidence interval (the typical
value is now fixed by the user), and the model's ``meta["overrides"]`` records what was set.

:func:`parse_assignment` reads the command line's ``MODEL.PARAM=VALUE``.
"""
from __future__ import annotations

import math
from dataclasses import replace
import numpy as np
import pint
from pkpd import units
from pkpd.errors import PkpdError
from pkpd.models.parameters import Parameter


def override_value(p: Parameter, value, field: str) -> float:
    """The internal-unit typical value of ``p`` that ``value`` asks for.

    Parameters
    ----------
    p : Parameter
        The parameter being overridden (its written unit and kind decide the conversion).
    value : str or float
        Text with a unit, or a number in internal units (see the module docstring).
    field : str
        Named in error messages (``overrides.perez_ruixo_2021.CL``).

    Returns
    -------
    float
        The value in internal units (mg, L, h, mg/L; per kg for a per-kg parameter).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise PkpdError(f"must be a quantity such as '{_example(p)}', got {type(value).__name__}", field=field)
    if isinstance(value, str):
        out = _from_text(p, value.strip(), field)
    else:
        out = float(value)
    if not math.isfinite(out):
        raise PkpdError(f"{value!r} is not a finite number", field=field)
    if out < 0 and p.kind not in ("fraction", "per_concentration"):
        raise PkpdError(f"a {p.kind.replace('_', ' ')} cannot be negative ({value})", field=field)
    return out


def _from_text(p: Parameter, text: str, field: str) -> float:
    """Text with a unit → internal units of ``p`` (through the written unit, so molar units work)."""
    ureg = units.registry()
    try:
        q = ureg.Quantity(text)
    except Exception:
        raise PkpdError(f"cannot read {text!r} as a quantity; write e.g. '{_example(p)}'", field=field) from None
    if not isinstance(q, pint.Quantity) or q.dimensionless:
        mag = float(q.to("dimensionless").magnitude) if isinstance(q, pint.Quantity) else float(q)
        if p.kind == "fraction":
            return mag
        raise PkpdError(f"{text!r} has no unit; write it with one, e.g. '{_example(p)}' "
                        f"(the model file writes {p.unit})", field=field)
    if p.kind == "fraction":
        raise PkpdError(f"{text!r}: {p.name} is dimensionless; give a plain number", field=field)
    try:
        return float(q.to(p.unit).magnitude) * p.factor
    except pint.errors.DimensionalityError:
        pass
    if p.kind == "concentration":  # a mass concentration for a parameter written in nmol/mL
        try:
            return units.parse(text, "concentration", field).value
        except PkpdError:
            pass
    raise PkpdError(f"{text!r} has the wrong dimension for {p.name} (the model file writes {p.unit}, "
                    f"e.g. '{_example(p)}')", field=field)


def _example(p: Parameter) -> str:
    return f"{p.written:g} {p.unit}" if p.kind != "fraction" else f"{p.written:g}"


def resolve_overrides(models, overrides: dict | None, where: str = "overrides") -> dict[str, dict[str, float]]:
    """Check ``overrides`` against ``models`` (PK and PD) and convert every value to internal units.

    Parameters
    ----------
    models : sequence of Model or PDModel
        The models of the run.
    overrides : dict or None
        ``{model name: {parameter: value}}`` (see the module docstring).
    where : str
        The field prefix in error messages.

    Returns
    -------
    dict
        ``{model name: {parameter: internal value}}``.

    Raises
    ------
    PkpdError
        An unknown model or parameter (the message lists the known ones), a bad value or unit.
    """
    if not overrides:
        return {}
    if not isinstance(overrides, dict):
        raise PkpdError("must be a dict {model name: {parameter: value}}", field=where)
    by_name = {m.name: m for m in models}
    out: dict[str, dict[str, float]] = {}
    for mname, values in overrides.items():
        if mname not in by_name:
            raise PkpdError(f"unknown model {mname!r} (models of this run: {', '.join(by_name)})",
                            field=_at(where, mname))
        if not isinstance(values, dict):
            raise PkpdError("must be a dict {parameter: value}", field=_at(where, mname))
        params = by_name[mname].parameters
        for pname, v in values.items():
            if pname not in params:
                derived = " (a derived value: override the parameters it is computed from)" \
                    if pname in by_name[mname].params.derived else ""
                raise PkpdError(f"model {mname} has no parameter {pname!r}{derived}; parameters: "
                                f"{', '.join(params)}", field=_at(where, mname, pname))
            out.setdefault(mname, {})[pname] = override_value(params[pname], v, _at(where, mname, pname))
    return out


def _at(where: str, *names: str) -> str:
    """The field an error names: ``overrides.MODEL.PARAM``, or ``--set MODEL.PARAM`` for an option."""
    return f"{where} {'.'.join(names)}" if where.startswith("-") else ".".join((where,) + names)


def with_overrides(models, overrides: dict | None, where: str = "overrides") -> tuple:
    """Copies of ``models`` whose typical values are replaced as ``overrides`` asks.

    Models without an override are returned as they are.  Each changed model records the new
    values, as written, in ``meta["overrides"]`` (``"CL = 60 L/h (file: 95.2 L/h)"``), and its
    typical subject is evaluated once so that a value breaking a derived expression (a division
    by zero) is reported here.

    Parameters and errors as :func:`resolve_overrides`.
    """
    models = tuple(models)
    resolved = resolve_overrides(models, overrides, where)
    out = []
    for m in models:
        new = resolved.get(m.name)
        if not new:
            out.append(m)
            continue
        params = dict(m.params.parameters)
        notes = []
        for k, v in new.items():
            p = params[k]
            params[k] = replace(p, value=v, written=v / p.factor, ci=None,
                                source=f"override of {p.written:g} {p.unit} ({p.source})" if p.source else
                                f"override of {p.written:g} {p.unit}")
            notes.append(f"{k} = {v / p.factor:.6g} {p.unit} (file: {p.written:g} {p.unit})")
        changed = replace(m, params=replace(m.params, parameters=params),
                          meta={**m.meta, "overrides": "; ".join(notes)})
        _check_finite(changed, _at(where, m.name))
        out.append(changed)
    return tuple(out)


def _check_finite(m, field: str) -> None:
    """The overridden model's typical values must all be finite."""
    with np.errstate(all="ignore"):
        try:
            vals = m.params.individual()
        except PkpdError as e:
            raise e.located(field_prefix=field) from None
    bad = sorted(k for k, v in vals.items() if not np.all(np.isfinite(v)))
    if bad:
        raise PkpdError(f"with these values {', '.join(bad)} are not finite", field=field)


def parse_assignment(text: str, field: str = "--set") -> tuple[str, str, str]:
    """``"perez_ruixo_2021.CL=60 L/h"`` → ``("perez_ruixo_2021", "CL", "60 L/h")``.

    Raises
    ------
    PkpdError
        When the text is not ``MODEL.PARAM=VALUE``.
    """
    left, eq, value = text.partition("=")
    mname, dot, pname = left.strip().rpartition(".")
    if not eq or not dot or not mname or not pname or not value.strip():
        raise PkpdError(f"{text!r} must read MODEL.PARAM=VALUE, e.g. 'perez_ruixo_2021.CL=60 L/h'", field=field)
    return mname.strip(), pname.strip(), value.strip()


def assignments_to_overrides(texts, field: str = "--set") -> dict[str, dict[str, str]]:
    """Several ``MODEL.PARAM=VALUE`` texts → ``{model: {parameter: value text}}`` (a parameter
    given twice is an error)."""
    out: dict[str, dict[str, str]] = {}
    for t in texts or ():
        mname, pname, value = parse_assignment(t, field)
        if pname in out.get(mname, {}):
            raise PkpdError(f"{mname}.{pname} is set twice", field=field)
        out.setdefault(mname, {})[pname] = value
    return out

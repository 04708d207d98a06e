"""Between-subject variability (IIV): where its size comes from, how large it is, and how a
sweep changes it.

An ``iiv`` table of a parameter may carry its own provenance, because the size of the
variability is often less certain than the typical value (a C50 read in an abstract, its IIV
not published)::

    C50 = { value = 0.51, unit = "nmol/mL", …, grade = "abstract",
            iiv = { cv = 0.5, grade = "assumption", range = [0.25, 0.8],
                    note = "not published; …" } }

``grade`` is one of the parameter grades; an ``assumption`` needs a ``note`` and a ``range``
(in the unit of the key given: ``cv``, ``omega`` or ``omega2``), any other grade a ``source``.
Without a ``grade`` the IIV shares the parameter's provenance (published tables print both).

:func:`cv_percent` reports a log-normal IIV as the CV of the parameter, √(exp(ω²) − 1), the way
papers print it; :func:`with_iiv` returns a model whose IIV of one parameter has another size
(a sweep over ``"model.PARAM.cv"`` or ``"model.PARAM.omega"``), correlations kept.
"""
from __future__ import annotations

import math
from dataclasses import replace
from pkpd.errors import PkpdError


#: Keys of an ``iiv`` table that say where its size comes from.
PROVENANCE_KEYS = {"grade", "source", "note", "range"}


#: Sweep suffixes naming the size of a parameter's IIV.
IIV_SUFFIXES = ("cv", "omega")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def iiv_provenance(spec: dict, f: str, given: str, grades) -> dict:
    """``grade``, ``source``, ``note`` and ``range`` of an ``iiv`` table at field ``f``.

    ``given`` is the size key used (``cv``, ``omega`` or ``omega2``); a ``range`` is in its unit
    and must hold the value.  ``grades`` are the allowed grades.  Returns a dict of the four
    (``grade`` ``""`` when the IIV shares the parameter's provenance).
    """
    grade = spec.get("grade", "")
    if grade != "" and (not isinstance(grade, str) or grade not in grades):
        raise PkpdError(f"'grade' must be one of {', '.join(grades)} (got {grade!r})", field=f"{f}.grade")
    source, note = spec.get("source", ""), spec.get("note", "")
    if not isinstance(source, str) or not isinstance(note, str):
        raise PkpdError("'source' and 'note' must be text", field=f)
    rng = spec.get("range")
    if rng is not None:
        v = spec[given]
        if not (isinstance(rng, list) and len(rng) == 2 and all(_finite(r) for r in rng)
                and 0 <= rng[0] <= v <= rng[1]):
            raise PkpdError(f"'range' must be [low, high] (as '{given}', ≥ 0) around the value {v:g}",
                            field=f"{f}.range")
        rng = (float(rng[0]), float(rng[1]))
    if grade == "assumption":
        if not note.strip():
            raise PkpdError("an assumed IIV needs a 'note' saying why this size", field=f"{f}.note")
        if rng is None:
            raise PkpdError("an assumed IIV needs a 'range' [low, high] for sensitivity analysis", field=f"{f}.range")
    elif grade and not source.strip():
        raise PkpdError("'source' must say where the IIV comes from (citation, table)", field=f"{f}.source")
    return {"grade": grade, "source": source, "note": note, "range": rng}


def cv_percent(iiv) -> float | None:
    """CV % of a log-normal IIV, 100·√(exp(ω²) − 1); None for logit or additive variability."""
    if iiv is None or iiv.transform != "log":
        return None
    return 100.0 * math.sqrt(math.expm1(iiv.omega2))


def describe(iiv) -> str:
    """The IIV as papers print it: ``CV 50 %`` (log-normal; with ``ω`` when the file gave ω or ω²,
    which papers often print as a "CV" of ω·100 %) or ``ω 0.71 (logit)``."""
    cv = cv_percent(iiv)
    if cv is None:
        return f"ω {math.sqrt(iiv.omega2):.3g} ({iiv.transform})"
    return f"CV {cv:.3g} %" + ("" if iiv.given == "cv" else f" (ω {math.sqrt(iiv.omega2):.3g})")


def range_text(iiv) -> str:
    """The IIV's suggested range in the key it was given in (``cv 0.25–0.8``), or ``""``."""
    if iiv is None or iiv.range is None:
        return ""
    return f"{iiv.given} {iiv.range[0]:g}–{iiv.range[1]:g}"


def omega2_from(key: str, value: float) -> float:
    """ω² from a size given as ``cv`` (log-normal) or ``omega``."""
    if not _finite(value) or value < 0:
        raise PkpdError(f"an IIV size must be a finite number ≥ 0 (got {value!r})")
    return math.log1p(value * value) if key == "cv" else value * value


def with_iiv(model, pname: str, key: str, value: float):
    """A copy of ``model`` (PK or PD) whose parameter ``pname`` has IIV of size ``value``.

    ``key`` is ``cv`` (log-normal IIV only) or ``omega``.  Covariances with other parameters keep
    their correlation.  Raises :class:`PkpdError` when the parameter has no IIV to resize.
    """
    p = model.parameters.get(pname)
    if p is None or p.iiv is None:
        raise PkpdError(f"{model.name}.{pname} has no IIV to vary")
    if key == "cv" and p.iiv.transform != "log":
        raise PkpdError(f"{model.name}.{pname} has {p.iiv.transform} IIV: vary its 'omega', not its 'cv'")
    om2 = omega2_from(key, value)
    ratio = math.sqrt(om2 / p.iiv.omega2) if p.iiv.omega2 > 0 else 0.0
    pset = model.params
    cov = {pair: (v * ratio if pname in pair else v) for pair, v in pset.covariances.items()}
    params = dict(pset.parameters)
    params[pname] = replace(p, iiv=replace(p.iiv, omega2=om2))
    return replace(model, params=replace(pset, parameters=params, covariances=cov))

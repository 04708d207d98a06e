"""Dose tables of a scenario file: ``{ route = "iv", amount = "0.5 mg/kg", duration = "40 min" }``.

:func:`parse_dose` checks one such table (known keys, a route of
:data:`pkpd.models.routes.ROUTES`, quantities with units) and returns a
:class:`~pkpd.dosing.regimen.Dose`; every error names the offending field.
"""
from __future__ import annotations

from pkpd import units
from pkpd.dosing.regimen import Dose
from pkpd.errors import PkpdError
from pkpd.models.drugs import resolve_drug
from pkpd.models.routes import ROUTES


DOSE_KEYS = {"route", "amount", "rate", "duration", "start", "every", "times", "sprays", "spray_interval",
             "steady_state", "drug"}


def parse_dose(d, f: str) -> Dose:
    """Check one dose table of a scenario file and make it a :class:`Dose`.

    Parameters
    ----------
    d : dict
        The table: ``route`` (a key of :data:`pkpd.models.routes.ROUTES`), exactly one of
        ``amount`` (mg or mg/kg) and ``rate`` (mg/h or mg/kg/h), and optionally ``duration``,
        ``start``, ``every``, ``spray_interval`` (times with a unit, e.g. ``"40 min"``; converted
        to h), ``times`` and ``sprays`` (1–10000), ``steady_state`` (bool) and ``drug`` (what is
        given: ``esketamine``, ``racemic`` or ``arketamine``; :mod:`pkpd.models.drugs`).
    f : str
        The table's field path (e.g. ``regimens[0].doses[1]``), prefixed to error fields.

    Returns
    -------
    Dose
        The checked dose.

    Raises
    ------
    PkpdError
        On an unknown key or route, a bad or negative quantity, a wrong type, or a combination
        :class:`Dose` rejects; its field names the offending key.
    """
    if not isinstance(d, dict):
        raise PkpdError("must be a table such as { route = \"iv\", amount = \"0.5 mg/kg\" }", field=f)
    unknown = sorted(set(d) - DOSE_KEYS)
    if unknown:
        raise PkpdError(f"unknown key '{unknown[0]}' (known: {', '.join(sorted(DOSE_KEYS))})", field=f"{f}.{unknown[0]}")
    route = d.get("route")
    if not isinstance(route, str) or route not in ROUTES:
        raise PkpdError(f"unknown route {route!r} (known: {', '.join(ROUTES)})", field=f"{f}.route")
    kw = {"route": route}
    if "drug" in d:
        kw["drug"] = resolve_drug(d["drug"], f"{f}.drug")
    if "amount" in d:
        kw["amount"] = units.parse(d["amount"], "amount", f"{f}.amount", allow_per_kg=True)
        if kw["amount"].value < 0:
            raise PkpdError(f"dose cannot be negative ({d['amount']})", field=f"{f}.amount")
    if "rate" in d:
        kw["rate"] = units.parse(d["rate"], "rate", f"{f}.rate", allow_per_kg=True)
        if kw["rate"].value < 0:
            raise PkpdError(f"rate cannot be negative ({d['rate']})", field=f"{f}.rate")
    if ("amount" in d) == ("rate" in d):
        raise PkpdError("give exactly one of 'amount' or 'rate'", field=f)
    if "steady_state" in d:
        if not isinstance(d["steady_state"], bool):
            raise PkpdError("must be true or false", field=f"{f}.steady_state")
        kw["steady_state"] = d["steady_state"]
    for k in ("duration", "start", "every", "spray_interval"):
        if k in d:
            kw[k] = units.parse(d[k], "time", f"{f}.{k}").value
            if kw[k] < 0 or (k in ("duration", "every") and kw[k] == 0):
                raise PkpdError(f"must be {'> 0' if k in ('duration', 'every') else '≥ 0'}", field=f"{f}.{k}")
    for k in ("times", "sprays"):
        if k in d:
            v = d[k]
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 10_000:
                raise PkpdError("must be a whole number from 1 to 10000", field=f"{f}.{k}")
            kw[k] = v
    try:
        return Dose(**kw)
    except PkpdError as e:
        raise e.located(field_prefix=f) from None

"""TODO docstring (scenario.doses)"""
from __future__ import annotations

from pkpd import units
from pkpd.dosing.regimen import Dose
from pkpd.errors import PkpdError
from pkpd.models.routes import ROUTES


_DOSE_KEYS = {"route", "amount", "rate", "duration", "start", "every", "times", "sprays", "spray_interval",
              "steady_state"}


def parse_dose(d, f: str) -> Dose:
    """Check one dose table; raise :class:`PkpdError` naming the field."""
    if not isinstance(d, dict):
        raise PkpdError("must be a table such as { route = \"iv\", amount = \"0.5 mg/kg\" }", field=f)
    unknown = sorted(set(d) - _DOSE_KEYS)
    if unknown:
        raise PkpdError(f"unknown key '{unknown[0]}' (known: {', '.join(sorted(_DOSE_KEYS))})", field=f"{f}.{unknown[0]}")
    route = d.get("route")
    if not isinstance(route, str) or route not in ROUTES:
        raise PkpdError(f"unknown route {route!r} (known: {', '.join(ROUTES)})", field=f"{f}.route")
    kw = {"route": route}
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

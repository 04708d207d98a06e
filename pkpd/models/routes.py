"""TODO docstring (models.routes)"""
from __future__ import annotations



#: Routes a model may support, with their long names.
ROUTES = {
    "iv": "intravenous",
    "oral": "oral",
    "intranasal": "intranasal",
    "sublingual": "sublingual / buccal (oral mucosal)",
    "im": "intramuscular",
}


ROUTE_WORDS = {"iv": "iv", "intravenous": "iv", "po": "oral", "oral": "oral", "in": "intranasal",
               "intranasal": "intranasal", "nasal": "intranasal", "sl": "sublingual", "sublingual": "sublingual",
               "buccal": "sublingual", "im": "im", "intramuscular": "im"}


ROUTE_CMT = {"iv": 1, "oral": 2, "intranasal": 3, "sublingual": 4, "im": 5}


CMT_ROUTE = {v: k for k, v in ROUTE_CMT.items()}

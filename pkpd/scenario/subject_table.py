"""The ``[subject]`` table: the typical subject's covariates.

::

    [subject]
    weight = "70 kg"                   # 0.5–400 kg (default 70 kg)
    age = "40 year"                    # 0–120 years (default 40)
    sex = "male"                       # or "female" (default male)
    ASIAN = 0                          # any other covariate a listed model uses, by name

Covariates are stored under the model-file names: ``WT`` (kg), ``AGE`` (years), ``FEMALE`` (0/1).
"""
from __future__ import annotations

import math
from pkpd import units
from pkpd.errors import Collector, PkpdError


DEFAULT_SUBJECT = {"WT": 70.0, "AGE": 40.0, "FEMALE": 0.0}
#: Keys every scenario accepts; a model's own covariates (``ASIAN``) are accepted by name besides.
KEYS = {"weight", "age", "sex"}


def model_covariates(models) -> set[str]:
    """The covariates the given (PK and PD) models use, beyond weight, age and sex."""
    covs: set[str] = set()
    for m in models:
        covs |= set(m.params.covariates)
    return covs


def parse_subject(tbl, col: Collector, covariates: set[str]) -> dict[str, float]:
    """Check the ``[subject]`` table; ``covariates``: the models' extra covariates (allowed keys).

    Returns the subject's covariates (defaults for what is not given); problems go to ``col``.
    """
    subject = dict(DEFAULT_SUBJECT)
    if not isinstance(tbl, dict):
        col.add("must be a table", "subject")
        tbl = {}
    for k, v in tbl.items():
        try:
            _covariate(subject, k, v, f"subject.{k}", covariates, col)
        except PkpdError as e:
            col.catch(e)
    return subject


def _covariate(subject: dict, k: str, v, f: str, covariates: set[str], col: Collector) -> None:
    """Check one key of ``[subject]`` and set its covariate in ``subject``."""
    if k == "weight":
        subject["WT"] = units.parse(v, "weight", f).value
        if not 0.5 <= subject["WT"] <= 400:
            col.add(f"body weight {subject['WT']:g} kg is outside 0.5–400 kg", f)
    elif k == "age":
        subject["AGE"] = units.parse(v, "age", f).value
        if not 0 <= subject["AGE"] <= 120:
            col.add(f"age {subject['AGE']:g} years is outside 0–120", f)
    elif k == "sex":
        if v not in ("male", "female"):
            col.add("must be 'male' or 'female'", f)
        subject["FEMALE"] = 1.0 if v == "female" else 0.0
    elif k in covariates:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            col.add("must be a number", f)
        else:
            subject[k] = float(v)
    else:
        col.add(f"unknown covariate (known: weight, age, sex{''.join(', ' + c for c in sorted(covariates))})", f)

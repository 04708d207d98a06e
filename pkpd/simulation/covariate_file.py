"""Subjects' covariates from a CSV file (``[population] covariates_file``), checked column by column.

Columns: ``ID`` (ignored: subjects take rows in order), ``WT`` or ``weight`` (kg), ``AGE`` or
``age`` (years), ``SEX`` (male/female, m/f or 0/1 with 1 female) or ``FEMALE`` (0/1), and any
covariate a model defines, by name.  A file saved by Excel (UTF-8 with a byte-order mark) reads
the same as any other.  With ``known`` given, a column that is none of these (``Weight_kg``) is an
error naming it and listing what is known — a misspelled column must never leave every subject at
the default.  Weights and ages outside the sanity ranges of :mod:`pkpd.limits` are refused.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from pkpd.errors import PkpdError
from pkpd.inputs import read_text
from pkpd.limits import out_of_range

#: Header cell (lower case) → covariate name.
ALIASES = {"wt": "WT", "weight": "WT", "age": "AGE", "female": "FEMALE", "sex": "SEX"}

_STANDARD = ("WT", "AGE", "FEMALE", "SEX")


def read_covariate_csv(path: str | Path, known: set[str] | None = None) -> dict[str, np.ndarray]:
    """Read subjects' covariates from a CSV, one row per subject.

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV file.
    known : set of str, optional
        Covariate names the models use beyond WT, AGE and FEMALE; when given, any other column
        (besides ID) is an error.

    Returns
    -------
    dict of str to ndarray
        ``WT`` (kg), ``AGE`` (years), ``FEMALE`` (0/1) and model covariates, one value per row.
    """
    path = Path(path)
    text = read_text(path, "covariate file", "csv_bytes")
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = list(reader.fieldnames or [])
        rows = list(reader)
    except csv.Error as e:
        raise PkpdError(f"not a readable CSV file: {e}", file=str(path)) from None
    keys = _columns(header, path, known)
    if not rows:
        raise PkpdError("covariate file has no rows", file=str(path))
    out: dict[str, list[float]] = {k: [] for k in keys.values() if k is not None}
    for i, r in enumerate(rows, start=2):
        if None in r:
            raise PkpdError(f"row {i} has more cells than the header", file=str(path))
        for h, key in keys.items():
            if key is not None:
                out[key].append(_cell(r.get(h), key, h, i, path))
    return {k: np.asarray(v) for k, v in out.items()}


def _columns(header: list[str], path: Path, known: set[str] | None) -> dict[str, str | None]:
    """Header cell → covariate name (None: ignored ID column); unknown or repeated columns refused."""
    if not header:
        raise PkpdError("covariate file has no header row", file=str(path))
    keys: dict[str, str | None] = {}
    unknown = []
    for h in header:
        name = (h or "").strip()
        key = ALIASES.get(name.lower(), name)
        if key.upper() == "ID":
            keys[h] = None
            continue
        key = "FEMALE" if key == "SEX" else key
        if not name or (known is not None and key not in _STANDARD and key not in known):
            unknown.append(h)
            continue
        if key in keys.values():
            raise PkpdError(f"two columns give {key} ({', '.join(repr(x) for x in keys if keys[x] == key)} and "
                            f"{h!r})", file=str(path), field=h)
        keys[h] = key
    if not any(k is not None for k in keys.values()) and not unknown:
        raise PkpdError("covariate file has no covariate column (WT, AGE, SEX, …)", file=str(path))
    if unknown:
        allowed = "ID, WT (or weight), AGE (or age), SEX (or FEMALE)" + "".join(f", {k}" for k in sorted(known or ()))
        raise PkpdError(f"unknown column(s) {', '.join(repr(u) for u in unknown)} (known columns: {allowed}); "
                        f"rename or remove them", file=str(path), field=unknown[0])
    return keys


def _cell(v, key: str, column: str, row: int, path: Path) -> float:
    """One cell as a number: SEX/FEMALE as 0/1; weights and ages inside their sanity ranges."""
    if key == "FEMALE":
        s = (v or "").strip().lower()
        if s in ("f", "female", "1"):
            return 1.0
        if s in ("m", "male", "0"):
            return 0.0
        raise PkpdError(f"row {row}: {column} must be male/female or 0/1, got {v!r}", file=str(path), field="SEX")
    try:
        val = float(v)
    except (TypeError, ValueError):
        raise PkpdError(f"row {row}: {column} must be a number, got {v!r}", file=str(path), field=column) from None
    if not math.isfinite(val):
        raise PkpdError(f"row {row}: {column} must be finite", file=str(path), field=column)
    rng = {"WT": "weight", "AGE": "age"}.get(key)
    why = out_of_range(rng, val) if rng else None
    if why:
        raise PkpdError(f"row {row}: {column} {why}", file=str(path), field=column)
    return val

"""TODO docstring (models.load)"""
from __future__ import annotations

import os
from pathlib import Path
from pkpd.models.library import find_model_file, read_toml
from pkpd.models.pd import parse_pd_model
from pkpd.models.pk import parse_model


def load_model(name_or_path: str | os.PathLike, relative_to: Path | None = None):
    """Load a PK or PD model by library name or file path and check it.

    Returns a :class:`Model` (PK) or :class:`pkpd.pd.PDModel` (PD; ``kind = "pd"``).
    """
    path = find_model_file(str(name_or_path), relative_to)
    data, text = read_toml(path, "model file")
    kind = data.get("model", {}).get("kind", "pk") if isinstance(data.get("model"), dict) else "pk"
    if kind == "pd":
        return parse_pd_model(data, text, str(path))
    return parse_model(data, text, str(path))

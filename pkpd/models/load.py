"""Loading a model by name or path: find the file, read it, and hand it to the PK or PD parser
its ``[model] kind`` calls for."""
from __future__ import annotations

import os
from pathlib import Path
from pkpd.errors import PkpdError, PkpdTypeError
from pkpd.models.library import find_model_file, read_toml
from pkpd.models.pd import PDModel, parse_pd_model
from pkpd.models.pk import Model, parse_model


def load_model(name_or_path: str | os.PathLike, relative_to: Path | None = None) -> Model | PDModel:
    """Load a PK or PD model by library name or file path and check it.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        A library model name (``perez_ruixo_2021``; see :func:`pkpd.available_models`) or
        the path of a ``.toml`` model file.
    relative_to : pathlib.Path, optional
        Directory a relative file path is tried against first (e.g. the scenario's directory).

    Returns
    -------
    Model or PDModel
        A :class:`~pkpd.models.pk.Model` (PK) or, for ``kind = "pd"`` in ``[model]``, a
        :class:`~pkpd.models.pd.PDModel`.  Parameter values are in internal units
        (mg, L, h).

    Raises
    ------
    PkpdError
        When the model is unknown, the file cannot be read or is not valid TOML, or the
        model fails its checks (every problem at once, each naming the file and dotted
        field).
    """
    if not isinstance(name_or_path, (str, os.PathLike)) or isinstance(name_or_path, bytes):
        raise PkpdTypeError(f"a model name or file path (text), got {type(name_or_path).__name__}", field="model")
    if "\x00" in str(name_or_path):
        raise PkpdError("the model name contains a NUL character", field="model")
    path = find_model_file(str(name_or_path), relative_to)
    data, text = read_toml(path, "model file")
    kind = data.get("model", {}).get("kind", "pk") if isinstance(data.get("model"), dict) else "pk"
    if kind == "pd":
        return parse_pd_model(data, text, str(path))
    return parse_model(data, text, str(path))

"""The model library on disk: where model files live, how a name resolves to a file, and
reading a TOML file with every failure turned into a :class:`~pkpd.errors.PkpdError`.

PK models are ``models/NAME.toml``, PD models ``models/pd/NAME.toml``; ``$PKPD_MODEL_PATH``
adds directories searched first.
"""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from pkpd.errors import PkpdError
from pkpd.inputs import is_regular_file, read_text


def library_dirs() -> list[Path]:
    """Where model files are looked up: $PKPD_MODEL_PATH, the project's models/, ./models."""
    dirs = [Path(p) for p in os.environ.get("PKPD_MODEL_PATH", "").split(os.pathsep) if p]
    dirs.append(Path(__file__).resolve().parents[2] / "models")
    dirs.append(Path.cwd() / "models")
    seen, out = set(), []
    for d in dirs:
        r = d.resolve()
        if r not in seen and r.is_dir():
            seen.add(r)
            out.append(r)
    return out


def find_model_file(name: str, relative_to: Path | None = None) -> Path:
    """Resolve a model name (``perez_ruixo_2021``) or path to a file."""
    cand = Path(name)
    tries = []
    if cand.suffix == ".toml" or "/" in name or os.sep in name:
        tries += [cand] if cand.is_absolute() else ([relative_to / cand] if relative_to else []) + [cand]
    else:
        for d in library_dirs():
            tries += [d / f"{name}.toml", d / "pd" / f"{name}.toml"]
    for t in tries:
        if is_regular_file(t):
            return t
    avail = ", ".join(sorted(available_models())) or "none"
    raise PkpdError(f"unknown model {name!r} (library models: {avail})")


def available_models() -> dict[str, Path]:
    """The models of the library, by name.

    Looks in ``$PKPD_MODEL_PATH`` (``os.pathsep``-separated), the project's ``models/`` and
    ``./models``, in that order; PK models are ``*.toml`` there, PD models ``pd/*.toml``.
    When a name occurs twice, the first directory wins.

    Returns
    -------
    dict of str to pathlib.Path
        Model name (file stem, e.g. ``perez_ruixo_2021``) → its file, in search order.

    Notes
    -----
    Takes no arguments and raises no :class:`~pkpd.errors.PkpdError`: directories that do not
    exist are skipped and files are not opened (:func:`pkpd.load_model` checks them).
    """
    out: dict[str, Path] = {}
    for d in library_dirs():
        for f in sorted(list(d.glob("*.toml")) + list(d.glob("pd/*.toml"))):
            out.setdefault(f.stem, f)
    return out


def read_toml(path: Path, what: str = "file") -> tuple[dict, str]:
    """Read a TOML file; any problem becomes a :class:`PkpdError` naming the file (regular files
    only, at most the ``toml_bytes`` limit, a UTF-8 byte-order mark allowed)."""
    text = read_text(path, what, "toml_bytes")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as e:
        raise PkpdError(f"not valid TOML: {e}", file=str(path)) from None

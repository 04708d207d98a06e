"""Names are data, not paths: user text made safe for file names and NetCDF names.

Model names, regimen names, readout names and scenario stems come from files that travel
between colleagues.  Before any of them becomes part of a file name it goes through
:func:`safe_stem` (letters, digits, ``-``, ``_``, ``.``; no leading dot; at most
:data:`MAX_STEM` characters, a truncated or changed name keeping a short hash of the original
so that different names stay different); :func:`unique_stems` resolves the collisions that remain
deterministically (``name``, ``name-2``, ``name-3`` in order of first use).  The output layer then
checks that every path resolves inside the output folder (:mod:`pkpd.output.files`).

NetCDF names (variables, dimensions, attributes) may not contain ``/`` or control characters and
are limited in length; :func:`netcdf_name` maps any text to a valid one.
A base module: it imports nothing from the package.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

#: Longest file-name stem built from user text (far below the usual 255-byte limit, leaving
#: room for the folder's own stem and the suffixes pkpd adds).
MAX_STEM = 80

#: Longest NetCDF variable or attribute name pkpd writes (NC_MAX_NAME is 256 bytes).
MAX_NETCDF_NAME = 200

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NC_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]+")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def safe_stem(text, max_len: int = MAX_STEM, fallback: str = "unnamed") -> str:
    """``text`` as a safe file-name stem: ASCII letters, digits, ``-``, ``_`` and ``.`` only, no
    leading dot or dash, at most ``max_len`` characters.

    A name that is already safe is kept as it is; any other gets ``-`` and 8 hex digits of a hash
    of the original, so ``a/b`` and ``a_b`` (or two long names sharing a prefix) stay different.
    """
    text = "" if text is None else str(text)
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    stem = _UNSAFE.sub("_", ascii_text).strip("._-")
    if stem == text and 0 < len(stem) <= max_len:
        return stem
    keep = max(1, max_len - 9)
    return f"{(stem or fallback)[:keep].rstrip('._-') or fallback}-{_digest(text)}"


def unique_stems(names) -> list[str]:
    """:func:`safe_stem` of each name, made unique in order: a repeat gets ``-2``, ``-3``, …"""
    out, seen = [], set()
    for name in names:
        base = safe_stem(name)
        stem, k = base, 2
        while stem.lower() in seen:  # case-insensitive file systems (macOS, Windows)
            stem = f"{base}-{k}"
            k += 1
        seen.add(stem.lower())
        out.append(stem)
    return out


def netcdf_name(text) -> str:
    """``text`` as a valid NetCDF-4 name: no ``/``, control or non-ASCII characters, not starting
    with ``_`` (reserved) or a digit, at most :data:`MAX_NETCDF_NAME` characters."""
    text = "" if text is None else str(text)
    name = _NC_UNSAFE.sub("_", text)
    if not name or not (name[0].isalpha()):
        name = "v" + name
    if name == text and len(name) <= MAX_NETCDF_NAME:
        return name
    return f"{name[:MAX_NETCDF_NAME - 9]}-{_digest(text)}"


def has_control(text) -> bool:
    """Whether ``text`` holds control characters (NUL, newline, escape …): never right in a name."""
    return any(unicodedata.category(ch) == "Cc" for ch in str(text))

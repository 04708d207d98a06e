"""numba's on-disk kernel cache kept in step with the source it was compiled from.

numba checks a cached kernel against the one file that defines it (numba 0.68: a hash of its
contents) — not against the files whose helpers it inlines or whose constants it freezes in.  After
an edit of ``lane_metrics.py`` alone (a ``git pull``, a branch switch, an upgrade), ``batched.py``'s
kernel would load the old metrics code from its cache, silently: results would then depend on
which kernels happened to be recompiled.  :func:`refresh` runs when :mod:`pkpd.solvers` is first
imported, before any kernel is loaded: it compares a fingerprint (names and contents) of every
source file of the kernel folders with the one recorded beside the caches and, when they differ,
deletes pkpd's cached kernels there (each recompiles at its first call, as on a fresh clone).  An
installed, unchanged package never sees a difference.  Every numba kernel of pkpd lives in
:data:`KERNEL_DIRS` and freezes in constants from there only (tested).

Not covered: a process that imported the old sources and compiles a kernel after another process
has refreshed the caches for the new ones writes a cache of the old code that the stamp does not
flag (numba stamps it with the defining file, unchanged); and ``NUMBA_CACHE_LOCATOR_CLASSES``.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba
from numba.core.caching import UserProvidedCacheLocator
from numba.misc.appdirs import AppDirs

#: Folders of the package whose modules define numba kernels (relative to the package root).
KERNEL_DIRS = ("solvers", "simulation")
STAMP = "pkpd-kernels.stamp"


def fingerprint(dirs: list[Path]) -> str:
    """Name and contents of every ``*.py`` in ``dirs``, hashed (≈1 ms: what numba itself compares)."""
    h = hashlib.sha256()
    for d in dirs:
        for f in sorted(d.glob("*.py")):
            b = f.read_bytes()
            h.update(f"{f.name}:{len(b)};".encode())
            h.update(b)
    return h.hexdigest()


def cache_dirs(source_dir: Path) -> list[Path]:
    """Where numba may keep the caches of kernels defined in ``source_dir`` (its cache locators):
    the folder's ``__pycache__``, the user-wide mirror (``~/.cache/numba/…``) numba takes when that
    is not writable (a read-only install), and, when ``NUMBA_CACHE_DIR`` is set, the mirror under
    it.  Paths as numba forms them: absolute, symbolic links kept (it hashes the module's path)."""
    d = os.path.abspath(source_dir)
    sub = UserProvidedCacheLocator.get_suitable_cache_subpath(os.path.join(d, "kernels.py"))
    out = [Path(d) / "__pycache__", Path(AppDirs(appname="numba", appauthor=False).user_cache_dir) / sub]
    if numba.config.CACHE_DIR:
        out.append(Path(numba.config.CACHE_DIR) / sub)
    return out


def _renew(where: Path, fp: str, create: bool) -> tuple[bool, bool]:
    """Drop the cached kernels in ``where`` unless stamped with ``fp``, then stamp it (creating the
    folder only if ``create``); returns (stale, stamped)."""
    stamp = where / STAMP
    try:
        if stamp.read_text() == fp:
            return False, True
    except OSError:  # no stamp yet: caches from before it, or none
        pass
    if not (create or where.is_dir()):
        return False, False
    try:
        where.mkdir(parents=True, exist_ok=True)  # stamped before numba first writes there
        for f in where.iterdir():
            if f.suffix in (".nbi", ".nbc"):
                f.unlink(missing_ok=True)
        tmp = where / f".{STAMP}.{os.getpid()}"
        tmp.write_text(fp)
        os.replace(tmp, stamp)
        return True, True
    except OSError:  # not writable: numba does not cache there either
        return False, False


def refresh(dirs: list[Path] | None = None) -> bool:
    """Delete the cached kernels of ``dirs`` (default: :data:`KERNEL_DIRS`) if their sources changed
    since the caches were stamped; returns True if it deleted (or found nothing to keep)."""
    root = Path(os.path.abspath(__file__)).parent.parent  # not resolve(): numba keeps symbolic links
    dirs = dirs if dirs is not None else [root / d for d in KERNEL_DIRS]
    fp = fingerprint(dirs)
    stale = False
    for d in dirs:
        in_tree, user_wide, *provided = cache_dirs(d)
        s1, in_tree_ok = _renew(in_tree, fp, create=True)
        # the user-wide folder only where numba would use it (or has): not created in every home
        s2, _ = _renew(user_wide, fp, create=not (in_tree_ok or provided))
        s3 = any([_renew(p, fp, create=True)[0] for p in provided])
        stale = stale or s1 or s2 or s3
    return stale

"""numba's on-disk kernel cache kept in step with the source it was compiled from.

numba checks a cached kernel against the modification time and size of the one file that defines
it — not of the files whose helpers it inlines or whose constants it freezes in.  After an edit of
``lane_metrics.py`` alone (a ``git pull``, a branch switch), ``batched.py``'s kernel would load the
old metrics code from its cache, silently: results would then depend on which kernels happened to
be recompiled.  :func:`refresh` runs when :mod:`pkpd.solvers` is first imported, before any kernel
is loaded: it compares a fingerprint (name, modification time, size) of every source file of the
kernel folders with the one recorded beside the caches and, when they differ, deletes pkpd's
cached kernels there (each recompiles at its first call, as on a fresh clone).  An installed,
unchanged package never sees a difference.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

#: Folders of the package whose modules define numba kernels (relative to the package root).
KERNEL_DIRS = ("solvers", "simulation")
STAMP = "pkpd-kernels.stamp"


def fingerprint(dirs: list[Path]) -> str:
    """Name, modification time (ns) and size of every ``*.py`` in ``dirs``, hashed."""
    h = hashlib.sha256()
    for d in dirs:
        for f in sorted(d.glob("*.py")):
            st = f.stat()
            h.update(f"{f.name}:{st.st_mtime_ns}:{st.st_size};".encode())
    return h.hexdigest()


def cache_dirs(source_dir: Path) -> list[Path]:
    """Where numba keeps the caches of kernels defined in ``source_dir``: its ``__pycache__`` and,
    when ``NUMBA_CACHE_DIR`` is set, the mirror of the source path under it."""
    out = [source_dir / "__pycache__"]
    if numba.config.CACHE_DIR:  # numba's UserProvidedCacheLocator.get_suitable_cache_subpath
        d = os.path.abspath(source_dir)
        out.append(Path(numba.config.CACHE_DIR) / f"{os.path.basename(d)}_{hashlib.sha1(d.encode()).hexdigest()}")
    return out


def refresh(dirs: list[Path] | None = None) -> bool:
    """Delete the cached kernels of ``dirs`` (default: :data:`KERNEL_DIRS`) if their sources changed
    since the caches were stamped; returns True if it deleted (or found nothing to keep)."""
    root = Path(__file__).resolve().parent.parent
    dirs = dirs if dirs is not None else [root / d for d in KERNEL_DIRS]
    fp = fingerprint(dirs)
    stale = False
    for where in {c for d in dirs for c in cache_dirs(d)}:
        stamp = where / STAMP
        try:
            if stamp.read_text() == fp:
                continue
        except OSError:  # no stamp yet: caches from before it, or none
            pass
        stale = True
        try:
            where.mkdir(parents=True, exist_ok=True)  # stamped before numba first writes there
            for f in where.iterdir():
                if f.suffix in (".nbi", ".nbc"):
                    f.unlink(missing_ok=True)
            tmp = where / f".{STAMP}.{os.getpid()}"
            tmp.write_text(fp)
            os.replace(tmp, stamp)
        except OSError:  # a read-only install: numba caches elsewhere and the files never change
            pass
    return stale

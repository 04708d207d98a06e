"""A set of output files written together: all of them, or none.

A command's outputs (NetCDF, CSV, PNG, HTML) are computed first and collected in an
:class:`OutputSet`; :meth:`OutputSet.commit` then checks the folder and the free space, writes
every file into a hidden staging folder inside the output folder (same file system) and moves
them into place one rename each, with signals held.  A disk that fills up, a file-size limit, an
unwritable folder or Ctrl-C during the writes leaves no partial set: the staging folder is
removed and one :class:`~pkpd.errors.PkpdError` (or the interrupt) says nothing was written.

File names are built only from safe stems (:mod:`pkpd.names`); :meth:`OutputSet.add` bounds their
length (a long name keeps a hash of the full one) and :func:`pkpd.output.files.inside` checks that
each stays inside the folder.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import xarray as xr

from pkpd.errors import PkpdError
from pkpd.interrupts import check_interrupt, deferred_signals
from pkpd.limits import human_bytes
from pkpd.names import safe_stem
from pkpd.output.files import MAX_NAME, WRITTEN, check_finite, check_folder, inside, make_folder, netcdf_ready
from pkpd.output.files import netcdf_writer, write_error

#: Free space kept beyond the estimated size of a set of outputs (bytes).
SPACE_MARGIN = 16 * 1024 ** 2


def bounded_name(name: str) -> str:
    """``name`` (stem + suffix) shortened to :data:`~pkpd.output.files.MAX_NAME` characters, keeping
    the suffix and a hash of the full name when it is cut."""
    if len(name) <= MAX_NAME:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    return safe_stem(stem, max_len=MAX_NAME - len(suffix) - 1) + (f".{suffix}" if suffix else "")


class OutputSet:
    """Files to write together into ``folder``: add them, then :meth:`commit`."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self._items: list[tuple[str, str, object]] = []  # (name, kind, payload)

    def add_text(self, name: str, text: str) -> None:
        self._add(name, "text", text)

    def add_bytes(self, name: str, data: bytes) -> None:
        self._add(name, "bytes", data)

    def add_netcdf(self, name: str, ds: xr.Dataset) -> None:
        ds = netcdf_ready(ds)
        check_finite(ds, name)
        self._add(name, "netcdf", ds)

    def _add(self, name: str, kind: str, payload) -> None:
        name = bounded_name(name)
        if any(n == name for n, _, _ in self._items):
            raise PkpdError(f"two outputs would both be called {name!r}")
        inside(self.folder, name)
        self._items.append((name, kind, payload))

    @property
    def names(self) -> list[str]:
        return [n for n, _, _ in self._items]

    def size(self) -> int:
        """Estimated bytes of the whole set (NetCDF: the arrays plus attributes)."""
        total = 0
        for _, kind, payload in self._items:
            if kind == "netcdf":
                total += int(payload.nbytes) + sum(len(str(v)) for v in payload.attrs.values()) + 65536
            else:
                total += len(payload.encode("utf-8") if isinstance(payload, str) else payload)
        return total

    def commit(self) -> list[Path]:
        """Write every file (staged, then moved into place); returns their paths in order."""
        check_interrupt()
        check_folder(self.folder)
        existing = self.folder
        while not existing.exists():
            existing = existing.parent
        need = self.size() + SPACE_MARGIN
        try:
            free = shutil.disk_usage(existing).free
        except OSError:
            free = None
        if free is not None and free < need:
            raise PkpdError(f"not enough free space: the outputs need about {human_bytes(need)}, "
                            f"{human_bytes(free)} is free; nothing was written", file=str(self.folder))
        folder = make_folder(self.folder)
        try:
            self._stage_and_move(folder)
        except BaseException:
            _remove_empty(folder, existing)  # a folder this commit created is not left behind empty
            raise
        return [folder / n for n in self.names]

    def _stage_and_move(self, folder: Path) -> None:
        try:
            stage = Path(tempfile.mkdtemp(prefix=".pkpd-staging-", dir=folder))
        except OSError as e:
            raise write_error(folder / "staging", e, folder) from None
        try:
            for name, kind, payload in self._items:
                check_interrupt()
                self._write(stage / name, kind, payload, folder)
            paths = []
            with deferred_signals():
                for name in self.names:
                    os.replace(stage / name, folder / name)
                    paths.append(folder / name)
                WRITTEN.extend(paths)
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    @staticmethod
    def _write(path: Path, kind: str, payload, folder: Path) -> None:
        try:
            if kind == "netcdf":
                netcdf_writer(payload, prepared=True)(path)
            else:
                with open(path, "wb") as f:
                    f.write(payload.encode("utf-8") if isinstance(payload, str) else payload)
            os.chmod(path, 0o666 & ~_umask())
        except (OSError, RuntimeError) as e:
            raise write_error(path, e, folder, partial=path) from None


def _remove_empty(folder: Path, keep: Path) -> None:
    """Remove ``folder`` and its parents up to (not including) ``keep`` while they are empty."""
    p = folder
    while p != keep and keep in p.parents:
        try:
            p.rmdir()
        except OSError:
            return
        p = p.parent


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

"""Writing results: atomically (temporary name, then rename), with provenance, into a checked folder.

A run either leaves complete files or none: each file is written to a hidden temporary name in
the target folder and renamed into place, and everything is computed before the first file is
written (a whole *set* of files: :mod:`pkpd.output.output_set`).  The folder is checked first
(:func:`check_folder`: an existing file, an impossible or unwritable path is one error), every file
name must stay inside it (:func:`inside`), and a failed write (disk full, file-size limit) is one
:class:`~pkpd.errors.PkpdError` with the temporary file removed.

NetCDF files are written variable by variable with SIGINT/SIGTERM held during each library call
(:func:`pkpd.interrupts.deferred_signals`): an interrupt inside HDF5 deadlocked the clean-up; now it
takes effect between two variables.  Names are made valid NetCDF names (:func:`netcdf_ready`) and a
dataset holding ±inf is refused (:func:`check_finite`): non-finite results are never written
silently.
"""
from __future__ import annotations

import csv
import errno
import io
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
import numpy as np
import xarray as xr
from pkpd.errors import PkpdError
from pkpd.interrupts import check_interrupt, deferred_signals
from pkpd.names import netcdf_name
from pkpd.version import __version__


_UMASK = os.umask(0)
os.umask(_UMASK)

#: Longest file name pkpd writes (most file systems allow 255 bytes).
MAX_NAME = 200


#: Files completed in this process, in order (so an interrupted run can say what was saved).
WRITTEN: list[Path] = []


def check_folder(folder) -> Path:
    """Check that ``folder`` is, or can become, a writable folder (nothing is created).

    Raises
    ------
    PkpdError
        When it is a file, a parent is a file, the name is impossible (NUL, too long) or the
        nearest existing parent cannot be written.
    """
    p = Path(folder)
    if "\x00" in str(p):
        raise PkpdError("the output folder name contains a NUL character", field="output")
    try:
        if p.exists() and not p.is_dir():
            raise PkpdError(f"the output folder {p} is a file, not a folder", field="output")
        parent = p
        while not parent.exists():
            if len(parent.name.encode()) > 255:
                raise PkpdError(f"the output folder name {parent.name[:40]}… is too long", field="output")
            parent = parent.parent
        if not parent.is_dir():
            raise PkpdError(f"cannot create the output folder {p}: {parent} is a file", field="output")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise PkpdError(f"cannot write into {parent}: permission denied", field="output")
    except OSError as e:
        raise PkpdError(f"cannot use the output folder {p}: {e.strerror or e}", field="output") from None
    return p


def make_folder(folder) -> Path:
    """Create ``folder`` (and parents) after :func:`check_folder`; errors as one PkpdError."""
    p = check_folder(folder)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PkpdError(f"cannot create the output folder {p}: {e.strerror or e}", field="output") from None
    return p


def inside(folder: Path, name: str) -> Path:
    """``folder / name`` after checking that ``name`` is one plain file name that stays inside
    ``folder`` (no separator, no ``..``, no leading dot, no NUL, at most :data:`MAX_NAME` characters)."""
    if (not name or name != Path(name).name or name in (".", "..") or name.startswith(".") or "\x00" in name
            or "/" in name or "\\" in name or len(name) > MAX_NAME):
        raise PkpdError(f"refusing to write {name!r}: not a plain file name inside the output folder", field="output")
    path = Path(folder) / name
    if path.resolve().parent != Path(folder).resolve():
        raise PkpdError(f"refusing to write {name!r}: it would land outside the output folder {folder}",
                        field="output")
    return path


def write_error(path: Path, e: BaseException, folder=None, partial=None) -> PkpdError:
    """One message for a failed write (disk full, file-size limit, permissions, HDF5 errors).

    The netCDF library reports a full disk or the file-size limit only as "HDF error"; ``partial``
    (the half-written file, still present) lets the message say which it was.
    """
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        why = "the disk is full"
    elif isinstance(e, OSError) and e.errno == errno.EFBIG:
        why = "the file is larger than the file-size limit"
    else:
        why = _diagnose(partial, Path(path).parent) or (e.strerror if isinstance(e, OSError) and e.strerror
                                                         else str(e) or type(e).__name__)
    return PkpdError(f"could not write {Path(path).name}: {why}; nothing was left behind",
                     file=str(folder if folder is not None else Path(path).parent))


def _diagnose(partial, folder: Path) -> str | None:
    """Why a library's write failed, when the cause is visible from outside: the file-size limit
    (``ulimit -f``) reached, or no space left on the disk."""
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if soft != resource.RLIM_INFINITY and partial is not None and os.path.getsize(partial) >= soft - 65536:
            return f"the file is larger than the file-size limit (ulimit -f: {soft:,} bytes)"
    except (ImportError, OSError, ValueError):
        pass
    try:
        if shutil.disk_usage(folder).free < 1024 ** 2:
            return "the disk is full"
    except OSError:
        pass
    return None


def write_atomic(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` then rename the result to ``path``; remove it on failure.

    A failed write (OSError, or a RuntimeError from the netCDF library) becomes one PkpdError.
    """
    path = Path(path)
    check_interrupt()
    folder = make_folder(path.parent)
    path = inside(folder, path.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise write_error(path, e) from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a result file gets the usual mode
        with deferred_signals():
            os.replace(tmp, path)
            WRITTEN.append(path)
    except (OSError, RuntimeError) as e:
        err = write_error(path, e, partial=tmp)
        _remove(tmp)
        raise err from None
    except BaseException:
        _remove(tmp)
        raise
    return path


def _remove(tmp) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def write_text(path: Path, text: str) -> Path:
    def w(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return write_atomic(path, w)


def write_bytes(path: Path, data: bytes) -> Path:
    def w(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    return write_atomic(path, w)


def netcdf_ready(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with valid NetCDF names (variables, coordinates, dimensions, attribute keys) and no NUL
    in string attributes or coordinates; a renamed variable keeps its name in ``attrs["name"]``."""
    ren = {k: netcdf_name(k) for k in list(ds.variables) + list(ds.dims) if netcdf_name(k) != k}
    out = ds.rename(ren) if ren else ds.copy()
    for old, new in ren.items():
        if new in out.variables:
            out[new].attrs["name"] = str(old)
    out.attrs = _clean_attrs(out.attrs)
    for k in out.variables:
        out[k].attrs = _clean_attrs(out[k].attrs)
        if out[k].dtype.kind in "UO" and k in out.coords:
            out = out.assign_coords({k: (out[k].dims, np.vectorize(lambda v: str(v).replace("\x00", "\\0"),
                                                                    otypes=[object])(out[k].values), out[k].attrs)})
    return out


def _clean_attrs(attrs: dict) -> dict:
    return {netcdf_name(k): (v.replace("\x00", "\\0") if isinstance(v, str) else v) for k, v in attrs.items()}


def check_finite(ds: xr.Dataset, what: str = "results") -> None:
    """Refuse a dataset with ±inf in a data variable (NaN marks what a model cannot give)."""
    for k, v in ds.data_vars.items():
        if v.dtype.kind == "f" and np.isinf(v.values).any():
            raise PkpdError(f"{what}: {k} has infinite values (a dose or parameter far outside what the model "
                            f"was built for); nothing was written")


def netcdf_writer(ds: xr.Dataset, prepared: bool = False):
    """A ``write(tmp)`` for :func:`write_atomic`: the skeleton (coordinates, attributes), then one
    variable at a time, each library call with signals held, an interrupt taking effect between.
    ``prepared``: ``ds`` already went through :func:`netcdf_ready` and :func:`check_finite`."""
    if not prepared:
        ds = netcdf_ready(ds)
        check_finite(ds)

    def w(tmp):
        with deferred_signals():
            ds.drop_vars(list(ds.data_vars)).to_netcdf(tmp, engine="netcdf4", mode="w")
        for k in ds.data_vars:
            check_interrupt()
            with deferred_signals():
                ds[[k]].to_netcdf(tmp, engine="netcdf4", mode="a")
    return w


def write_netcdf(ds: xr.Dataset, path: Path) -> Path:
    return write_atomic(path, netcdf_writer(ds))


def write_figure(fig, path: Path) -> Path:
    return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", bbox_inches="tight"))


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def with_provenance(ds: xr.Dataset, scenario=None, models=(), pd=()) -> xr.Dataset:
    """Attach what makes the file reproducible on its own: scenario text, model files, versions."""
    import numba
    import scipy
    ds = ds.copy()
    ds.attrs.update({
        "title": getattr(scenario, "title", "") or "pkpd simulation",
        "institution": "",
        "source": f"pkpd {__version__} (numpy {np.__version__}, scipy {scipy.__version__}, numba {numba.__version__})",
        "history": f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} created by pkpd {__version__}",
        "Conventions": "CF-1.10",
        "pkpd_version": __version__,
        "comment": ("Typical-subject simulation. Low-certainty evidence: see the model citations and the "
                    "assumption flags before drawing clinical conclusions."),
    })
    if scenario is not None:
        ds.attrs["scenario_file"] = str(scenario.path)
        ds.attrs["scenario_text"] = scenario.source_text
        if scenario.warnings:
            ds.attrs["warnings"] = "\n".join(scenario.warnings)
        if scenario.notes:
            ds.attrs["notes"] = "\n".join(scenario.notes)
    for m in list(models) + list(pd):
        ds.attrs[f"model_file_{m.name}"] = m.source_text
        assumed = [p.name for p in m.assumptions()]
        if assumed:
            ds.attrs[f"assumptions_{m.name}"] = ", ".join(assumed)
        if m.meta.get("overrides"):
            ds.attrs[f"overrides_{m.name}"] = m.meta["overrides"]
    return ds

"""Writing results: atomically (temporary name, then rename) and with provenance.

A run either leaves complete files or none: each file is written to a hidden
temporary name in the target folder and renamed into place, and everything
is computed before the first file is written.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
import numpy as np
import xarray as xr
from pkpd.version import __version__
from pkpd.interrupts import check_interrupt


_UMASK = os.umask(0)


os.umask(_UMASK)


#: Files completed in this process, in order (so an interrupted run can say what was saved).
WRITTEN: list[Path] = []


def write_atomic(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` then rename the result to ``path``; remove it on failure."""
    path = Path(path)
    check_interrupt()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a result file gets the usual mode
        os.replace(tmp, path)
        WRITTEN.append(path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


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


def write_netcdf(ds: xr.Dataset, path: Path) -> Path:
    return write_atomic(path, lambda tmp: ds.to_netcdf(tmp, engine="netcdf4"))


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

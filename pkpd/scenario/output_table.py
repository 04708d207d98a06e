"""The ``[output]`` table (optional): where results go, in which formats, on which axis scale.

::

    [output]
    directory = "results/routes"       # default: results/<scenario file stem>
    formats = ["netcdf", "csv", "png", "html"]   # default: all of them
    log_scale = false                  # concentration axes on a log scale
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from pkpd.errors import Collector
from pkpd.scenario.fields import text
from pkpd.scenario.spec import FORMATS


KEYS = {"directory", "formats", "log_scale"}


@dataclass(frozen=True)
class OutputOptions:
    """What the ``[output]`` table gives (``directory`` None: not given)."""

    directory: str | None = None
    formats: tuple[str, ...] = FORMATS
    log_scale: bool = False

    def resolve_directory(self, path: str, override: str | Path | None = None) -> Path:
        """The output folder: ``override`` (command line), else ``directory``, else
        ``results/<stem of path>``."""
        if override is not None:
            return Path(override)
        if self.directory:
            return Path(self.directory)
        return Path("results") / Path(path).stem


def parse_output(tbl, col: Collector) -> OutputOptions:
    """Check the ``[output]`` table; defaults for what is missing or wrong (problems go to ``col``)."""
    if not isinstance(tbl, dict):
        col.add("must be a table", "output")
        tbl = {}
    for k in sorted(set(tbl) - KEYS):
        col.add(f"unknown key '{k}'", f"output.{k}")
    directory, formats, log_scale = None, FORMATS, False
    if "directory" in tbl:
        directory = text(col, tbl, "directory", "output.directory")
    if "formats" in tbl:
        fm = tbl["formats"]
        if not isinstance(fm, list) or not all(x in FORMATS for x in fm):
            col.add(f"must be a list drawn from {', '.join(FORMATS)}", "output.formats")
        else:
            formats = tuple(fm)
    if "log_scale" in tbl:
        if not isinstance(tbl["log_scale"], bool):
            col.add("must be true or false", "output.log_scale")
        else:
            log_scale = tbl["log_scale"]
    return OutputOptions(directory, formats, log_scale)

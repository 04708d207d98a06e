"""The interrupt flag: a signal remembered even where its KeyboardInterrupt was swallowed.

The CLI's handler (:mod:`pkpd.cli.signals`) appends each SIGINT/SIGTERM to :data:`SIGNALS` and
raises KeyboardInterrupt.  Raised inside a C callback (numba writing its cache on a cold first run),
that exception can be lost; the flag is not.  :func:`check_interrupt` turns it back into a
KeyboardInterrupt at safe points — between population chunks, before any file is written, and
at the end of a command — so the run stops with exit 130 and no partial file.  A base module: it
imports nothing from the package, so every layer may call it.
"""
from __future__ import annotations



#: Signals received (set by the CLI's handler).  A KeyboardInterrupt raised inside a C callback
#: (numba writing its cache during the first compilation) is swallowed there; this flag is not.
SIGNALS: list[int] = []


def check_interrupt() -> None:
    """Raise KeyboardInterrupt if a signal arrived that the interpreter may have swallowed."""
    if SIGNALS:
        raise KeyboardInterrupt

"""The interrupt flag: a signal remembered even where its KeyboardInterrupt was swallowed.

The CLI's handler (:mod:`pkpd.cli.signals`) appends each SIGINT/SIGTERM to :data:`SIGNALS` and
raises KeyboardInterrupt.  Raised inside a C callback (numba writing its cache on a cold first run),
that exception can be lost; the flag is not.  :func:`check_interrupt` turns it back into a
KeyboardInterrupt at safe points — between population chunks, before any file is written, and
at the end of a command — so the run stops with exit 130 and no partial file.  A base module: it
imports nothing from the package, so every layer may call it.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

#: Signals received (set by the CLI's handler).  A KeyboardInterrupt raised inside a C callback
#: (numba writing its cache during the first compilation) is swallowed there; this flag is not.
SIGNALS: list[int] = []


def check_interrupt() -> None:
    """Raise KeyboardInterrupt if a signal arrived that the interpreter may have swallowed."""
    if SIGNALS:
        raise KeyboardInterrupt


@contextmanager
def deferred_signals():
    """Hold SIGINT and SIGTERM while a C library works (HDF5/netCDF writing under xarray's lock):
    a KeyboardInterrupt raised inside it can leave the lock held and the process deadlocked in the
    clean-up.  A signal that arrives meanwhile is remembered (:data:`SIGNALS`) and raised as
    KeyboardInterrupt as soon as the block ends.  Outside the main thread this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []

    def hold(signum, frame):
        got.append(signum)
        SIGNALS.append(signum)

    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, hold)
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if got:
        raise KeyboardInterrupt

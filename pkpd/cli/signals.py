"""SIGINT/SIGTERM during a command: unwind like Ctrl-C so no file is left half-written."""
from __future__ import annotations

import signal
import sys
from contextlib import contextmanager

from pkpd.interrupts import SIGNALS


def _interrupt(signum, frame):
    # SIGTERM (kill) unwinds like Ctrl-C, so a file being written is removed, not left half-written;
    # the flag survives where the exception is swallowed (a C callback) and is checked later
    SIGNALS.append(signum)
    raise KeyboardInterrupt


@contextmanager
def handled_signals():
    """Install the handler for the duration of one command (the flag starts clear), then restore.

    A KeyboardInterrupt raised inside a C callback (numba writing its cache) is "ignored" by Python
    with a traceback on stderr; the flag already remembers it, so that report is silenced.
    """
    SIGNALS.clear()
    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _interrupt)
    except ValueError:  # not the main thread (e.g. called from a worker): leave signals alone
        pass
    hook = sys.unraisablehook
    sys.unraisablehook = lambda u: None if isinstance(u.exc_value, KeyboardInterrupt) else hook(u)
    try:
        yield
    finally:
        sys.unraisablehook = hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)

"""SIGINT/SIGTERM during a command: unwind like Ctrl-C so no file is left half-written."""
from __future__ import annotations

import signal
from contextlib import contextmanager

from pkpd.interrupts import SIGNALS


def _interrupt(signum, frame):
    # SIGTERM (kill) unwinds like Ctrl-C, so a file being written is removed, not left half-written;
    # the flag survives where the exception is swallowed (a C callback) and is checked later
    SIGNALS.append(signum)
    raise KeyboardInterrupt


@contextmanager
def handled_signals():
    """Install the handler for the duration of one command (the flag starts clear), then restore."""
    SIGNALS.clear()
    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, _interrupt)
    except ValueError:  # not the main thread (e.g. called from a worker): leave signals alone
        pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

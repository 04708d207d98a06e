"""TODO docstring (interrupts)"""
from __future__ import annotations



#: Signals received (set by the CLI's handler).  A KeyboardInterrupt raised inside a C callback
#: (numba writing its cache during the first compilation) is swallowed there; this flag is not.
SIGNALS: list[int] = []


def check_interrupt() -> None:
    """Raise KeyboardInterrupt if a signal arrived that the interpreter may have swallowed."""
    if SIGNALS:
        raise KeyboardInterrupt

"""What every command prints the same way: warnings, the list of files written."""
from __future__ import annotations

import sys


def print_warnings(warnings) -> None:
    """Each warning on stderr as ``pkpd: warning: …``."""
    for w in warnings:
        print(f"pkpd: warning: {w}", file=sys.stderr)


def print_written(files) -> None:
    """The closing ``wrote:`` list, one path per line (also what scripts grep for)."""
    print("wrote:")
    for f in files:
        print(f"  {f}")

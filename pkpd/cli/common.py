"""What every command prints the same way: warnings, the list of files written."""
from __future__ import annotations

import sys


def print_warnings(warnings, notes=()) -> None:
    """Each warning on stderr as ``pkpd: warning: …``, then each note as ``pkpd: note: …``
    (what a run converts: racemic doses into S models, concentrations between ketamine forms)."""
    for w in warnings:
        print(f"pkpd: warning: {w}", file=sys.stderr)
    for n in notes:
        print(f"pkpd: note: {n}", file=sys.stderr)


def print_written(files) -> None:
    """The closing ``wrote:`` list, one path per line (also what scripts grep for)."""
    print("wrote:")
    for f in files:
        print(f"  {f}")

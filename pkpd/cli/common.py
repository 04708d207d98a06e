"""What every command prints the same way: warnings and notes, run tables, the files written.

Terminal text stays within :data:`WIDTH` columns: warnings and notes are wrapped, tables are
laid out by :mod:`pkpd.output.text_table`.
"""
from __future__ import annotations

import argparse
import sys
import textwrap

from pkpd.models.pairing import pairing_messages, pairing_notes
from pkpd.output.evidence import evidence_text

#: Terminal width every command's text fits.
WIDTH = 100


def _wrapped(prefix: str, text: str) -> str:
    return textwrap.fill(text, WIDTH, initial_indent=prefix, subsequent_indent=" " * 4,
                         break_on_hyphens=False, break_long_words=False)


def print_warnings(warnings, notes=()) -> None:
    """Each warning on stderr as ``pkpd: warning: …`` and each note as ``pkpd: note: …`` (what a
    run converts, skips or has accepted), wrapped at :data:`WIDTH` columns."""
    for w in warnings:
        print(_wrapped("pkpd: warning: ", w), file=sys.stderr)
    for n in notes:
        print(_wrapped("pkpd: note: ", n), file=sys.stderr)


def print_pairing(models, pds, accept=()) -> None:
    """The PK/PD pairing warnings and notes (accepted caveats, drug-form conversions) of a run that
    is not a scenario (``tci``, ``nmsim``, ``vpc``), printed as :func:`print_warnings` does for
    scenarios."""
    warnings, notes = pairing_messages(models, pds, accept)
    notes += list(dict.fromkeys(n for m in models for p in pds for n in pairing_notes(m, p)))
    print_warnings(warnings, notes)


def print_written(files) -> None:
    """The closing ``wrote:`` list, one path per line (also what scripts grep for)."""
    print("wrote:")
    for f in files:
        print(f"  {f}")


def add_set_option(p: argparse.ArgumentParser) -> None:
    """``--set MODEL.PARAM=VALUE`` (repeatable): change a typical value for this run."""
    p.add_argument("--set", action="append", default=[], metavar="MODEL.PARAM=VALUE",
                   help="change one typical value for this run, with its unit (repeatable), e.g. "
                        "--set perez_ruixo_2021.Vc='250 L' --set olofsen_2022.C50='0.6 nmol/mL'")


def print_run_tables(sc, res, pop) -> None:
    """The tables of a ``run``/``sim``: typical subject, population, trade-off, closing remark."""
    print()
    print("Typical subject:")
    print(res.table)
    if pop is not None:
        print()
        print("Population:")
        print(res.population_table)
    if res.tradeoff is not None:
        print()
        print("Analgesia vs psychotomimetic effect:")
        print(res.tradeoff_table)
    print()
    closing = (("Population: between-subject variability" + (" and parameter uncertainty" if
                sc.population.population.replicates else "")) if pop is not None else "Typical subject only")
    print(textwrap.fill(closing + "; see the model citations and assumptions.", WIDTH))
    print(evidence_text(WIDTH))

"""The ``pkpd`` command: one module per command in this package, each with ``NAME``,
``EXAMPLES``, ``add_parser(subparsers)`` and ``run(args) -> exit code``.

Every user error ends in one line on stderr naming the file, the field and the
problem, and exit status 2 — never a traceback.  SIGINT/SIGTERM end with exit 130
and no partial file.  A new command is a new module listed in ``COMMANDS``.
"""
from __future__ import annotations

import argparse
import sys
import textwrap

from pkpd.cli import (check, demo, explore, models, nca, nmsim, optimize, run, sim, sweep, tci, tradeoff, validate,
                      vpc)
from pkpd.cli.signals import _interrupt, handled_signals  # noqa: F401  (_interrupt: for tests)
from pkpd.errors import PkpdError
from pkpd.interrupts import check_interrupt
from pkpd.output.files import WRITTEN
from pkpd.version import __version__

#: Every command, in the order ``pkpd --help`` lists them.
COMMANDS = {m.NAME: m for m in (run, sim, check, models, tradeoff, optimize, validate, sweep, explore, demo, tci, nca,
                                nmsim, vpc)}


def _parser() -> argparse.ArgumentParser:
    examples = "examples:\n" + "\n".join(f"  {e}" for m in COMMANDS.values() for e in m.EXAMPLES) + "\n"
    p = argparse.ArgumentParser(
        prog="pkpd",
        description=textwrap.dedent("""\
            Ketamine PK/PD simulator: how much analgesia a regimen gives, at what
            psychotomimetic cost, and how sure we can be.  A scenario file (TOML) names
            the models, the subject, the regimens (IV, oral, intranasal) and the time grid;
            models are literature files with a citation and grade for every number."""),
        epilog=examples, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"pkpd {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for m in COMMANDS.values():
        m.add_parser(sub)
        _with_examples(sub.choices[m.NAME], m.EXAMPLES)
    return p


def _with_examples(sp: argparse.ArgumentParser, examples) -> None:
    """Append the command's ``EXAMPLES`` to its ``--help`` (kept line by line; the description and
    epilog are wrapped here so that the raw formatter keeps the examples' columns)."""
    def fill(t):
        return "\n".join(textwrap.fill(line, 90) if line else "" for line in t.split("\n")) if t else t
    sp.description, sp.epilog = fill(sp.description), fill(sp.epilog)
    sp.formatter_class = argparse.RawDescriptionHelpFormatter
    sp.epilog = (sp.epilog + "\n\n" if sp.epilog else "") + "examples:\n" + "\n".join(f"  {e}" for e in examples)


def main(argv=None) -> int:
    """Run one ``pkpd`` command (``argv`` without the program name); returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    with handled_signals():
        try:
            code = COMMANDS[args.command].run(args)
            check_interrupt()
            return code
        except PkpdError as e:
            print(f"pkpd: error: {e.message}", file=sys.stderr)
            return 2
        except MemoryError:
            print("pkpd: error: out of memory: the run needs more memory than this machine has free; lower its "
                  "size (subjects, regimens, time points) or PKPD_MAX_MEMORY so that it is refused in advance",
                  file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            saved = "; saved: " + ", ".join(str(p) for p in WRITTEN) if WRITTEN else "; nothing was saved"
            print(f"pkpd: interrupted — no partial file was left (each file is written whole or not at all){saved}",
                  file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())

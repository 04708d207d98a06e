"""The project's one error type: every problem a user can cause ends here.

A :class:`PkpdError` names *where* (file and field) and *what* is wrong, so the
CLI can print one line and exit with status 2 instead of a traceback.

The public exception contract: every function of the Python API checks its arguments at the
boundary and raises :class:`PkpdError` — a :class:`ValueError`, so ``except ValueError`` code keeps
working — or, for an argument of the wrong type, :class:`PkpdTypeError` (also a
:class:`TypeError`), with the same message the command line prints.
"""
from __future__ import annotations


class PkpdError(ValueError):
    """A problem with user input (scenario, model, event data or options).

    Parameters
    ----------
    problem : str
        What is wrong, in words a user understands.
    file : str, optional
        The file the problem is in.
    field : str, optional
        The dotted key inside that file (``regimen[2].dose[1].amount``).
    """

    def __init__(self, problem: str, file: str | None = None, field: str | None = None):
        self.problem = problem
        self.file = file
        self.field = field
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = ": ".join(p for p in (self.file, self.field) if p)
        return f"{where}: {self.problem}" if where else self.problem

    def located(self, file: str | None = None, field_prefix: str | None = None) -> "PkpdError":
        """Return a copy that also names the file and/or a parent field."""
        field = self.field
        if field_prefix:
            field = f"{field_prefix}.{field}" if field else field_prefix
        cls = PkpdTypeError if isinstance(self, TypeError) else PkpdError
        return cls(self.problem, file or self.file, field)


class PkpdTypeError(PkpdError, TypeError):
    """An argument of the wrong type (a model name where a loaded model is needed, …)."""


class PkpdErrors(PkpdError):
    """Several problems found in one file, reported together."""

    def __init__(self, errors: list[PkpdError]):
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.problem, first.file, first.field)

    @property
    def message(self) -> str:  # type: ignore[override]
        if len(self.errors) == 1:
            return self.errors[0].message
        lines = [f"{len(self.errors)} problems:"]
        lines += [f"  - {e.message}" for e in self.errors]
        return "\n".join(lines)


class Collector:
    """Gather several :class:`PkpdError` while validating one file, raise them together."""

    def __init__(self, file: str | None = None):
        self.file = file
        self.errors: list[PkpdError] = []

    def add(self, problem: str, field: str | None = None) -> None:
        self.errors.append(PkpdError(problem, self.file, field))

    def catch(self, err: PkpdError, field_prefix: str | None = None) -> None:
        errs = err.errors if isinstance(err, PkpdErrors) else [err]
        for e in errs:
            self.errors.append(e.located(self.file if e.file is None else None, field_prefix))

    def table(self, tbl, known, field: str) -> bool:
        """Check that ``tbl`` is a table (else one error listing ``known``, and False) and report each
        key not in ``known``; True if it is a table."""
        names = ", ".join(sorted(known))
        if not isinstance(tbl, dict):
            self.add(f"must be a table ({names})", field)
            return False
        for k in sorted(set(tbl) - set(known)):
            self.add(f"unknown key (known: {names})", f"{field}.{k}")
        return True

    def raise_if_any(self) -> None:
        if self.errors:
            raise PkpdErrors(self.errors) if len(self.errors) > 1 else self.errors[0]

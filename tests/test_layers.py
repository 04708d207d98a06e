"""The package's layering, checked on the source with :mod:`ast` (``pkpd`` is never imported).

The rule (``docs/design.md``, "Modules"): a module imports only from its own layer or the layers
below (:data:`LAYERS`), with absolute imports at module top — no ``pkpd`` import inside a function,
method or class body, no relative import — and no import cycles.  Modules stay under
:data:`MAX_MODULE_LINES` lines, functions under :data:`MAX_FUNCTION_LINES` (numba kernels excepted:
splitting a kernel costs speed).  Every failure lists all offenders with file and line.

The checkers are plain functions of a folder, so :func:`test_checker_catches_planted_offences`
runs them on a fake package and proves that the real checks cannot pass vacuously.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pkpd"

#: The layers, lowest first.  A module may import from its own layer and from lower ones only.
#: An entry with a dot names a module or a subpackage (then every module in it); an entry without
#: a dot names exactly that module (``pkpd`` is the package's ``__init__``, the public API on top).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("pkpd.errors", "pkpd.units", "pkpd.expr", "pkpd.version", "pkpd.interrupts", "pkpd.limits",
              "pkpd.names", "pkpd.inputs")),
    ("solvers", ("pkpd.solvers",)),  # numba kernels: arrays in, arrays out
    ("models", ("pkpd.models",)),
    ("dosing", ("pkpd.dosing",)),
    ("simulation", ("pkpd.simulation",)),
    ("analysis", ("pkpd.analysis", "pkpd.testing")),  # testing: the public reference solver
    ("scenario", ("pkpd.scenario",)),
    ("output", ("pkpd.output",)),
    ("workflows", ("pkpd.workflows",)),
    ("teaching", ("pkpd.teaching",)),
    ("cli", ("pkpd.cli",)),
    ("top", ("pkpd", "pkpd.__main__")),
)
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


# ---------------------------------------------------------------------------------------------
# reading the package

@dataclass(frozen=True)
class Import:
    target: str  # the package module it reaches (``from X import n``: X.n if that is a module, else X)
    line: int
    text: str  # the statement as written (unparsed)
    scope: str | None  # None at module level, else e.g. "function run" or "class Model"
    relative: bool
    known: bool  # target is a module of the package


@dataclass
class Module:
    name: str  # dotted, e.g. "pkpd.solvers.dense"
    rel: str  # path shown in messages
    tree: ast.Module
    n_lines: int
    imports: list[Import] = field(default_factory=list)


def scan(root: Path, package: str = PACKAGE) -> dict[str, Module]:
    """Every module of ``root/package`` (parsed, not imported) with its imports of the package."""
    base = root / package
    mods: dict[str, Module] = {}
    for path in sorted(base.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        text = path.read_text(encoding="utf-8")
        mods[".".join(parts)] = Module(".".join(parts), path.relative_to(root).as_posix(),
                                       ast.parse(text, filename=str(path)), len(text.splitlines()))
    for mod in mods.values():
        is_pkg = mod.rel.endswith("__init__.py")
        _collect_imports(mod, mod.tree, None, mods, package, is_pkg)
    return mods


def _collect_imports(mod: Module, node: ast.AST, scope: str | None, mods, package: str, is_pkg: bool) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            name = getattr(child, "name", "<lambda>")
            qual = f"{scope.split(' ', 1)[1]}.{name}" if scope else name
            kind = "class" if isinstance(child, ast.ClassDef) else "function"
            _collect_imports(mod, child, f"{kind} {qual}", mods, package, is_pkg)
            continue
        found: list[tuple[str, bool]] = []  # (dotted name, relative)
        if isinstance(child, ast.Import):
            found = [(a.name, False) for a in child.names]
        elif isinstance(child, ast.ImportFrom):
            if child.level:
                pkg_parts = mod.name.split(".") if is_pkg else mod.name.split(".")[:-1]
                pkg_parts = pkg_parts[: len(pkg_parts) - (child.level - 1)]
                src = ".".join(pkg_parts + ([child.module] if child.module else []))
            else:
                src = child.module or ""
            found = [(f"{src}.{a.name}" if f"{src}.{a.name}" in mods else src, bool(child.level))
                     for a in child.names]
        for name, relative in found:
            if name == package or name.startswith(package + "."):
                mod.imports.append(Import(name, child.lineno, ast.unparse(child), scope, relative, name in mods))
        _collect_imports(mod, child, scope, mods, package, is_pkg)


def layer_of(module: str, layers=LAYERS) -> int | None:
    """Index in ``layers`` of the layer ``module`` belongs to (None: in no layer)."""
    best, best_len = None, -1
    for i, (_, entries) in enumerate(layers):
        for e in entries:
            if (module == e or ("." in e and module.startswith(e + "."))) and len(e) > best_len:
                best, best_len = i, len(e)
    return best


# ---------------------------------------------------------------------------------------------
# the checks: each returns a sorted list of offences, one line each

def upward_imports(mods: dict[str, Module], layers=LAYERS) -> list[str]:
    """Imports from a higher layer; modules in no layer; imports of modules that do not exist."""
    out = []
    for mod in mods.values():
        li = layer_of(mod.name, layers)
        if li is None:
            out.append(f"{mod.rel}: module {mod.name} is in no layer (add it to LAYERS in tests/test_layers.py)")
            continue
        for imp in mod.imports:
            where = f"{mod.rel}:{imp.line}: {mod.name} ({layers[li][0]})"
            if not imp.known:
                out.append(f"{where} imports {imp.target}, which is not a module of the package: `{imp.text}`")
                continue
            lt = layer_of(imp.target, layers)
            if lt is not None and lt > li:
                out.append(f"{where} imports {imp.target} from the higher layer {layers[lt][0]}: `{imp.text}`")
    return sorted(out)


def import_cycles(mods: dict[str, Module]) -> list[str]:
    """Every strongly connected group of modules (import cycle), shown as one cycle through it."""
    graph = {m: sorted({i.target for i in mod.imports if i.known}) for m, mod in mods.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan (the package is small: recursion is fine)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph[v]:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for group in groups:
        members = set(group)
        start = group[0]
        prev: dict[str, str] = {}
        frontier, seen, end = [start], {start}, None
        while frontier and end is None:  # shortest path start → … → start inside the group
            nxt = []
            for v in frontier:
                for w in graph[v]:
                    if w == start:
                        end = v
                        break
                    if w in members and w not in seen:
                        seen.add(w)
                        prev[w] = v
                        nxt.append(w)
                if end is not None:
                    break
            frontier = nxt
        path = [end]
        while path[-1] != start:
            path.append(prev[path[-1]])
        cycle = path[::-1] + [start]
        steps = []
        for a, b in zip(cycle, cycle[1:]):
            imp = next(i for i in mods[a].imports if i.target == b)
            steps.append(f"{mods[a].rel}:{imp.line} `{imp.text}`")
        extra = f" (cycle group: {', '.join(group)})" if len(group) > len(cycle) - 1 else ""
        out.append(" → ".join(cycle) + extra + "; via " + "; ".join(steps))
    return sorted(out)


def misplaced_imports(mods: dict[str, Module]) -> list[str]:
    """Package imports inside a function, method or class body, and relative package imports."""
    out = []
    for mod in mods.values():
        for imp in mod.imports:
            if imp.scope is not None:
                out.append(f"{mod.rel}:{imp.line}: {mod.name} imports {imp.target} inside {imp.scope}: `{imp.text}`")
            if imp.relative:
                out.append(f"{mod.rel}:{imp.line}: {mod.name} uses a relative import: `{imp.text}`")
    return sorted(out)


def long_modules(mods: dict[str, Module], limit: int = MAX_MODULE_LINES) -> list[str]:
    return sorted(f"{m.rel}: {m.n_lines} lines" for m in mods.values() if m.n_lines > limit)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return ""


def is_numba_kernel(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Decorated with numba.njit / njit / numba.jit / anything whose name contains "jit"."""
    return any("jit" in _dotted(d).lower() for d in fn.decorator_list)


def long_functions(mods: dict[str, Module], limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Functions and methods (``def`` line to last line) over ``limit`` lines, numba kernels excepted."""
    out = []

    def walk(mod: Module, node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = child.end_lineno - child.lineno + 1
                if n > limit and not is_numba_kernel(child):
                    out.append(f"{mod.rel}:{child.lineno}: {prefix}{child.name} has {n} lines")
                walk(mod, child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                walk(mod, child, f"{prefix}{child.name}.")
            else:
                walk(mod, child, prefix)

    for mod in mods.values():
        walk(mod, mod.tree, "")
    return sorted(out)


def _report(title: str, offences: list[str]) -> str:
    return f"{len(offences)} {title}:\n  " + "\n  ".join(offences)


# ---------------------------------------------------------------------------------------------
# the package

MODS = scan(ROOT)


def test_the_package_is_read():
    # guards the other tests against passing on nothing
    assert len(MODS) > 50
    for name in ("pkpd", "pkpd.errors", "pkpd.solvers.dense", "pkpd.analysis.tci", "pkpd.cli.main"):
        assert name in MODS, name
    assert any(i.target == "pkpd.simulation.system" for i in MODS["pkpd.analysis.tci"].imports)


def test_imports_go_down_the_layers_only():
    offences = upward_imports(MODS)
    assert not offences, _report("imports break the layer order (see LAYERS)", offences)


def test_no_import_cycles():
    offences = import_cycles(MODS)
    assert not offences, _report("import cycles", offences)


def test_package_imports_are_absolute_and_at_module_top():
    offences = misplaced_imports(MODS)
    assert not offences, _report("package imports not absolute at module top", offences)


def test_modules_are_short():
    offences = long_modules(MODS)
    assert not offences, _report(f"modules over {MAX_MODULE_LINES} lines", offences)


def test_functions_are_short():
    offences = long_functions(MODS)
    assert not offences, _report(f"functions over {MAX_FUNCTION_LINES} lines (numba kernels excepted)", offences)


# ---------------------------------------------------------------------------------------------
# the checker itself, on a fake package with one planted offence of each kind

def _write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")


def test_checker_catches_planted_offences(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(85))
    files = {
        "pkpd/__init__.py": "from pkpd.models.pk import f\nfrom pkpd import units\n",
        "pkpd/errors.py": "import numpy\n",
        "pkpd/units.py": "from pkpd.errors import X\n",
        # upward: base → solvers, and models → cli through a package-level name
        "pkpd/expr.py": "from pkpd.solvers.dense import run\n",
        "pkpd/solvers/__init__.py": "",
        # a cycle inside one layer (allowed by the layer check, caught by the cycle check)
        "pkpd/solvers/dense.py": "from pkpd.solvers import modal\n",
        "pkpd/solvers/modal.py": "import pkpd.solvers.dense\n",
        "pkpd/models/__init__.py": "",
        "pkpd/models/pk.py": (
            "import numpy as np\nfrom pkpd.cli import main\nfrom . import pd\n\n"
            "def f():\n    import scipy.linalg  # third-party lazy import: fine\n"
            "    from pkpd.errors import X  # inner package import\n    return X\n\n"
            "class C:\n    from pkpd import errors\n\n"
            f"def long():\n{body}\n\n"
            f"@numba.njit(cache=True)\ndef kernel():\n{body}\n\n"
            f"@njit\ndef kernel2():\n{body}\n"),
        "pkpd/models/pd.py": "",
        "pkpd/dosing/__init__.py": "",
        "pkpd/dosing/regimen.py": "from pkpd.models.pk import f\n" + "\n" * 400,
        "pkpd/cli/__init__.py": "",
        "pkpd/cli/main.py": "from pkpd.solver import old\n",
        "pkpd/stray.py": "",
    }
    for rel, text in files.items():
        _write(tmp_path, rel, text)
    mods = scan(tmp_path)
    assert set(mods) == {"pkpd", "pkpd.errors", "pkpd.units", "pkpd.expr", "pkpd.solvers", "pkpd.solvers.dense",
                         "pkpd.solvers.modal", "pkpd.models", "pkpd.models.pk", "pkpd.models.pd", "pkpd.dosing",
                         "pkpd.dosing.regimen", "pkpd.cli", "pkpd.cli.main", "pkpd.stray"}

    up = upward_imports(mods)
    assert len(up) == 4, up
    assert any("pkpd/expr.py:1: pkpd.expr (base) imports pkpd.solvers.dense from the higher layer solvers" in o
               for o in up)
    assert any("pkpd/models/pk.py:2: pkpd.models.pk (models) imports pkpd.cli.main from the higher layer cli" in o
               for o in up)
    assert any("pkpd.solver, which is not a module" in o for o in up)
    assert any("pkpd.stray is in no layer" in o for o in up)
    assert not any("pkpd/__init__.py" in o or "dosing/regimen.py" in o for o in up)  # downward: fine

    cyc = import_cycles(mods)
    assert len(cyc) == 1, cyc
    assert cyc[0].startswith("pkpd.solvers.dense → pkpd.solvers.modal → pkpd.solvers.dense")
    assert "pkpd/solvers/modal.py:1 `import pkpd.solvers.dense`" in cyc[0]

    mis = misplaced_imports(mods)
    assert len(mis) == 3, mis
    assert any("pkpd/models/pk.py:7: pkpd.models.pk imports pkpd.errors inside function f" in o for o in mis)
    assert any("imports pkpd.errors inside class C" in o for o in mis)
    assert any("pkpd/models/pk.py:3: pkpd.models.pk uses a relative import: `from . import pd`" in o for o in mis)
    assert not any("scipy" in o for o in mis)

    assert long_modules(mods) == ["pkpd/dosing/regimen.py: 401 lines"]
    longf = long_functions(mods)
    assert longf == ["pkpd/models/pk.py:13: long has 86 lines"], longf  # kernels excepted

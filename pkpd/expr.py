"""Safe arithmetic expressions for model files (no ``eval`` of user text).

An expression such as ``"(1 - FRn) * Fgut"`` or ``"where(spray > 1, FRn * FRn_later, FRn)"``
is parsed with :mod:`ast` and accepted only if every node is on a whitelist:
numbers, names, ``+ - * / **``, unary minus, comparisons, and calls to the
functions in :data:`FUNCTIONS`.  Evaluation works elementwise on numpy arrays,
so one expression serves a single subject or a whole population.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
import numpy as np
from pkpd.errors import PkpdError


FUNCTIONS = {
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "min": np.minimum,
    "max": np.maximum,
    "abs": np.abs,
    "where": np.where,
    "expit": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "logit": lambda p: np.log(p / (1.0 - p)),
}


_BINOPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
           ast.Div: np.divide, ast.Pow: np.power}


_CMPOPS = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater,
           ast.GtE: np.greater_equal, ast.Eq: np.equal, ast.NotEq: np.not_equal}


_MAX_LEN = 500


_MAX_DEPTH = 30


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text, parsed tree and the names it uses."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def __call__(self, env: dict) -> np.ndarray:
        with np.errstate(all="ignore"):
            return _eval(self.tree, env)


def parse(text, field: str | None = None) -> Expression:
    """Parse and check ``text``; raise :class:`PkpdError` naming ``field`` if not allowed."""
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise PkpdError(f"expected an expression (text) or a number, got {type(text).__name__}", field=field)
    text = str(text)
    if len(text) > _MAX_LEN:
        raise PkpdError(f"expression longer than {_MAX_LEN} characters", field=field)
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise PkpdError(f"cannot parse expression {text!r}: {e.msg}", field=field) from None
    names: set[str] = set()
    _check(tree, names, field, text, 0)
    return Expression(text, tree, frozenset(names))


def _check(node, names, field, text, depth):
    if depth > _MAX_DEPTH:
        raise PkpdError(f"expression {text!r} is nested too deeply", field=field)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise PkpdError(f"only numbers are allowed as constants in {text!r}", field=field)
        return
    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise PkpdError(f"{node.id!r} is a function; call it as {node.id}(...) in {text!r}", field=field)
        names.add(node.id)
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _check(node.left, names, field, text, depth + 1)
        _check(node.right, names, field, text, depth + 1)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check(node.operand, names, field, text, depth + 1)
        return
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CMPOPS:
        _check(node.left, names, field, text, depth + 1)
        _check(node.comparators[0], names, field, text, depth + 1)
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            what = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise PkpdError(f"function {what!r} is not allowed in {text!r} "
                            f"(allowed: {', '.join(sorted(FUNCTIONS))})", field=field)
        if node.keywords:
            raise PkpdError(f"keyword arguments are not allowed in {text!r}", field=field)
        want = 3 if node.func.id == "where" else (2 if node.func.id in ("min", "max") else 1)
        if len(node.args) != want:
            raise PkpdError(f"{node.func.id}() takes {want} argument(s) in {text!r}", field=field)
        for a in node.args:
            _check(a, names, field, text, depth + 1)
        return
    raise PkpdError(f"{type(node).__name__} is not allowed in expression {text!r}", field=field)


def _eval(node, env):
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](_eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, env)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Compare):
        return _CMPOPS[type(node.ops[0])](_eval(node.left, env), _eval(node.comparators[0], env))
    if isinstance(node, ast.Call):
        return FUNCTIONS[node.func.id](*[_eval(a, env) for a in node.args])
    raise AssertionError("unchecked node")  # parse() rejects everything else


def evaluate_all(exprs: dict[str, Expression], env: dict, field_prefix: str = "derived") -> dict:
    """Evaluate ``exprs`` (name → expression) in dependency order, adding each to ``env``.

    Raises :class:`PkpdError` on unknown names or a cycle.
    """
    env = dict(env)
    pending = dict(exprs)
    while pending:
        ready = [k for k, e in pending.items() if all(n in env for n in e.names)]
        if not ready:
            k, e = next(iter(pending.items()))
            missing = sorted(n for n in e.names if n not in env and n not in pending)
            if missing:
                raise PkpdError(f"unknown name(s) {', '.join(missing)} in {e.text!r}", field=f"{field_prefix}.{k}")
            raise PkpdError(f"circular definition among {', '.join(sorted(pending))}", field=field_prefix)
        for k in ready:
            env[k] = pending.pop(k)(env)
    return env

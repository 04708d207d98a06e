"""Expressions compiled to a small stack bytecode, evaluated inside numba kernels.

User-written right-hand sides (``kin * (1 + Ce/EC50) - kout * T``) are parsed by
:mod:`pkpd.expr` (whitelist, no eval) and compiled here to integer op codes and constants.
One cached numba interpreter (:func:`run`) evaluates any program, so a new model or a
hypothesis-generated expression needs no new compilation.

Variables are read from one float vector ``v`` laid out by the caller (parameters, states, time).
A Michaelis–Menten rate ``a * (s / w) / (b + s / w)`` of four variables (the form
:mod:`pkpd.models.nonlinear` writes for a ``vmax``/``km`` flow) is fused into one op, ``MM``, by
:func:`pack`: same operations in the same order, so the same result to the bit, at a fraction of
the dispatch cost (the interpreter is the inner loop of the nonlinear kernels).
"""
from __future__ import annotations

import ast
import numpy as np
from numba import njit
from pkpd.errors import PkpdError
from pkpd.expr import Expression


# op codes: (op, arg) pairs
CONST, VAR, ADD, SUB, MUL, DIV, POW, NEG, EXP, LOG, SQRT, MIN, MAX, ABS, LT, LE, GT, GE, EQ, NE, WHERE, EXPIT, LOGIT, MM = \
    range(24)

#: The ops of ``a * (s / w) / (b + s / w)`` (VAR arguments a, s, w, b, s, w), fused into ``MM``.
_MM_SHAPE = (VAR, VAR, VAR, DIV, MUL, VAR, VAR, VAR, DIV, ADD, DIV)
#: Bits per variable slot in the packed argument of ``MM`` (four slots in one int64).
_MM_BITS = 15


_BIN = {ast.Add: ADD, ast.Sub: SUB, ast.Mult: MUL, ast.Div: DIV, ast.Pow: POW}


_CMP = {ast.Lt: LT, ast.LtE: LE, ast.Gt: GT, ast.GtE: GE, ast.Eq: EQ, ast.NotEq: NE}


_FN = {"exp": EXP, "log": LOG, "sqrt": SQRT, "min": MIN, "max": MAX, "abs": ABS, "where": WHERE,
       "expit": EXPIT, "logit": LOGIT}


STACK = 64


def compile_expression(e: Expression, index: dict[str, int], field: str | None = None):
    """(ops int64 (k, 2), consts float64 (m,)) for expression ``e``; ``index`` maps names to slots of v."""
    ops: list[tuple[int, int]] = []
    consts: list[float] = []
    depth = [0, 0]

    def push(n=1):
        depth[0] += n
        depth[1] = max(depth[1], depth[0])

    def emit(node):
        if isinstance(node, ast.Constant):
            consts.append(float(node.value))
            ops.append((CONST, len(consts) - 1))
            push()
        elif isinstance(node, ast.Name):
            if node.id not in index:
                raise PkpdError(f"unknown name {node.id!r} in {e.text!r}", field=field)
            ops.append((VAR, index[node.id]))
            push()
        elif isinstance(node, ast.BinOp):
            emit(node.left)
            emit(node.right)
            ops.append((_BIN[type(node.op)], 0))
            push(-1)
        elif isinstance(node, ast.UnaryOp):
            emit(node.operand)
            if isinstance(node.op, ast.USub):
                ops.append((NEG, 0))
        elif isinstance(node, ast.Compare):
            emit(node.left)
            emit(node.comparators[0])
            ops.append((_CMP[type(node.ops[0])], 0))
            push(-1)
        elif isinstance(node, ast.Call):
            for a in node.args:
                emit(a)
            ops.append((_FN[node.func.id], 0))
            push(-(len(node.args) - 1))
        else:  # expr.parse admits nothing else
            raise PkpdError(f"cannot compile {type(node).__name__} in {e.text!r}", field=field)

    emit(e.tree)
    if depth[1] > STACK:
        raise PkpdError(f"expression {e.text!r} is too deeply nested", field=field)
    return np.array(ops, dtype=np.int64).reshape(-1, 2), np.array(consts + [0.0], dtype=np.float64)


@njit(cache=True, inline="always")
def _run_range(ops, lo, hi, consts, v, stack):
    """Evaluate the ops ``lo…hi-1`` (one program) on the variables ``v``.  Inlined at the call
    sites: a call with array arguments costs more than a short program (reference counts)."""
    sp = 0
    for i in range(lo, hi):
        op = ops[i, 0]
        if op == MM:  # a * (s / w) / (b + s / w), the slots packed in the argument
            arg = ops[i, 1]
            m = (1 << _MM_BITS) - 1
            c = v[(arg >> _MM_BITS) & m] / v[(arg >> (2 * _MM_BITS)) & m]
            stack[sp] = v[arg & m] * c / (v[(arg >> (3 * _MM_BITS)) & m] + c)
            sp += 1
        elif op == CONST:
            stack[sp] = consts[ops[i, 1]]
            sp += 1
        elif op == VAR:
            stack[sp] = v[ops[i, 1]]
            sp += 1
        elif op == NEG:
            stack[sp - 1] = -stack[sp - 1]
        elif op == EXP:
            stack[sp - 1] = np.exp(stack[sp - 1])
        elif op == LOG:
            stack[sp - 1] = np.log(stack[sp - 1])
        elif op == SQRT:
            stack[sp - 1] = np.sqrt(stack[sp - 1])
        elif op == ABS:
            stack[sp - 1] = abs(stack[sp - 1])
        elif op == EXPIT:
            stack[sp - 1] = 1.0 / (1.0 + np.exp(-stack[sp - 1]))
        elif op == LOGIT:
            x = stack[sp - 1]
            stack[sp - 1] = np.log(x / (1.0 - x))
        elif op == WHERE:
            c, a, b = stack[sp - 3], stack[sp - 2], stack[sp - 1]
            sp -= 2
            stack[sp - 1] = a if c != 0.0 else b
        else:
            b = stack[sp - 1]
            a = stack[sp - 2]
            sp -= 1
            if op == ADD:
                r = a + b
            elif op == SUB:
                r = a - b
            elif op == MUL:
                r = a * b
            elif op == DIV:
                r = a / b
            elif op == POW:
                r = a ** b
            elif op == MIN:
                r = a if a < b else b
            elif op == MAX:
                r = a if a > b else b
            elif op == LT:
                r = 1.0 if a < b else 0.0
            elif op == LE:
                r = 1.0 if a <= b else 0.0
            elif op == GT:
                r = 1.0 if a > b else 0.0
            elif op == GE:
                r = 1.0 if a >= b else 0.0
            elif op == EQ:
                r = 1.0 if a == b else 0.0
            else:
                r = 1.0 if a != b else 0.0
            stack[sp - 1] = r
    return stack[0]


@njit(cache=True)
def run(ops, consts, v, stack):
    """Evaluate one program on the variables ``v``; ``stack`` is scratch of length ≥ STACK."""
    return _run_range(ops, 0, ops.shape[0], consts, v, stack)


def fuse_mm(o: np.ndarray) -> np.ndarray:
    """``o`` with every Michaelis–Menten sub-program ``a * (s / w) / (b + s / w)`` (the same ``s``
    and ``w`` twice, slots < 2¹⁵) replaced by one ``MM`` op.  Any occurrence of those eleven ops is
    a whole sub-expression (it pushes one value and pops nothing it did not push)."""
    out, i, k = [], 0, len(_MM_SHAPE)
    while i < o.shape[0]:
        w = o[i:i + k]
        if (w.shape[0] == k and tuple(w[:, 0]) == _MM_SHAPE and w[1, 1] == w[6, 1] and w[2, 1] == w[7, 1]
                and max(w[[0, 1, 2, 5], 1]) < 1 << _MM_BITS):
            a, s_, v, b = (int(x) for x in w[[0, 1, 2, 5], 1])
            out.append((MM, a | s_ << _MM_BITS | v << 2 * _MM_BITS | b << 3 * _MM_BITS))
            i += k
        else:
            out.append(tuple(o[i]))
            i += 1
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def read_slots(ops: np.ndarray) -> np.ndarray:
    """Every slot of ``v`` the packed programs ``ops`` read (sorted, unique)."""
    slots = [ops[ops[:, 0] == VAR, 1]]
    arg = ops[ops[:, 0] == MM, 1]
    m = (1 << _MM_BITS) - 1
    slots += [(arg >> (k * _MM_BITS)) & m for k in range(4)]
    return np.unique(np.concatenate(slots)).astype(np.int64)


def pack(programs: list[tuple[np.ndarray, np.ndarray]]):
    """Concatenate programs for one kernel: (ops (K, 2), op offsets (P+1,), consts (C,)).

    Constant indices are shifted so that one constants array serves every program, and
    Michaelis–Menten rates are fused (:func:`fuse_mm`).
    """
    ops, consts, off = [], [], [0]
    n_const = 0
    for o, c in programs:
        o = fuse_mm(o)
        o[o[:, 0] == CONST, 1] += n_const
        ops.append(o)
        consts.append(c)
        n_const += c.shape[0]
        off.append(off[-1] + o.shape[0])
    return (np.ascontiguousarray(np.concatenate(ops) if ops else np.zeros((0, 2), np.int64)),
            np.array(off, dtype=np.int64),
            np.concatenate(consts) if consts else np.zeros(1))


@njit(cache=True, inline="always")
def run_program(ops, off, consts, p, v, stack):
    """Evaluate program ``p`` of a packed set (inlined, no slice)."""
    return _run_range(ops, off[p], off[p + 1], consts, v, stack)

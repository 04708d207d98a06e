"""The nonlinear parts of a model file: extra ODE states and Michaelis–Menten flows.

::

    [model]
    solver = "auto"         # or "dopri", "exponential", "rosenbrock" (stiff); rtol = 1e-8, atol = 1e-12

    [[flows]]               # saturable elimination: rate = Vmax · C / (Km + C), C = A/V of 'from'
    from = "central"
    vmax = "Vmax"           # mg/h
    km = "Km"               # mg/L (a concentration parameter)

    [states.T]              # an extra state with its own right-hand side
    initial = "0"
    rhs = "kin * (1 + C_central / EC50) - kout * T"
    unit = "1"

Expressions may use parameters, derived values, covariates, ``A_<compartment>`` (amount, mg),
``C_<compartment>`` (concentration, mg/L), the extra states by name and ``t`` (h); they are
checked at load time (unknown names, forbidden constructs) with the file line in the message.
Which integrator runs is decided in :func:`pkpd.simulate.run_nonlinear`: with ``auto``, extra
states that only read the compartments take the hybrid path (linear part exact), Michaelis–Menten
flows writing back take the exponential integrator (linear part exact in the eigenbasis of
``K + J_N``), anything not safely diagonalisable takes Dormand–Prince.  A scenario's ``[solver]``
table (:func:`parse_solver_options`) overrides method and tolerances for one run.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pkpd import expr
from pkpd.errors import Collector, PkpdError
from pkpd.solvers.options import SOLVERS


@dataclass(frozen=True)
class ExtraState:
    name: str
    rhs: expr.Expression
    initial: expr.Expression
    unit: str = "1"


@dataclass(frozen=True)
class MMFlow:
    source: str
    dest: str | None
    rate: expr.Expression  # mg/h, already in terms of A_<source>
    fraction: expr.Expression | None = None


@dataclass(frozen=True)
class NonlinearSpec:
    states: tuple[ExtraState, ...] = ()
    mm_flows: tuple[MMFlow, ...] = ()
    method: int = 3  # AUTO
    rtol: float = 1e-8
    atol: float = 1e-12

    @property
    def active(self) -> bool:
        return bool(self.states or self.mm_flows)


def _line(text: str, needle: str) -> str:
    for i, line in enumerate(text.splitlines(), start=1):
        if needle and needle in line:
            return f" (line {i})"
    return ""


class _Concentrations(ast.NodeTransformer):
    """C_<cmt> → (A_<cmt> / <volume>)."""

    def __init__(self, volumes: dict[str, str]):
        self.volumes = volumes

    def visit_Name(self, node):
        if node.id.startswith("C_") and node.id[2:] in self.volumes:
            return ast.BinOp(ast.Name(f"A_{node.id[2:]}", ast.Load()), ast.Div(),
                             ast.Name(self.volumes[node.id[2:]], ast.Load()))
        return node


def rewrite(e: expr.Expression, volumes: dict[str, str]) -> expr.Expression:
    tree = _Concentrations(volumes).visit(ast.parse(ast.unparse(e.tree), mode="eval").body)
    names = frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
    return expr.Expression(e.text, tree, names)


def parse_nonlinear(data: dict, col: Collector, names: set, comps, text: str) -> NonlinearSpec:
    meta = data.get("model", {}) if isinstance(data.get("model"), dict) else {}
    cmap = {c.name: c for c in comps}
    volumes = {c.name: c.volume for c in comps if c.volume}
    stbl = data.get("states", {})
    if not isinstance(stbl, dict):
        col.add("must be a table of states", "states")
        stbl = {}
    state_names = {k for k in stbl if isinstance(k, str) and k.isidentifier()}
    allowed = names | {f"A_{c}" for c in cmap} | {f"C_{c}" for c in volumes} | state_names | {"t"}

    def checked(v, f, required=True):
        if v is None:
            if required:
                col.add("missing", f)
            return None
        where = _line(text, str(v)) if isinstance(v, str) else ""
        try:
            e = expr.parse(v, f + where)
        except PkpdError as err:
            col.catch(err)
            return None
        bad = sorted(e.names - allowed)
        if bad:
            col.add(f"unknown name(s) {', '.join(bad)} in {e.text!r} (usable: parameters, A_/C_<compartment>, "
                    f"states, t)", f + where)
            return None
        return rewrite(e, volumes)

    states = []
    for name, spec in stbl.items():
        f = f"states.{name}"
        if name in names or name in cmap or not name.isidentifier():
            col.add("state names must be new identifiers (not a parameter or compartment)", f)
            continue
        if not isinstance(spec, dict):
            col.add("must be a table with 'rhs' (and optional 'initial', 'unit')", f)
            continue
        for k in sorted(set(spec) - {"rhs", "initial", "unit", "description"}):
            col.add(f"unknown key '{k}'", f"{f}.{k}")
        rhs = checked(spec.get("rhs"), f"{f}.rhs")
        init = checked(spec.get("initial", 0.0), f"{f}.initial")
        if rhs is not None and init is not None:
            states.append(ExtraState(name, rhs, init, str(spec.get("unit", "1"))))
    mm = []
    for i, spec in enumerate(data.get("flows", []) if isinstance(data.get("flows"), list) else []):
        if not isinstance(spec, dict) or ("vmax" not in spec and "km" not in spec):
            continue
        f = f"flows[{i}]"
        src, dst = spec.get("from"), spec.get("to")
        if not isinstance(src, str) or src not in cmap or cmap[src].volume is None:
            col.add("a Michaelis–Menten flow needs 'from' = a compartment with a volume", f"{f}.from")
            continue
        if dst is not None and (not isinstance(dst, str) or dst not in cmap):
            col.add("'to' must name a compartment", f"{f}.to")
            continue
        if "vmax" not in spec or "km" not in spec:
            col.add("a Michaelis–Menten flow needs both 'vmax' (mg/h) and 'km' (mg/L)", f)
            continue
        if any(k in spec for k in ("rate", "clearance", "between")):
            col.add("give either vmax/km or rate/clearance, not both", f)
            continue
        vm, km = checked(spec["vmax"], f"{f}.vmax"), checked(spec["km"], f"{f}.km")
        frac = checked(spec.get("fraction"), f"{f}.fraction", required=False)
        if vm is None or km is None:
            continue
        c = f"(A_{src} / {volumes[src]})"
        rate = checked(f"({vm.text}) * {c} / (({km.text}) + {c})", f)
        if rate is not None:
            mm.append(MMFlow(src, dst, rate, frac))
    solver = meta.get("solver", "auto")
    if solver not in SOLVERS:
        col.add(f"must be one of {', '.join(SOLVERS)}", "model.solver")
        solver = "auto"
    tol = {}
    for k, default in (("rtol", 1e-8), ("atol", 1e-12)):
        v = meta.get(k, default)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v < 1:
            col.add("must be a number between 0 and 1", f"model.{k}")
            v = default
        tol[k] = float(v)
    return NonlinearSpec(tuple(states), tuple(mm), SOLVERS[solver], tol["rtol"], tol["atol"])

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
Which integrator runs is decided in :mod:`pkpd.solvers.dispatch`: with ``auto``, extra
states that only read the compartments take the hybrid path (linear part exact), Michaelis–Menten
flows writing back take the exponential integrator (linear part exact in the eigenbasis of
``K + J_N``), anything not safely diagonalisable takes Dormand–Prince.  A scenario's ``[solver]``
table (:func:`pkpd.scenario.solver_table.parse_solver_options`) overrides method and
tolerances for one run.
"""
from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from pkpd import expr
from pkpd.errors import Collector, PkpdError
from pkpd.models.pk_parts import Compartment
from pkpd.solvers.options import ATOL, RTOL, SOLVERS, tolerance_problem
from pkpd.models.mass_units import molar_flag


@dataclass(frozen=True)
class ExtraState:
    """An extra ODE state: ``d name/dt = rhs`` (state unit per h) from ``initial`` at t = 0."""

    name: str
    rhs: expr.Expression
    initial: expr.Expression
    unit: str = "1"


@dataclass(frozen=True)
class MMFlow:
    """A Michaelis–Menten flow out of ``source`` (``dest`` None: elimination); ``rate`` in mg/h."""

    source: str
    dest: str | None
    rate: expr.Expression  # mg/h, already in terms of A_<source>
    fraction: expr.Expression | None = None
    molar: bool = True  # convert by molar mass into another species (pkpd.models.mass_units)


@dataclass(frozen=True)
class NonlinearSpec:
    """The nonlinear part of a PK model: extra states, Michaelis–Menten flows and the solver
    settings (``method`` a code of :data:`pkpd.solvers.options.SOLVERS`, tolerances relative/absolute)."""

    states: tuple[ExtraState, ...] = ()
    mm_flows: tuple[MMFlow, ...] = ()
    method: int = 3  # AUTO
    rtol: float = RTOL
    atol: float = ATOL

    @property
    def active(self) -> bool:
        """Whether the model has any nonlinear part (else the linear solvers suffice)."""
        return bool(self.states or self.mm_flows)


def _line(text: str, needle: str) -> str:
    """`` (line N)`` of the first line of ``text`` containing ``needle``, or ``""``."""
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
    """``e`` with every ``C_<compartment>`` (mg/L) replaced by ``A_<compartment> / volume``."""
    tree = _Concentrations(volumes).visit(ast.parse(ast.unparse(e.tree), mode="eval").body)
    names = frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
    return expr.Expression(e.text, tree, names)


def parse_nonlinear(data: dict, col: Collector, names: set[str], comps: Sequence[Compartment],
                    text: str) -> NonlinearSpec:
    """The ``[states]`` table, the Michaelis–Menten ``[[flows]]`` and the solver settings of a PK file.

    ``names`` are the parameter, derived and covariate names expressions may use; ``comps``
    the file's compartments; ``text`` the file text (to name the line of a bad expression).
    Problems are collected in ``col``; what could not be read is left out of the result.
    """
    meta = data.get("model", {}) if isinstance(data.get("model"), dict) else {}
    cmap = {c.name: c for c in comps}
    volumes = {c.name: c.volume for c in comps if c.volume}
    stbl = data.get("states", {})
    if not isinstance(stbl, dict):
        col.add("must be a table of states", "states")
        stbl = {}
    state_names = {k for k in stbl if isinstance(k, str) and k.isidentifier()}
    allowed = names | {f"A_{c}" for c in cmap} | {f"C_{c}" for c in volumes} | state_names | {"t"}
    check = _Checker(col, frozenset(allowed), volumes, text)
    states = _parse_states(stbl, names, cmap, check, col)
    mm = _parse_mm_flows(data.get("flows"), cmap, volumes, check, col)
    method, rtol, atol = _solver_settings(meta, col)
    return NonlinearSpec(tuple(states), tuple(mm), method, rtol, atol)


@dataclass(frozen=True)
class _Checker:
    """Checks one expression of the nonlinear sections against the ``allowed`` names and
    rewrites its ``C_<compartment>`` (mg/L) as ``A_<compartment> / volume``."""

    col: Collector
    allowed: frozenset[str]
    volumes: dict[str, str]
    text: str

    def __call__(self, v, f: str, required: bool = True) -> expr.Expression | None:
        if v is None:
            if required:
                self.col.add("missing", f)
            return None
        where = _line(self.text, str(v)) if isinstance(v, str) else ""
        try:
            e = expr.parse(v, f + where)
        except PkpdError as err:
            self.col.catch(err)
            return None
        bad = sorted(e.names - self.allowed)
        if bad:
            self.col.add(f"unknown name(s) {', '.join(bad)} in {e.text!r} (usable: parameters, A_/C_<compartment>, "
                         f"states, t)", f + where)
            return None
        return rewrite(e, self.volumes)


def _parse_states(stbl: dict, names: set[str], cmap: dict[str, Compartment], check: _Checker,
                  col: Collector) -> list[ExtraState]:
    """``[states.NAME]``: extra ODE states with ``rhs`` (per h), ``initial`` and ``unit``."""
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
        rhs = check(spec.get("rhs"), f"{f}.rhs")
        init = check(spec.get("initial", 0.0), f"{f}.initial")
        if rhs is not None and init is not None:
            states.append(ExtraState(name, rhs, init, str(spec.get("unit", "1"))))
    return states


def _parse_mm_flows(flows, cmap: dict[str, Compartment], volumes: dict[str, str], check: _Checker,
                    col: Collector) -> list[MMFlow]:
    """The ``[[flows]]`` with ``vmax`` (mg/h) and ``km`` (mg/L); first-order ones are skipped."""
    mm = []
    for i, spec in enumerate(flows if isinstance(flows, list) else []):
        if not isinstance(spec, dict) or ("vmax" not in spec and "km" not in spec):
            continue
        flow = _mm_flow(spec, f"flows[{i}]", cmap, volumes, check, col)
        if flow is not None:
            mm.append(flow)
    return mm


def _mm_flow(spec: dict, f: str, cmap: dict[str, Compartment], volumes: dict[str, str], check: _Checker,
             col: Collector) -> MMFlow | None:
    """One Michaelis–Menten flow: rate ``Vmax · C / (Km + C)`` (mg/h), ``C = A_from / V_from``."""
    src, dst = spec.get("from"), spec.get("to")
    if not isinstance(src, str) or src not in cmap or cmap[src].volume is None:
        col.add("a Michaelis–Menten flow needs 'from' = a compartment with a volume", f"{f}.from")
        return None
    if dst is not None and (not isinstance(dst, str) or dst not in cmap):
        col.add("'to' must name a compartment", f"{f}.to")
        return None
    if "vmax" not in spec or "km" not in spec:
        col.add("a Michaelis–Menten flow needs both 'vmax' (mg/h) and 'km' (mg/L)", f)
        return None
    if any(k in spec for k in ("rate", "clearance", "between")):
        col.add("give either vmax/km or rate/clearance, not both", f)
        return None
    vm, km = check(spec["vmax"], f"{f}.vmax"), check(spec["km"], f"{f}.km")
    frac = check(spec.get("fraction"), f"{f}.fraction", required=False)
    if vm is None or km is None:
        return None
    c = f"(A_{src} / {volumes[src]})"
    rate = check(f"({vm.text}) * {c} / (({km.text}) + {c})", f)
    molar = molar_flag(spec, f, col, cmap[src].species, cmap[dst].species if dst is not None else None,
                       elimination=dst is None)
    return MMFlow(src, dst, rate, frac, molar) if rate is not None else None


def _solver_settings(meta: dict, col: Collector) -> tuple[int, float, float]:
    """``model.solver``, ``model.rtol`` and ``model.atol``: (method code, rtol, atol)."""
    solver = meta.get("solver", "auto")
    if not isinstance(solver, str) or solver not in SOLVERS:
        col.add(f"must be one of {', '.join(SOLVERS)}", "model.solver")
        solver = "auto"
    tol = {}
    for k, default in (("rtol", RTOL), ("atol", ATOL)):
        v = meta.get(k, default)
        why = tolerance_problem(k, v)
        if why:
            col.add(why, f"model.{k}")
            v = default
        tol[k] = float(v)
    return SOLVERS[solver], tol["rtol"], tol["atol"]

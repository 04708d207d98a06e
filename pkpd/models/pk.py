"""PK models: :class:`Model` and :func:`parse_model`, which builds one from a model-file document
(section parsers in :mod:`pkpd.models.pk_sections`) and checks it at the typical parameter values.

A PK model file (``models/*.toml``) is data, never code.  Sections:

``[model]``
    name, title, drug (``S-ketamine``, ``racemic ketamine`` or ``R-ketamine``: the form whose
    concentrations it describes, :mod:`pkpd.models.drugs`), sampling
    (``arterial``/``venous``), population, citation, doi, notes, and ``plasma``:
    which compartment is the plasma (sampling) compartment of each species.
``[covariates]``
    extra covariates the model uses besides WT, AGE, FEMALE (name → {description, default}).
``[parameters.NAME]``
    see :mod:`pkpd.models.parameters`.
``[[covariances]]``
    ``between = [A, B]`` with ``value`` (eta covariance) or ``correlation``: the omega block.
``[derived]``
    ``name = "expression"`` over parameters in internal units (mg, L, h).
``[compartments.NAME]``
    ``species`` (ketamine, norketamine, hydroxynorketamine) and ``volume``
    (a parameter or derived name; depots have none).
``[[flows]]``
    ``between = [A, B]`` with ``clearance`` (both directions), or ``from``
    (and optional ``to``; no ``to`` means elimination) with ``rate`` (1/h) or
    ``clearance`` (L/h).  A flow to another species converts the amount by the
    molar masses; ``fraction`` is the formation fraction (default 1; the rest is
    eliminated).
``[[routes.ROUTE]]``
    one table per absorption path of a route: ``target`` compartment,
    ``fraction`` (of the dose; may use ``spray``, the 1-based spray number),
    optional ``depot`` + ``ka`` (first-order absorption), ``release``
    (zero-order release duration) and ``lag``.
``[states.NAME]`` and Michaelis–Menten ``[[flows]]`` (``vmax``, ``km``)
    see :mod:`pkpd.models.nonlinear`.
``[validity]``
    the subjects and plasma concentrations it was estimated over (:mod:`pkpd.models.validity`).
``[residual.SPECIES]``
    residual error of a species' plasma concentration: see :mod:`pkpd.models.residual`.
``[iov]``
    inter-occasion variability of parameters: see :mod:`pkpd.models.iov`.

How to add a model: write a file with these sections; ``pkpd models show NAME``
prints it back; add a test that checks it against the published numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
import numpy as np
from pkpd.errors import Collector, PkpdError
from pkpd.models.common import SPECIES, parse_common
from pkpd.models.nonlinear import NonlinearSpec, parse_nonlinear
from pkpd.models.parameters import Parameter, ParameterSet
from pkpd.models.pk_parts import AbsorptionPath, Compartment, Flow
from pkpd.models.residual import ResidualError, parse_residual
from pkpd.models.iov import IOVTerm, classify, parse_iov
from pkpd.models.pk_sections import (SectionContext, check_plasma_volumes, parse_compartments, parse_flows,
                                     parse_plasma, parse_routes)
from pkpd.models.validity import Validity, parse_validity

__all__ = ["AbsorptionPath", "Compartment", "Flow", "Model", "parse_model"]


_SECTIONS = {"model", "covariates", "parameters", "covariances", "derived", "compartments", "flows", "routes",
             "states", "validity", "residual", "iov"}


@dataclass(frozen=True)
class Model:
    """A checked PK model.  Use :func:`pkpd.load_model` (or :func:`parse_model`) to make one.

    Internal units throughout: amounts mg, volumes L, times h, rate constants 1/h.

    Parameters
    ----------
    name : str
        Model name (``[model].name``; the library name of its file).
    meta : dict
        The ``[model]`` table as written: title, drug, sampling, citation, plasma, ….
    params : ParameterSet
        Parameters (values in internal units), derived expressions, covariates and the omega block.
    compartments : tuple of Compartment
        In file order; their order is the state order of the ODE system.
    flows : tuple of Flow
        First-order flows (rates in 1/h), including the depot → target absorption flows.
    routes : dict of str to tuple of AbsorptionPath
        Route key (see :data:`pkpd.models.routes.ROUTES`) → its absorption paths.
    plasma : dict of str to str
        Species → its plasma (sampling) compartment.
    source_text : str, optional
        The model file's text.
    path : str, optional
        The model file's path (``"<memory>"`` when parsed from a document).
    index : dict of str to int, optional
        Compartment name → state index.
    nonlinear : NonlinearSpec or None, optional
        Extra states, Michaelis–Menten flows and solver settings; None for a model built
        without them.
    validity : Validity or None, optional
        ``[validity]``: the subjects and plasma concentrations the model was estimated over.
    residual : dict of str to ResidualError, optional
        Species → residual error of its plasma concentration (``[residual.SPECIES]``).
    iov : tuple of IOVTerm, optional
        Inter-occasion variability (``[iov]``), each term with its scope.
    """

    name: str
    meta: dict[str, Any]
    params: ParameterSet
    compartments: tuple[Compartment, ...]
    flows: tuple[Flow, ...]
    routes: dict[str, tuple[AbsorptionPath, ...]]
    plasma: dict[str, str]
    source_text: str = ""
    path: str = ""
    index: dict[str, int] = field(default_factory=dict)
    nonlinear: NonlinearSpec | None = None
    validity: Validity | None = None
    residual: dict[str, ResidualError] = field(default_factory=dict)
    iov: tuple[IOVTerm, ...] = ()

    @property
    def drug(self) -> str:
        """The form of ketamine the model describes (``S-ketamine``, ``racemic ketamine`` or
        ``R-ketamine``; :mod:`pkpd.models.drugs`)."""
        return self.meta["drug"]

    @property
    def species(self) -> tuple[str, ...]:
        """Species with a plasma compartment, in the order of :data:`pkpd.models.common.SPECIES`."""
        return tuple(s for s in SPECIES if s in self.plasma)

    @property
    def parameters(self) -> dict[str, Parameter]:
        """Parameter name → :class:`~pkpd.models.parameters.Parameter` (internal units)."""
        return self.params.parameters

    def assumptions(self) -> list[Parameter]:
        """Parameters and residual-error terms graded ``assumption`` (not published).

        Returns
        -------
        list of Parameter
            In file order (residual terms, named ``residual.SPECIES.TERM``, last).
        """
        return ([p for p in self.parameters.values() if p.is_assumption]
                + [t for r in self.residual.values() for t in r.terms() if t.is_assumption])

    def supports(self, route: str) -> bool:
        """Whether the model has absorption paths for ``route``.

        Parameters
        ----------
        route : str
            A route key (``iv``, ``oral``, ``intranasal``, ``sublingual``, ``im``).

        Returns
        -------
        bool
        """
        return route in self.routes


def parse_model(data: dict, text: str = "", path: str = "<memory>") -> Model:
    """Check a parsed PK model document; raise every problem found at once.

    Parameters
    ----------
    data : dict
        The model file as parsed from TOML.
    text : str, optional
        The file's text (kept on the model; names the line of a bad nonlinear expression).
    path : str, optional
        The file's path, named in every problem.

    Returns
    -------
    Model

    Raises
    ------
    PkpdError
        Naming the file and dotted field of each problem (:class:`~pkpd.errors.PkpdErrors`
        when there are several).
    """
    col = Collector(path)
    _check_sections(data, col)
    meta, pset, names = parse_common(data, col, "pk", extra_names={"spray"})
    comps = parse_compartments(data.get("compartments"), col, names, pset.parameters)
    ctx = SectionContext(col, names, pset.parameters, {c.name: c for c in comps})
    flows = parse_flows(data.get("flows", []), ctx)
    routes, depot_flows = parse_routes(data.get("routes"), ctx)
    plasma = parse_plasma(meta, ctx)
    check_plasma_volumes(comps, routes, plasma, col)
    nl = parse_nonlinear(data, col, names, comps, text)
    residual = parse_residual(data.get("residual"), col, set(plasma) & set(SPECIES))
    iov = classify(parse_iov(data.get("iov"), col, pset.parameters), comps, flows + depot_flows, routes, pset.derived)
    validity = parse_validity(data.get("validity"), col, set(pset.all_covariates()), tuple(plasma))
    col.raise_if_any()
    m = Model(name=meta["name"], meta=meta, params=pset, compartments=tuple(comps), flows=tuple(flows + depot_flows),
              routes=routes, plasma=plasma, source_text=text, path=path,
              index={c.name: i for i, c in enumerate(comps)}, nonlinear=nl, residual=residual, iov=iov,
              validity=validity)
    _check_values(m, col)
    col.raise_if_any()
    return m


def _check_sections(data, col: Collector) -> None:
    """The document must be a table; every unknown top-level section is a problem."""
    if not isinstance(data, dict):
        col.add("a model file must be a TOML table")
        col.raise_if_any()
    for k in sorted(set(data) - _SECTIONS):
        col.add(f"unknown section [{k}]", k)


def _check_values(m: Model, col: Collector) -> None:
    """Evaluate the typical subject once: every rate, volume and fraction must be sane."""
    try:
        v = m.params.individual()
    except PkpdError as e:
        col.catch(e)
        return
    _check_nonlinear_finite(m, v, col)
    _check_volumes(m, v, col)
    _check_flow_values(m, v, col)
    _check_route_values(m, v, col)


def _check_nonlinear_finite(m: Model, v: dict[str, np.ndarray], col: Collector) -> None:
    """Right-hand sides at the typical values ``v``, 1 mg everywhere, states at their start: a
    division by a parameter that is zero (or any other non-finite value) is refused here, not mid-run."""
    nl = m.nonlinear
    if nl is None or not nl.active:
        return
    env = {**v, **{f"A_{c.name}": np.ones(1) for c in m.compartments}, "t": np.zeros(1)}
    env.update({s.name: np.broadcast_to(s.initial({**env, **{x.name: np.zeros(1) for x in nl.states}}), (1,))
                for s in nl.states})
    for what, e in [(f"states.{s.name}.rhs", s.rhs) for s in nl.states] + \
                   [(f"flows ({f.source} → {f.dest or 'elimination'})", f.rate) for f in nl.mm_flows]:
        with np.errstate(all="ignore"):
            val = np.asarray(e(env), dtype=float)
        if not np.all(np.isfinite(val)):
            col.add(f"{e.text!r} is not finite at the typical parameter values (division by zero?)", what)


def _check_volumes(m: Model, v: dict[str, np.ndarray], col: Collector) -> None:
    """Every compartment volume (L) must be finite and > 0 at the typical values ``v``."""
    for c in m.compartments:
        if c.volume and not (np.all(v[c.volume] > 0) and np.all(np.isfinite(v[c.volume]))):
            col.add(f"volume {c.volume} evaluates to {v[c.volume][0]:g} L; must be > 0",
                    f"compartments.{c.name}.volume")


def _check_flow_values(m: Model, v: dict[str, np.ndarray], col: Collector) -> None:
    """Every flow rate (1/h) must be finite and ≥ 0, every formation fraction in [0, 1]."""
    for fl in m.flows:
        r = fl.rate(v)
        if not np.all(np.isfinite(r)) or np.any(r < 0):
            col.add(f"rate {fl.rate.text!r} evaluates to {np.ravel(r)[0]:g} 1/h; must be finite and ≥ 0",
                    f"flows ({fl.source} → {fl.dest or 'elimination'})")
        if fl.fraction is not None:
            fr = fl.fraction(v)
            if np.any(fr < 0) or np.any(fr > 1):
                col.add(f"formation fraction {fl.fraction.text!r} = {np.ravel(fr)[0]:g}; must be in [0, 1]",
                        f"flows ({fl.source} → {fl.dest})")


def _check_route_values(m: Model, v: dict[str, np.ndarray], col: Collector) -> None:
    """Every absorption path: fraction in [0, 1.5] for sprays 1 and 2, ka (1/h) > 0, release and
    lag (h) ≥ 0, all finite."""
    for r, paths in m.routes.items():
        for j, p in enumerate(paths):
            for spray in (1, 2):
                vv = m.params.for_spray(v, spray)
                fr = p.fraction(vv)
                if not np.all(np.isfinite(fr)) or np.any(fr < 0) or np.any(fr > 1.5):
                    col.add(f"fraction evaluates to {np.ravel(fr)[0]:g}; must be in [0, 1.5]",
                            f"routes.{r}[{j}].fraction")
                    break
            for key in ("ka", "release", "lag"):
                e = getattr(p, key)
                if e is not None:
                    x = e(v)
                    if not np.all(np.isfinite(x)) or np.any(x < 0) or (key == "ka" and np.any(x <= 0)):
                        col.add(f"evaluates to {np.ravel(x)[0]:g}; must be finite and {'> 0' if key == 'ka' else '≥ 0'}",
                                f"routes.{r}[{j}].{key}")

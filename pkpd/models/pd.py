"""PD models: :class:`PDModel` (effect compartments and Emax/linear readouts on top of a PK
model, with readout evaluation) and :func:`parse_pd_model`, which builds one from a model-file
document (section parsers in :mod:`pkpd.models.pd_sections`).

A PD file has ``kind = "pd"`` in ``[model]``, the same ``[parameters]`` and
``[derived]`` tables as a PK file, and:

``[effects.NAME]``
    an effect compartment on the plasma of ``species``, with ``ke0`` (1/h)
    or ``half_life`` (t½ke0); the solver advances it exactly with the PK states.
``[[readouts]]``
    ``name``, ``category`` (``analgesia``, ``psychotomimetic`` or ``other``), a
    ``unit``, and either ``type = "sigmoid_emax"`` (E0 + Emax·C^γ/(C50^γ + C^γ) on
    the ``effect`` compartment, optional ``antagonist`` = { effect, C100 } raising
    C50 × (1 + Ce,ant/C100)) or ``type = "linear"`` (E0 + Σ slope·Ce over
    ``slopes = { EFFECT = "param", … }``, e.g. ketamine and norketamine with
    opposite signs).  ``direction`` says whether larger values mean more
    effect (``increase``, default) or less (``decrease``, e.g. a pain-score change).
``[states.NAME]``
    PD states (tolerance, turnover): ``rhs`` (per h), ``initial`` and ``unit``.  These
    expressions, and a sigmoid_emax readout's ``c50_scale`` (a time-varying C50 multiplier),
    may use the states, ``Ce_<effect>`` (mg/L) and ``t`` (h).
``[enantiomers]``
    how PK models of another ketamine form drive this one (:mod:`pkpd.models.enantiomers`).
``[validity]``
    the subjects and effect-site concentrations it was estimated over
    (:mod:`pkpd.models.validity`).

A readout may also set ``minimum``/``maximum``: the ends of the source's scale (a VAS of 0–100 %).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
import numpy as np
from pkpd.errors import Collector
from pkpd.models.common import parse_common
from pkpd.models.enantiomers import EnantiomerConversion, concentration_scale, parse_enantiomers
from pkpd.models.nonlinear import ExtraState
from pkpd.models.parameters import Parameter, ParameterSet
from pkpd.models.pd_parts import CATEGORIES, Effect, Readout
from pkpd.models.pd_sections import PDContext, parse_effects, parse_pd_states, parse_readouts
from pkpd.models.validity import Validity, parse_validity

__all__ = ["CATEGORIES", "Effect", "EffectLink", "PDModel", "Readout", "parse_pd_model"]


_SECTIONS = {"model", "covariates", "parameters", "covariances", "derived", "effects", "readouts", "states",
             "enantiomers", "validity"}


@dataclass(frozen=True)
class EffectLink:
    """An effect compartment: ``dCe/dt = ke0 (scale·Cp − Ce)`` on the plasma of ``species``
    (``scale`` ≠ 1 only when a PK model of another ketamine form drives the PD model)."""

    name: str
    species: str
    ke0: np.ndarray  # 1/h, shape (n,)
    scale: np.ndarray | float = 1.0  # plasma → PD drug form (pkpd.models.enantiomers), shape (n,)
    pd_model: str = ""  # the PD model it belongs to


@dataclass(frozen=True)
class PDModel:
    """A checked PD model: effect compartments and readouts on top of a PK model.

    Use :func:`pkpd.load_model` (or :func:`parse_pd_model`) to make one.  Rate constants are
    in 1/h, concentrations in mg/L.

    Parameters
    ----------
    name : str
        Model name (``[model].name``; the library name of its file).
    meta : dict
        The ``[model]`` table as written: title, drug, sampling, citation, ….
    params : ParameterSet
        Parameters (values in internal units), derived expressions, covariates and the omega block.
    effects : tuple of Effect
        Effect compartments (``ke0`` in 1/h), in file order.
    readouts : tuple of Readout
        Readouts on those effect compartments, in file order.
    source_text : str, optional
        The model file's text.
    path : str, optional
        The model file's path (``"<memory>"`` when parsed from a document).
    states : tuple of ExtraState, optional
        PD states (tolerance, turnover) with their own ODEs (right-hand sides per h).
    enantiomers : EnantiomerConversion or None, optional
        ``[enantiomers]``: how PK models of another ketamine form drive this model.
    validity : Validity or None, optional
        ``[validity]``: subjects and concentrations the model was estimated over.
    """

    name: str
    meta: dict[str, Any]
    params: ParameterSet
    effects: tuple[Effect, ...]
    readouts: tuple[Readout, ...]
    source_text: str = ""
    path: str = ""
    states: tuple[ExtraState, ...] = ()  # PD states (tolerance, turnover) with their own ODEs
    enantiomers: EnantiomerConversion | None = None
    validity: Validity | None = None

    @property
    def drug(self) -> str:
        """The drug the model was estimated on (``S-ketamine`` or ``racemic ketamine``)."""
        return self.meta["drug"]

    @property
    def parameters(self) -> dict[str, Parameter]:
        """Parameter name → :class:`~pkpd.models.parameters.Parameter` (internal units)."""
        return self.params.parameters

    def assumptions(self) -> list[Parameter]:
        """Parameters graded ``assumption`` (not published).

        Returns
        -------
        list of Parameter
            In file order.
        """
        return [p for p in self.parameters.values() if p.is_assumption]

    def effect_name(self, effect: str) -> str:
        """Dataset variable name of an effect-site concentration."""
        return f"ce_{self.name}_{effect}"

    def links(self, values: dict[str, np.ndarray], species: tuple[str, ...], pk=None) -> list[EffectLink]:
        """Effect compartments for a PK model that has ``species``; the others are skipped.

        ``pk`` is that PK model: when it describes another ketamine form, each link carries the
        conversion of :func:`pkpd.models.enantiomers.concentration_scale` (an error without one).
        Without ``pk`` the plasma is taken to be of this model's own form.
        """
        n = len(values["WT"])
        scale = concentration_scale(pk, self, values) if pk is not None else np.ones(n)
        return [EffectLink(self.effect_name(e.name), e.species, np.broadcast_to(e.ke0(values), (n,)), scale,
                           self.name)
                for e in self.effects if e.species in species]

    def evaluate(self, readout: Readout, values: dict[str, np.ndarray], ce: dict[str, np.ndarray],
                 states: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Readout value from effect-site concentrations ``ce`` (effect name → mg/L array) and,
        for a readout with ``c50_scale``, this model's state trajectories ``states``.

        ``values`` are arrays ``(n,)``; ``ce`` and ``states`` arrays ``(n, ..., n_times)``.
        """
        c = ce[readout.effect]
        shape = (-1,) + (1,) * (c.ndim - 1)
        n = len(values["WT"])
        col = lambda e: np.reshape(np.broadcast_to(e(values), (n,)), shape)
        p = {k: col(e) for k, e in readout.params.items()}
        if readout.c50_scale is not None:
            env = {k: np.reshape(np.broadcast_to(v, (n,)), shape) for k, v in values.items()}
            env.update({f"Ce_{k}": v for k, v in ce.items()})
            env.update(states or {})
            p["C50"] = p["C50"] * np.asarray(readout.c50_scale(env))
        e0 = p.get("E0", 0.0)
        if readout.type == "linear":
            return self.bounded(readout, e0 + sum(col(sl) * ce[eff] for eff, sl in readout.slopes))
        c50 = p["C50"]
        if readout.antagonist is not None:
            ant, c100 = readout.antagonist
            c50 = c50 * (1.0 + np.maximum(ce[ant], 0.0) / col(c100))
        g = p.get("gamma", 1.0)
        cpos = np.maximum(c, 0.0)
        if np.all(g == 2.0):  # the common assumed Hill coefficient: a square is far cheaper than pow
            cg, c50g = cpos * cpos, c50 * c50
        else:
            cg, c50g = np.power(cpos, g), np.power(c50, g)
        return self.bounded(readout, e0 + p.get("Emax", 1.0) * cg / (c50g + cg))

    @staticmethod
    def bounded(readout: Readout, y: np.ndarray) -> np.ndarray:
        """``y`` clipped to the readout's ``minimum``/``maximum`` (its scale's ends), if any."""
        if readout.minimum is None and readout.maximum is None:
            return y
        return np.clip(y, readout.minimum, readout.maximum)


def parse_pd_model(data: dict, text: str = "", path: str = "<memory>") -> PDModel:
    """Check a parsed PD model document; raise every problem found at once.

    Parameters
    ----------
    data : dict
        The model file as parsed from TOML (``kind = "pd"`` in ``[model]``).
    text : str, optional
        The file's text, kept on the model.
    path : str, optional
        The file's path, named in every problem.

    Returns
    -------
    PDModel

    Raises
    ------
    PkpdError
        Naming the file and dotted field of each problem (:class:`~pkpd.errors.PkpdErrors`
        when there are several); also when an effect's ke0 is not > 0 at the typical values.
    """
    col = Collector(path)
    for k in sorted(set(data) - _SECTIONS):
        col.add(f"unknown section [{k}]", k)
    meta, pset, names = parse_common(data, col, "pd")
    stbl = data.get("states", {}) if isinstance(data.get("states", {}), dict) else {}
    etbl = data.get("effects", {}) if isinstance(data.get("effects", {}), dict) else {}
    state_names = {k for k in stbl if isinstance(k, str) and k.isidentifier()}
    ctx = PDContext(col, names, names | state_names | {f"Ce_{e}" for e in etbl} | {"t"})
    effects = parse_effects(data.get("effects", {}), ctx)
    readouts = parse_readouts(data.get("readouts", []), {e.name for e in effects}, ctx)
    pd_states = parse_pd_states(stbl, state_names, ctx)
    conv = parse_enantiomers(data.get("enantiomers"), col, pset.parameters)
    validity = parse_validity(data.get("validity"), col, set(pset.all_covariates()),
                              tuple(dict.fromkeys(e.species for e in effects)))
    col.raise_if_any()
    m = PDModel(meta["name"], meta, pset, tuple(effects), tuple(readouts), text, path, tuple(pd_states),
                conv, validity)
    _check_ke0(m, col)
    col.raise_if_any()
    return m


def _check_ke0(m: PDModel, col: Collector) -> None:
    """Every effect's ke0 (1/h) must be finite and > 0 for the typical subject."""
    v = m.params.individual()
    for e in m.effects:
        k = e.ke0(v)
        if not np.all(np.isfinite(k)) or np.any(k <= 0):
            col.add(f"ke0 evaluates to {np.ravel(k)[0]:g} 1/h; must be > 0", f"effects.{e.name}")

"""What a checked scenario file becomes: :class:`Scenario` and the small specs it holds.

The table parsers (``pkpd.scenario.*_table``) build these; :func:`pkpd.scenario.load.load_scenario`
assembles them.  Everything here is frozen: a scenario is checked once, then only read.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from pkpd.analysis.sweep_design import SweepSpec
from pkpd.analysis.tradeoff import TradeoffSpec
from pkpd.dosing.regimen import Regimen
from pkpd.models.overrides import with_overrides
from pkpd.models.pk import Model
from pkpd.models.pd import PDModel
from pkpd.simulation.sampling import Population
from pkpd.solvers.options import SolverOptions


#: Output formats, all written by default.
FORMATS = ("netcdf", "csv", "png", "html")




@dataclass(frozen=True)
class TimeGrid:
    """Output times 0, step, 2·step, … up to the horizon (both in hours)."""

    horizon: float  # h
    step: float  # h

    @property
    def n(self) -> int:
        return int(math.floor(self.horizon / self.step + 1e-9)) + 1


@dataclass(frozen=True)
class PopulationSpec:
    """A scenario's ``[population]`` run: the subjects and how the run is stored."""

    population: Population
    mode: str = "streaming"  # or "full" (every trajectory kept)
    precision: str = "float32"  # storage of full trajectories
    chunk: int = 1024  # subjects per chunk
    thresholds: dict = field(default_factory=dict)  # output → threshold (ng/mL, or a readout's unit)
    observation_times: tuple = ()  # h: sampled observations with residual error (none when empty)
    percentile_step: float | None = None  # streaming percentile times, h (None: at most 300 times)


@dataclass(frozen=True)
class Scenario:
    """A checked scenario: models, subject, regimens, time grid, outputs.

    Made by :func:`pkpd.load_scenario` from a scenario file; run with :func:`pkpd.run_scenario`.

    Attributes
    ----------
    title : str
        ``[scenario] title`` (default: the file's stem).
    models : tuple of Model
        The PK models, run side by side.
    pd : tuple of PDModel
        The PD models (effect sites, readouts) driven by every PK model.
    subject : dict of str to float
        The typical subject's covariates: ``WT`` (kg), ``AGE`` (years), ``FEMALE`` (0/1) and any
        model covariate given in ``[subject]``.
    regimens : tuple of Regimen
        The ``[[regimens]]``, in file order.
    time : TimeGrid
        Output times (``[time]``).
    output_dir : pathlib.Path
        Where results are written.
    formats : tuple of str
        Output formats, drawn from :data:`FORMATS`.
    description : str
        ``[scenario] description``.
    source_text : str
        The scenario file as read (stored in every result file).
    path : str
        The scenario file.
    log_scale : bool
        Concentration axes on a log scale.
    warnings : tuple of str
        Non-fatal problems (doses after the horizon, PK/PD pairing caveats not accepted, subjects
        outside a model's ``[validity]``).
    notes : tuple of str
        One line each, so that nothing is silent: what the run converts (racemic doses into
        S-ketamine models — their S half —, doses without a drug, PK concentrations of another
        ketamine form into a PD model by its ``[enantiomers]`` conversion), routes a model lacks
        (those regimens are skipped for it), pairings the scenario accepts (``[pairing] accept``).
    validity : str
        ``[scenario] validity``: ``warn`` (default) or ``refuse`` a run outside a model's
        ``[validity]`` ranges.
    population : PopulationSpec or None
        The ``[population]`` run, if any.
    sweep : SweepSpec or None
        The ``[sweep]`` design, if any.
    tradeoff : TradeoffSpec or None
        The ``[tradeoff]`` settings (None: defaults apply when the PD readouts allow a trade-off).
    solver : SolverOptions
        ``[solver]`` method and tolerances for nonlinear models (all None: each model's own).
    """

    title: str
    models: tuple[Model, ...]
    pd: tuple[PDModel, ...]
    subject: dict[str, float]
    regimens: tuple[Regimen, ...]
    time: TimeGrid
    output_dir: Path
    formats: tuple[str, ...]
    description: str = ""
    source_text: str = ""
    path: str = ""
    log_scale: bool = False
    warnings: tuple[str, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)
    population: PopulationSpec | None = None
    sweep: SweepSpec | None = None
    tradeoff: TradeoffSpec | None = None
    solver: SolverOptions = field(default_factory=SolverOptions)
    validity: str = "warn"

    def with_overrides(self, overrides: dict | None, where: str = "overrides") -> "Scenario":
        """This scenario with some models' typical values changed (``{model: {parameter: value}}``,
        values as text with a unit; see :mod:`pkpd.models.overrides`).  Errors name ``where``."""
        if not overrides:
            return self
        changed = with_overrides(self.models + self.pd, overrides, where)
        return replace(self, models=changed[:len(self.models)], pd=changed[len(self.models):])

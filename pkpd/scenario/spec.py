"""TODO docstring (scenario.spec)"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from pkpd.dosing.regimen import Regimen
from pkpd.models.pk import Model
from pkpd.models.pd import PDModel
from pkpd.simulation.sampling import Population


FORMATS = ("netcdf", "csv", "png", "html")


MAX_TIMES = 2_000_000


@dataclass(frozen=True)
class TimeGrid:
    horizon: float  # h
    step: float  # h

    @property
    def n(self) -> int:
        return int(math.floor(self.horizon / self.step + 1e-9)) + 1


@dataclass(frozen=True)
class Scenario:
    """A checked scenario: models, subject, regimens, time grid, outputs."""

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
    population: object = None  # PopulationSpec or None
    sweep: object = None  # SweepSpec or None
    tradeoff: object = None  # TradeoffSpec or None (defaults apply when PD readouts allow it)
    solver: object = None  # nlmodel.SolverOptions or None (nonlinear models' method and tolerances)


@dataclass(frozen=True)
class PopulationSpec:
    population: Population
    mode: str = "streaming"
    precision: str = "float32"
    chunk: int = 1024
    thresholds: dict = field(default_factory=dict)

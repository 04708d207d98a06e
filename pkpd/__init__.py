"""pkpd — ketamine PK/PD simulator: analgesia against psychotomimetic exposure.

Public API::

    import pkpd
    model = pkpd.load_model("perez_ruixo_2021")
    scenario = pkpd.load_scenario("scenarios/routes.toml")
    ds = pkpd.run_scenario(scenario)          # xarray Dataset
    reg = pkpd.parse_regimen("56 mg IN")      # compact regimen notation
    ds = pkpd.simulate(model, reg, horizon=24, step=1/60)

The package is layered (see ``docs/design.md``): ``models`` → ``dosing`` → ``simulation`` →
``analysis`` → ``scenario`` → ``output`` → ``workflows`` → ``cli``/``teaching``, with the numba
kernels in ``solvers`` (arrays only) under them all.  Only the names below are public.
"""
from pkpd.version import __version__
from pkpd.errors import PkpdError, PkpdTypeError
from pkpd import units
from pkpd.models.pk import Model
from pkpd.models.pd import PDModel
from pkpd.models.library import available_models
from pkpd.models.load import load_model
from pkpd.dosing.regimen import Dose, Regimen
from pkpd.dosing.events import regimen_events
from pkpd.dosing.notation import format_regimen, parse_regimen
from pkpd.solvers.options import SolverOptions
from pkpd.simulation.typical import simulate, solve_states
from pkpd.simulation.sampling import CovariateDist, Population
from pkpd.simulation.population import percentiles, simulate_population
from pkpd.analysis.metrics import auc, summary
from pkpd.analysis.nca import nca
from pkpd.analysis.nca_dosing import Dosing
from pkpd.scenario.spec import Scenario
from pkpd.scenario.load import load_scenario
from pkpd.scenario.doses import parse_dose
from pkpd.workflows.run import run_scenario, write_outputs

__all__ = [
    "__version__", "PkpdError", "PkpdTypeError", "units",
    "Model", "PDModel", "available_models", "load_model",
    "Dose", "Regimen", "regimen_events", "format_regimen", "parse_regimen",
    "SolverOptions", "simulate", "solve_states",
    "CovariateDist", "Population", "percentiles", "simulate_population",
    "auc", "summary", "nca", "Dosing",
    "Scenario", "load_scenario", "parse_dose",
    "run_scenario", "write_outputs",
]

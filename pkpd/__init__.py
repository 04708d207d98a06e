"""pkpd — ketamine PK/PD simulator: analgesia against psychotomimetic exposure.

Public API::

    import pkpd
    model = pkpd.load_model("perez_ruixo_2021")
    scenario = pkpd.load_scenario("scenarios/routes.toml")
    ds = pkpd.run_scenario(scenario)          # xarray Dataset
    ds = pkpd.simulate(model, regimens, horizon=24, step=1/60)
"""
__version__ = "0.1.0"

from .errors import PkpdError as PkpdError
from .model import Model as Model, load_model as load_model, available_models as available_models
from .pd import PDModel as PDModel
from .dosing import Dose as Dose, Regimen as Regimen, regimen_events as regimen_events
from .scenario import Scenario as Scenario, load_scenario as load_scenario, parse_dose as parse_dose
from .simulate import simulate as simulate
from .population import Population as Population, CovariateDist as CovariateDist
from .popsim import simulate_population as simulate_population, percentiles as percentiles
from .metrics import summary as summary, auc as auc
from .run import run_scenario as run_scenario, write_outputs as write_outputs
from . import units as units

"""Scenario files (TOML): what to simulate, checked before anything runs.

::

    [scenario]
    title = "IV, oral and intranasal esketamine"
    models = ["perez_ruixo_2021"]      # PK models, run side by side
    pd = ["olofsen_2022"]              # optional PD models (effect sites, readouts)

    [subject]                          # the typical subject's covariates
    weight = "70 kg"
    age = "40 year"
    sex = "male"                       # or female; extra model covariates by name: ASIAN = 0

    [time]
    horizon = "24 h"
    step = "1 min"

    [[regimens]]
    name = "IV 0.5 mg/kg over 40 min"
    doses = [{ route = "iv", amount = "0.5 mg/kg", duration = "40 min" }]

    [output]                           # optional
    directory = "results/routes"       # default: results/<scenario file stem>
    formats = ["netcdf", "csv", "png"]

Dose fields: ``route``; ``amount`` (mg or mg/kg; per spray for intranasal) or ``rate``
(mg/h, mg/kg/h) with ``duration``; ``start``; ``every`` and ``times`` for repeats;
``sprays`` and ``spray_interval`` for intranasal; ``drug`` (esketamine, racemic or arketamine).

Optional tables: ``[population]``, ``[tradeoff]``, ``[sweep]``, ``[solver]`` and ``[pairing]``.  Each table has
its own parser in its own module (``scenario_table``, ``subject_table``, ``time_table``,
``regimens_table``, ``output_table``, ``population_table``, ``tradeoff_table``, ``sweep_table``,
``solver_table``, ``pairing_table``); what needs several tables is checked in :mod:`pkpd.scenario.checks`.
:func:`parse_scenario` runs them in file-section order and reports every problem together.
"""
from __future__ import annotations

from pathlib import Path
from pkpd.errors import Collector, PkpdError
from pkpd.simulation.variables import check_variable_names
from pkpd.models.library import read_toml
from pkpd.solvers.options import SolverOptions
from pkpd.scenario.checks import (check_covariate_file, check_observations, check_pairs, check_thresholds,
                                  dosing_checks, drug_checks, scenario_notes)
from pkpd.scenario.output_table import parse_output
from pkpd.scenario.pairing_table import parse_pairing
from pkpd.scenario.population_table import parse_population
from pkpd.scenario.regimens_table import parse_regimens
from pkpd.scenario.scenario_table import parse_scenario_table
from pkpd.scenario.solver_table import parse_solver_options
from pkpd.scenario.spec import Scenario
from pkpd.scenario.subject_table import model_covariates, parse_subject
from pkpd.scenario.sweep_table import parse_sweep
from pkpd.scenario.time_table import parse_time
from pkpd.scenario.tradeoff_table import parse_tradeoff
from pkpd.scenario.validity_checks import covariate_checks


#: The tables a scenario file may have (in the order the "unknown section" message lists them).
SECTIONS = ("scenario", "subject", "time", "regimens", "population", "tradeoff", "sweep", "solver", "pairing",
            "output")


def load_scenario(path, output_dir: str | Path | None = None) -> Scenario:
    """Read and check a scenario file.

    Parameters
    ----------
    path : str or pathlib.Path
        The scenario file (TOML).  Model and event files it names are looked up beside it.
    output_dir : str or pathlib.Path, optional
        Where results go, overriding ``[output] directory`` (default ``results/<file stem>``).

    Returns
    -------
    Scenario
        The checked scenario, models loaded.

    Raises
    ------
    PkpdError
        When the file cannot be read or anything in it is wrong; several problems are reported
        together (:class:`pkpd.errors.PkpdErrors`), each naming the file and the field.
    """
    path = Path(path)
    data, text = read_toml(path, "scenario file")
    return parse_scenario(data, text, str(path), output_dir=output_dir)


def parse_scenario(data: dict, text: str = "", path: str = "<memory>", output_dir=None) -> Scenario:
    """Check a scenario document (``data``, as read from TOML ``text`` at ``path``): every table
    by its parser, then across tables; all problems raised together (:class:`PkpdError`)."""
    col = Collector(path)
    for k in sorted(set(data) - set(SECTIONS)):
        col.add(f"unknown section [{k}] (known: {', '.join(SECTIONS)})", k)
    solver = parse_solver_options(data["solver"], col) if "solver" in data else SolverOptions()
    head = parse_scenario_table(data.get("scenario"), col, path)
    try:  # results are named by joining model, effect and readout names: they must not collide
        check_variable_names(head.models, head.pd)
    except PkpdError as e:
        col.catch(e, "scenario")
    base = Path(path).parent
    covariates = model_covariates(head.models + head.pd)
    subject = parse_subject(data.get("subject", {}), col, covariates)
    grid = parse_time(data.get("time"), col)
    regimens = parse_regimens(data.get("regimens"), col, base)
    out = parse_output(data.get("output", {}), col)
    population = None
    if "population" in data:
        population = parse_population(data["population"], col, base, covariates)
        if population is not None and grid is not None:
            check_thresholds(population, head.models, head.pd, col)
            check_observations(population, head.models, grid, col)
        if population is not None:
            check_covariate_file(population, head.models, head.pd, regimens, col)
    tradeoff = None
    if "tradeoff" in data:
        tradeoff = parse_tradeoff(data["tradeoff"], col)
        if tradeoff is not None:
            check_pairs(tradeoff, head.pd, col)
    sweep = None
    if "sweep" in data:
        sweep = parse_sweep(data["sweep"], col, head.models, head.pd, population.population.n if population else None)
    accept = parse_pairing(data["pairing"], col, head.models, head.pd) if "pairing" in data else ()
    warnings = dosing_checks(head.models, head.pd, regimens, grid, col, accept)
    notes = drug_checks(head.models, head.pd, regimens, col) + scenario_notes(head.models, head.pd, regimens, accept)
    warnings += covariate_checks(head.models, head.pd, subject, population, head.validity, col)
    col.raise_if_any()
    return Scenario(title=head.title, models=head.models, pd=head.pd, subject=subject, regimens=regimens,
                    time=grid, output_dir=out.resolve_directory(path, output_dir), formats=out.formats,
                    description=head.description, source_text=text, path=path, log_scale=out.log_scale,
                    warnings=warnings, notes=notes, population=population, tradeoff=tradeoff, sweep=sweep,
                    solver=solver, validity=head.validity)

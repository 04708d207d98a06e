"""A scenario from a few arguments (``pkpd sim``): a model, a regimen in compact notation, hours.

:func:`quick_scenario` writes the equivalent scenario file as TOML text and checks it with the
same parser as a file (:func:`pkpd.scenario.load.parse_scenario`), so a one-line run behaves
exactly like ``pkpd run`` on that file, and the text is stored in every result file as its
provenance.  The arguments are checked first, one by one, so a mistake names the argument
(``MODEL``, ``REGIMEN``, ``--pd``, ``--hours``) rather than a field of a file the user never wrote.
"""
from __future__ import annotations

import json
import tomllib
from pathlib import Path
from pkpd import units
from pkpd.dosing.notation import parse_regimen
from pkpd.errors import PkpdError
from pkpd.models.load import load_model
from pkpd.models.pd import PDModel
from pkpd.scenario.load import parse_scenario
from pkpd.scenario.spec import Scenario

#: The stem of the files a one-line run writes (``sim.nc``, ``sim_summary.csv``, …).
STEM = "sim"


def _q(s: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML)."""
    return json.dumps(s, ensure_ascii=False)


def quick_scenario(model: str, regimen: str, *, pd=(), hours: str | float = 24, step: str = "1 min",
                   weight: str = "70 kg", population: int = 0, seed: int = 1, output_dir=None,
                   overrides: dict | None = None, command: str = "") -> Scenario:
    """The scenario of a one-line run.

    Parameters
    ----------
    model : str
        A PK model (library name or file).
    regimen : str
        Compact regimen notation (``"56 mg IN"``, ``"0.5 mg/kg IV over 40 min"``).
    pd : sequence of str
        PD models to attach.
    hours : str or float
        The horizon: a number of hours or a time with a unit (``"2 day"``).
    step : str
        The output step (a time with a unit).
    weight : str
        The typical subject's weight.
    population : int
        Simulated subjects (0: typical subject only).
    seed : int
        Seed of the population.
    output_dir : str or Path, optional
        Default ``results/sim``.
    overrides : dict, optional
        ``{model: {parameter: value with unit}}`` (:mod:`pkpd.models.overrides`).
    command : str
        The command line, written at the top of the scenario text.

    Raises
    ------
    PkpdError
        Naming the argument that is wrong.
    """
    m = load_model(model)
    if isinstance(m, PDModel):
        raise PkpdError(f"{model!r} is a PD model; give a PK model (see 'pkpd models') and the PD model "
                        "with --pd", field="MODEL")
    for p in pd:
        if not isinstance(load_model(p), PDModel):
            raise PkpdError(f"{p!r} is a PK model, not a PD model", field="--pd")
    parse_regimen(regimen, field="REGIMEN")
    horizon = units.parse(_hours(hours), "time", "--hours").value
    dt = units.parse(step, "time", "--step").value
    units.parse(weight, "weight", "--weight")
    if not 0 <= int(population) <= 10_000_000:
        raise PkpdError("must be from 0 to 10000000", field="--population")
    text = scenario_text(model, regimen, pd, horizon, dt, weight, int(population), seed, command)
    sc = parse_scenario(tomllib.loads(text), text, STEM, output_dir=output_dir or Path("results") / STEM)
    return sc.with_overrides(overrides, "--set") if overrides else sc


def _hours(h):
    """A bare number of hours (``24`` or ``"24"``) as ``"24 h"``; other text as given."""
    try:
        return f"{float(h)!r} h"
    except (TypeError, ValueError):
        return h


def scenario_text(model: str, regimen: str, pd, horizon_h: float, step_h: float, weight: str,
                  population: int, seed: int, command: str = "") -> str:
    """The scenario file equivalent to the arguments (TOML)."""
    lines = [f"# {command or 'pkpd sim'}", "# the scenario file this one-line run is equivalent to", "",
             "[scenario]", f"title = {_q(f'{regimen} — {model}')}", f"models = [{_q(model)}]"]
    if pd:
        lines.append(f"pd = [{', '.join(_q(p) for p in pd)}]")
    lines += ["", "[subject]", f"weight = {_q(weight)}", "", "[time]",
              f"horizon = {_q(f'{horizon_h:.10g} h')}", f"step = {_q(f'{step_h * 60:.10g} min')}", "",
              "[[regimens]]", f"name = {_q(regimen.strip())}", f"text = {_q(regimen)}"]
    if population:
        lines += ["", "[population]", f"n = {population}", f"seed = {seed}", f"weight = {_q(weight)}"]
    return "\n".join(lines) + "\n"

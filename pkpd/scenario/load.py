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
``sprays`` and ``spray_interval`` for intranasal.
"""
from __future__ import annotations

import math
from pathlib import Path
from pkpd import units
from pkpd.dosing.regimen import Regimen
from pkpd.errors import Collector, PkpdError
from pkpd.models.load import load_model
from pkpd.models.library import read_toml
from pkpd.scenario.solver_table import parse_solver_options
from pkpd.models.pd import PDModel
from pkpd.models.pairing import pairing_warnings
from pkpd.scenario.population_table import parse_population
from pkpd.scenario.tradeoff_table import parse_tradeoff
from pkpd.scenario.sweep_table import parse_sweep
from pkpd.dosing.notation import parse_regimen
from pkpd.dosing.records import read_events
from pkpd.analysis.tradeoff import pairs_for
from pkpd.scenario.spec import FORMATS, MAX_TIMES, Scenario, TimeGrid
from pkpd.scenario.doses import parse_dose


def load_scenario(path, output_dir: str | Path | None = None) -> Scenario:
    """Read and check a scenario file; raise :class:`PkpdError` naming file and field."""
    path = Path(path)
    data, text = read_toml(path, "scenario file")
    return parse_scenario(data, text, str(path), output_dir=output_dir)


def _str(col, tbl, key, f, default=None):
    v = tbl.get(key, default)
    if v is not None and not isinstance(v, str):
        col.add("must be text", f)
        return default
    return v


def parse_scenario(data: dict, text: str = "", path: str = "<memory>", output_dir=None) -> Scenario:
    col = Collector(path)
    for k in sorted(set(data) - {"scenario", "subject", "time", "regimens", "output", "population", "tradeoff",
                                 "sweep", "solver"}):
        col.add(f"unknown section [{k}] (known: scenario, subject, time, regimens, population, tradeoff, sweep, "
                f"solver, output)", k)
    solver = parse_solver_options(data["solver"], col) if "solver" in data else None
    sc = data.get("scenario")
    if not isinstance(sc, dict):
        col.add("missing [scenario] table (title, models)", "scenario")
        sc = {}
    for k in sorted(set(sc) - {"title", "description", "models", "model", "pd"}):
        col.add(f"unknown key '{k}'", f"scenario.{k}")
    title = _str(col, sc, "title", "scenario.title", "") or Path(path).stem
    description = _str(col, sc, "description", "scenario.description", "")
    base = Path(path).parent

    # models
    names = sc.get("models", sc.get("model"))
    if isinstance(names, str):
        names = [names]
    models, pds = [], []
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        col.add("'models' must list one or more model names or files", "scenario.models")
        names = []
    for i, n in enumerate(names):
        try:
            m = load_model(n, base)
        except PkpdError as e:
            col.catch(e if e.file else e.located(field_prefix=f"scenario.models[{i}]"))
            continue
        if isinstance(m, PDModel):
            col.add(f"{n!r} is a PD model; list it under 'pd'", f"scenario.models[{i}]")
        else:
            models.append(m)
    pdn = sc.get("pd", [])
    if isinstance(pdn, str):
        pdn = [pdn]
    if not isinstance(pdn, list) or not all(isinstance(n, str) for n in pdn):
        col.add("'pd' must list PD model names or files", "scenario.pd")
        pdn = []
    for i, n in enumerate(pdn):
        try:
            m = load_model(n, base)
        except PkpdError as e:
            col.catch(e if e.file else e.located(field_prefix=f"scenario.pd[{i}]"))
            continue
        if not isinstance(m, PDModel):
            col.add(f"{n!r} is a PK model; list it under 'models'", f"scenario.pd[{i}]")
        else:
            pds.append(m)

    # subject
    subj = data.get("subject", {})
    subject = {"WT": 70.0, "AGE": 40.0, "FEMALE": 0.0}
    if not isinstance(subj, dict):
        col.add("must be a table", "subject")
        subj = {}
    extra_covs = set()
    for m in models + pds:
        extra_covs |= set(m.params.covariates)
    for k, v in subj.items():
        f = f"subject.{k}"
        try:
            if k == "weight":
                subject["WT"] = units.parse(v, "weight", f).value
                if not 0.5 <= subject["WT"] <= 400:
                    col.add(f"body weight {subject['WT']:g} kg is outside 0.5–400 kg", f)
            elif k == "age":
                subject["AGE"] = units.parse(v, "age", f).value
                if not 0 <= subject["AGE"] <= 120:
                    col.add(f"age {subject['AGE']:g} years is outside 0–120", f)
            elif k == "sex":
                if v not in ("male", "female"):
                    col.add("must be 'male' or 'female'", f)
                subject["FEMALE"] = 1.0 if v == "female" else 0.0
            elif k in extra_covs:
                if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                    col.add("must be a number", f)
                else:
                    subject[k] = float(v)
            else:
                col.add(f"unknown covariate (known: weight, age, sex{''.join(', ' + c for c in sorted(extra_covs))})", f)
        except PkpdError as e:
            col.catch(e)

    # time
    tt = data.get("time")
    grid = None
    if not isinstance(tt, dict):
        col.add("missing [time] table with horizon and step", "time")
    else:
        for k in sorted(set(tt) - {"horizon", "step"}):
            col.add(f"unknown key '{k}'", f"time.{k}")
        try:
            hz = units.parse(tt.get("horizon", ""), "time", "time.horizon").value
            st = units.parse(tt.get("step", ""), "time", "time.step").value
            if hz <= 0:
                col.add("must be > 0", "time.horizon")
            elif st <= 0:
                col.add("must be > 0", "time.step")
            elif st > hz:
                col.add(f"step ({tt['step']}) is larger than the horizon ({tt['horizon']})", "time.step")
            elif hz / st > MAX_TIMES:
                col.add(f"{hz / st:.3g} time points; at most {MAX_TIMES:,} (use a larger step)", "time.step")
            else:
                grid = TimeGrid(hz, st)
        except PkpdError as e:
            col.catch(e)

    # regimens
    regs = []
    rl = data.get("regimens")
    if not isinstance(rl, list) or not rl:
        col.add("missing [[regimens]] (at least one)", "regimens")
        rl = []
    seen = set()
    for i, r in enumerate(rl):
        f = f"regimens[{i}]"
        if not isinstance(r, dict):
            col.add("must be a table with name and doses", f)
            continue
        for k in sorted(set(r) - {"name", "doses", "text", "events", "id"}):
            col.add(f"unknown key '{k}'", f"{f}.{k}")
        name = r.get("name", r.get("text"))
        if not isinstance(name, str) or not name.strip():
            col.add("missing 'name'", f"{f}.name")
            continue
        if name in seen:
            col.add(f"duplicate regimen name {name!r}", f"{f}.name")
        seen.add(name)
        if sum(k in r for k in ("doses", "text", "events")) != 1:
            col.add("give exactly one of 'doses' (tables), 'text' (compact notation such as "
                    "\"0.5 mg/kg over 40 min\") or 'events' (a NONMEM-style CSV file)", f)
            continue
        if "text" in r:
            try:
                regs.append(parse_regimen(r["text"], name, f"{f}.text"))
            except PkpdError as e:
                col.catch(e)
            continue
        if "events" in r:
            ev_path = r["events"]
            if not isinstance(ev_path, str):
                col.add("must be a file name", f"{f}.events")
                continue
            try:
                ed = read_events(base / ev_path)
                ids = sorted(ed.regimens)
                want = r.get("id", ids[0] if len(ids) == 1 else None)
                if want not in ed.regimens:
                    col.add(f"the file has IDs {ids[:10]}{'…' if len(ids) > 10 else ''}: choose one with 'id'",
                            f"{f}.id")
                    continue
                regs.append(Regimen(name, ed.regimens[want].doses))
            except PkpdError as e:
                col.catch(e)
            continue
        dl = r.get("doses")
        if isinstance(dl, dict):
            dl = [dl]
        if not isinstance(dl, list) or not dl:
            col.add("missing 'doses' (one or more dose tables)", f"{f}.doses")
            continue
        doses = []
        for j, d in enumerate(dl):
            try:
                doses.append(parse_dose(d, f"{f}.doses[{j}]"))
            except PkpdError as e:
                col.catch(e)
        if len(doses) == len(dl):
            regs.append(Regimen(name, tuple(doses)))

    # output
    out = data.get("output", {})
    formats = FORMATS
    log_scale = False
    odir = None
    if not isinstance(out, dict):
        col.add("must be a table", "output")
        out = {}
    for k in sorted(set(out) - {"directory", "formats", "log_scale"}):
        col.add(f"unknown key '{k}'", f"output.{k}")
    if "directory" in out:
        odir = _str(col, out, "directory", "output.directory")
    if "formats" in out:
        fm = out["formats"]
        if not isinstance(fm, list) or not all(x in FORMATS for x in fm):
            col.add(f"must be a list drawn from {', '.join(FORMATS)}", "output.formats")
        else:
            formats = tuple(fm)
    if "log_scale" in out:
        if not isinstance(out["log_scale"], bool):
            col.add("must be true or false", "output.log_scale")
        else:
            log_scale = out["log_scale"]

    popspec = None
    if "population" in data:
        popspec = parse_population(data["population"], col, base, extra_covs)
        if popspec is not None and grid is not None:
            outs = {f"{sp}_plasma" for m in models for sp in m.species}
            outs |= {p.effect_name(e.name) for p in pds for e in p.effects}
            outs |= {f"{r.name}_{p.name}" for p in pds for r in p.readouts}
            for k in popspec.thresholds:
                if k not in outs:
                    col.add(f"unknown output {k!r} (outputs: {', '.join(sorted(outs))})",
                            f"population.thresholds.{k}")
    tspec = None
    if "tradeoff" in data:
        tspec = parse_tradeoff(data["tradeoff"], col)
        if tspec is not None and pds:
            try:
                pairs_for(tuple(pds), tspec)
            except PkpdError as e:
                col.catch(e)
    sweep = None
    if "sweep" in data:
        sweep = parse_sweep(data["sweep"], col, models, pds, popspec.population.n if popspec else None)
    warnings = []
    for m in models:
        for r in regs:
            missing = [rt for rt in r.routes if not m.supports(rt)]
            if missing:
                warnings.append(f"model {m.name} has no {', '.join(missing)} route: regimen {r.name!r} "
                                f"is left empty (NaN) for it")
    for r in regs:
        if models and all(not m.supports(rt) for m in models for rt in r.routes):
            col.add(f"no model in this scenario supports route(s) {', '.join(r.routes)}", "regimens")
        if grid and max(d.last_time() for d in r.doses) > grid.horizon:
            warnings.append(f"regimen {r.name!r} doses after the horizon ({grid.horizon:g} h); those are not seen")
    for m in models:
        for p in pds:
            warnings += pairing_warnings(m, p)
    col.raise_if_any()
    if output_dir is not None:
        odir_p = Path(output_dir)
    elif odir:
        odir_p = Path(odir)
    else:
        odir_p = Path("results") / Path(path).stem
    return Scenario(title=title, models=tuple(models), pd=tuple(pds), subject=subject, regimens=tuple(regs),
                    time=grid, output_dir=odir_p, formats=formats, description=description or "",
                    source_text=text, path=path, log_scale=log_scale, warnings=tuple(warnings),
                    population=popspec, tradeoff=tspec, sweep=sweep, solver=solver)

"""``pkpd nmsim``: simulation of a NONMEM-style dataset (DV written back at the observation rows).

NCA of such data is :mod:`pkpd.workflows.nca_run`."""
from __future__ import annotations

from pathlib import Path
import numpy as np
from pkpd.errors import PkpdError
from pkpd.output.files import write_text
from pkpd.dosing.records import read_events, records_csv
from pkpd.scenario.checks import used_covariates
from pkpd.models.pk import Model
from pkpd.models.load import load_model
from pkpd.simulation.observations import model_sigmas, observe
from pkpd.simulation.sampling import Population, individual_values
from pkpd.simulation.typical import solve_states


def _check_covariate_columns(ed, models) -> None:
    """Every covariate the models use must be in the event file (WT, AGE, SEX per ID): a missing
    column or an ID without a value is an error, never a silent default."""
    need = {c for mdl in models for c in used_covariates(mdl)} & {"WT", "AGE", "FEMALE"}
    for c in sorted(need):
        missing = [i for i in sorted(ed.regimens) if c not in ed.covariates.get(i, {})]
        if missing:
            col = "SEX" if c == "FEMALE" else c
            users = ", ".join(mdl.name for mdl in models if c in used_covariates(mdl))
            raise PkpdError(f"{users} use(s) {col}, but ID {missing[0]} has no {col} value (give a {col} column "
                            f"with a value on each ID's first row)", file=ed.path, field=col)


def run_nmsim(path: str, model: str, pd: list[str], variable: str, out: str | None,
              iiv: bool, seed: int, prop: float | None = None, add: float | None = None) -> Path:
    """Simulate every ID of a NONMEM-style dataset at its observation rows; write DV back.

    DV is an observation: the true concentration plus residual error, the model's own
    (``[residual.SPECIES]``, :mod:`pkpd.simulation.observations`) unless ``prop`` (proportional SD)
    or ``add`` (additive SD, ng/mL) is given, which replace it (``prop = add = 0``: true values).
    An effect-site output is not a measurement: it has no residual error unless one is given.
    """
    ed = read_events(path)
    m = load_model(model)
    if not isinstance(m, Model):
        raise PkpdError(f"{model!r} is a PD model; give a PK model with --model")
    pds = [load_model(x) for x in pd]
    _check_covariate_columns(ed, [m] + pds)
    rng = np.random.default_rng([seed, 99])
    ids = sorted(ed.regimens)
    pop = Population(n=max(len(ids), 1), seed=seed, iiv=iiv)
    dv: dict[tuple[int, float], float] = {}
    sigmas = None  # (proportional, additive ng/mL, exponential) of the output, once known
    for i, id_ in enumerate(ids):
        obs = ed.observations.get(id_, np.array([]))
        if obs.size == 0:
            continue
        cov = ed.covariates.get(id_, {})
        vals = (individual_values(m.params, pop, i, i + 1, {k: np.array([v]) for k, v in cov.items()})
                if iiv else None)
        times = np.unique(np.concatenate([[0.0], obs]))  # exact values at the observation times
        x, sysm, _ = solve_states(m, ed.regimens[id_], times, subject=cov, values=vals, pd=pds)
        names = [o.name for o in sysm.outputs]
        if variable not in names:
            raise PkpdError(f"unknown output {variable!r} (outputs: {', '.join(names)})")
        y = (sysm.W[0, names.index(variable)] @ x) * 1000.0  # mg/L → ng/mL
        out_v = sysm.outputs[names.index(variable)]
        if sigmas is None:
            sigmas = _sigmas(m, out_v, prop, add)
        for t, v in zip(times, y):
            dv[(id_, float(t))] = float(v)
    cols = list(ed.columns)
    upper = {c.upper(): c for c in cols}
    for extra in ("DV", "MDV"):
        if extra not in upper:
            cols.append(extra)
            upper[extra] = extra
    out_rows = []
    for r in ed.rows:
        o = dict(r["_raw"])  # every cell as read
        if r["EVID"] == 0:
            v = dv.get((r["ID"], float(r["TIME"])))
            if v is not None:
                z1, z2 = rng.standard_normal(2)  # seeded; one pair per observation row, in file order
                o[upper["DV"]] = f"{float(observe(v, sigmas, z1, z2)):.6g}"
                o[upper["MDV"]] = 0
        else:
            o.setdefault(upper["DV"], ".")
            o.setdefault(upper["MDV"], 1)
        out_rows.append(o)
    target = Path(out) if out else Path(path).with_name(Path(path).stem + "_sim.csv")
    return write_text(target, records_csv(out_rows, cols))


def _sigmas(m: Model, output, prop: float | None, add: float | None) -> tuple[float, float, float]:
    """Residual-error SDs of an nmsim output: the flags, else the model's for a plasma output,
    else none (an effect site is not measured)."""
    if output.quantity == "plasma" or prop is not None or add is not None:
        return model_sigmas(m, output.species, prop, add)
    return (0.0, 0.0, 0.0)

"""``pkpd nca`` and ``pkpd nmsim``: NCA of concentration data, simulation of a NONMEM-style dataset."""
from __future__ import annotations

import csv
import io
from pathlib import Path
import numpy as np
from pkpd.errors import PkpdError
from pkpd.output.tables import format_table
from pkpd.analysis.nca import UNITS, nca
from pkpd.output.files import write_text
from pkpd.dosing.records import read_events, records_csv
from pkpd.models.pk import Model
from pkpd.models.load import load_model
from pkpd.simulation.observations import model_sigmas, observe
from pkpd.simulation.sampling import Population, individual_values
from pkpd.simulation.typical import solve_states


def _read_table(path: Path) -> tuple[list[str], list[dict]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PkpdError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise PkpdError(f"cannot read: {e}", file=str(path)) from None
    try:
        r = csv.DictReader(io.StringIO(text))
        rows = list(r)
    except csv.Error as e:
        raise PkpdError(f"not a readable CSV file: {e}", file=str(path)) from None
    return [f for f in (r.fieldnames or [])], rows


def run_nca(path: str, time_col: str, conc_col: str, id_col: str | None, dose: float | None,
            iv_bolus: bool, lloq: float, out: str | None) -> str:
    """NCA per subject of a CSV; EVID/MDV rows that are doses or missing are skipped."""
    p = Path(path)
    fields, rows = _read_table(p)
    upper = {f.upper(): f for f in fields}
    def col(name):
        if name.upper() not in upper:
            raise PkpdError(f"no column {name!r} (columns: {', '.join(fields)})", file=str(p), field=name)
        return upper[name.upper()]
    tc, cc = col(time_col), col(conc_col)
    ic = upper.get((id_col or "ID").upper())
    amtc, evc, mdvc = upper.get("AMT"), upper.get("EVID"), upper.get("MDV")
    groups: dict[str, tuple[list, list, float]] = {}
    for i, r in enumerate(rows, start=2):
        sid = r[ic] if ic else "1"
        g = groups.setdefault(sid, ([], [], 0.0))
        evid = r.get(evc, "") if evc else ""
        if amtc and r.get(amtc) not in (None, "", ".", "0") and (not evc or evid.strip() == "1"):
            try:
                groups[sid] = (g[0], g[1], g[2] + float(r[amtc]))
            except ValueError:
                raise PkpdError(f"row {i}: AMT must be a number", file=str(p), field="AMT") from None
            continue
        if (mdvc and r.get(mdvc, "").strip() == "1") or r.get(cc, "").strip() in ("", "."):
            continue
        try:
            g[0].append(float(r[tc]))
            g[1].append(float(r[cc]))
        except ValueError:
            raise PkpdError(f"row {i}: {tc} and {cc} must be numbers", file=str(p)) from None
    if not groups:
        raise PkpdError("no rows", file=str(p))
    keys = ["cmax", "tmax", "auc_0_t", "auc_0_inf", "auc_pct_extrap", "lambda_z", "half_life", "lambda_z_points",
            "mrt", "cl", "vz"]
    header = ["ID"] + [f"{k} ({UNITS[k]})" if UNITS[k] else k for k in keys]
    table = []
    for sid, (t, c, amt) in groups.items():
        if len(t) < 2:
            raise PkpdError(f"ID {sid}: fewer than 2 concentrations", file=str(p))
        order = np.argsort(t, kind="stable")
        try:
            res = nca(np.array(t)[order], np.array(c)[order], dose or (amt or None), iv_bolus=iv_bolus, lloq=lloq)
        except PkpdError as e:
            raise PkpdError(f"ID {sid}: {e.problem}", file=str(p)) from None
        d = res.as_dict()
        table.append([sid] + [f"{d[k]:.4g}" if isinstance(d[k], float) else str(d[k]) for k in keys])
    text = format_table(header, table, numeric_from=1)
    if out:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(table)
        write_text(Path(out), buf.getvalue())
    return text


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

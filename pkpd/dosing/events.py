"""TODO docstring (dosing.events)"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
from pkpd import units
from pkpd.errors import PkpdError
from pkpd.models.pk import Model
from pkpd.dosing.regimen import Regimen


#: Bolus amounts below this (mg) are dropped, and zero-order releases shorter
#: than this (h) are given as boluses.
_EPS = 1e-12


@dataclass(frozen=True)
class Events:
    """Per-subject event arrays, each ``(n_subjects, n_events)``, sorted by time.

    ``kind`` is 0 for a bolus (``value`` mg added to ``cmt``), 1 for a zero-order
    input switching on (``value`` mg/h into ``cmt``) and 2 for it switching off.
    """

    time: np.ndarray
    kind: np.ndarray
    cmt: np.ndarray
    value: np.ndarray
    total_in: np.ndarray  # mg entering the system (after bioavailability), (n_subjects,)

    @property
    def n_events(self) -> int:
        return self.time.shape[1]


def regimen_events(model: Model, regimen: Regimen, values: dict[str, np.ndarray],
                   weight: np.ndarray) -> Events:
    """Event arrays for ``regimen`` given to subjects with individual ``values``.

    Parameters
    ----------
    model : Model
    regimen : Regimen
    values : dict
        Individual parameters from :meth:`ParameterSet.individual`, arrays ``(n,)``.
    weight : ndarray, shape (n,)
        Body weight, kg (for mg/kg doses).
    """
    n = weight.shape[0]
    cols_t, cols_k, cols_c, cols_v = [], [], [], []
    total = np.zeros(n)

    def add(t, kind, c, v):
        cols_t.append(np.broadcast_to(t, (n,)).astype(float))
        cols_k.append(np.full(n, kind, dtype=np.int64))
        cols_c.append(np.full(n, c, dtype=np.int64))
        cols_v.append(np.broadcast_to(v, (n,)).astype(float))

    for dose in regimen.doses:
        if not model.supports(dose.route):
            raise PkpdError(f"model {model.name!r} has no {dose.route!r} route "
                            f"(it has {', '.join(model.routes)})")
        amt = dose.amount_per_administration(weight)
        for t0, spray in dose.administrations():
            vv = model.params.for_spray(values, spray) if spray > 1 else values
            for path in model.routes[dose.route]:
                into = model.index[path.depot or path.target]
                # the dose is ketamine; a path into a metabolite compartment (presystemic
                # formation) carries the same moles, so convert the mass by molar mass
                mw = units.MOLAR_MASS[model.compartments[into].species] / units.MOLAR_MASS["ketamine"]
                a = amt * np.broadcast_to(path.fraction(vv), (n,)) * mw
                lag = np.broadcast_to(path.lag(vv), (n,)) if path.lag is not None else 0.0
                t = t0 + lag
                total += a
                if dose.duration is not None:  # IV infusion
                    add(t, 1, into, a / dose.duration)
                    add(t + dose.duration, 2, into, a / dose.duration)
                elif path.release is not None:
                    rel = np.broadcast_to(path.release(vv), (n,))
                    if np.all(rel <= _EPS):
                        add(t, 0, into, a)
                    else:
                        rel = np.maximum(rel, _EPS)
                        add(t, 1, into, a / rel)
                        add(t + rel, 2, into, a / rel)
                else:
                    add(t, 0, into, a)
    if not cols_t:
        z = np.zeros((n, 0))
        return Events(z, z.astype(np.int64), z.astype(np.int64), z, total)
    time = np.stack(cols_t, axis=1)
    order = np.argsort(time, axis=1, kind="stable")
    take = lambda cols: np.take_along_axis(np.stack(cols, axis=1), order, axis=1)
    return Events(take(cols_t), take(cols_k), take(cols_c), take(cols_v), total)

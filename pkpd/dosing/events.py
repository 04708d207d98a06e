"""Kernel event arrays: what a :class:`~pkpd.dosing.regimen.Regimen` becomes for one model.

:func:`regimen_events` resolves each dose through the model's absorption paths for its route
(bioavailable fraction, lag, zero-order release, presystemic metabolite formation) and each
subject's individual parameters, and returns an :class:`Events` of per-subject arrays sorted by
time: boluses (``BOLUS``) and zero-order inputs switching on and off (``RATE_ON``/``RATE_OFF``),
with the kinds of :mod:`pkpd.solvers.options` that the solver kernels read.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
from pkpd.errors import PkpdError
from pkpd.models.drugs import dose_fraction
from pkpd.models.mass_units import mass_ratio
from pkpd.models.pk import Model
from pkpd.solvers.options import BOLUS, RATE_OFF, RATE_ON
from pkpd.dosing.regimen import Regimen


#: Zero-order releases shorter than this (h) are given as boluses.
_EPS = 1e-12


@dataclass(frozen=True)
class Events:
    """Per-subject event arrays, each ``(n_subjects, n_events)``, sorted by time.

    ``kind`` is ``BOLUS`` for a bolus (``value`` mg added to ``cmt``), ``RATE_ON`` for a
    zero-order input switching on (``value`` mg/h into ``cmt``) and ``RATE_OFF`` for it
    switching off (kinds of :mod:`pkpd.solvers.options`).
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
        The PK model; its routes give each dose's absorption paths.
    regimen : Regimen
        Doses in mg or mg/kg (rates mg/h or mg/kg/h), times in h.
    values : dict
        Individual parameters from :meth:`ParameterSet.individual`, arrays ``(n,)``.
    weight : ndarray, shape (n,)
        Body weight, kg (for mg/kg doses).

    Returns
    -------
    Events
        Arrays ``(n, n_events)`` sorted by time per subject (h); values in mg (boluses) or
        mg/h (inputs), converted to the target compartment's species by molar mass; and
        ``total_in``, mg entering the system per subject.

    Raises
    ------
    PkpdError
        If the model has no path for a dose's route, or cannot represent the dose's drug (an
        esketamine dose in a racemic model; :func:`pkpd.models.drugs.dose_fraction`).  A racemic
        dose in an S-ketamine model gives its S half; a dose without a drug is of the model's form.
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
        # the share of the dose this model's form represents (racemic → S model: 0.5)
        amt = dose.amount_per_administration(weight) * dose_fraction(dose.drug or model.drug, model.drug, model.name)
        for t0, spray in dose.administrations():
            vv = model.params.for_spray(values, spray) if spray > 1 else values
            for path in model.routes[dose.route]:
                into = model.index[path.depot or path.target]
                # the dose is ketamine; a path into a metabolite compartment (presystemic
                # formation) carries the same moles, so convert the mass by molar mass (unless
                # the model carries the metabolite in parent-mass equivalents: molar = false)
                mw = mass_ratio(model.compartments[into].species, "ketamine", path.molar)
                a = amt * np.broadcast_to(path.fraction(vv), (n,)) * mw
                lag = np.broadcast_to(path.lag(vv), (n,)) if path.lag is not None else 0.0
                t = t0 + lag
                total += a
                if dose.duration is not None:  # an infusion
                    add(t, RATE_ON, into, a / dose.duration)
                    add(t + dose.duration, RATE_OFF, into, a / dose.duration)
                elif path.release is not None:
                    rel = np.broadcast_to(path.release(vv), (n,))
                    if np.all(rel <= _EPS):
                        add(t, BOLUS, into, a)
                    else:
                        rel = np.maximum(rel, _EPS)
                        add(t, RATE_ON, into, a / rel)
                        add(t + rel, RATE_OFF, into, a / rel)
                else:
                    add(t, BOLUS, into, a)
    if not cols_t:
        z = np.zeros((n, 0))
        return Events(z, z.astype(np.int64), z.astype(np.int64), z, total)
    time = np.stack(cols_t, axis=1)
    order = np.argsort(time, axis=1, kind="stable")
    take = lambda cols: np.take_along_axis(np.stack(cols, axis=1), order, axis=1)
    return Events(take(cols_t), take(cols_k), take(cols_c), take(cols_v), total)

"""Disposition numbers of a linear model's parent drug, read from its compiled system.

:func:`systemic_clearance` is dose / AUC of the plasma concentration after a bolus into the plasma
compartment, from ``K`` alone: the compartments that exchange both ways with the plasma one
(:func:`pkpd.models.roles.disposition_compartments`) hold the drug until it leaves them, so the
amount-time integral is ``−K_S⁻¹ e_c`` over that subsystem.  It is the clearance a model implies
whatever its parameterisation: ``CL`` itself, Domino's ``k10·V1``, or Perez-Ruixo 2021's hepatic
``Qh·CLint/(Qh + CLint)`` with ``CLint = (kel + kmet)·Vh`` (its elimination leaves the liver
compartment, not the plasma).
"""
from __future__ import annotations

import numpy as np
from pkpd.models.pk import Model
from pkpd.models.roles import disposition_compartments
from pkpd.simulation.system import build_system


def systemic_clearance(model: Model, subject: dict | None = None) -> float | None:
    """The parent drug's systemic clearance from plasma, L/h, for the typical subject.

    Parameters
    ----------
    model : Model
        A PK model.
    subject : dict, optional
        Covariates (WT in kg, AGE in years, …); missing ones take their defaults.

    Returns
    -------
    float or None
        L/h; None for a model with nonlinear parts (its clearance depends on the concentration)
        or without elimination from the plasma's subsystem.
    """
    if model.nonlinear is not None and model.nonlinear.active:
        return None
    sp = model.species[0]
    sysm = build_system(model, model.params.individual(covariates=subject))
    central = model.plasma[sp]
    keep = sorted(model.index[c] for c in disposition_compartments(model, central))
    ks = sysm.K[0][np.ix_(keep, keep)]
    e = np.zeros(len(keep))
    e[keep.index(model.index[central])] = 1.0
    try:
        amount_time = -np.linalg.solve(ks, e)  # mg·h in each compartment per mg given
    except np.linalg.LinAlgError:
        return None
    w = sysm.W[0, [o.name for o in sysm.outputs].index(f"{sp}_plasma")][keep]  # 1/L
    auc = float(w @ amount_time)  # h/L
    return 1.0 / auc if np.isfinite(auc) and auc > 0 else None

"""Simulated observations: the true concentration plus the model's residual error.

The error models are those of :mod:`pkpd.models.residual`: combined proportional + additive
``Y = C·(1 + σ_p·ε₁) + σ_a·ε₂`` or exponential ``Y = C·exp(σ·ε₁)``, ε independent standard
normals.  A simulated measurement below 0 (possible with a normal error) is reported as 0, as an
assay reports no negative concentration.  Random numbers come from their own seeded streams, so
the true concentrations (every other output) never depend on whether observations are drawn.
"""
from __future__ import annotations

import numpy as np
from pkpd.errors import PkpdError
from pkpd.models.common import SPECIES
from pkpd.simulation.sampling import _block_normals

#: Random stream (``purpose`` of :func:`pkpd.simulation.sampling._block_normals`) of residual errors.
RESIDUAL_PURPOSE = 40


def observe(c: np.ndarray, sigmas: tuple[float, float, float], z1: np.ndarray, z2: np.ndarray) -> np.ndarray:
    """Observations of true concentrations ``c`` (ng/mL) with ``sigmas`` = (proportional SD,
    additive SD in ng/mL, exponential SD) and standard normals ``z1``, ``z2`` shaped like ``c``."""
    prop, add, ex = sigmas
    c = np.asarray(c, dtype=float)
    if ex > 0:
        y = c * np.exp(ex * z1)
    else:
        y = c * (1.0 + prop * z1) + add * z2
    return np.maximum(y, 0.0)


def model_sigmas(model, species: str, prop: float | None = None, add: float | None = None) -> tuple:
    """(proportional, additive ng/mL, exponential) SDs for ``species`` of ``model``.

    ``prop``/``add`` given (e.g. ``pkpd nmsim --prop/--add``) replace the model's error model
    (a missing one counts as 0); otherwise the model's ``[residual.SPECIES]`` is used, and a model
    without one is an error naming its file.
    """
    if prop is not None or add is not None:
        return (float(prop or 0.0), float(add or 0.0), 0.0)
    res = getattr(model, "residual", {}).get(species)
    if res is None:
        raise PkpdError(f"model {model.name!r} gives no residual error for {species}: add a [residual.{species}] "
                        "section or give the error explicitly (nmsim --prop/--add)",
                        file=getattr(model, "path", None), field=f"residual.{species}")
    return res.sigmas()


def residual_normals(seed: int, start: int, stop: int, n_obs: int) -> np.ndarray:
    """Standard normals ``(stop - start, n_species, n_obs, 2)`` for subjects ``start..stop``:
    one pair (ε₁, ε₂) per species of :data:`pkpd.models.common.SPECIES` and observation time.

    Drawn in the subject blocks of :mod:`pkpd.simulation.sampling` from the stream
    ``(seed, block, RESIDUAL_PURPOSE)``: a subject's errors depend only on the seed and its index
    (not on chunking), and every model and regimen sees the same errors (common random numbers).
    """
    z = _block_normals(seed, RESIDUAL_PURPOSE, start, stop, len(SPECIES) * n_obs * 2)
    return z.reshape(stop - start, len(SPECIES), n_obs, 2)

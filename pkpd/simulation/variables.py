"""Every variable name a run of some PK and PD models produces, and the check that none collide.

Result variables are named by joining user text with ``_``: effect sites ``ce_<pd>_<effect>``,
readouts ``<readout>_<pd>``, PD states ``<pd>_<state>``, population metrics ``<output>_<metric>``.
Joined names can collide — PD ``x_y`` with effect ``k`` and PD ``x`` with effect ``y_k`` both give
``ce_x_y_k`` — and a collision would silently let one readout use the other's effect site.
:func:`check_variable_names` lists every name with what produced it and refuses a name produced
twice, naming both producers, before anything is simulated.  Model names must also be unique
(they label the ``model`` coordinate and the provenance attributes).
"""
from __future__ import annotations

from pkpd.errors import PkpdError
from pkpd.simulation.streaming import METRICS

#: Coordinates of typical and population datasets: no variable may take these names.
COORDINATES = ("model", "regimen", "time", "subject", "quantile", "route", "dose", "replicate")


def _add(names: dict[str, str], name: str, what: str) -> None:
    if name in names and names[name] != what:
        raise PkpdError(f"two results would both be called {name!r}: {names[name]} and {what}; rename one of "
                        f"them (the [model] name, the effect, state or readout name)")
    names[name] = what


def variable_names(models, pds) -> dict[str, str]:
    """Variable name → what produces it, for these PK models with these PD models attached.

    Raises
    ------
    PkpdError
        When two things would produce the same name, or two models share a name.
    """
    names: dict[str, str] = {c: f"the {c!r} coordinate" for c in COORDINATES}
    seen: dict[str, str] = {}
    for m in list(models) + list(pds):
        kind = "PD model" if hasattr(m, "readouts") else "PK model"
        if m.name in seen:
            raise PkpdError(f"two models are called {m.name!r} ({seen[m.name]} {m.path or '<memory>'} and {kind} "
                            f"{m.path or '<memory>'}); model names label the results and must differ")
        seen[m.name] = kind
    bases: dict[str, str] = {}
    for m in models:
        for sp in m.species:
            _add(bases, f"{sp}_amount", f"the {sp} amount of the PK models")
            _add(bases, f"{sp}_plasma", f"the {sp} plasma concentration of the PK models")
        nl = m.nonlinear
        for st in (nl.states if nl is not None else ()):
            _add(bases, st.name, f"state {st.name!r} of PK model {m.name!r}")
    for p in pds:
        for e in p.effects:
            _add(bases, p.effect_name(e.name), f"effect site {e.name!r} of PD model {p.name!r}")
        for st in p.states:
            _add(bases, f"{p.name}_{st.name}", f"state {st.name!r} of PD model {p.name!r}")
        for r in p.readouts:
            _add(bases, f"{r.name}_{p.name}", f"readout {r.name!r} of PD model {p.name!r}")
    for b, what in bases.items():
        _add(names, b, what)
        for suffix in ("_molar", "_percentiles") + tuple(f"_{mt}" for mt in METRICS):
            _add(names, b + suffix, f"{what} ({suffix[1:]})")
    covs = {c for m in list(models) + list(pds) for c in m.params.all_covariates()}
    for c in sorted(covs):
        _add(names, f"covariate_{c}", f"covariate {c!r}")
    return names


def check_variable_names(models, pds) -> None:
    """Refuse models whose result variables would collide (see :func:`variable_names`)."""
    variable_names(models, pds)

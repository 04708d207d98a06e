"""Residual (measurement) error of a PK model: the ``[residual.SPECIES]`` sections.

What an observed plasma concentration adds to the model's "true" one: assay error and model
misspecification, as the source estimated it.  A section per species with a plasma compartment::

    [residual.ketamine]
    proportional = { value = 0.236, unit = "1", source = "Otto 2021 Table 3 (σ² 0.0557)", grade = "table" }
    additive = { value = 0.058, unit = "nmol/mL", source = "Simons 2022 Table 4", grade = "table" }

    [residual.norketamine]
    exponential = { value = 0.422, unit = "1", source = "Perez-Ruixo 2021 Table 3", grade = "table" }

Each entry is read like a parameter (:mod:`pkpd.models.parameters`: value, unit, source, grade,
note, and a range for an unpublished ``assumption``).  The error models, with independent standard
normals ε₁, ε₂ and the true concentration C:

* ``proportional`` (SD as a fraction) and/or ``additive`` (SD, a concentration; molar units are
  converted by the species' molar mass): Y = C·(1 + σ_p·ε₁) + σ_a·ε₂ (NONMEM's combined model);
* ``exponential`` (SD on the log scale; "additive after log transformation"): Y = C·exp(σ·ε₁).

Simulated observations use them (``pkpd nmsim``, sampled observations of population runs); the
concentrations of every other output are the true ones.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pkpd.errors import Collector
from pkpd.models.parameters import Parameter, load_parameters

#: Error model term → the parameter kind its value must have.
TERMS = {"proportional": "fraction", "additive": "concentration", "exponential": "fraction"}


@dataclass(frozen=True)
class ResidualError:
    """The residual error of one species' plasma concentration.

    ``proportional`` and ``exponential`` are SDs (fractions); ``additive`` is an SD in mg/L
    (internal units; ×1000 for ng/mL).  Absent terms are None.
    """

    species: str
    proportional: Parameter | None = None
    additive: Parameter | None = None
    exponential: Parameter | None = None

    def sigmas(self) -> tuple[float, float, float]:
        """(proportional SD, additive SD in ng/mL, exponential SD), 0 for absent terms."""
        val = lambda p, scale=1.0: 0.0 if p is None else p.value * scale
        return val(self.proportional), val(self.additive, 1000.0), val(self.exponential)

    def terms(self) -> list[Parameter]:
        """The present terms, in the order proportional, additive, exponential."""
        return [p for p in (self.proportional, self.additive, self.exponential) if p is not None]

    def describe(self) -> str:
        """One line, e.g. ``proportional 10.2 % + additive 12.97 ng/mL``."""
        prop, add, ex = self.sigmas()
        parts = []
        if self.exponential is not None:
            parts.append(f"exponential (log-scale SD {ex:.3g})")
        if self.proportional is not None:
            parts.append(f"proportional {100 * prop:.3g} %")
        if self.additive is not None:
            parts.append(f"additive {add:.4g} ng/mL")
        grades = sorted({p.grade for p in self.terms()})
        return " + ".join(parts) + f" [{', '.join(grades)}]"


def parse_residual(tbl, col: Collector, species: set[str]) -> dict[str, ResidualError]:
    """``[residual.SPECIES]`` sections → species → :class:`ResidualError` (problems go to ``col``).

    ``species`` are the model's species with a plasma compartment (the observable ones).
    """
    if tbl is None:
        return {}
    if not isinstance(tbl, dict):
        col.add("must be tables [residual.SPECIES] (e.g. [residual.ketamine])", "residual")
        return {}
    out = {}
    for sp, spec in tbl.items():
        f = f"residual.{sp}"
        if sp not in species:
            col.add(f"{sp!r} is not a species with a plasma compartment ({', '.join(sorted(species))})", f)
            continue
        res = _species_residual(sp, spec, f, col)
        if res is not None:
            out[sp] = res
    return out


def _species_residual(sp: str, spec, f: str, col: Collector) -> ResidualError | None:
    """One ``[residual.SPECIES]`` table: its error terms, checked like parameters."""
    if not isinstance(spec, dict) or not spec:
        col.add(f"must be a table with one or more of {', '.join(TERMS)}", f)
        return None
    for k in sorted(set(spec) - set(TERMS)):
        col.add(f"unknown error term '{k}' (known: {', '.join(TERMS)})", f"{f}.{k}")
    # molar additive SDs (nmol/mL) need the species for their molar mass
    entries = {k: (dict(v, species=sp) if isinstance(v, dict) and k == "additive" and "species" not in v else v)
               for k, v in spec.items() if k in TERMS}
    terms = load_parameters(entries, col, section=f)
    ok = True
    for k, p in terms.items():
        if p.kind != TERMS[k]:
            want = 'a fraction (unit "1")' if TERMS[k] == "fraction" else "a concentration SD (e.g. ng/mL)"
            col.add(f"{k} is {want}, not {p.unit!r}", f"{f}.{k}.unit")
            ok = False
        if p.covariate is not None or p.iiv is not None or p.ci is not None:
            col.add("an error term takes value, unit, source, grade, note and range only", f"{f}.{k}")
            ok = False
        if p.value < 0:
            col.add("an error SD must be ≥ 0", f"{f}.{k}.value")
            ok = False
    if "exponential" in terms and len(terms) > 1:
        col.add("'exponential' (log-scale) is used alone, not with proportional/additive", f)
        ok = False
    if not ok or len(terms) != len(entries):
        return None
    named = {k: replace(p, name=f"residual.{sp}.{k}") for k, p in terms.items()}  # as listed among assumptions
    return ResidualError(sp, named.get("proportional"), named.get("additive"), named.get("exponential"))

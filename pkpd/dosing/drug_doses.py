"""What each regimen gives, seen from each PK model: the drug conversions a run makes, in words.

A dose names its drug (:attr:`pkpd.dosing.regimen.Dose.drug`); a PK model describes one form
of ketamine (:attr:`pkpd.models.pk.Model.drug`).  :func:`dose_notes` states every conversion a
run makes — a racemic dose in an S-ketamine model enters as its S half, a dose without a drug is
taken as the model's own form — so that none is silent: the notes go into every result's
attributes (``dose_drugs``) and onto the terminal.  :func:`dose_problems` lists the doses a model
cannot represent (an esketamine dose in a racemic model), for the scenario checks.
"""
from __future__ import annotations

from pkpd.dosing.regimen import Regimen
from pkpd.errors import PkpdError
from pkpd.models.drugs import conversion_text, dose_fraction


def dose_notes(model, regimens) -> list[str]:
    """One line per regimen × drug that is not simply the model's own form; the regimens that do
    not say what they give share one line."""
    out, unstated = [], []
    for r in regimens:
        for drug in r.drugs:
            if drug is None:
                unstated.append(repr(r.name))
            elif drug != model.drug and _fraction(drug, model) is not None:
                out.append(f"regimen {r.name!r} in {model.name}: {conversion_text(drug, model.drug)}")
    if unstated:
        out.insert(0, f"regimen{'s' if len(unstated) > 1 else ''} {', '.join(unstated)}: no drug stated; taken "
                      f"as {model.drug}, the form {model.name} describes (write drug = \"esketamine\" or "
                      f"\"racemic\" to say what is given)")
    return out


def dose_problems(model, regimens) -> list[tuple[int, str]]:
    """``(regimen index, message)`` for every regimen with a dose ``model`` cannot represent."""
    out = []
    for i, r in enumerate(regimens):
        for drug in r.drugs:
            if drug is not None:
                try:
                    dose_fraction(drug, model.drug, f"{model.name} ({model.path})")
                except PkpdError as e:
                    out.append((i, f"regimen {r.name!r}: {e.problem}"))
    return out


def drug_label(reg: Regimen) -> str:
    """What a regimen gives, for a coordinate: ``racemic ketamine``, ``S-ketamine + …`` or
    ``as model`` where no dose says."""
    return " + ".join(d or "as model" for d in reg.drugs)


def _fraction(drug: str, model) -> float | None:
    try:
        return dose_fraction(drug, model.drug)
    except PkpdError:
        return None

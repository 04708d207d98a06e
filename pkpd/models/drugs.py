"""What is given and what a model describes: racemic ketamine and its two enantiomers.

Ketamine is chiral.  The product "ketamine" (Ketalar) is the racemate, a 1:1 mixture of
S-ketamine (esketamine) and R-ketamine (arketamine); esketamine (Ketanest-S, Spravato) is the
pure S-enantiomer.  A PK model file says which it describes (``[model] drug``); a dose says what
is given (``drug`` of a dose table, a word of the regimen notation, ``Dose(drug=…)``).

:data:`DRUGS` holds the three canonical names with their composition (mass fractions of S and R)
and :data:`DRUG_WORDS` the words a dose may use for each.  :func:`dose_fraction` gives the
fraction of a dose's mass that a PK model of another form simulates:

=================  ==============================  =====================================
dose \\ model       S-ketamine model                racemic-ketamine model
=================  ==============================  =====================================
esketamine         1                               error (no racemic model of pure S)
racemic ketamine   0.5 (the S-enantiomer only)     1
arketamine         error (it holds no S-ketamine)  error
=================  ==============================  =====================================

(an ``R-ketamine`` model, should one be added, mirrors the S column.)  The word ``ketamine``
alone is refused as ambiguous rather than guessed.
"""
from __future__ import annotations

from pkpd.errors import PkpdError


#: Canonical drug name → mass fraction of (S-ketamine, R-ketamine).
DRUGS: dict[str, tuple[float, float]] = {
    "S-ketamine": (1.0, 0.0),
    "racemic ketamine": (0.5, 0.5),
    "R-ketamine": (0.0, 1.0),
}


#: Words a dose may use (lower case) → canonical drug name.
DRUG_WORDS: dict[str, str] = {
    "s-ketamine": "S-ketamine", "esketamine": "S-ketamine", "s": "S-ketamine",
    "racemic": "racemic ketamine", "racemic ketamine": "racemic ketamine", "racemate": "racemic ketamine",
    "r-ketamine": "R-ketamine", "arketamine": "R-ketamine", "r": "R-ketamine",
}


#: What a dose can be named, for messages.
DOSE_NAMES = "esketamine (S-ketamine), racemic (racemic ketamine) or arketamine (R-ketamine)"


def resolve_drug(word, field: str | None = None) -> str:
    """The canonical drug name of a dose word (``esketamine``, ``racemic``, ``S-ketamine`` …).

    Raises
    ------
    PkpdError
        For anything else, naming the words accepted; ``ketamine`` alone is refused as ambiguous.
    """
    if not isinstance(word, str):
        raise PkpdError(f"must be text: {DOSE_NAMES}", field=field)
    w = " ".join(word.strip().lower().split())
    if w in DRUG_WORDS:
        return DRUG_WORDS[w]
    if word in DRUGS:
        return word
    if w == "ketamine":
        raise PkpdError("'ketamine' alone is ambiguous: write racemic (racemic ketamine, e.g. Ketalar) or "
                        "esketamine (S-ketamine)", field=field)
    raise PkpdError(f"unknown drug {word!r}: give {DOSE_NAMES}", field=field)


def dose_fraction(given: str, model_drug: str, model_name: str = "the model") -> float:
    """Fraction of a dose of ``given`` (canonical name) that a PK model of ``model_drug`` simulates.

    A single-enantiomer model takes that enantiomer's share of the dose (racemic → 0.5); a racemic
    model takes only racemic doses (it describes S + R in a 1:1 mix).

    Raises
    ------
    PkpdError
        When the model cannot represent the dose (an esketamine dose in a racemic model, an
        arketamine dose in an S-ketamine model, …), naming both.
    """
    if given == model_drug:
        return 1.0
    s, r = DRUGS[given]
    if model_drug == "S-ketamine" and s > 0:
        return s
    if model_drug == "R-ketamine" and r > 0:
        return r
    if model_drug == "racemic ketamine":
        why = "it describes racemic ketamine (S and R in a 1:1 mix), and the dose has another mix"
    else:
        why = f"the dose contains no {model_drug}"
    raise PkpdError(f"{article(given)} {given} dose cannot be simulated with {model_name} ({model_drug} model): "
                    f"{why}; choose a model of {given}")


def article(drug: str) -> str:
    """``an`` before S-/R-ketamine (said "ess", "ar"), ``a`` before racemic."""
    return "an" if drug[:1] in "SRaeiou" else "a"


def conversion_text(given: str, model_drug: str) -> str:
    """How a dose of ``given`` enters a model of ``model_drug``, in words (for notes and attributes)."""
    f = dose_fraction(given, model_drug)
    if f == 1.0:
        return f"{given} dose into {article(model_drug)} {model_drug} model: the whole dose"
    other = "R-ketamine" if model_drug == "S-ketamine" else "S-ketamine"
    return (f"{given} dose into {article(model_drug)} {model_drug} model: {f:.0%} of each dose enters "
            f"(its {model_drug} share); "
            f"the {other} half is not simulated")

"""``pkpd models``: list the model library, or show one model with its provenance."""
from __future__ import annotations

from pkpd.errors import PkpdError
from pkpd.output.library_views import describe_model, list_models

NAME = "models"
EXAMPLES = ("pkpd models                               list the literature model library",
            "pkpd models show perez_ruixo_2021         parameters with units, sources and assumption flags")


def add_parser(sub) -> None:
    m = sub.add_parser(NAME, help="list the model library, or show one model",
                       description="Without arguments: list every PK and PD model. "
                                   "'pkpd models show NAME' prints its parameters with units and provenance.")
    m.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    m.add_argument("name", nargs="?", help="model name (for show)")


def run(args) -> int:
    if args.action == "show":
        if not args.name:
            raise PkpdError("'pkpd models show' needs a model name (see 'pkpd models')")
        print(describe_model(args.name))
    else:
        print(list_models())
    return 0

"""``pkpd explore``: the interactive explorer in the browser (teaching)."""
from __future__ import annotations

import sys

from pkpd.cli.common import print_written
from pkpd.errors import PkpdError
from pkpd.teaching.explore import State, save_panels, serve

NAME = "explore"
EXAMPLES = ("pkpd explore                              sliders for model, route, dose, weight; opens a browser",
            "pkpd explore --save out/                  the same panels as PNG, no server")


def add_parser(sub) -> None:
    x = sub.add_parser(NAME, help="interactive explorer in the browser (teaching)",
                       description="Starts a local web app (Panel/Bokeh) and opens it: sliders for model, route, "
                                   "dose, infusion duration, sprays, weight and PD model; concentrations with a "
                                   "200-subject band and the therapeutic window, effects over time, and the "
                                   "hysteresis loop, re-simulated on every change.  In Jupyter: "
                                   "'import panel as pn; pn.extension(); from pkpd.teaching.explore import app; "
                                   "app()'.",
                       epilog="Needs the optional 'explore' extra (installed by the README's set-up command).")
    x.add_argument("--port", type=int, default=5006)
    x.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    x.add_argument("--save", metavar="DIR", help="render the panels to PNG in DIR instead of serving")
    x.add_argument("--model", default="perez_ruixo_2021")
    x.add_argument("--pd", default="olofsen_2022")
    x.add_argument("--route", default="intranasal")
    x.add_argument("--dose", type=float, default=28.0, help="mg per administration (per spray)")


def run(args) -> int:
    s = State(model=args.model, pd=args.pd, route=args.route, dose_mg=args.dose)
    if args.save:
        print_written(save_panels(s, args.save))
        return 0
    try:
        import panel  # noqa: F401  (only to check that the optional extra is installed)
    except ImportError:
        raise PkpdError("the explorer needs Panel: pip install -e '.[explore]'") from None
    print(f"pkpd explorer on http://localhost:{args.port}/  (Ctrl-C to stop)", file=sys.stderr)
    serve(args.port, show=not args.no_browser)
    return 0

"""``pkpd explore``: the interactive explorer in the browser (teaching)."""
from __future__ import annotations

import sys

from pkpd.cli.common import print_written
from pkpd.errors import PkpdError
from pkpd.teaching.explore import State, save_panels, serve

NAME = "explore"
EXAMPLES = ("pkpd explore                              sliders for model, route, dose, weight; opens a browser",
            "pkpd explore --save out/                  the same panels as PNG, no server",
            "pkpd explore --save out/ --doses 4 --interval 12 --scale clearance=2 --log")


def add_parser(sub) -> None:
    x = sub.add_parser(NAME, help="interactive explorer in the browser (teaching)",
                       description="Starts a local web app (Panel/Bokeh) and opens it: sliders for model, route, "
                                   "dose, infusion duration, sprays, weight and PD model, repeated dosing (or a regimen in "
                                   "notation), a log concentration axis, and knobs on the typical clearance, "
                                   "central volume, absorption rate, ke0 and C50 (chosen by role in any model); "
                                   "concentrations with a "
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
    x.add_argument("--doses", type=int, default=1, help="number of administrations (--save)")
    x.add_argument("--interval", type=float, default=12.0, help="hours between administrations (--save)")
    x.add_argument("--regimen", default="", help="a regimen in notation, replacing --dose/--doses/--interval "
                                                  "(--save), e.g. '56 mg IN every 84 h x4'")
    x.add_argument("--scale", action="append", default=[], metavar="KNOB=FACTOR",
                   help="scale a typical value (--save): clearance, volume, absorption, ke0 or potency:PARAM, "
                        "factor 0.25–4; repeatable")
    x.add_argument("--log", action="store_true", help="concentrations on a log axis (--save)")


def _scales(texts) -> tuple[tuple[str, float], ...]:
    """``["clearance=2"]`` → ``(("clearance", 2.0),)``; a malformed one is a PkpdError."""
    out = []
    for t in texts:
        key, eq, value = t.partition("=")
        try:
            out.append((key.strip(), float(value)))
        except ValueError:
            raise PkpdError(f"{t!r} must read KNOB=FACTOR, e.g. 'clearance=2'", field="--scale") from None
        if not eq or not key.strip():
            raise PkpdError(f"{t!r} must read KNOB=FACTOR, e.g. 'clearance=2'", field="--scale")
    return tuple(out)


def run(args) -> int:
    s = State(model=args.model, pd=args.pd, route=args.route, dose_mg=args.dose, doses=args.doses,
              interval_h=args.interval, regimen=args.regimen, scales=_scales(args.scale), log_axis=args.log)
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

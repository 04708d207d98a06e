"""``pkpd demo``: the teaching gallery (classic figures with explanations)."""
from __future__ import annotations

from pathlib import Path

from pkpd.cli.common import print_written
from pkpd.output.files import check_folder, write_text
from pkpd.output.output_set import OutputSet
from pkpd.teaching.demos import DEMOS, gallery_markdown, render_demo

NAME = "demo"
EXAMPLES = ("pkpd demo --list                          the teaching demos",
            "pkpd demo routes                          one demo: figure + explanation")


def add_parser(sub) -> None:
    dm = sub.add_parser(NAME, help="teaching gallery: classic figures with explanations",
                        description="Reproduces a classic teaching figure (route comparison, bolus vs infusion, "
                                    "effect-site lag, context-sensitive half-time, population variability, the "
                                    "trade-off, TCI), prints its explanation and writes NAME.png.")
    dm.add_argument("name", nargs="?", help="demo name (see --list)")
    dm.add_argument("--list", action="store_true", help="list the demos")
    dm.add_argument("--all", action="store_true", help="render every demo (and docs/gallery.md with -o docs/gallery)")
    dm.add_argument("-o", "--output", metavar="DIR", default="results/demos")


def run(args) -> int:
    if args.list or (not args.name and not args.all):
        for name, d in DEMOS.items():
            print(f"  {name:<28} {d.title}")
        return 0
    names = list(DEMOS) if args.all else [args.name]
    check_folder(args.output)
    out = OutputSet(args.output)
    for n in names:
        text, png = render_demo(n)
        print(f"{DEMOS[n].title}: {text}\n")
        out.add_bytes(f"{n}.png", png)
    files = out.commit()
    if args.all and Path(args.output).name == "gallery":
        files.append(write_text(Path(args.output).parent / "gallery.md", gallery_markdown({})))
    print_written(files)
    return 0

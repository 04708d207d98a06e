"""Start-up guards (issue #16: warm-cache cold start ≤ 2 s).

matplotlib (≈ 0.3–1 s to import) and scipy.optimize (≈ 0.1 s) are imported lazily, inside the
functions that need them (:func:`pkpd.output.figures.pyplot`, the θ search of
:func:`pkpd.analysis.endpoints.calibrate_threshold`, the scipy references of :mod:`pkpd.testing`), so a run that draws no figure and calibrates
nothing does not pay for them.  These tests import in a fresh interpreter (``sys.modules`` of the
test process already holds everything) and fail as soon as any module of the package imports one
of them at module top.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Third-party modules no ``import`` of a pkpd module may load (each is imported lazily).
LAZY = ("matplotlib", "matplotlib.pyplot", "scipy.optimize", "scipy.integrate", "scipy.stats", "panel", "bokeh")


def _fresh(code: str) -> dict:
    """Run ``code`` (which prints one JSON line last) in a fresh interpreter on this tree."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_import_pkpd_loads_no_lazy_package():
    loaded = _fresh(f"import json, sys, pkpd, pkpd.cli.main\n"
                    f"print(json.dumps([m for m in {LAZY!r} if m in sys.modules]))")
    assert loaded == []


def test_no_module_of_the_package_imports_a_lazy_package_at_top():
    """Every module of the package (CLI, teaching and output included; not the ``__main__``
    scripts, which run the CLI) imported at once."""
    code = (
        "import json, pkgutil, importlib, sys, pkpd\n"
        "names = [m.name for m in pkgutil.walk_packages(pkpd.__path__, 'pkpd.') if not m.name.endswith('__main__')]\n"
        "for n in names: importlib.import_module(n)\n"
        f"print(json.dumps([len(names), [m for m in {LAZY!r} if m in sys.modules]]))"
    )
    n_modules, loaded = _fresh(code)
    assert n_modules > 120  # the walk really saw the package (≈ 167 modules)
    assert loaded == []


def test_pyplot_helper_imports_matplotlib_with_agg_on_first_use():
    """The lazy helper still gives the non-interactive backend (also with another one asked for
    in the environment) and figures render to PNG."""
    code = (
        "import json, sys, os\n"
        "os.environ['MPLBACKEND'] = 'svg'\n"
        "from pkpd.output.figures import png_bytes, pyplot\n"
        "before = 'matplotlib' in sys.modules\n"
        "plt = pyplot()\n"
        "import matplotlib\n"
        "fig, ax = plt.subplots()\n"
        "ax.plot([0, 1], [0, 1])\n"
        "png = png_bytes(fig)\n"
        "print(json.dumps([before, matplotlib.get_backend().lower(), png[:4].hex(), plt.get_fignums()]))"
    )
    before, backend, magic, open_figs = _fresh(code)
    assert before is False
    assert backend == "agg"
    assert magic == "89504e47"  # PNG signature \x89PNG
    assert open_figs == []  # png_bytes closed it

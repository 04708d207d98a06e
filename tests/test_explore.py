"""Explorer: computations, callbacks in-process, headless export, and the page in real Chromium."""
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pkpd.errors import PkpdError
from pkpd.teaching.explore import State, compute, save_panels

ROOT = Path(__file__).resolve().parent.parent


def test_compute_is_consistent_with_the_simulator():
    from pkpd.models.load import load_model
    from pkpd.simulation.typical import simulate
    from helpers import regimen
    r = compute(State(route="iv", dose_mg=35, duration_min=40, band=False))
    ds = simulate(load_model("perez_ruixo_2021"), regimen({"route": "iv", "amount": "35 mg", "duration": "40 min"}),
                  horizon=8, step=1 / 60, pd=[load_model("olofsen_2022")])
    assert np.nanmax(r["ketamine_plasma"]) == pytest.approx(float(ds.ketamine_plasma.max()), rel=1e-9)
    lo, hi = r["window"]  # Olofsen: analgesia 0.3 … psychotomimetic 0.5 on one curve
    assert lo < hi == pytest.approx(0.51 * 237.73)


def test_compute_is_fast_enough_for_live_updates():
    compute(State())  # warm
    t = []
    for dose in (10, 28, 56):
        t0 = time.perf_counter()
        compute(State(dose_mg=dose))
        t.append(time.perf_counter() - t0)
    assert min(t) < 0.5  # generous: the target (< 100 ms) is measured, not asserted, in benchmarks
    # (printed so a slow machine is visible in the log)
    print(f"explorer update: {min(t) * 1000:.0f} ms")


def test_bad_state_is_a_clear_error():
    with pytest.raises(PkpdError, match="no intranasal route"):
        compute(State(model="domino", route="intranasal"))


def test_callbacks_in_process():
    pytest.importorskip("panel")
    from pkpd.teaching.explore import app
    layout = app()
    h = layout._pkpd
    k0 = np.asarray(h["conc"].data["k"]).max()
    h["widgets"]["dose"].value = 56.0  # the watcher re-simulates
    k1 = np.asarray(h["conc"].data["k"]).max()
    assert k1 > 1.5 * k0
    h["widgets"]["model"].value = "domino"  # routes follow the model
    assert h["widgets"]["route"].options == ["iv"] and h["widgets"]["route"].value == "iv"
    assert "Peak ketamine" in h["status"].object



def test_app_builds_without_deprecation_warnings():
    """The controls are labelled with Panel's ``label`` (``name=`` warns from Panel 1.9 on, the
    minimum in pyproject.toml): building the app raises no warning from pkpd's own code."""
    pytest.importorskip("panel")
    import warnings
    from pkpd.teaching.explore import app
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        layout = app()
    ours = [f"{w.filename}:{w.lineno}: {w.message}" for w in seen if "/pkpd/" in w.filename.replace("\\", "/")]
    assert not ours, ours
    assert layout._pkpd["widgets"]["dose"].label == "Dose per administration (mg)"

def test_headless_export(tmp_path):
    files = save_panels(State(), tmp_path)
    assert files and files[0].stat().st_size > 30_000


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_page_in_headless_chromium(tmp_path):
    pytest.importorskip("panel")
    pw = pytest.importorskip("playwright.sync_api")
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "pkpd.cli", "explore", "--no-browser", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        with pw.sync_playwright() as p:
            b = p.chromium.launch(executable_path=browser, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-quic", "--no-first-run"])
            page = b.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/", timeout=60000)
            page.wait_for_selector("canvas", timeout=60000)
            status = page.locator("text=Peak ketamine").first
            status.wait_for(timeout=30000)
            before = status.inner_text()
            page.screenshot(path=str(tmp_path / "before.png"))
            page.locator(".noUi-handle").first.focus()  # the dose slider
            for _ in range(10):
                page.keyboard.press("ArrowRight")
            page.wait_for_timeout(2000)
            after = page.locator("text=Peak ketamine").first.inner_text()
            page.screenshot(path=str(tmp_path / "after.png"))
            b.close()
        assert after != before, "moving the dose slider must re-simulate"
        import matplotlib.image as mpimg
        a, c = mpimg.imread(tmp_path / "before.png"), mpimg.imread(tmp_path / "after.png")
        assert a.shape == c.shape and np.abs(a - c).mean() > 1e-4  # the plot changed
        assert a.std() > 0.05  # a rendered page, not a blank one
    finally:
        server.terminate()
        server.wait(timeout=30)

"""Outputs are atomic: an interrupted or failing run leaves no partial file and says what was saved."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pkpd.errors import PkpdError
from pkpd.output import files as outputs

ROOT = Path(__file__).resolve().parent.parent


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "x.nc"

    def boom(tmp):
        Path(tmp).write_text("half")
        raise RuntimeError("disk full")

    # a failed write is one user-facing error (issue 18: disk full ends in a message, not a traceback)
    with pytest.raises(PkpdError, match="disk full"):
        outputs.write_atomic(target, boom)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_no_partial_file(tmp_path, sig):
    text = (ROOT / "scenarios" / "population.toml").read_text().replace("n = 2000", "n = 400000")
    sc = tmp_path / "big.toml"
    sc.write_text(text)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "pkpd.cli", "run", str(sc), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    time.sleep(8)  # well into the population run
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    leftovers = [p.name for p in out.rglob("*")] if out.exists() else []
    assert not [p for p in leftovers if p.endswith(".tmp")], leftovers
    # whatever exists is complete (the run writes nothing before its results are computed)
    assert leftovers == [] or "saved:" in err


def test_swallowed_interrupt_still_stops_the_run(tmp_path, monkeypatch, capsys):
    """A Ctrl-C that lands in a C callback (numba writing its cache on a cold first run) raises
    there and is swallowed; the handler's flag still stops the run: no file written, exit 130."""
    from pkpd.cli import run as commands
    from pkpd.cli.main import _interrupt, main

    def swallowed(args):
        try:
            _interrupt(signal.SIGINT, None)
        except KeyboardInterrupt:
            pass  # what ctypes does with an exception raised in a callback
        outputs.write_text(tmp_path / "result.csv", "t,c\n")
        return 0
    monkeypatch.setattr(commands, "run", swallowed)
    code = main(["run", str(ROOT / "scenarios" / "routes.toml"), "-o", str(tmp_path)])
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert main(["models"]) == 0  # the flag does not leak into the next command

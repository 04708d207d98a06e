"""What every attack case checks: exit status 2 (or a PkpdError), one message, no traceback, no file
left behind, within a time bound.  In-process by default (fast); in a child process with a timeout
where a regression could hang the suite (FIFOs, devices, interrupts)."""
from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"

BASE = '''[scenario]
title = "attack"
models = ["domino"]

[time]
horizon = "6 h"
step = "10 min"

[[regimens]]
name = "iv"
doses = [{ route = "iv", amount = "0.5 mg/kg", duration = "40 min" }]
'''


def cli(argv, env: dict | None = None) -> tuple[int, str, str, float]:
    """Run ``pkpd argv`` in this process: (exit status, stdout, stderr, seconds)."""
    from pkpd.cli.main import main
    out, err = io.StringIO(), io.StringIO()
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in argv])
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return code, out.getvalue(), err.getvalue(), time.perf_counter() - t0


def child(argv, timeout: float = 120, env: dict | None = None, **kw) -> tuple[int, str, str, float]:
    """Run ``pkpd argv`` in a fresh process (killed after ``timeout`` s: a hang fails the test)."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "pkpd.cli", *map(str, argv)], capture_output=True, text=True,
                       timeout=timeout, env={**os.environ, **(env or {})}, **kw)
    return p.returncode, p.stdout, p.stderr, time.perf_counter() - t0


def refused(result, *words, seconds: float = 30.0) -> str:
    """Assert exit 2, one ``pkpd: error:`` message naming ``words``, no traceback, within ``seconds``."""
    code, out, err, took = result
    assert code == 2, (code, err[-3000:])
    assert "Traceback" not in err and "Traceback" not in out, err[-3000:]
    assert err.count("pkpd: error:") == 1, err
    msg = err[err.index("pkpd: error:"):]
    for w in words:
        assert w.lower() in msg.lower(), (w, msg)
    assert took < seconds, f"took {took:.1f} s"
    return msg


def nothing_left(folder: Path) -> None:
    """No output and no temporary file under ``folder`` (which may not exist)."""
    left = [str(p.relative_to(folder)) for p in folder.rglob("*")] if folder.exists() else []
    assert left == [], left


def no_temporaries(folder: Path) -> None:
    left = [p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".pkpd-staging")]
    assert left == [], left


def scenario(tmp: Path, text: str = BASE, name: str = "s.toml", **replace) -> Path:
    """Write a scenario file (``BASE`` with ``old=new`` replacements) into ``tmp``."""
    for old, new in replace.items():
        text = text.replace(old, new)
    p = tmp / name
    p.write_text(text, encoding="utf-8")
    return p


def interrupt_after(cmd_argv, ready, timeout: float = 300.0, tmp: Path | None = None, sig=signal.SIGINT):
    """Start ``pkpd cmd_argv`` in a child, wait until ``ready()`` is true, send ``sig`` (SIGINT) and
    return (exit status, stderr, seconds from the signal to the exit)."""
    p = subprocess.Popen([sys.executable, "-m", "pkpd.cli", *map(str, cmd_argv)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=tmp)
    t_end = time.time() + timeout
    try:
        while not ready():
            if p.poll() is not None:
                raise AssertionError(f"finished before the signal: {p.returncode} {p.stderr.read()[-2000:]}")
            if time.time() > t_end:
                raise AssertionError("never got ready")
            time.sleep(0.05)
        t0 = time.perf_counter()
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        return p.returncode, err, time.perf_counter() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()

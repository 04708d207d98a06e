"""Nothing half-written: unusable output folders, a full disk, a file-size limit and Ctrl-C while
writing or while solving all end with one message (or exit 130) and no partial set of files."""
from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import time

import pytest

from attack_kit import child, cli, interrupt_after, no_temporaries, nothing_left, refused, scenario
from pkpd.output.output_set import OutputSet

pytestmark = pytest.mark.attack


def test_output_folder_that_is_a_file(tmp_path):
    f = tmp_path / "taken"
    f.write_text("keep me")
    p = scenario(tmp_path)
    refused(cli(["run", p, "-o", f]), "is a file")
    assert f.read_text() == "keep me"
    refused(cli(["run", p, "-o", f / "sub"]), "is a file")
    refused(cli(["tci", "--target", "300 ng/mL", "-o", f]), "is a file")
    refused(cli(["demo", "routes", "-o", f]), "is a file")


def test_output_folder_name_too_long(tmp_path):
    p = scenario(tmp_path)
    refused(cli(["run", p, "-o", tmp_path / ("x" * 300)]), "too long")
    nothing_left(tmp_path / ("x" * 10))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        refused(cli(["run", scenario(tmp_path), "-o", ro / "out"]), "permission denied")
    finally:
        ro.chmod(0o700)


def test_too_little_free_space_writes_nothing(tmp_path, monkeypatch):
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    out = tmp_path / "out"
    refused(cli(["run", scenario(tmp_path), "-o", out]), "not enough free space", "nothing was written")
    assert not out.exists()  # not even an empty folder


def test_a_write_failing_midway_leaves_no_partial_set(tmp_path, monkeypatch):
    """The third file hits a full disk: the two already staged are not left behind either."""
    calls = []
    real = OutputSet._write

    def failing(path, kind, payload, folder):
        calls.append(path.name)
        if len(calls) == 3:
            raise_oserror = OSError(errno.ENOSPC, "No space left on device")
            from pkpd.output.files import write_error
            raise write_error(path, raise_oserror, folder)
        return real(path, kind, payload, folder)
    monkeypatch.setattr(OutputSet, "_write", staticmethod(failing))
    out = tmp_path / "out"
    refused(cli(["run", scenario(tmp_path), "-o", out]), "disk is full", "nothing was left behind")
    assert not out.exists()


def test_file_size_limit_in_a_real_process(tmp_path):
    """RLIMIT_FSIZE (Python ignores SIGXFSZ, so writes fail with EFBIG): one error, no partial set."""
    p = scenario(tmp_path)
    warm = child(["run", p, "-o", tmp_path / "warm", "-q", "--no-figures"], timeout=300)
    assert warm[0] == 0, warm[2]
    limit = 20_000

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    out = tmp_path / "out"
    r = child(["run", p, "-o", out, "-q", "--no-figures"], timeout=300, preexec_fn=small_files)
    refused(r, "file-size limit", seconds=300)
    nothing_left(out)


def _long_write_scenario(tmp):
    return scenario(tmp, **{'models = ["domino"]': 'models = ["perez_ruixo_2021"]\npd = ["olofsen_2022"]',
                            'horizon = "6 h"': 'horizon = "48 h"', 'step = "10 min"': 'step = "1 min"',
                            '[[regimens]]': '[population]\nn = 6000\nmode = "full"\nprecision = "float64"\n'
                                            '\n[output]\nformats = ["netcdf"]\n\n[[regimens]]'})


def test_sigint_while_writing_a_netcdf_ends_quickly_and_leaves_nothing(tmp_path):
    """SIGINT during a population NetCDF write used to deadlock the process and leave a temporary
    file; now it takes effect between two variables: exit 130 within 2 s, nothing left."""
    p = _long_write_scenario(tmp_path)
    out = tmp_path / "out"

    def writing():
        stages = list(out.glob(".pkpd-staging-*/*_population.nc")) if out.exists() else []
        return bool(stages)
    code, err, took = interrupt_after(["run", p, "-o", out, "-q"], writing, tmp=tmp_path)
    assert code == 130, err[-2000:]
    assert "Traceback" not in err and "interrupted" in err, err[-2000:]
    assert took < 2.0, took
    nothing_left(out)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sigint_during_a_long_nonlinear_solve_ends_within_two_seconds(tmp_path, sig):
    """The kernel returns to Python every ~0.2 s (step budget), so SIGINT (or SIGTERM) is honoured
    at once."""
    solver = '[solver]\nmethod = "dopri"\nrtol = 1e-13\n\n[population]\nn = 400\n\n[[regimens]]'
    doses = {'doses = [{ route = "iv", amount = "0.5 mg/kg", duration = "40 min" }]':
             'doses = [{ route = "iv", amount = "2 mg/kg", every = "6 h", times = 56 }]'}
    long = scenario(tmp_path, **{'models = ["domino"]': 'models = ["domino_mm"]', '[[regimens]]': solver,
                                 'horizon = "6 h"': 'horizon = "14 day"', **doses})  # minutes of solving
    short = scenario(tmp_path, name="warm.toml", **{'models = ["domino"]': 'models = ["domino_mm"]',
                                                   '[[regimens]]': solver, 'horizon = "6 h"': 'horizon = "1 h"',
                                                   **doses})
    warm = child(["run", short, "-o", tmp_path / "warm", "-q", "--no-figures"], timeout=600)
    assert warm[0] == 0, warm[2][-2000:]  # the kernels are compiled and cached: the signal lands in a solve
    t0 = time.time()
    out = tmp_path / "out"
    code, err, took = interrupt_after(["run", long, "-o", out, "-q"], lambda: time.time() - t0 > 8, tmp=tmp_path,
                                      sig=sig)
    assert code == 130, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    assert took < 2.0, took
    nothing_left(out)
    no_temporaries(tmp_path)

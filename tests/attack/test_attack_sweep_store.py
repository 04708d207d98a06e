"""A resumable sweep resumes: every kind of damaged point file is recomputed (with a warning) and the
result equals an uninterrupted run; a damaged design file is reported with the fix."""
from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest

from attack_kit import ROOT, cli, refused
from pkpd.errors import PkpdError
from pkpd.scenario.load import load_scenario
from pkpd.workflows.sweep import _point_bytes, run_sweep

pytestmark = pytest.mark.attack


def _scenario(tmp):
    text = (ROOT / "scenarios" / "sweep.toml").read_text(encoding="utf-8")
    text = text.replace('design = "saltelli"', 'design = "lhs"').replace("points = 64", "points = 8")
    text = text.replace("n = 200\nsensitivity", "n = 30\nsensitivity").replace('horizon = "6 h"', 'horizon = "2 h"')
    text = text.replace('step = "5 min"', 'step = "10 min"')
    text = text.replace('directory = "results/sweep"', f'directory = "{tmp / "out"}"')
    p = tmp / "sweep.toml"
    p.write_text(text, encoding="utf-8")
    return load_scenario(p)


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _with_checksum(body: bytes) -> bytes:
    return body + b"\nsha256:" + hashlib.sha256(body).hexdigest().encode() + b"\n"


CORRUPTIONS = {
    "truncated": lambda b: b[: len(b) // 2],
    "empty": lambda b: b"",
    "garbage": lambda b: bytes(range(256)) * 3,
    "bit flip": lambda b: b[:100] + bytes([b[100] ^ 0x10]) + b[101:],
    "wrong shape, valid checksum": lambda b: _point_bytes(np.zeros((2, 2))),
    "wrong dtype, valid checksum": lambda b: _with_checksum(_npy(np.zeros((1, 1, 6), dtype=np.float32))),
    "plain npy without checksum": lambda b: _npy(np.zeros((1, 1, 6))),
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    sc = _scenario(tmp)
    ds = run_sweep(sc, sc.sweep, progress=False)
    return sc, ds.value.values


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_resume_after_a_damaged_point_equals_the_uninterrupted_run(reference, kind):
    sc, ref = reference
    pts = sc.output_dir / "sweep_sweep" / "points"
    victims = sorted(pts.glob("p*.npy"))[2:4]
    for v in victims:
        v.write_bytes(CORRUPTIONS[kind](v.read_bytes()))
    (pts / "pnotanumber.npy").write_bytes(b"stray")  # a stray file is ignored, not a crash
    ds = run_sweep(sc, sc.sweep, progress=False)
    assert ds.attrs["points_run_now"] == 2
    assert ds.attrs["store_warnings"].count("computed again") == 2, ds.attrs["store_warnings"]
    np.testing.assert_array_equal(ds.value.values, ref)
    (pts / "pnotanumber.npy").unlink()


@pytest.mark.parametrize("damage", [lambda t: t[: len(t) // 2], lambda t: "", lambda t: "[1, 2, 3]",
                                    lambda t: '{"names": []}'])
def test_a_damaged_design_file_is_reported_with_the_fix(tmp_path, damage):
    sc = _scenario(tmp_path)
    run_sweep(sc, sc.sweep, progress=False)
    meta = sc.output_dir / "sweep_sweep" / "design.json"
    meta.write_text(damage(meta.read_text()))
    with pytest.raises(PkpdError, match="--fresh"):
        run_sweep(sc, sc.sweep, progress=False)
    refused(cli(["sweep", sc.path, "-q"]), "design file is damaged", "--fresh")
    code, _, err, _ = cli(["sweep", sc.path, "-q", "--fresh"])
    assert code == 0, err

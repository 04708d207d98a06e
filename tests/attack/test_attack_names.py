"""Names are data, not paths: a model file's ``[model] name`` or a regimen name cannot steer where a
file is written, break a NetCDF file or silently merge two results."""
from __future__ import annotations

import pytest
import xarray as xr

from attack_kit import MODELS, cli, nothing_left, refused, scenario
from pkpd.names import netcdf_name, safe_stem, unique_stems

pytestmark = pytest.mark.attack


def _renamed_model(tmp, name: str, file: str = "evil.toml"):
    text = (MODELS / "domino.toml").read_text(encoding="utf-8").replace('name = "domino"', f"name = {name}", 1)
    (tmp / file).write_text(text, encoding="utf-8")
    return file


@pytest.mark.parametrize("name", ['"../../../escaped/evil"', '"/tmp/evil"', '"a/b\\\\c"', '".hidden"',
                                  f'"{"x" * 190}"', '"nom é with spaces & $(rm -rf)"'])
def test_a_model_name_never_leaves_the_output_folder(tmp_path, name):
    """A hostile ``[model] name`` ends up as a safe stem inside ``-o``; nothing is written elsewhere."""
    work = tmp_path / "work"
    work.mkdir()
    f = _renamed_model(work, name)
    p = scenario(work, **{'models = ["domino"]': f'models = ["{f}", "domino"]'})
    out = work / "out" / "deep"
    code, _, err, took = cli(["run", p, "-o", out, "-q"])
    assert code == 0 and "Traceback" not in err, err
    outside = [q for q in tmp_path.rglob("*") if q.is_file() and out not in q.parents
               and q.name not in ("s.toml", "evil.toml")]
    assert outside == [], outside
    for q in out.iterdir():
        assert len(q.name) <= 200 and not q.name.startswith(".") and "/" not in q.name
    ds = xr.open_dataset(out / "s.nc")  # NetCDF attribute names made from the model name are valid
    assert any(k.startswith("model_file_") for k in ds.attrs)
    ds.close()


def test_control_characters_in_names_are_refused(tmp_path):
    f = _renamed_model(tmp_path, '"evil\\u0000name"')
    p = scenario(tmp_path, **{'models = ["domino"]': f'models = ["{f}"]'})
    refused(cli(["run", p, "-o", tmp_path / "out"]), "model.name", "control characters")
    nothing_left(tmp_path / "out")
    p = scenario(tmp_path, name="r.toml", **{'name = "iv"': 'name = "iv\\u0000../x"'})
    refused(cli(["run", p, "-o", tmp_path / "out"]), "regimens[0].name", "control characters")
    nothing_left(tmp_path / "out")


def test_names_that_sanitize_alike_get_different_files(tmp_path):
    """``a/b`` and ``a_b`` both become file stems; collisions are resolved deterministically."""
    a = _renamed_model(tmp_path, '"a/b"', "a.toml")
    b = _renamed_model(tmp_path, '"a_b"', "b.toml")
    p = scenario(tmp_path, **{'models = ["domino"]': f'models = ["{a}", "{b}"]'})
    code, out, err, _ = cli(["run", p, "-o", tmp_path / "out", "-q"])
    assert code == 0, err
    pngs = sorted(q.name for q in (tmp_path / "out").glob("s_a*.png"))
    assert len(pngs) == 2 and len(set(pngs)) == 2, pngs
    assert unique_stems(["a/b", "a_b", "A_B", "a_b"]) == unique_stems(["a/b", "a_b", "A_B", "a_b"])
    assert len({s.lower() for s in unique_stems(["a/b", "a_b", "A_B", "a_b"])}) == 4


def test_safe_stem_and_netcdf_name_properties():
    for text in ["../../x", "", ".", "..", "a" * 1000, "NUL\x00", "é/è", "-rf", "con"]:
        s = safe_stem(text)
        assert s and len(s) <= 80 and "/" not in s and not s.startswith((".", "-"))
        n = netcdf_name(text)
        assert n[0].isalpha() and "/" not in n and "\x00" not in n and len(n) <= 200
    assert safe_stem("perez_ruixo_2021") == "perez_ruixo_2021"  # ordinary names are kept


def test_pd_models_whose_effect_sites_would_collide_are_refused(tmp_path):
    """PD ``x_y`` with effect ``k`` and PD ``x`` with effect ``y_k`` both name ``ce_x_y_k``: refused
    at load time instead of one readout silently taking the other's t½ke0."""
    base = (MODELS / "pd" / "olofsen_2022.toml").read_text(encoding="utf-8")
    one = base.replace('name = "olofsen_2022"', 'name = "x_y"').replace("[effects.ketamine]", "[effects.k]") \
        .replace('effect = "ketamine"', 'effect = "k"')
    two = base.replace('name = "olofsen_2022"', 'name = "x"').replace("[effects.ketamine]", "[effects.y_k]") \
        .replace('effect = "ketamine"', 'effect = "y_k"').replace('half_life = "t12ke0"', 'half_life = "2 * t12ke0"')
    (tmp_path / "one.toml").write_text(one, encoding="utf-8")
    (tmp_path / "two.toml").write_text(two, encoding="utf-8")
    p = scenario(tmp_path, **{'models = ["domino"]': 'models = ["domino"]\npd = ["one.toml", "two.toml"]'})
    refused(cli(["run", p, "-o", tmp_path / "out"]), "ce_x_y_k", "effect site")
    nothing_left(tmp_path / "out")
    refused(cli(["check", p]), "ce_x_y_k")


def test_two_models_with_one_name_are_refused(tmp_path):
    a = _renamed_model(tmp_path, '"domino"', "copy.toml")
    p = scenario(tmp_path, **{'models = ["domino"]': f'models = ["domino", "{a}"]'})
    refused(cli(["run", p, "-o", tmp_path / "out"]), "two models are called 'domino'")
    nothing_left(tmp_path / "out")

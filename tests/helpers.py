"""Small in-memory models and a high-precision scipy reference for the tests."""
from __future__ import annotations

import textwrap
import tomllib

from pkpd.testing import reference_solution

from pkpd.dosing.regimen import Regimen
from pkpd.models.pk import parse_model
from pkpd.scenario.doses import parse_dose

META = '''
[model]
name = "{name}"
title = "test model"
drug = "S-ketamine"
sampling = "arterial"
citation = "test"
plasma = {{ ketamine = "central"{nk} }}
'''


def model_from_toml(body: str, name: str = "test", nk: bool = False):
    text = META.format(name=name, nk=', norketamine = "nk"' if nk else "") + body
    return parse_model(tomllib.loads(text), text, f"{name}.toml")


def p(value, unit):
    return f'{{ value = {value!r}, unit = "{unit}", source = "test", grade = "table" }}'


def one_cmt(V=50.0, CL=10.0, ka=None, F=1.0, lag=None, release=None):
    """One compartment, optional first-order oral absorption (ka, F, lag, zero-order release)."""
    params = [f"V = {p(V, 'L')}", f"CL = {p(CL, 'L/h')}"]
    oral = ""
    if ka is not None:
        params += [f"ka = {p(ka, '1/h')}", f"F = {p(F, '1')}"]
        extra = ""
        if lag is not None:
            params.append(f"tlag = {p(lag, 'h')}")
            extra += 'lag = "tlag"\n'
        if release is not None:
            params.append(f"D = {p(release, 'h')}")
            extra += 'release = "D"\n'
        oral = f'''
[[routes.oral]]
target = "central"
depot = "gut"
ka = "ka"
fraction = "F"
{extra}'''
    return model_from_toml(f'''
[parameters]
{chr(10).join(params)}

[compartments]
central = {{ species = "ketamine", volume = "V" }}
gut = {{ species = "ketamine" }}

[[flows]]
from = "central"
clearance = "CL"

[[routes.iv]]
target = "central"
{oral}''')


def two_cmt(V1=20.0, V2=80.0, CL=30.0, Q=40.0):
    return model_from_toml(f'''
[parameters]
V1 = {p(V1, 'L')}
V2 = {p(V2, 'L')}
CL = {p(CL, 'L/h')}
Q = {p(Q, 'L/h')}

[compartments]
central = {{ species = "ketamine", volume = "V1" }}
periph = {{ species = "ketamine", volume = "V2" }}

[[flows]]
from = "central"
clearance = "CL"

[[flows]]
between = ["central", "periph"]
clearance = "Q"

[[routes.iv]]
target = "central"
''')


def regimen(*doses, name="r"):
    return Regimen(name, tuple(parse_dose(d, f"dose[{i}]") for i, d in enumerate(doses)))


def reference(K, events, times, rtol=1e-10, atol=1e-14):
    """scipy Radau reference (see :func:`pkpd.testing.reference_solution`)."""
    return reference_solution(K, events, times, rtol=rtol, atol=atol)


def widest_line(text: str) -> int:
    """Characters in the longest line of a command's output, leaving out the file paths listed
    after ``wrote:`` (their length is the user's directory, not the layout)."""
    lines, paths = [], False
    for line in text.splitlines():
        if line == "wrote:":
            paths = True
            continue
        if paths and line.startswith("  "):
            continue
        paths = False
        lines.append(line)
    return max((len(x) for x in lines), default=0)

#: The smallest valid PK model file (one compartment, IV): the base of bad-input cases.
ONE_COMPARTMENT = textwrap.dedent('''
    [model]
    name = "m"
    title = "t"
    drug = "S-ketamine"
    sampling = "venous"
    citation = "c"
    plasma = { ketamine = "central" }

    [parameters]
    V = { value = 50, unit = "L", source = "test", grade = "table" }
    CL = { value = 10, unit = "L/h", source = "test", grade = "table" }

    [compartments]
    central = { species = "ketamine", volume = "V" }

    [[flows]]
    from = "central"
    clearance = "CL"

    [[routes.iv]]
    target = "central"
''')

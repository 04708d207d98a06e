"""Every route of the full Perez-Ruixo model against scipy Radau at rtol 1e-10.

Requirement: max relative error ≤ 1e-8 on concentrations above 1e-6 of Cmax, for ketamine,
norketamine and the effect site.
"""
import numpy as np
import pytest

from pkpd.models.load import load_model
from pkpd.simulation.grid import output_times
from pkpd.simulation.typical import solve_states

from helpers import reference, regimen

MODEL = load_model("perez_ruixo_2021")
PD = load_model("olofsen_2022")

CASES = {
    "iv bolus": [{"route": "iv", "amount": "20 mg"}],
    "iv infusion steps": [{"route": "iv", "rate": "0.25 mg/kg/h", "duration": "20 min"},
                          {"route": "iv", "rate": "0.1 mg/kg/h", "duration": "100 min", "start": "20 min"}],
    "oral (zero-order release, first pass)": [{"route": "oral", "amount": "84 mg"}],
    "oral repeated": [{"route": "oral", "amount": "50 mg", "every": "8 h", "times": 3}],
    "intranasal 3 sprays": [{"route": "intranasal", "amount": "28 mg", "sprays": 3, "spray_interval": "5 min"}],
    "mixed iv + intranasal": [{"route": "iv", "amount": "5 mg", "start": "2 h"},
                              {"route": "intranasal", "amount": "28 mg", "start": "0.37 h"}],
}


@pytest.mark.parametrize("case", list(CASES))
def test_route_matches_high_precision_reference(case):
    r = regimen(*CASES[case])
    x, sysm, ev = solve_states(MODEL, r, np.array([0.0, 24.0]), pd=PD, step=0.0)
    times = output_times(24.0, 1 / 60, ev.time.ravel())
    x, sysm, ev = solve_states(MODEL, r, times, pd=PD, step=1 / 60)
    ref = reference(sysm.K[0], ev, times)
    for name in ("central", "nk_central", "ce_olofsen_2022_ketamine"):
        i = sysm.states.index(name)
        a, b = x[i], ref[i]
        mask = np.abs(b) > 1e-6 * np.abs(b).max()
        err = np.max(np.abs(a[mask] - b[mask]) / np.abs(b[mask]))
        assert err <= 1e-8, f"{case}: {name} max rel err {err:.2e}"

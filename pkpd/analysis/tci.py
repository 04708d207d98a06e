"""Target-controlled infusion (TCI): the infusion profile that reaches and holds a target
plasma or effect-site concentration.

The standard algorithm with a pump update interval Δ (default 10 s), on the model's exact
propagators (Φ = exp(KΔ), Γ = ∫₀^Δ exp(Ks) ds):

* **plasma targeting** (Bailey & Shafer): at each update, the rate that brings the plasma
  concentration exactly to the target at the end of the interval, ``r = (Ct − c·Φx) / (c·Γ e)``,
  clipped to [0, max rate];
* **effect-site targeting** (Shafer & Gregg 1992; Jacobs & Williams): the rate whose effect-site
  peak — infusing for Δ, then stopping — equals the target; the peak of ``Ce_free(t) + r·Ce_unit(t)``
  is convex and increasing in ``r``, so ``r`` is found by bisection.  Plasma overshoots the target
  so that the effect site gets there fast, without overshooting it.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import scipy.linalg
from pkpd.errors import PkpdError
from pkpd.models.pk import Model
from pkpd.models.pd import PDModel
from pkpd.simulation.system import build_system
from pkpd import units
from pkpd.dosing.regimen import Dose, Regimen
from pkpd.simulation.population import simulate_population


@dataclass(frozen=True)
class TCIResult:
    time: np.ndarray  # h, pump update times (start of each interval) plus the end
    rate: np.ndarray  # mg/h during each interval (len = len(time) - 1)
    plasma: np.ndarray  # ng/mL at ``time``
    effect: np.ndarray  # ng/mL at ``time`` (NaN without an effect site)
    target: float  # ng/mL
    mode: str

    @property
    def total_mg(self) -> float:
        return float(np.sum(self.rate * np.diff(self.time)))


def _propagators(K, dt):
    n = K.shape[0]
    A = np.zeros((2 * n, 2 * n))
    A[:n, :n] = K * dt
    A[:n, n:] = np.eye(n) * dt
    E = scipy.linalg.expm(A)
    return E[:n, :n], E[:n, n:]


def _check_request(model: Model, target_ng_ml: float, duration_h: float, mode: str, interval_h: float) -> None:
    if mode not in ("plasma", "effect"):
        raise PkpdError("mode must be 'plasma' or 'effect'")
    if not (target_ng_ml > 0 and np.isfinite(target_ng_ml)):
        raise PkpdError("the target must be a positive concentration")
    if not (0 < interval_h <= duration_h <= 24 * 14):
        raise PkpdError("need 0 < update interval ≤ duration ≤ 14 days")
    if not model.supports("iv"):
        raise PkpdError(f"{model.name} has no IV route: TCI needs one")


def _typical_system(model: Model, pd: PDModel | None, subject: dict | None, mode: str):
    """The typical subject's ``K``, the rows giving plasma and effect-site ketamine (ng/mL per
    state; ``None`` without an effect site) and the unit IV input vector."""
    subject = dict(subject or {})
    vals = model.params.individual(covariates=subject)
    links = []
    if pd is not None:
        links = pd.links(pd.params.individual(covariates=subject), model.species, model)
    if mode == "effect" and not links:
        raise PkpdError("effect-site targeting needs a PD model with an effect compartment on ketamine (--pd)")
    sysm = build_system(model, vals, links[:1])
    K = sysm.K[0]
    names = [o.name for o in sysm.outputs]
    c_pl = sysm.W[0, names.index("ketamine_plasma")] * 1000.0  # ng/mL per state
    c_ce = sysm.W[0, names.index(links[0].name)] * 1000.0 if links else None
    e_in = np.zeros(K.shape[0])
    e_in[model.index[model.routes["iv"][0].target]] = 1.0
    return K, c_pl, c_ce, e_in


def _effect_responses(Phi, Gam, e_in, c_ce, J: int):
    """Effect site at j·Δ, j = 1..J: per unit rate infused for Δ then stopped (``unit``, (J,)),
    and the rows mapping today's state to it with no more drug (``ce_rows``, (J, n))."""
    unit = np.empty(J)
    x = Gam @ e_in
    for j in range(J):
        unit[j] = c_ce @ x
        x = Phi @ x
    Phi_pows = [np.eye(Phi.shape[0])]
    for _ in range(J):
        Phi_pows.append(Phi @ Phi_pows[-1])
    ce_rows = np.array([c_ce @ P for P in Phi_pows[1:]])
    return unit, ce_rows


def _effect_rate(free: np.ndarray, unit: np.ndarray, target: float, max_rate: float) -> float:
    """The rate whose effect-site peak (``free + r·unit``) equals ``target``, by bisection."""
    if free.max() >= target:
        return 0.0
    lo, hi = 0.0, max_rate
    if (free + hi * unit).max() <= target:
        return hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if (free + mid * unit).max() > target:
            hi = mid
        else:
            lo = mid
    return lo


def tci(model: Model, target_ng_ml: float, duration_h: float, *, mode: str = "plasma", pd: PDModel | None = None,
        subject: dict | None = None, interval_h: float = 10 / 3600, max_rate_mg_h: float = 1200.0,
        lookahead_h: float = 1.0) -> TCIResult:
    """Compute a TCI profile for the typical subject.

    Parameters
    ----------
    model : Model
        PK model with an IV route.
    target_ng_ml : float
        Target concentration, ng/mL (ketamine, plasma or effect site).
    duration_h : float
        How long to hold the target, h (at most 14 days).
    mode : {"plasma", "effect"}
        What is targeted.
    pd : PDModel, optional
        Supplies the effect compartment (required for ``mode="effect"``; with
        ``mode="plasma"`` the effect site is reported too).
    subject : dict, optional
        Covariates of the typical subject (as in a scenario's ``[subject]``).
    interval_h : float
        Pump update interval Δ, h (10 s default).
    max_rate_mg_h : float
        Pump limit, mg/h.
    lookahead_h : float
        Effect-site targeting: how far ahead the effect-site peak is sought, h.

    Returns
    -------
    TCIResult
        Update times (h), rate per interval (mg/h), plasma and effect-site
        concentrations at the update times (ng/mL).
    """
    _check_request(model, target_ng_ml, duration_h, mode, interval_h)
    K, c_pl, c_ce, e_in = _typical_system(model, pd, subject, mode)
    Phi, Gam = _propagators(K, interval_h)
    g_pl = float(c_pl @ Gam @ e_in)  # plasma at Δ per unit rate
    steps = int(np.ceil(duration_h / interval_h - 1e-9))
    if mode == "effect":
        unit, ce_rows = _effect_responses(Phi, Gam, e_in, c_ce, max(2, int(np.ceil(lookahead_h / interval_h))))
    x = np.zeros(K.shape[0])
    rates = np.zeros(steps)
    pl = np.zeros(steps + 1)
    ce = np.full(steps + 1, np.nan)
    if c_ce is not None:
        ce[0] = 0.0
    for k in range(steps):
        if mode == "plasma":
            r = (target_ng_ml - c_pl @ Phi @ x) / g_pl
        else:
            r = _effect_rate(ce_rows @ x, unit, target_ng_ml, max_rate_mg_h)  # ce_rows @ x: no more drug
        r = float(np.clip(r, 0.0, max_rate_mg_h))
        rates[k] = r
        x = Phi @ x + Gam @ e_in * r
        pl[k + 1] = c_pl @ x
        if c_ce is not None:
            ce[k + 1] = c_ce @ x
    return TCIResult(np.arange(steps + 1) * interval_h, rates, pl, ce, target_ng_ml, mode)


def tci_regimen(result: TCIResult, name: str = "TCI profile"):
    """The pump profile as a regimen of consecutive IV infusions (rates as computed for the
    typical subject), to give to real — simulated — subjects."""
    dt = np.diff(result.time)
    doses = tuple(Dose("iv", rate=units.Quantity(float(r), "rate", False, f"{r:.6g} mg/h"), duration=float(d),
                       start=float(t)) for t, d, r in zip(result.time[:-1], dt, result.rate) if r > 0)
    if not doses:
        raise PkpdError("the TCI profile gives no drug")
    return Regimen(name, doses)


def tci_population(model: Model, result: TCIResult, population, *, pd: PDModel | None = None,
                   step_h: float = 1 / 60):
    """Percentiles (5, 50, 95) over ``population`` of plasma (and effect-site) concentrations when the
    typical subject's TCI profile is given to everyone: how far real subjects stray from the target."""
    reg = tci_regimen(result)
    horizon = float(result.time[-1])
    ds = simulate_population(model, [reg], population, horizon=horizon, step=step_h, pd=[pd] if pd else (),
                             mode="streaming", progress=False, quantiles=(5.0, 50.0, 95.0))
    out = {"time": ds.time.values, "plasma": ds.ketamine_plasma_percentiles.values[0, 0]}
    ce = [v for v in ds.data_vars if v.startswith("ce_") and v.endswith("_percentiles")]
    if ce:
        out["effect"] = ds[ce[0]].values[0, 0]
    return out

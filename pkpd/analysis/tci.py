"""Target-controlled infusion (TCI): the pump profile that reaches and holds target plasma or
effect-site concentrations, with target changes over time.

The pump rate is recomputed every Δ (10 s by default) for the typical subject, on the model's exact
propagators (:mod:`pkpd.analysis.tci_rules`):

* **plasma targeting** — Jacobs (1990): each interval's rate brings plasma exactly to the target at
  its end (clipped to [0, max rate]: after a target decrease the pump stops until plasma has fallen);
* **effect-site targeting** — Shafer & Gregg (1992) for a rise of the target, then plasma tracking:
  1. *load*: each interval's rate is the one whose effect-site peak equals the target (the maximum
     rate while even that falls short), so the effect site gets there as fast as the pump allows
     without overshooting;
  2. *wait*: the pump stops until the predicted effect-site peak is less than one interval away
     (plasma, far above the target, falls to meet the effect site);
  3. *hold*: plasma is steered onto the curve ``C_T + g·(C_T − Ce)`` (g = ``gain``, 1 by default;
     at the peak plasma and effect site meet, so the curve starts where plasma is) — the effect site
     then approaches C_T exponentially at (1 + g)·ke0 and never crosses it, and the rate is smooth
     because it follows a smooth curve.  A target decrease starts here, with the pump off until
     plasma has fallen onto the curve (below C_T, so the effect site falls (1 + g) times faster than
     with plain plasma targeting); then the rate rises smoothly.

  The per-interval peak rule alone — re-applied every 10 s while holding — makes the rate flip
  between near zero and tens of mg/h (the effect-site peak is always "now"); R ``tci``
  (``tci_effect``) and PyTCI (``effect_target``) also switch to plasma targeting near the target.
  So the rate rises at most once after it has fallen for each rise of the target (the restart after
  the wait) and changes monotonically while holding.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np
from pkpd import units
from pkpd.analysis.tci_rules import MAX_LOOKAHEAD_H, effect_responses, peak_rate, plasma_rate, propagators, \
    tracking_rate
from pkpd.dosing.regimen import Dose, Regimen
from pkpd.errors import PkpdError, PkpdTypeError
from pkpd.limits import check_count
from pkpd.simulation.arguments import check_subject
from pkpd.simulation.resources import check_estimate, tci_estimate
from pkpd.models.pd import PDModel
from pkpd.models.pk import Model
from pkpd.simulation.population import simulate_population
from pkpd.simulation.system import build_system

#: Relative margin below the target under which a new effect-site target counts as a rise (load).
RISE_MARGIN = 1e-3
#: After a rise, the hold rate never takes the effect site above the target by more than this
#: (relative) at an update time: where plasma meets the effect site at its peak, tracking alone would
#: add a hair of drug while the effect site is still rising.
OVERSHOOT = 1e-3


@dataclass(frozen=True)
class TCIResult:
    """A TCI profile for the typical subject.

    ``time`` (h): pump update times plus the end; ``rate`` (mg/h), ``target`` (ng/mL) and ``phase``
    ("plasma"; "load", "wait", "hold") per interval (``len(time) − 1``); ``plasma`` and ``effect``
    (ng/mL, NaN without an effect site) at ``time``.
    """

    time: np.ndarray
    rate: np.ndarray
    plasma: np.ndarray
    effect: np.ndarray
    target: np.ndarray
    mode: str
    phase: tuple[str, ...] = ()

    @property
    def total_mg(self) -> float:
        """Drug given, mg."""
        return float(np.sum(self.rate * np.diff(self.time)))

    @property
    def changes(self) -> list[tuple[float, float]]:
        """(time h, target ng/mL) at the start and at every target change."""
        k = np.flatnonzero(np.concatenate([[True], np.diff(self.target) != 0]))
        return [(float(self.time[i]), float(self.target[i])) for i in k]

    def volume_rate(self, concentration_mg_ml: float) -> np.ndarray:
        """The rates in mL/h for a solution of ``concentration_mg_ml`` mg/mL."""
        if not (np.isfinite(concentration_mg_ml) and concentration_mg_ml > 0):
            raise PkpdError("the drug concentration must be a positive number of mg/mL")
        return self.rate / concentration_mg_ml


def target_schedule(target, duration_h: float) -> tuple[np.ndarray, np.ndarray]:
    """Change times (h, from 0) and targets (ng/mL) from a number or (time h, ng/mL) pairs; a schedule
    starting after 0 starts with the pump off (target 0)."""
    pairs = [(0.0, target)] if np.isscalar(target) else [tuple(p) for p in target]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise PkpdError("targets: give a concentration or (time h, concentration ng/mL) pairs")
    t = np.array([float(p[0]) for p in pairs])
    c = np.array([float(p[1]) for p in pairs])
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(c))) or np.any(c < 0) or not np.any(c > 0):
        raise PkpdError("the targets must be concentrations ≥ 0 ng/mL, at least one positive")
    if t[0] < 0 or np.any(np.diff(t) <= 0):
        raise PkpdError("target change times must start at 0 h or later and increase")
    if t[-1] >= duration_h:
        raise PkpdError(f"a target changes at {t[-1] * 60:g} min, after the end of the profile "
                        f"({duration_h * 60:g} min)")
    if t[0] > 0:
        t, c = np.concatenate([[0.0], t]), np.concatenate([[0.0], c])
    return t, c


def _check_request(model: Model, duration_h: float, mode: str, interval_h: float, max_rate: float,
                   gain: float) -> None:
    if mode not in ("plasma", "effect"):
        raise PkpdError("mode must be 'plasma' or 'effect'")
    if not (0 < interval_h <= duration_h <= 24 * 14):
        raise PkpdError("need 0 < update interval ≤ duration ≤ 14 days")
    if not (np.isfinite(max_rate) and max_rate > 0):
        raise PkpdError("the maximum pump rate must be positive")
    if not (np.isfinite(gain) and gain >= 0):
        raise PkpdError("the effect-site approach gain must be ≥ 0")
    if not model.supports("iv"):
        raise PkpdError(f"{model.name} has no IV route: TCI needs one")


def _check_limits(model, pd, subject, duration_h, mode, interval_h, max_rate_mg_h, lookahead_h) -> None:
    """The rest of the request: a PK model (and PD model), a subject no patient lacks (weight > 0),
    finite numbers, and pump updates within the ``pump_updates`` limit and the memory and time
    limits (issue 18: a 1-ms interval over 14 days must be refused, not run)."""
    if not isinstance(model, Model):
        raise PkpdTypeError(f"must be a loaded PK model (pkpd.load_model), got {type(model).__name__}", field="model")
    if pd is not None and not isinstance(pd, PDModel):
        raise PkpdTypeError(f"must be a loaded PD model or None, got {type(pd).__name__}", field="pd")
    for k, v in (("max_rate_mg_h", max_rate_mg_h), ("interval_h", interval_h), ("duration_h", duration_h),
                 ("lookahead_h", lookahead_h)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not np.isfinite(v):
            raise PkpdError(f"must be a finite number, got {v!r}", field=k)
    if not lookahead_h > 0:
        raise PkpdError("must be > 0 h", field="lookahead_h")
    check_subject(subject, (model,), (pd,) if pd is not None else ())
    if interval_h > 0:
        updates = int(np.ceil(duration_h / interval_h - 1e-9))
        check_count("pump_updates", updates, "pump updates (duration / interval)", "use a longer --interval or a "
                    "shorter --duration")
        J = int(np.ceil(MAX_LOOKAHEAD_H / interval_h)) if mode == "effect" else 0  # the window may double to it
        check_estimate(tci_estimate(len(model.compartments) + 1, updates, J, mode == "effect"))


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
    # plasma in the PD model's drug terms (racemic PK, S-ketamine PD: 0.5 ×), where Ce settles
    scale = float(np.ravel(links[0].scale)[0]) if links else 1.0
    return K, c_pl, c_ce, e_in, scale


class _EffectController:
    """The effect-site rule of the module docstring, one interval at a time."""

    def __init__(self, Phi, Gam, e_in, c_pl, c_ce, interval_h, lookahead_h, max_rate, gain):
        self.Phi, self.c_pl, self.c_ce, self.max_rate, self.gain = Phi, c_pl, c_ce, max_rate, gain
        u = Gam @ e_in
        self.unit_pl = float(c_pl @ u)
        self.unit, self.rows = effect_responses(Phi, Gam, e_in, c_ce, int(np.ceil(lookahead_h / interval_h)),
                                                int(np.ceil(MAX_LOOKAHEAD_H / interval_h)))
        self.phase, self.target, self.rise = "hold", None, False

    def step(self, x: np.ndarray, target: float) -> tuple[float, str]:
        """(rate mg/h, phase) for the interval starting in state ``x``."""
        free = self.rows @ x  # effect site at Δ, 2Δ, … without more drug
        if target != self.target:
            self.phase = "load" if float(self.c_ce @ x) < target * (1 - RISE_MARGIN) else "wait"
            self.target, self.rise = target, self.phase == "load"
        if self.phase == "load":
            r = peak_rate(free, self.unit, target, self.max_rate)
            if r < self.max_rate:
                self.phase = "peak"  # the peak reaches the target with this interval's drug
            return r, "load"
        if self.phase == "peak":
            if np.argmax(free) >= 1:  # the effect site still rises beyond this interval: pump off
                return 0.0, "wait"
            self.phase = "hold"  # at the peak plasma has come down to the effect site
        free_pl = float(self.c_pl @ self.Phi @ x)
        r = tracking_rate(free_pl, self.unit_pl, float(free[0]), float(self.unit[0]), target, self.gain)
        if self.rise:  # after a rise, never push the effect site past the target at an update time
            r = min(r, (target * (1 + OVERSHOOT) - float(free[0])) / float(self.unit[0]))
        r = float(np.clip(r, 0.0, self.max_rate))
        if self.phase == "wait" and r > 0:
            self.phase = "hold"  # after a decrease: plasma has come down onto the tracking curve
        return r, self.phase


def tci(model: Model, target, duration_h: float, *, mode: str = "plasma", pd: PDModel | None = None,
        subject: dict | None = None, interval_h: float = 10 / 3600, max_rate_mg_h: float = 1200.0,
        lookahead_h: float = 1.0, gain: float = 1.0) -> TCIResult:
    """Compute a TCI profile for the typical subject.

    Parameters
    ----------
    model : Model
        PK model with an IV route.
    target : float or sequence of (float, float)
        Target concentration, ng/mL (ketamine, plasma or effect site), or (time h, ng/mL) pairs
        giving target changes (the first at 0 h; before a later first change the pump is off).
    duration_h : float
        Length of the profile, h (at most 14 days).
    mode : {"plasma", "effect"}
        What is targeted.
    pd : PDModel, optional
        Supplies the effect compartment (required for ``mode="effect"``; with ``mode="plasma"``
        the effect site is reported too).
    subject : dict, optional
        Covariates of the typical subject (as in a scenario's ``[subject]``).
    interval_h : float
        Pump update interval Δ, h (10 s default).
    max_rate_mg_h : float
        Pump limit, mg/h.
    lookahead_h : float
        Effect-site targeting: first window searched for the effect-site peak, h (doubled up to
        24 h until the peak lies inside).
    gain : float
        Effect-site targeting: g of the hold phase (effect site approaches at (1 + g)·ke0).

    Returns
    -------
    TCIResult
        Update times (h), rate, target and phase per interval (mg/h, ng/mL), plasma and
        effect-site concentrations at the update times (ng/mL).
    """
    _check_limits(model, pd, subject, duration_h, mode, interval_h, max_rate_mg_h, lookahead_h)
    _check_request(model, duration_h, mode, interval_h, max_rate_mg_h, gain)
    change_t, change_c = target_schedule(target, duration_h)
    K, c_pl, c_ce, e_in, scale = _typical_system(model, pd, subject, mode)
    Phi, Gam = propagators(K, interval_h)
    u = Gam @ e_in
    steps = int(np.ceil(duration_h / interval_h - 1e-9))
    targets = change_c[np.searchsorted(change_t, np.arange(steps) * interval_h + 1e-12, side="right") - 1]
    ctl = (_EffectController(Phi, Gam, e_in, c_pl * scale, c_ce, interval_h, lookahead_h, max_rate_mg_h, gain)
           if mode == "effect" else None)
    unit_pl = float(c_pl @ u)
    x = np.zeros(K.shape[0])
    rates, phases = np.zeros(steps), []
    pl, ce = np.zeros(steps + 1), np.full(steps + 1, np.nan)
    if c_ce is not None:
        ce[0] = 0.0
    for k in range(steps):
        if ctl is None:
            r, ph = float(np.clip(plasma_rate(float(c_pl @ Phi @ x), unit_pl, targets[k]), 0, max_rate_mg_h)), "plasma"
        else:
            r, ph = ctl.step(x, float(targets[k]))
        rates[k] = r
        phases.append(ph)
        x = Phi @ x + r * u
        pl[k + 1] = c_pl @ x
        if c_ce is not None:
            ce[k + 1] = c_ce @ x
    return TCIResult(np.arange(steps + 1) * interval_h, rates, pl, ce, targets, mode, tuple(phases))


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

"""Dosing: what is given, when, and how it reaches the model.

- :mod:`pkpd.dosing.regimen` — :class:`~pkpd.dosing.regimen.Dose` (route, amount in mg or mg/kg or
  infusion rate in mg/h or mg/kg/h, times in h, repeats, sprays, steady state) and
  :class:`~pkpd.dosing.regimen.Regimen`, a named list of doses.
- :mod:`pkpd.dosing.events` — :func:`~pkpd.dosing.events.regimen_events`, the kernel event arrays
  (boluses, zero-order inputs on/off) a regimen becomes for one model and its subjects.
- :mod:`pkpd.dosing.notation` — the compact notation (``"0.5 mg/kg over 40 min then …"``):
  :func:`~pkpd.dosing.notation.parse_regimen` and :func:`~pkpd.dosing.notation.format_regimen`.
- :mod:`pkpd.dosing.records` — NONMEM-style event records (CSV) read into regimens, observation
  times and covariates, and regimens written back as records.

Routes themselves (names, NONMEM CMT numbers, notation words, which take infusions or sprays)
are one table in :mod:`pkpd.models.routes`.
"""

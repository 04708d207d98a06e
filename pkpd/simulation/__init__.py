"""Models and regimens → arrays → :func:`pkpd.solvers.dispatch.solve` → xarray datasets.

:mod:`~pkpd.simulation.system` builds each subject's system (``K``, ``W``, nonlinear terms),
:mod:`~pkpd.simulation.typical` runs typical subjects, :mod:`~pkpd.simulation.population` (with
``sampling``, ``population_*`` and ``streaming``) virtual populations, :mod:`~pkpd.simulation.grid`
the output times and :mod:`~pkpd.simulation.steady_state` pre-dose steady states.  Time h,
concentrations ng/mL (and nmol/mL) in the datasets.
"""

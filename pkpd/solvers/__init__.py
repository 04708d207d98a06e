"""Numba kernels and their dispatch: arrays in (``K``, ``W``, event arrays, bytecode programs),
arrays out; nothing here knows model files, doses or datasets.

The one entry point is :func:`pkpd.solvers.dispatch.solve` (method table, fallbacks, the kernel
contract); method names, tolerances and event kinds live in :mod:`pkpd.solvers.options`.
Internal units: amounts mg, time h.
"""
from pkpd.solvers import kernel_cache

kernel_cache.refresh()  # before any cached kernel loads: drop caches compiled from other sources

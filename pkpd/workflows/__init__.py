"""Workflows: a checked scenario (or data file) taken end to end to files on disk.

``run`` (simulate the typical subject and the population, summarise, draw, write),
``tradeoff`` (dose sweeps with Pareto frontiers, and the constrained dose optimum),
``sweep`` (parameter sweeps, resumable, optionally on Dask, with Sobol indices) and
``nonmem`` (NCA of concentration data, simulation of a NONMEM-style dataset).  The CLI
commands (:mod:`pkpd.cli`) are thin wrappers over these functions.
"""

"""Analysis (layer above :mod:`pkpd.simulation`): what the simulated curves and populations mean.

:mod:`~pkpd.analysis.metrics` (Cmax, Tmax, AUC of typical curves), :mod:`~pkpd.analysis.nca`
(non-compartmental analysis of data), :mod:`~pkpd.analysis.tradeoff` (analgesia against
psychotomimetic outcomes, with intervals), :mod:`~pkpd.analysis.dosefinding` (regimen variants,
Pareto frontiers, constrained optimum), :mod:`~pkpd.analysis.tci` (target-controlled infusion),
:mod:`~pkpd.analysis.sweep_design` (sweep designs, Sobol indices).  No file input or output: these
take datasets, models and regimens and return arrays or datasets.
"""

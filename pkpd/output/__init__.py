"""Output (layer above :mod:`pkpd.scenario`): turning results into files people read.

:mod:`~pkpd.output.files` (atomic writes, provenance attributes), :mod:`~pkpd.output.figures`
(concentration–time figures and the one PNG helper), :mod:`~pkpd.output.population_figures`,
:mod:`~pkpd.output.analysis_figures`, :mod:`~pkpd.output.tables` (terminal and CSV tables),
:mod:`~pkpd.output.report` (the self-contained HTML report) and
:mod:`~pkpd.output.library_views` (``pkpd models`` text).  Nothing here simulates.
"""

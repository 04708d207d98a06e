"""Scenario files (TOML): reading and checking what to simulate, before anything runs.

:func:`pkpd.scenario.load.load_scenario` reads a file and returns a checked
:class:`pkpd.scenario.spec.Scenario`.  Each table of the file has its own parser module —
``scenario_table`` ([scenario]: title, models), ``subject_table``, ``time_table``,
``regimens_table`` (with ``doses`` for one dose table), ``output_table``, ``population_table``,
``tradeoff_table``, ``sweep_table``, ``solver_table`` — and ``checks`` holds what needs several
tables (thresholds, readout pairs, routes, horizon, PK/PD pairing).  Every parser adds its
problems to one :class:`pkpd.errors.Collector`, so a file's mistakes are reported together.
"""

"""Teaching (layer above :mod:`pkpd.workflows`, below :mod:`pkpd.cli`).

:mod:`~pkpd.teaching.demos` (the gallery of classic figures, each with its explanation) and
:mod:`~pkpd.teaching.explore` (the interactive explorer: :func:`~pkpd.teaching.explore_state.compute`
gives plain arrays for a :class:`~pkpd.teaching.explore_state.State`, a Panel/Bokeh app and a
headless PNG export draw them).  Panel and Bokeh are
optional and imported only by the app.
"""

"""Model files: declarative PK and PD models, loaded, checked and described.

What a model file says
----------------------
A model (``models/NAME.toml`` for PK, ``models/pd/NAME.toml`` for PD) is data, never code.
Both kinds share ``[model]`` (name, title, drug, sampling, citation, …), ``[covariates]``,
``[parameters.NAME]`` (value, unit, optional covariate model and IIV, ``source`` and
``grade``; an ``assumption`` also needs a ``note`` and a ``range``), ``[derived]`` and
``[[covariances]]``.  A PK file adds ``[compartments]``, ``[[flows]]``, ``[[routes.ROUTE]]``
and optionally ``[states]`` and Michaelis–Menten flows; a PD file (``kind = "pd"``) adds
``[effects]``, ``[[readouts]]`` and optionally ``[states]``.  Formulas are whitelisted
arithmetic (:mod:`pkpd.expr`); numbers are converted to internal units (mg, L, h) on loading.
Every problem in a file is collected with the file and the dotted field it concerns
(``flows[0].clearance``) and all are raised together as one :class:`~pkpd.errors.PkpdError`.

How this layer is organised
---------------------------
It sits on :mod:`pkpd.errors`, :mod:`pkpd.units`, :mod:`pkpd.expr` and
:mod:`pkpd.solvers.options` only.  One job per module, lower rows never importing higher ones:

=================  ==========================================================================
``drugs``          the ketamine forms (S, racemic, R), dose words, the share of a dose a
                   model of another form takes
``variability``    provenance and size (CV %) of an ``iiv``; ``with_iiv`` for sweeps
``parameters``     ``[parameters]`` → :class:`Parameter`; :class:`ParameterSet` evaluates a
                   model's parameters for subjects (arrays, internal units)
``common``         the sections both kinds share (``parse_common``) and the checks every
                   parser uses (``checked_expression``, ``text_field``)
``routes``         the route table (``ROUTES``: key → long name)
``pk_parts``       PK building blocks: ``Compartment``, ``Flow``, ``AbsorptionPath``
``nonlinear``      ``[states]``, Michaelis–Menten flows, solver settings → ``NonlinearSpec``
``pk_sections``    parsers of ``[compartments]``, ``[[flows]]``, ``[[routes.ROUTE]]``, plasma
``pk``             ``Model`` and ``parse_model`` (sections, then checks at typical values)
``pd_parts``       PD building blocks: ``Effect``, ``Readout``
``pd_sections``    parsers of ``[effects]``, ``[[readouts]]`` and PD ``[states]``
``enantiomers``    ``[enantiomers]`` of a PD file: concentrations of another ketamine form
``validity``       ``[validity]``: the covariate and concentration ranges a model holds over
``pd``             ``PDModel`` (readout evaluation) and ``parse_pd_model``
``pairing``        PK/PD pairs: errors (other form, no conversion), notes, warnings (sampling)
``library``        where model files live, name → file, ``read_toml``
``load``           ``load_model``: file → ``Model`` or ``PDModel`` by ``[model] kind``
=================  ==========================================================================

Adding a new model-file section
-------------------------------
A new section is accepted only when all of the following hold (as a solver subclass must
implement a fixed list of methods):

1. **Name it.**  Add the section name to ``_SECTIONS`` in :mod:`pkpd.models.pk` and/or
   :mod:`pkpd.models.pd` (otherwise the file is refused with ``unknown section [NAME]``) and
   document its keys, with units, in that module's docstring.
2. **Put the parser in its place.**  A function ``parse_<section>(table, ctx)`` goes in
   :mod:`pkpd.models.pk_sections` (PK only), :mod:`pkpd.models.pd_sections` (PD only) or
   :mod:`pkpd.models.common` (both kinds, called from ``parse_common``); its record types go
   in ``pk_parts``/``pd_parts``; a large section gets its own module under ``pkpd/models/``
   (modules under 400 lines, functions under 80).  ``parse_model``/``parse_pd_model`` call
   it before their first ``col.raise_if_any()``.
3. **Report, never raise.**  Every problem goes through the file's
   :class:`pkpd.errors.Collector`: ``col.add(problem, field)`` with the dotted field
   (``section.NAME.key``, ``section[i].key``), ``col.catch(err)`` for a
   :class:`~pkpd.errors.PkpdError` from a helper, ``unknown key 'k'`` for every key not
   whitelisted (sorted); then go on with the next entry so one run reports all problems.
   Existing messages, their order and the fields they name are public (tests match them).
4. **Accept only whitelisted expressions.**  Every formula goes through
   :func:`pkpd.models.common.checked_expression` (or the ``expression`` method of the
   section context) with the names that section may use; never ``eval``, never
   :func:`pkpd.expr.parse` without the name check.
5. **Carry provenance.**  Numbers with units are ``[parameters.NAME]`` entries referenced by
   name, so each has a unit (converted to mg, L, h), a ``source`` and a ``grade``
   (:data:`pkpd.models.parameters.GRADES`; an ``assumption`` has a ``note`` and a
   ``range``).  A section holding its own numbers loads them with
   :func:`pkpd.models.parameters.load_parameters` under its own ``section`` name.
6. **Return a frozen dataclass.**  The parser returns frozen dataclasses, stored on
   :class:`~pkpd.models.pk.Model` or :class:`~pkpd.models.pd.PDModel` in a typed field
   with a default (empty tuple or None), so files without the section load exactly as
   before.  Values that can only be judged at the typical parameter values are checked
   after the model is built (as ``_check_values`` in :mod:`pkpd.models.pk` does).
7. **Test it.**  A bad-input case in ``tests/test_bad_input.py`` (``pkpd check`` exits 2
   and names the file, the dotted field and the problem, no traceback); the loader fuzz
   tests (``tests/properties/test_fuzz_loaders.py``) still end in ``PkpdError`` only; and a
   library model using the section gets a published-value test in ``tests/models/`` (as
   ``test_perez_ruixo_2021.py`` checks numbers against the paper).
8. **Show it.**  ``pkpd models show NAME`` (:mod:`pkpd.output.library_views`) lists the
   section's contents, so a reader sees what the file says and where it comes from.
"""

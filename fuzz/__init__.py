"""kmem.fuzz — differential fuzzing of model, fastimpl and other allocators against kmem.spec.

- :mod:`kmem.fuzz.machine`: :class:`~kmem.fuzz.machine.DifferentialMachine`, a Hypothesis
  ``RuleBasedStateMachine`` that drives several implementations side by side through the
  page API (good and bad use) and checks every step against the spec and each other;
  subclass it to add implementations.
- :mod:`kmem.fuzz.strategies`: public Hypothesis strategies (``gfp_masks()``,
  ``orders()``, ``machine_configs()``, ``operation_streams()``); never imports numba.
- :mod:`kmem.fuzz.bulk`: the seeded bulk runner (long operation streams, compared after
  every operation; bisection to the first divergence and delta-debugging shrinking).
- :mod:`kmem.fuzz.campaign`: the engine of ``kmem fuzz`` (time-boxed, several workers
  sharing one Hypothesis example database, a regression corpus).
- :mod:`kmem.fuzz.impls`: the implementations under test by name (``model``, ``fast``,
  ``mutant:NAME``, ``module:attr``, or registered extras).
- :mod:`kmem.fuzz.oracle`: :class:`~kmem.fuzz.oracle.ZoneOracle`, a step-by-step oracle
  for any buddy allocator over one zone: feed it every allocation and free the
  allocator makes, and it raises :class:`~kmem.fuzz.oracle.OracleViolation` at the first
  step the spec does not allow.
- :mod:`kmem.fuzz.pytest_plugin`: an opt-in pytest plugin (``-p kmem.fuzz.pytest_plugin``).

Importing this package imports nothing heavy; the sub-modules that need Hypothesis say so.
"""

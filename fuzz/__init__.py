"""kmem.fuzz — checking buddy allocators (the model, fastimpl, third-party ones) against kmem.spec.

- :mod:`kmem.fuzz.oracle`: :class:`~kmem.fuzz.oracle.ZoneOracle`, a step-by-step oracle
  for any buddy allocator over one zone: feed it every allocation and free the
  allocator makes, and it raises :class:`~kmem.fuzz.oracle.OracleViolation` at the first
  step the spec does not allow.
"""

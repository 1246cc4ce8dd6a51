"""``kmem trace``: record a running kernel's kmem tracepoints and check them against the spec.

:mod:`kmem.trace.record` records (perf, or tracefs directly), :mod:`kmem.trace.reader` reads
every supported text format, :mod:`kmem.trace.meta` holds what a check knows of the traced
machine, :mod:`kmem.trace.check` applies the rules and :mod:`kmem.trace.stats` summarises.
"""

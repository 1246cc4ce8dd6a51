"""kmem — a formally checked, executable reference model of Linux physical memory management.

The package root is thin: the work lives in

- :mod:`kmem.spec`      the executable specification (pure; import it as an oracle)
- :mod:`kmem.model`     the reference model with the kernel's page API
- :mod:`kmem.fastimpl`  the fast implementation
- :mod:`kmem.fuzz`      differential fuzzing and the oracle API
- :mod:`kmem.proofs`    z3 and CrossHair proof obligations
"""

__version__ = "0.1.0"

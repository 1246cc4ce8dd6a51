"""kmem.fastimpl — the fast implementation (bitmaps + numba kernels), checked against kmem.spec.

Not built yet: the package exists so that the namespace and the packaging are final.
"""

"""kmem.fuzz — differential fuzzing of model, fastimpl and third-party allocators against kmem.spec.

Not built yet: the package exists so that the namespace and the packaging are final.
"""

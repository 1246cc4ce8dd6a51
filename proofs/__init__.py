"""kmem.proofs — z3 proof obligations and CrossHair contract checks of kmem.spec."""

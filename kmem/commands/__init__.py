"""CLI sub-commands, one module each: ``decode_pf.py`` is ``kmem decode-pf``.

A command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int`` (the exit status). Modules are discovered, not listed.
"""

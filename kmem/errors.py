"""The exception hierarchy (defined in :mod:`kmem.spec.errors`), importable from the root."""

from kmem.spec import errors as _errors

globals().update({k: v for k, v in vars(_errors).items()
                  if isinstance(v, type) and issubclass(v, Exception)})

"""A ``perf script -s`` script (run by perf's embedded Python, not imported by kmem): for
every event with a ``gfp_flags`` field, one line ``<event> <raw mask>`` in the order
``perf script`` prints the events, so that ``kmem trace check`` can check that each raw
mask prints as the event's text (``show_gfp_flags``)."""

from __future__ import annotations

import sys
from typing import Any


def trace_unhandled(event_name: str, context: Any, event_fields_dict: dict[str, Any],
                    perf_sample_dict: Any = None) -> None:
    gfp = event_fields_dict.get("gfp_flags")
    if gfp is not None:
        sys.stdout.write(f"{event_name.split('__', 1)[-1]} {int(gfp)}\n")

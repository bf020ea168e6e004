"""X-Ray subsegments around every storage call ("## Table.get_job", "## ObjectStore.put_bytes", ...).

Powertools' Tracer already records each AWS request (it patches botocore); these name the storage operation that
made them, so a trace reads as the service's own steps. Nothing is captured as metadata: responses hold documents
and records (a subsegment's size is limited), and expected exceptions (a failed condition, a missing object) are
control flow, so unlike ``Tracer.capture_method`` the wrapper logs nothing for them. Where tracing is not active
(the tests, the local stack) the tracer is ``observability.UntracedTracer``, whose subsegments record nothing.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from data_extract.observability import make_tracer

tracer = make_tracer()


def _in_subsegment(method: Callable[..., Any], name: str) -> Callable[..., Any]:
    @functools.wraps(method)
    def traced(*args: Any, **kwargs: Any) -> Any:
        with tracer.provider.in_subsegment(name=name):
            return method(*args, **kwargs)

    return traced


def trace_storage_calls(*classes: type) -> None:
    """Wrap each public method of ``classes`` in a subsegment named after it (once, however often called)."""
    for cls in classes:
        for name, attribute in list(vars(cls).items()):
            if name.startswith("_") or not inspect.isfunction(attribute) or hasattr(attribute, "__wrapped__"):
                continue
            setattr(cls, name, _in_subsegment(attribute, f"## {cls.__name__}.{name}"))

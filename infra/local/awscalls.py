"""Count and time every AWS call a local-stack process makes, by caller, service and operation.

Installed through botocore's event system: each client created after :func:`install` gets a ``before-call`` and an
``after-call`` hook, so the numbers are those of the real calls the functions make (retries inside one call count
once, as one round trip the caller waited for). The caller is read from the thread: the local stack runs each
function's event source mapping in a thread named ``poller-<LogicalId>-<event>``; everything else in the process is
the API. The benchmarks turn it on with ``DATA_EXTRACT_LOCAL_AWS_CALL_LOG=<dir>``: each process of the stack then
writes ``<dir>/aws-calls-<pid>.json`` when it stops.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ENV_VARIABLE = "DATA_EXTRACT_LOCAL_AWS_CALL_LOG"

_lock = threading.Lock()
# (caller, service, operation) -> [calls, seconds]
_calls: defaultdict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0.0])
_original_create_client: Any = None
_started = threading.local()


# What a poller thread calls itself, as Lambda's event source mapping: not the function's calls, not billed to it.
EVENT_SOURCE_MAPPING_OPERATIONS = frozenset({"ReceiveMessage", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"})


def caller_of(thread_name: str, operation: str) -> str:
    """``poller-WorkerFunction-WorkQueue`` -> ``WorkerFunction`` (or its event source mapping); else the API."""
    if thread_name.startswith("poller-"):
        function = thread_name.split("-", 2)[1]
        return f"{function}:EventSourceMapping" if operation in EVENT_SOURCE_MAPPING_OPERATIONS else function
    return "ApiFunction"


def _before_call(model: Any, **_: Any) -> None:
    stack = getattr(_started, "stack", None)
    if stack is None:
        stack = _started.stack = []
    stack.append(time.perf_counter())


def _after_call(model: Any, **_: Any) -> None:
    stack = getattr(_started, "stack", None)
    elapsed = time.perf_counter() - stack.pop() if stack else 0.0
    key = (caller_of(threading.current_thread().name, model.name), model.service_model.service_name, model.name)
    with _lock:
        entry = _calls[key]
        entry[0] += 1
        entry[1] += elapsed


def install() -> None:
    """Hook every botocore client created from now on in this process (idempotent)."""
    global _original_create_client  # noqa: PLW0603 - one process-wide patch of botocore, undone by uninstall()
    if _original_create_client is not None:
        return
    from botocore.client import ClientCreator

    create_client = _original_create_client = ClientCreator.create_client

    def create_counted_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = create_client(self, *args, **kwargs)
        client.meta.events.register("before-call.*.*", _before_call)
        client.meta.events.register("after-call.*.*", _after_call)
        client.meta.events.register("after-call-error.*.*", _after_call)  # a call that raised was waited for too
        return client

    ClientCreator.create_client = create_counted_client  # type: ignore[method-assign]


def uninstall() -> None:
    """Clients created from now on are not counted (those already hooked still are)."""
    global _original_create_client  # noqa: PLW0603 - restores the process-wide patch install() made
    if _original_create_client is None:
        return
    from botocore.client import ClientCreator

    ClientCreator.create_client = _original_create_client  # type: ignore[method-assign]
    _original_create_client = None


def snapshot() -> list[dict[str, Any]]:
    with _lock:
        return [
            {
                "caller": caller,
                "service": service,
                "operation": operation,
                "calls": int(count),
                "ms": round(seconds * 1000, 3),
            }
            for (caller, service, operation), (count, seconds) in sorted(_calls.items())
        ]


def reset() -> None:
    with _lock:
        _calls.clear()


def install_from_environment() -> Path | None:
    """Install when ``DATA_EXTRACT_LOCAL_AWS_CALL_LOG`` names a directory; returns the file to write at exit."""
    directory = os.environ.get(ENV_VARIABLE)
    if not directory:
        return None
    install()
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    return path / f"aws-calls-{os.getpid()}.json"


def write(path: Path) -> None:
    path.write_text(json.dumps({"pid": os.getpid(), "calls": snapshot()}, indent=1), encoding="utf-8")

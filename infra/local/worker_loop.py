"""One more "container" of a queue-triggered function: a process that polls the function's queues and invokes it.

Lambda scales a function by running several containers, each a process with its own interpreter, taking batches
from the same queue. The local stack plays that with ``--worker-loops N``: its own poller thread is the first
container, and N-1 processes started from this module are the others (all N with ``--isolated-workers``); the
stack replaces one that dies (see stack.py). The stack hands each process what it needs
in ``DATA_EXTRACT_LOCAL_LOOP_SPEC`` (JSON: the template, the function, its queues' URLs and ARNs) and the
functions' environment (the endpoint of its moto server among it). SIGTERM or SIGINT stops the process after the
batch in hand, as it stops the stack; so does the stack's exit (its moto server, and so every queue, is gone).

Each invocation is logged as Lambda logs it, between ``START RequestId: ...`` and ``END RequestId: ...`` lines, here
with the process id and the records' message ids and receive counts: which process holds which batch, and which
messages came back after a process died holding them.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

SPEC_VARIABLE = "DATA_EXTRACT_LOCAL_LOOP_SPEC"

log = logging.getLogger("data_extract.local.worker_loop")
# How often the process checks that the stack that started it is still running.
PARENT_CHECK_SECONDS = 1.0


def loop_spec(
    *,
    template_path: Path,
    function_id: str,
    function_name: str,
    queues: dict[str, tuple[str, str]],
    region: str,
    account_id: str,
) -> str:
    """The JSON a loop process reads: ``queues`` maps each SQS event's queue logical id to (url, arn)."""
    return json.dumps(
        {
            "template": str(template_path),
            "function": function_id,
            "function_name": function_name,
            "queues": {name: list(pair) for name, pair in queues.items()},
            "region": region,
            "account_id": account_id,
        }
    )


def logged_invocations(handler: Any) -> Any:
    """The handler, with Lambda's START and END lines around each invocation."""

    def invoke(event: dict[str, Any], context: Any) -> Any:
        records = ", ".join(
            f"{r['messageId']} (receive {r.get('attributes', {}).get('ApproximateReceiveCount', '?')})"
            for r in event.get("Records", [])
        )
        # The process id in the message itself: the handler's JSON log formatter (which these lines go through once
        # it is imported) has no field for it.
        log.info(
            "START RequestId: %s Version: %s Process: %d Records: %s",
            context.aws_request_id,
            context.function_version,
            os.getpid(),
            records,
        )
        started = time.monotonic()
        try:
            return handler(event, context)
        finally:
            log.info(
                "END RequestId: %s Process: %d Duration: %.0f ms",
                context.aws_request_id,
                os.getpid(),
                (time.monotonic() - started) * 1000,
            )

    return invoke


def _stop_when_orphaned(stop: threading.Event, parent: int) -> None:
    while not stop.wait(PARENT_CHECK_SECONDS):
        if os.getppid() != parent:
            log.warning("worker process %d: the local stack (pid %d) is gone; stopping", os.getpid(), parent)
            stop.set()


def main() -> int:
    import boto3

    from infra.local import awscalls
    from infra.local.poller import SqsPoller, import_handler
    from infra.local.template import load_template

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s")
    for noisy in ("botocore", "boto3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    spec: dict[str, Any] = json.loads(os.environ[SPEC_VARIABLE])
    call_log = awscalls.install_from_environment()
    template = load_template(Path(spec["template"]))
    function = template.functions[spec["function"]]
    if function.code_uri:
        sys.path.insert(0, str((template.path.parent / function.code_uri).resolve()))

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=_stop_when_orphaned, args=(stop, os.getppid()), name="parent-watch", daemon=True).start()
    sqs = boto3.session.Session(region_name=spec["region"]).client("sqs")
    pollers = []
    for event in function.sqs_events:
        if not event.enabled:
            continue
        url, arn = spec["queues"][event.queue]
        # The handler is imported now, as Lambda's init phase would.
        poller = SqsPoller(
            sqs,
            function,
            event,
            queue_url=url,
            queue_arn=arn,
            function_name=spec["function_name"],
            stop=stop,
            region=spec["region"],
            account_id=spec["account_id"],
            handler=logged_invocations(import_handler(function.handler)),
        )
        pollers.append(poller)
    for poller in pollers:
        poller.start()
    for poller in pollers:
        while poller.is_alive():
            poller.join(timeout=0.5)
    if call_log is not None:
        awscalls.write(call_log)
    return 0


if __name__ == "__main__":
    sys.exit(main())

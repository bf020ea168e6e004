"""One more "container" of a queue-triggered function: a process that polls the function's queues and invokes it.

Lambda scales a function by running several containers, each a process with its own interpreter, taking batches
from the same queue. The local stack plays that with ``--worker-loops N``: its own poller thread is the first
container, and N-1 processes started from this module are the others. The stack hands each process what it needs
in ``DATA_EXTRACT_LOCAL_LOOP_SPEC`` (JSON: the template, the function, its queues' URLs and ARNs) and the
functions' environment (the endpoint of its moto server among it). SIGTERM or SIGINT stops the process after the
batch in hand, as it stops the stack.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

SPEC_VARIABLE = "DATA_EXTRACT_LOCAL_LOOP_SPEC"

log = logging.getLogger("data_extract.local.worker_loop")


def loop_spec(*, template_path: Path, function_id: str, function_name: str, queues: dict[str, tuple[str, str]],
              region: str, account_id: str) -> str:
    """The JSON a loop process reads: ``queues`` maps each SQS event's queue logical id to (url, arn)."""
    return json.dumps({"template": str(template_path), "function": function_id, "function_name": function_name,
                       "queues": {name: list(pair) for name, pair in queues.items()}, "region": region,
                       "account_id": account_id})


def main() -> int:
    import boto3

    from infra.local import awscalls
    from infra.local.poller import SqsPoller
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
    sqs = boto3.session.Session(region_name=spec["region"]).client("sqs")
    pollers = []
    for event in function.sqs_events:
        if not event.enabled:
            continue
        url, arn = spec["queues"][event.queue]
        poller = SqsPoller(sqs, function, event, queue_url=url, queue_arn=arn, function_name=spec["function_name"],
                           stop=stop, region=spec["region"], account_id=spec["account_id"])
        poller.handler  # noqa: B018 - import the handler now, as Lambda's init phase would
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

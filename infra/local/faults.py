"""Fault injection for the local stack: AWS calls answered with throttling or timing out, on purpose.

    python -m infra.local.stack --fault dynamodb:TransactWriteItems:throttle:3 --fault s3:GetObject:timeout:2

``service:Operation:kind:every``: every ``every``-th HTTP request of that operation made by the functions fails
before it reaches moto: ``throttle`` answers what AWS answers when it throttles (DynamoDB
``ThrottlingException`` 400, S3 ``SlowDown`` 503, SQS ``RequestThrottled`` 400), ``timeout`` raises botocore's
``ReadTimeoutError``. The hooks sit where botocore sends the request (``before-send``), so botocore's own retry
policy (standard mode, five attempts) handles them as it would in AWS, and whatever it gives up on reaches the code
as the error AWS would cause. The counts of injected faults are logged when the stack stops.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("data_extract.local.faults")

_THROTTLE_BODIES = {
    "dynamodb": (
        400,
        {"x-amzn-ErrorType": "ThrottlingException", "Content-Type": "application/x-amz-json-1.0"},
        b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException",'
        b'"message":"Rate of requests exceeds the allowed throughput."}',
    ),
    "s3": (
        503,
        {"Content-Type": "application/xml"},
        b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
    ),
    "sqs": (
        400,
        {"x-amzn-query-error": "RequestThrottled;Sender", "Content-Type": "application/x-amz-json-1.0"},
        b'{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Request is throttled."}',
    ),
}


@dataclass(frozen=True)
class FaultSpec:
    service: str
    operation: str
    kind: str  # throttle | timeout
    every: int

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        try:
            service, operation, kind, every = text.split(":")
            spec = cls(service.lower(), operation, kind, int(every))
        except ValueError:
            raise ValueError(f"--fault {text!r}: expected service:Operation:throttle|timeout:N") from None
        if spec.kind not in ("throttle", "timeout") or spec.every < 1:
            raise ValueError(f"--fault {text!r}: kind must be throttle or timeout, N at least 1")
        if spec.kind == "throttle" and spec.service not in _THROTTLE_BODIES:
            raise ValueError(f"--fault {text!r}: throttling is modelled for {', '.join(_THROTTLE_BODIES)}")
        return spec


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any):
        yield self.data


class FaultInjector:
    def __init__(self, specs: list[FaultSpec]) -> None:
        self.specs = specs
        self.injected: Counter[str] = Counter()
        self._counters = {spec: itertools.count(1) for spec in specs}
        self._lock = threading.Lock()

    def install(self) -> None:
        """Hook the functions' cached clients (data_extract.store.clients), used by every handler of this process."""
        from data_extract.store.clients import client, resource

        for spec in self.specs:
            targets = [client(spec.service)]
            if spec.service == "dynamodb":
                targets.append(resource("dynamodb").meta.client)
            for target in targets:
                event = f"before-send.{target.meta.service_model.service_id.hyphenize()}.{spec.operation}"
                target.meta.events.register(event, self._hook(spec))
        log.warning(
            "fault injection on: %s",
            ", ".join(f"{s.service}:{s.operation} {s.kind} every {s.every}" for s in self.specs),
        )

    def _hook(self, spec: FaultSpec):
        def before_send(request: Any, **_: Any) -> Any:
            with self._lock:
                hit = next(self._counters[spec]) % spec.every == 0
                if hit:
                    self.injected[f"{spec.service}:{spec.operation}:{spec.kind}"] += 1
            if not hit:
                return None
            if spec.kind == "timeout":
                from botocore.exceptions import ReadTimeoutError

                raise ReadTimeoutError(endpoint_url=request.url)
            from botocore.awsrequest import AWSResponse

            status, headers, body = _THROTTLE_BODIES[spec.service]
            return AWSResponse(request.url, status, headers, _Body(body))

        return before_send

    def summary(self) -> str:
        return ", ".join(f"{name}: {count}" for name, count in sorted(self.injected.items())) or "none"

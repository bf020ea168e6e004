"""Lambda's SQS event source mapping, played locally against a real (moto) queue.

For each SQS event of a function in template.yaml, one thread long-polls the queue, gathers a batch the way the
mapping does (up to BatchSize messages within MaximumBatchingWindowInSeconds), builds the SQS event Lambda would
send, calls the handler named by the template's ``Handler`` with a Lambda-like context, and deletes only the
messages that succeeded. Failures are left alone: they reappear after the queue's visibility timeout, and after
maxReceiveCount receives the queue's redrive policy moves them to the dead-letter queue, as in AWS.

Locally each function runs one invocation at a time (one container, so to speak): the extraction libraries are
not thread-safe, and a laptop has few cores. ScalingConfig's MaximumConcurrency is an upper bound in AWS, so this
is a legal schedule, only a slower one.
"""

from __future__ import annotations

import base64
import importlib
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from infra.local.template import FunctionSpec, SqsEventSource

log = logging.getLogger("data_extract.local.poller")

Handler = Callable[[dict[str, Any], Any], Any]

# The system attributes Lambda copies into a record's "attributes".
LAMBDA_RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def import_handler(handler: str) -> Handler:
    """``package.module.function`` (the template's Handler) -> the function."""
    module_name, _, function_name = handler.rpartition(".")
    if not module_name:
        raise ValueError(f"Handler {handler!r} is not module.function")
    return getattr(importlib.import_module(module_name), function_name)


@dataclass
class LambdaContext:
    """The context object Lambda passes to a handler (the attributes Powertools and handlers read)."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: float
    region: str = "us-east-1"
    account_id: str = "123456789012"
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"{time.strftime('%Y/%m/%d')}/[{self.function_version}]local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _record_message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS API message attributes (StringValue, BinaryValue as bytes) -> Lambda's (camelCase, base64 binary)."""
    converted = {}
    for name, attribute in attributes.items():
        binary = attribute.get("BinaryValue")
        converted[name] = {
            "stringValue": attribute.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode("ascii") if binary is not None else None,
            "stringListValues": list(attribute.get("StringListValues", [])),
            "binaryListValues": [base64.b64encode(v).decode("ascii") for v in attribute.get("BinaryListValues", [])],
            "dataType": attribute["DataType"],
        }
    return converted


def sqs_event(messages: Iterable[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """ReceiveMessage results -> the event Lambda's SQS event source mapping delivers."""
    records = []
    for message in messages:
        system = message.get("Attributes", {})
        records.append(
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {name: system[name] for name in LAMBDA_RECORD_ATTRIBUTES if name in system},
                "messageAttributes": _record_message_attributes(message.get("MessageAttributes", {})),
                "md5OfMessageAttributes": message.get("MD5OfMessageAttributes"),
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def failed_message_ids(response: Any, message_ids: list[str], reports_batch_item_failures: bool) -> set[str]:
    """Which messages of a batch Lambda keeps on the queue, given what the handler returned.

    Without ReportBatchItemFailures a returning handler succeeded on the whole batch. With it, Lambda deletes all
    but the listed ``itemIdentifier``s; a null or empty response or list means all succeeded; a response that is
    not an object, or lists an identifier that is empty, missing or not in the batch, fails the whole batch.
    """
    if not reports_batch_item_failures or response is None:
        return set()
    if not isinstance(response, dict):
        return set(message_ids)
    failures = response.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(message_ids)
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in message_ids:
            return set(message_ids)
        failed.add(identifier)
    return failed


@dataclass
class BatchOutcome:
    message_ids: list[str]
    failed: set[str]
    error: str | None = None  # the handler raised or timed out: the whole batch failed


class SqsPoller(threading.Thread):
    """One event source mapping: a thread delivering batches of one queue to one function."""

    def __init__(
        self,
        sqs: Any,
        function: FunctionSpec,
        event: SqsEventSource,
        *,
        queue_url: str,
        queue_arn: str,
        function_name: str,
        stop: threading.Event,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        handler: Handler | None = None,
        long_poll_seconds: int = 1,
    ) -> None:
        super().__init__(name=f"poller-{function.logical_id}-{event.name}", daemon=False)
        self.sqs = sqs
        self.function = function
        self.event = event
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.function_name = function_name
        self.stop = stop
        self.region = region
        self.account_id = account_id
        self._handler = handler
        # Short long-polls keep shutdown prompt; Lambda itself polls with 20 s.
        self.long_poll_seconds = long_poll_seconds
        self.invocations = 0
        self.busy = False  # True while a batch is in the handler

    @property
    def handler(self) -> Handler:
        if self._handler is None:
            self._handler = import_handler(self.function.handler)
        return self._handler

    def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            try:
                self.poll_once()
                backoff = 1.0
            except Exception:
                if self.stop.is_set():
                    break
                log.exception(
                    "%s: polling %s failed; retrying in %.0f s", self.function_name, self.queue_url, backoff
                )
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _receive(self, max_messages: int, wait_seconds: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return response.get("Messages", [])

    def receive_batch(self) -> list[dict[str, Any]]:
        """Up to BatchSize messages: the first long poll, then more until the batching window closes."""
        messages = self._receive(min(self.event.batch_size, 10), self.long_poll_seconds)
        if not messages:
            return []
        window_ends = time.monotonic() + self.event.maximum_batching_window_seconds
        by_id = {m["MessageId"]: m for m in messages}
        while len(by_id) < self.event.batch_size and time.monotonic() < window_ends and not self.stop.is_set():
            more = self._receive(min(self.event.batch_size - len(by_id), 10), 0)
            if more:
                # A message whose visibility timeout ran out while the batch was still gathering comes back: it is
                # one record, under its newest receipt handle (the only one that can still delete it).
                by_id.update((m["MessageId"], m) for m in more)
            else:
                self.stop.wait(min(0.1, max(0.0, window_ends - time.monotonic())))
        return list(by_id.values())

    def poll_once(self) -> BatchOutcome | None:
        """Receive one batch, invoke the function, delete what succeeded. None when the queue was empty."""
        messages = self.receive_batch()
        if not messages:
            return None
        outcome = self.invoke(messages)
        succeeded = [m for m in messages if m["MessageId"] not in outcome.failed]
        self._delete_messages(succeeded)
        if outcome.failed:
            log.warning(
                "%s: %d of %d messages failed%s; they return after the visibility timeout",
                self.function_name,
                len(outcome.failed),
                len(messages),
                f" ({outcome.error})" if outcome.error else "",
            )
        return outcome

    def invoke(self, messages: list[dict[str, Any]]) -> BatchOutcome:
        message_ids = [m["MessageId"] for m in messages]
        event = sqs_event(messages, self.queue_arn, self.region)
        context = LambdaContext(
            function_name=self.function_name,
            memory_limit_in_mb=self.function.memory_mb,
            timeout_seconds=self.function.timeout_seconds,
            region=self.region,
            account_id=self.account_id,
        )
        started = time.monotonic()
        self.invocations += 1
        self.busy = True
        try:
            response = self.handler(event, context)
        except Exception as exc:
            log.error(
                "%s: invocation %s raised:\n%s", self.function_name, context.aws_request_id, traceback.format_exc()
            )
            return BatchOutcome(message_ids, set(message_ids), error=f"{type(exc).__name__}: {exc}")
        finally:
            self.busy = False
        elapsed = time.monotonic() - started
        if elapsed > self.function.timeout_seconds:
            # Lambda would have stopped the invocation: nothing of the batch counts as done.
            log.error(
                "%s: invocation %s ran %.1f s, over its %d s timeout",
                self.function_name,
                context.aws_request_id,
                elapsed,
                self.function.timeout_seconds,
            )
            return BatchOutcome(
                message_ids, set(message_ids), error=f"Task timed out after {self.function.timeout_seconds} seconds"
            )
        return BatchOutcome(
            message_ids, failed_message_ids(response, message_ids, self.event.reports_batch_item_failures)
        )

    def _delete_messages(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            response = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in response.get("Failed", []):
                log.warning(
                    "%s: could not delete message %s: %s",
                    self.function_name,
                    chunk[int(failure["Id"])]["MessageId"],
                    failure.get("Message"),
                )

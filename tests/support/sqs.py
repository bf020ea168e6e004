"""Drive the queues in-process: receive real SQS messages from moto and hand them to the handlers.

Records are built from the received messages in the Lambda SQS event shape (see tests/events/sqs_work_unit.json)
by the same function the local stack uses; only records the handler does not report as failed are deleted.
"""

from __future__ import annotations

from typing import Any

import boto3

from infra.local.poller import sqs_event
from tests.support.lambda_context import LambdaContext


def records_from_messages(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """Received messages as the Lambda SQS event, built exactly as the local stack's poller builds it."""
    return sqs_event(messages, queue_arn, "us-east-1")


class QueuePump:
    def __init__(self, env: dict[str, str]) -> None:
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.env = env
        self.invocations: list[dict[str, Any]] = []

    def _arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def drain(self, queue_url: str, handler: Any, batch_size: int = 10) -> int:
        delivered = 0
        while True:
            resp = self.sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=batch_size,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            messages = resp.get("Messages", [])
            if not messages:
                return delivered
            event = records_from_messages(messages, self._arn(queue_url))
            result = handler(event, LambdaContext())
            self.invocations.append({"event": event, "result": result})
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
            for m in messages:
                if m["MessageId"] not in failed:
                    self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
                else:
                    # Make the failure visible again at once (Lambda would wait for the visibility timeout).
                    self.sqs.change_message_visibility(
                        QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                    )
            delivered += len(messages)
            if failed:
                return delivered

    def run(self, rounds: int = 5) -> None:
        """Dispatch, worker, then finalize, then the semantic stage, until nothing is left to deliver."""
        from data_extract.handlers import finalize, worker

        for _ in range(rounds):
            moved = 0
            dispatch_url = self.env.get("DATA_EXTRACT_DISPATCH_QUEUE_URL")
            if dispatch_url and self.messages_waiting(dispatch_url):
                from data_extract.handlers import dispatch  # a large job's fan-out, slice by slice

                moved += self.drain(dispatch_url, dispatch.lambda_handler, batch_size=1)
            moved += self.drain(self.env["DATA_EXTRACT_WORK_QUEUE_URL"], worker.lambda_handler, batch_size=5)
            moved += self.drain(self.env["DATA_EXTRACT_FINALIZE_QUEUE_URL"], finalize.lambda_handler, batch_size=1)
            semantic_url = self.env.get("DATA_EXTRACT_SEMANTIC_QUEUE_URL")
            if semantic_url and self.messages_waiting(semantic_url):
                from data_extract.handlers import semantic  # the numerical stack, only when a run asks for it

                moved += self.drain(semantic_url, semantic.lambda_handler, batch_size=1)
            if not moved:
                return

    def messages_waiting(self, queue_url: str) -> int:
        attrs = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def as_lambda(handler: Any) -> Any:
    """A handler that raises fails its whole batch, as in Lambda: every record returns to the queue.

    Powertools raises when every record of a batch failed; Lambda then keeps the whole batch, which is what the
    returned item failures tell ``QueuePump.drain``.
    """

    def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return handler(event, context)
        except Exception:
            return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}

    return invoke

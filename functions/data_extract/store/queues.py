"""SQS access: the work queue (one message per file unit), the finalize queue, the notice queue and the semantic
queue."""

from __future__ import annotations

import json
from typing import Any

from data_extract.store.clients import client


class QueueError(Exception):
    """Some messages could not be queued; ``sent`` counts those that were, in order."""

    def __init__(self, message: str, sent: int = 0) -> None:
        super().__init__(message)
        self.sent = sent


class Queues:
    def __init__(
        self,
        work_url: str,
        finalize_url: str,
        work_dlq_url: str = "",
        notify_url: str = "",
        semantic_url: str = "",
        dispatch_url: str = "",
    ) -> None:
        self.work_url = work_url
        self.finalize_url = finalize_url
        self.work_dlq_url = work_dlq_url
        self.notify_url = notify_url
        self.semantic_url = semantic_url
        self.dispatch_url = dispatch_url
        self._sqs = client("sqs")

    def send_work(self, messages: list[dict[str, Any]]) -> None:
        self._send_batch(self.work_url, messages)

    def send_finalize(self, message: dict[str, Any]) -> None:
        self._sqs.send_message(QueueUrl=self.finalize_url, MessageBody=json.dumps(message))

    def send_dispatch(self, message: dict[str, Any]) -> None:
        """One slice of a large job's fan-out, for the dispatch function."""
        if not self.dispatch_url:
            raise QueueError("no dispatch queue is configured (DATA_EXTRACT_DISPATCH_QUEUE_URL)")
        self._sqs.send_message(QueueUrl=self.dispatch_url, MessageBody=json.dumps(message))

    def send_notice(self, message: dict[str, Any], delay_seconds: int = 0) -> None:
        """A job-finished notice for the notifier; a retry waits ``delay_seconds`` (SQS allows up to 900)."""
        self._sqs.send_message(
            QueueUrl=self.notify_url, MessageBody=json.dumps(message), DelaySeconds=max(0, min(900, delay_seconds))
        )

    def send_semantic(self, message: dict[str, Any]) -> None:
        if not self.semantic_url:
            raise QueueError("no semantic queue is configured (DATA_EXTRACT_SEMANTIC_QUEUE_URL)")
        self._sqs.send_message(QueueUrl=self.semantic_url, MessageBody=json.dumps(message))

    def _send_batch(self, url: str, messages: list[dict[str, Any]]) -> None:
        """Send in batches of ten, in order; on failure ``QueueError.sent`` says how many went out first."""
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(i), "MessageBody": json.dumps(m)} for i, m in enumerate(messages[start : start + 10])
            ]
            try:
                resp = self._sqs.send_message_batch(QueueUrl=url, Entries=entries)
                failed = resp.get("Failed") or []
                if failed:
                    # Retry the failed entries once; SQS reports throttling per entry.
                    retry = [e for e in entries if e["Id"] in {f["Id"] for f in failed}]
                    resp = self._sqs.send_message_batch(QueueUrl=url, Entries=retry)
                    if resp.get("Failed"):
                        # Entries of a batch may go out in any combination: count the batch as not sent.
                        raise QueueError(f"{len(resp['Failed'])} messages could not be queued", sent=start)
            except QueueError:
                raise
            except Exception as exc:
                raise QueueError(f"queueing failed: {type(exc).__name__}", sent=start) from exc

    def depth(self, url: str) -> dict[str, int] | None:
        """Approximate message counts, or None when the queue cannot be reached."""
        if not url:
            return None
        try:
            attrs = self._sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
        except Exception:
            return None
        return {
            "visible": int(attrs.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
            "delayed": int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
        }

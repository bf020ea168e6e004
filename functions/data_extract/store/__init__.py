"""The only package that talks to AWS (S3, DynamoDB, SQS, Secrets Manager)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from data_extract.settings import Settings
from data_extract.store.objects import ObjectNotFound, ObjectStore, parse_s3_uri
from data_extract.store.queues import QueueError, Queues
from data_extract.store.tables import ConditionFailed, Table
from data_extract.store.tracing import trace_storage_calls

__all__ = [
    "ConditionFailed",
    "ObjectNotFound",
    "ObjectStore",
    "QueueError",
    "Queues",
    "SecretUnavailable",
    "Store",
    "Table",
    "get_store",
    "open_secret",
    "parse_s3_uri",
    "publish_event",
    "read_secret",
    "seal_secret",
]

trace_storage_calls(Table, ObjectStore, Queues)


@dataclass
class Store:
    table: Table
    objects: ObjectStore
    queues: Queues

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(
            table=Table(settings.table_name, settings.retention_days),
            objects=ObjectStore(settings.bucket_name),
            queues=Queues(
                settings.work_queue_url,
                settings.finalize_queue_url,
                settings.work_dlq_url,
                notify_url=settings.notify_queue_url,
                semantic_url=settings.semantic_queue_url,
                dispatch_url=settings.dispatch_queue_url,
            ),
        )


@lru_cache(maxsize=1)
def get_store() -> Store:
    """The process-wide store (warm invocations reuse its clients)."""
    from data_extract.settings import get_settings

    return Store.from_settings(get_settings())


class SecretUnavailable(Exception):
    """A job secret cannot be sealed or opened (no key configured, or KMS refused)."""


def seal_secret(key_id: str, plaintext: str, context: str) -> str:
    """Encrypt a job secret with the stack's KMS key, bound to ``context`` (the job id)."""
    import base64

    from data_extract.store.clients import client

    if not key_id:
        raise SecretUnavailable("no KMS key is configured for job secrets (DATA_EXTRACT_SECRETS_KEY_ID)")
    blob = client("kms").encrypt(
        KeyId=key_id, Plaintext=plaintext.encode("utf-8"), EncryptionContext={"job_id": context}
    )["CiphertextBlob"]
    return base64.b64encode(blob).decode("ascii")


def open_secret(sealed: str, context: str) -> str:
    """Decrypt what ``seal_secret`` produced for the same ``context``."""
    import base64

    from data_extract.store.clients import client

    try:
        plain = client("kms").decrypt(CiphertextBlob=base64.b64decode(sealed), EncryptionContext={"job_id": context})[
            "Plaintext"
        ]
    except Exception as exc:
        raise SecretUnavailable(f"the job's document password could not be decrypted: {type(exc).__name__}") from exc
    text: str = plain.decode("utf-8")
    return text


def read_secret(secret_id: str) -> str:
    """The string value of a Secrets Manager secret (the API key when configured that way)."""
    from data_extract.store.clients import client

    value: str = client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    return value.strip()


def publish_event(
    bus_name: str, source: str, detail_type: str, detail: Mapping[str, Any], resources: list[str] | None = None
) -> None:
    """Put one event on an EventBridge bus; raises when EventBridge refuses it (the caller's message is retried)."""
    import json

    from data_extract.store.clients import client

    entry = {
        "EventBusName": bus_name,
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, separators=(",", ":")),
        "Resources": resources or [],
    }
    response = client("events").put_events(Entries=[entry])
    if response.get("FailedEntryCount"):
        failed = response["Entries"][0]
        raise RuntimeError(f"EventBridge refused the event: {failed.get('ErrorCode')} {failed.get('ErrorMessage')}")

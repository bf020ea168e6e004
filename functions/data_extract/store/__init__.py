"""The only package that talks to AWS (S3, DynamoDB, SQS, Secrets Manager)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from data_extract.settings import Settings
from data_extract.store.objects import ObjectNotFound, ObjectStore, parse_s3_uri
from data_extract.store.queues import Queues, QueueError
from data_extract.store.tables import ConditionFailed, Table

__all__ = ["ConditionFailed", "ObjectNotFound", "ObjectStore", "QueueError", "Queues", "Store", "Table", "get_store",
           "parse_s3_uri", "read_secret"]


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
            queues=Queues(settings.work_queue_url, settings.finalize_queue_url, settings.work_dlq_url),
        )


@lru_cache(maxsize=1)
def get_store() -> Store:
    """The process-wide store (warm invocations reuse its clients)."""
    from data_extract.settings import get_settings

    return Store.from_settings(get_settings())


def read_secret(secret_id: str) -> str:
    """The string value of a Secrets Manager secret (the API key when configured that way)."""
    from data_extract.store.clients import client

    return client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"].strip()

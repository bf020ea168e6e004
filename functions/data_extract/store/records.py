"""Chunk records (gzip JSON, one per processed file) and semantic outcome records, kept in S3."""

from __future__ import annotations

import gzip
import json
from typing import Any

from data_extract.store.objects import ObjectStore


def put_chunk_record(objects: ObjectStore, key: str, record: dict[str, Any]) -> None:
    # Level 6: chunk text compresses ~4x; higher levels cost the worker time for a few per cent.
    body = gzip.compress(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), 6)
    objects.put_bytes(key, body, "application/json")


def get_chunk_record(objects: ObjectStore, key: str) -> dict[str, Any]:
    """Raises ObjectNotFound when the file has no chunk record."""
    record: dict[str, Any] = json.loads(gzip.decompress(objects.get_bytes(key)))
    return record

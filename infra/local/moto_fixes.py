"""DynamoDB transactions in moto server, made as safe as DynamoDB's under the local stack's concurrency.

moto's ``transact_write_items`` snapshots every table it touches with ``copy.deepcopy`` and, when the transaction
is cancelled (a condition failed: routine for duplicate deliveries), puts the snapshot back as the whole table.
Served by a threaded moto server with the API and the pollers writing at once, that

- loses writes: anything another request wrote to the table between snapshot and rollback disappears;
- fails requests: the deep copy iterates over the table while another thread inserts ("dictionary changed size
  during iteration", answered as HTTP 500);
- costs time linear in the table: every transaction copies every item, so a stack holding a few thousand records
  slows to seconds per transaction.

The fix keeps moto's logic and changes only its rollback: the items a transaction names are saved (deep copies of
those items only) and restored if it fails, and DynamoDB writes (and the queries and scans that iterate over the
table) are serialized so nothing interleaves with a transaction, as DynamoDB guarantees. Installed by the local
stack before moto starts.
"""

from __future__ import annotations

import copy
import functools
import sys
import threading
from typing import Any

_WRITE_LOCK = threading.RLock()


class _CopyKeepingTables:
    """``copy`` for moto.dynamodb.models: the table snapshot becomes the table itself (rollback is per item)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _key_of(table: Any, attributes: dict[str, Any]) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = DynamoType(attributes[table.hash_key_attr])
    range_value = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
    return hash_value, range_value


def _restore(table: Any, hash_value: Any, range_value: Any, item: Any) -> None:
    if range_value is not None:
        if item is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items[hash_value][range_value] = item
    elif item is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = item


def install() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_item_level_rollback", False):
        return
    sys.modules["moto.dynamodb.models"].copy = _CopyKeepingTables()  # type: ignore[attr-defined]
    original = DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _WRITE_LOCK:
            saved = []
            for entry in transact_items:
                _, operation = next(iter(entry.items()))
                table = self.tables.get(operation.get("TableName"))
                attributes = operation.get("Item") or operation.get("Key")
                if table is None or not attributes:
                    continue
                hash_value, range_value = _key_of(table, attributes)
                saved.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
            try:
                return original(self, transact_items)
            except Exception:
                for table, hash_value, range_value, item in reversed(saved):
                    _restore(table, hash_value, range_value, item)
                raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    # Index queries and scans iterate over every item: a write landing meanwhile breaks the iteration too.
    for name in ("put_item", "update_item", "delete_item", "batch_write_item", "query", "scan"):
        write = getattr(DynamoDBBackend, name, None)
        if write is not None:
            setattr(DynamoDBBackend, name, _serialized(write))
    DynamoDBBackend._item_level_rollback = True  # type: ignore[attr-defined]


def _serialized(write: Any) -> Any:
    @functools.wraps(write)
    def serialized(*args: Any, **kwargs: Any) -> Any:
        with _WRITE_LOCK:
            return write(*args, **kwargs)

    return serialized

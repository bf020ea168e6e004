"""DynamoDB access: one table, one item type per record, each written in one place.

Keys (single-table design):

=================  =======================  ======================  ==========================
record             PK                       SK                      GSI1 (PK / SK)
=================  =======================  ======================  ==========================
job                JOB#<job_id>             JOB                     JOBS / <created_at>#<id>
                                                                  GSI2: ACTIVE / <last progress>#<id>
file unit          JOB#<job_id>             FILE#<unit_id>
page range         JOB#<job_id>             PART#<unit_id>#<first page>
event              JOB#<job_id>             EVENT#<ns>#<n>
run                JOB#<job_id>             RUN#<nnn>
run done counter   JOB#<job_id>             RUN#<nnn>#DONE#<kk>
session            SESSION#<session_id>     SESSION                 SESSIONS / <updated_at>#<id>
idempotency key    IDEMPOTENCY#<key>        IDEMPOTENCY
setting            SETTING#<name>           SETTING
login session      LOGIN#<sid>              LOGIN
worker readiness   HEALTH#worker            HEALTH
source             SOURCE#<digest>          SOURCE
source file state  SOURCE#<digest>          PATH#<rel_path>
source job         SOURCE#<digest>          JOB#<created_at>#<id>
=================  =======================  ======================  ==========================

A source (the S3 location of an ``input_path`` job, or an upload label) keeps, per relative path, the content
hash and the job/output holding its current result (incremental runs), and the jobs that ran over it (resume).
Its ``SOURCE`` item carries the commit lock that serializes incremental runs' state commits.

A run's done counter is split over ``counter_shards`` shard items (a setting, kept on the run record so a run keeps
its own count): a unit's result adds one to the shard its unit id hashes to, and the run is complete when its base
``done_units`` (files done at submit) plus every shard reaches ``total_units``, read with one strongly consistent
Query over the run's prefix. A run without ``counter_shards`` counts on its own item.

Every item carries ``expires_at`` (epoch seconds) for the table's TTL. GSI2 is sparse: a job is in it while it is not
terminal, keyed by when it last showed progress, so the sweeper finds stuck jobs with a query, never a scan.
"""

from __future__ import annotations

import contextlib
import secrets
import time
import zlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from data_extract.store.clients import client, resource


class ConditionFailed(Exception):
    """A conditional write lost: the record is not in the state the caller expected."""


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; the rest of the code wants int/float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _plain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in item.items()}


def _dynamo(value: Any) -> Any:
    """Floats must be Decimal for DynamoDB."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dynamo(v) for v in value]
    return value


def job_pk(job_id: str) -> str:
    return f"JOB#{job_id}"


def run_sk(run: int) -> str:
    return f"RUN#{run:03d}"


def file_sk(unit_id: str) -> str:
    return f"FILE#{unit_id}"


def done_shard_sk(run: int, shard: int) -> str:
    return f"{run_sk(run)}#DONE#{shard:02d}"


def counter_shard(unit_id: str, shards: int) -> int:
    """The done-counter shard a unit adds to: a stable hash of its id, so its retries land on the same shard."""
    return zlib.crc32(unit_id.encode()) % shards


def set_clause(fields: dict[str, Any], tag: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``#<tag>0 = :<tag>0, ...`` for a SET expression, with its attribute names and (DynamoDB-typed) values."""
    names = {f"#{tag}{i}": k for i, k in enumerate(fields)}
    values = {f":{tag}{i}": _dynamo(v) for i, v in enumerate(fields.values())}
    return ", ".join(f"#{tag}{i} = :{tag}{i}" for i in range(len(fields))), names, values


def _is_condition_failure(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = exc.response.get("CancellationReasons") or []
        if not reasons:
            return "ConditionalCheckFailed" in str(exc)
        return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)
    return False


class Table:
    """Typed access to the service table. Methods are named after what they record."""

    def __init__(self, name: str, retention_days: int = 30) -> None:
        self.name = name
        self.retention_seconds = retention_days * 86400
        self._table = resource("dynamodb").Table(name)
        self._client = client("dynamodb")
        self._shard_counts: dict[tuple[str, int], int] = {}

    def expiry(self, seconds: int | None = None) -> int:
        return int(time.time()) + (seconds if seconds is not None else self.retention_seconds)

    # ------------------------------------------------------------------ generic
    def _get(self, pk: str, sk: str, consistent: bool = True) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"PK": pk, "SK": sk}, ConsistentRead=consistent).get("Item")
        return _plain(item) if item else None

    def _query_all(
        self,
        pk: str,
        sk_prefix: str,
        *,
        limit: int | None = None,
        forward: bool = True,
        projection: str | None = None,
        names: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("PK").eq(pk) & Key("SK").begins_with(sk_prefix),
            "ScanIndexForward": forward,
            "ConsistentRead": True,
        }
        if projection:
            kwargs["ProjectionExpression"] = projection
            if names:
                kwargs["ExpressionAttributeNames"] = names
        while True:
            if limit is not None:
                kwargs["Limit"] = min(1000, limit - len(items))
            resp = self._table.query(**kwargs)
            items.extend(_plain(i) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp or (limit is not None and len(items) >= limit):
                return items
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def _update(self, pk: str, sk: str, **kwargs: Any) -> dict[str, Any]:
        try:
            resp = self._table.update_item(Key={"PK": pk, "SK": sk}, ReturnValues="ALL_NEW", **kwargs)
        except ClientError as exc:
            if _is_condition_failure(exc):
                raise ConditionFailed(f"{pk}/{sk}") from None
            raise
        return _plain_item(resp.get("Attributes", {}))

    def transact(self, items: list[dict[str, Any]]) -> None:
        """All-or-nothing write of several records (low-level transact items with typed values)."""
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if _is_condition_failure(exc):
                raise ConditionFailed("transaction condition failed") from None
            raise

    def reachable(self) -> bool:
        try:
            self._client.describe_table(TableName=self.name)
            return True
        except Exception:
            return False

    # ------------------------------------------------------------------ serialisation helpers
    @staticmethod
    def _ser(item: dict[str, Any]) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeSerializer

        s = TypeSerializer()
        return {k: s.serialize(_dynamo(v)) for k, v in item.items() if v is not None}

    @staticmethod
    def _ser_values(values: dict[str, Any]) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeSerializer

        s = TypeSerializer()
        return {k: s.serialize(_dynamo(v)) for k, v in values.items()}

    # ------------------------------------------------------------------ jobs
    def create_job(
        self,
        job: Mapping[str, Any],
        units: Sequence[Mapping[str, Any]],
        run: Mapping[str, Any],
        event: Mapping[str, Any],
    ) -> None:
        """Write a new job with its file units, first run and 'queued' event."""
        job_id = job["job_id"]
        expires = self.expiry()
        job_item = {
            **job,
            "PK": job_pk(job_id),
            "SK": "JOB",
            "GSI1PK": "JOBS",
            "GSI1SK": f"{job['created_at']}#{job_id}",
            **self._active_keys(job_id, job["created_at"]),
            "expires_at": expires,
        }
        try:
            self._table.put_item(Item=_dynamo(job_item), ConditionExpression="attribute_not_exists(PK)")
        except ClientError as exc:
            if _is_condition_failure(exc):
                raise ConditionFailed(f"job {job_id} exists") from None
            raise
        with self._table.batch_writer() as batch:
            for unit in units:
                batch.put_item(
                    Item=_dynamo(
                        {**unit, "PK": job_pk(job_id), "SK": file_sk(unit["unit_id"]), "expires_at": expires}
                    )
                )
            batch.put_item(
                Item=_dynamo({**run, "PK": job_pk(job_id), "SK": run_sk(run["run"]), "expires_at": expires})
            )
        self.add_event(job_id, **event)

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        return self._get(job_pk(job_id), "JOB")

    def get_job_status(self, job_id: str) -> str | None:
        """Only the status (one small consistent read): what a worker checks at a stage boundary."""
        item = self._table.get_item(
            Key={"PK": job_pk(job_id), "SK": "JOB"},
            ConsistentRead=True,
            ProjectionExpression="#s",
            ExpressionAttributeNames={"#s": "status"},
        ).get("Item")
        return item.get("status") if item else None

    # ------------------------------------------------------------------ cancel and sweep (GSI2: active jobs)
    @staticmethod
    def _active_keys(job_id: str, progress_at: str) -> dict[str, str]:
        return {"GSI2PK": "ACTIVE", "GSI2SK": f"{progress_at}#{job_id}"}

    def request_cancel(self, job_id: str, run: int, now: str) -> bool:
        """queued/running -> cancelling, with its event; False when the job was not queued or running."""
        try:
            self.transact(
                [
                    {
                        "Update": {
                            "TableName": self.name,
                            "Key": self._ser({"PK": job_pk(job_id), "SK": "JOB"}),
                            "UpdateExpression": "SET #s = :cancelling, cancel_requested_at = :now, updated_at = :now",
                            "ConditionExpression": "#s IN (:queued, :running)",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": self._ser_values(
                                {":cancelling": "cancelling", ":queued": "queued", ":running": "running", ":now": now}
                            ),
                        }
                    },
                    self._event_put(
                        job_id,
                        "cancelling",
                        "Cancellation requested: queued files are skipped, running "
                        "ones stop at their next stage boundary",
                        {"run": run},
                        now,
                    ),
                ]
            )
            return True
        except ConditionFailed:
            return False

    def list_stalled_jobs(self, progress_before: str, limit: int) -> list[str]:
        """Ids of active jobs whose last progress is older than ``progress_before`` (oldest first), via GSI2."""
        ids: list[str] = []
        kwargs: dict[str, Any] = {
            "IndexName": "GSI2",
            "ProjectionExpression": "PK",
            "KeyConditionExpression": Key("GSI2PK").eq("ACTIVE") & Key("GSI2SK").lt(progress_before),
        }
        while len(ids) < limit:
            kwargs["Limit"] = min(1000, limit - len(ids))
            resp = self._table.query(**kwargs)
            ids.extend(i["PK"].removeprefix("JOB#") for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return ids

    def record_progress(self, job_id: str, now: str) -> None:
        """The sweeper saw the job move (or fixed it): look again one grace period from now."""
        with contextlib.suppress(ConditionFailed):  # it ended meanwhile and left the index
            self._update(
                job_pk(job_id),
                "JOB",
                UpdateExpression="SET GSI2SK = :k",
                ConditionExpression="attribute_exists(GSI2PK)",
                ExpressionAttributeValues={":k": self._active_keys(job_id, now)["GSI2SK"]},
            )

    def leave_active_index(self, job_id: str) -> None:
        self._update(job_pk(job_id), "JOB", UpdateExpression="REMOVE GSI2PK, GSI2SK")

    def mark_notice_queued(self, job_id: str, run: int) -> None:
        self._update(
            job_pk(job_id),
            "JOB",
            UpdateExpression="SET notice_state = :queued",
            ConditionExpression="current_run = :run",
            ExpressionAttributeValues={":queued": "queued", ":run": run},
        )

    def _query_index(self, partition: str, limit: int, offset: int) -> list[dict[str, Any]]:
        """A page of GSI1 (newest first): jobs by creation time, sessions by update time."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "IndexName": "GSI1",
            "KeyConditionExpression": Key("GSI1PK").eq(partition),
            "ScanIndexForward": False,
        }
        wanted = offset + limit
        while len(items) < wanted:
            kwargs["Limit"] = min(1000, wanted - len(items))
            resp = self._table.query(**kwargs)
            items.extend(_plain(i) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return items[offset:wanted]

    def list_jobs(self, limit: int, offset: int) -> list[dict[str, Any]]:
        return self._query_index("JOBS", limit, offset)

    def update_job(
        self,
        job_id: str,
        fields: dict[str, Any],
        *,
        condition: str | None = None,
        condition_values: dict[str, Any] | None = None,
        remove: list[str] | None = None,
        extra_names: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        clause, names, values = set_clause(fields, "f")
        names |= extra_names or {}
        expr = "SET " + clause
        if remove:
            for j, k in enumerate(remove):
                names[f"#r{j}"] = k
            expr += " REMOVE " + ", ".join(f"#r{j}" for j in range(len(remove)))
        kwargs: dict[str, Any] = {
            "UpdateExpression": expr,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        cond = "attribute_exists(PK)" + (f" AND ({condition})" if condition else "")
        kwargs["ConditionExpression"] = cond
        if condition_values:
            values.update({k: _dynamo(v) for k, v in condition_values.items()})
        return self._update(job_pk(job_id), "JOB", **kwargs)

    def mark_job_running(self, job_id: str, run: int, started_at: str) -> bool:
        """queued -> running for the given run; True when this call made the transition."""
        try:
            self.transact(
                [
                    {
                        "Update": {
                            "TableName": self.name,
                            "Key": self._ser({"PK": job_pk(job_id), "SK": "JOB"}),
                            "UpdateExpression": "SET #s = :running, started_at = if_not_exists(started_at, :now), "
                            "dispatch_state = :running, updated_at = :now",
                            "ConditionExpression": "#s = :queued AND current_run = :run",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": self._ser_values(
                                {":running": "running", ":queued": "queued", ":now": started_at, ":run": run}
                            ),
                        }
                    },
                    self._event_put(job_id, "running", "Job is running", {"run": run}, started_at),
                ]
            )
            return True
        except ConditionFailed:
            return False

    # ------------------------------------------------------------------ file units
    def get_unit(self, job_id: str, unit_id: str) -> dict[str, Any] | None:
        return self._get(job_pk(job_id), file_sk(unit_id))

    def list_units(self, job_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        return self._query_all(job_pk(job_id), "FILE#", limit=limit)

    def add_units(self, job_id: str, units: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create a slice of a job's file units, each only if it does not exist yet (a fan-out that resumes after a
        crash never writes a unit twice). Returns the units still waiting to be queued: the queued ones created
        now, and those that already existed and are still queued in their run."""
        expires = self.expiry()
        waiting: list[dict[str, Any]] = []
        for start in range(0, len(units), 100):  # a transaction holds at most 100 items
            part = units[start : start + 100]
            puts = [
                {
                    "Put": {
                        "TableName": self.name,
                        "Item": self._ser(
                            {**u, "PK": job_pk(job_id), "SK": file_sk(u["unit_id"]), "expires_at": expires}
                        ),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
                for u in part
            ]
            try:
                self.transact(puts)
                waiting.extend(u for u in part if u["status"] == "queued")
            except ConditionFailed:  # a resumed slice: some of these exist, create the others one by one
                waiting.extend(self._add_missing_units(job_id, part, [p["Put"] for p in puts]))
        return waiting

    def _add_missing_units(
        self, job_id: str, units: list[dict[str, Any]], puts: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        waiting: list[dict[str, Any]] = []
        for unit, put in zip(units, puts, strict=True):
            try:
                self._client.put_item(**put)
                current: dict[str, Any] | None = unit
            except ClientError as exc:
                if not _is_condition_failure(exc):
                    raise
                current = self.get_unit(job_id, unit["unit_id"])
            if current is not None and current["status"] == "queued" and current["run"] == unit["run"]:
                waiting.append(unit)
        return waiting

    def claim_unit(self, job_id: str, unit_id: str, run: int, now: str) -> dict[str, Any] | None:
        """Mark the unit running for this run and return it, in one round trip; None when it is not this run's to
        process (unknown, moved to a later run, or already holding its result)."""
        return self._claim(job_id, file_sk(unit_id), run, now)

    def _claim(self, job_id: str, sk: str, run: int, now: str) -> dict[str, Any] | None:
        """The conditional claim of a file unit or of one page range of a split unit."""
        try:
            return self._update(
                job_pk(job_id),
                sk,
                UpdateExpression="SET #s = :running, updated_at = :now ADD attempts :one",
                ConditionExpression="attribute_exists(PK) AND run = :run AND #s IN (:queued, :running)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":running": "running",
                    ":queued": "queued",
                    ":now": now,
                    ":run": run,
                    ":one": 1,
                },
            )
        except ConditionFailed:
            return None

    def record_unit_result(
        self,
        job_id: str,
        unit_id: str,
        run: int,
        result: dict[str, Any],
        event: tuple[str, str, dict[str, Any]],
        now: str,
        *,
        from_statuses: tuple[str, ...] = ("queued", "running"),
        seen_updated_at: str | None = None,
    ) -> bool:
        """Atomically: set the unit's terminal result, count it done for its run, and log the event.

        Returns False when the unit already had a terminal result for this run
        (a redelivered message): nothing is written twice. ``from_statuses`` narrows which states may end
        (cancel skips queued units only); ``seen_updated_at`` requires the unit unchanged since it was read.
        """
        status_values = [f":from{i}" for i in range(len(from_statuses))]
        values: dict[str, Any] = {":run": run, **dict(zip(status_values, from_statuses, strict=True))}
        condition = f"run = :run AND #s IN ({', '.join(status_values)})"
        if seen_updated_at is not None:
            condition += " AND updated_at = :seen"
            values[":seen"] = seen_updated_at
        event_type, message, payload = event
        try:
            self.transact(
                [
                    self._result_update(job_id, file_sk(unit_id), result, now, condition, values),
                    self._count_done(job_id, unit_id, run),
                    self._event_put(job_id, event_type, message, payload, now),
                ]
            )
            return True
        except ConditionFailed:
            return False

    def _result_update(
        self, job_id: str, sk: str, result: dict[str, Any], now: str, condition: str, values: dict[str, Any]
    ) -> dict[str, Any]:
        """A result transaction's write of a unit or page range: ``updated_at`` and the result's fields, under
        ``condition`` (which names the status as ``#s``) with its ``values``."""
        clause, names, typed = set_clause(result, "r")
        return {
            "Update": {
                "TableName": self.name,
                "Key": self._ser({"PK": job_pk(job_id), "SK": sk}),
                "UpdateExpression": "SET updated_at = :now" + (", " + clause if clause else ""),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {**names, "#s": "status"},
                "ExpressionAttributeValues": self._ser_values({**typed, ":now": now, **values}),
            }
        }

    def _count_done(self, job_id: str, unit_id: str, run: int) -> dict[str, Any]:
        """The result transaction's counter write: one more done unit on the unit's shard of the run's counter.

        The shard item is created by its first ADD (the unit's own condition already proves the run exists).
        """
        shards = self._counter_shards(job_id, run)
        if not shards:  # a run recorded before its counter was sharded counts on its own item
            return {
                "Update": {
                    "TableName": self.name,
                    "Key": self._ser({"PK": job_pk(job_id), "SK": run_sk(run)}),
                    "UpdateExpression": "ADD done_units :one",
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeValues": self._ser_values({":one": 1}),
                }
            }
        shard_sk = done_shard_sk(run, counter_shard(unit_id, shards))
        return {
            "Update": {
                "TableName": self.name,
                "Key": self._ser({"PK": job_pk(job_id), "SK": shard_sk}),
                "UpdateExpression": "SET expires_at = if_not_exists(expires_at, :exp) ADD done_units :one",
                "ExpressionAttributeValues": self._ser_values({":one": 1, ":exp": self.expiry()}),
            }
        }

    def _counter_shards(self, job_id: str, run: int) -> int:
        """The run's shard count (0: unsharded). Fixed when the run is written, so each container reads it once
        per run (a small consistent GetItem) and every later unit result of that run costs no extra call."""
        key = (job_id, run)
        if key not in self._shard_counts:
            item = self._table.get_item(
                Key={"PK": job_pk(job_id), "SK": run_sk(run)},
                ConsistentRead=True,
                ProjectionExpression="counter_shards",
            ).get("Item")
            if item is None:
                return 0  # no run: the unsharded write's condition refuses it, as before
            self._remember_shards(job_id, run, int(item.get("counter_shards", 0)))
        return self._shard_counts[key]

    def _remember_shards(self, job_id: str, run: int, shards: int) -> None:
        if len(self._shard_counts) >= 4096:  # a long-lived container sees many runs: keep the memory bounded
            self._shard_counts.clear()
        self._shard_counts[(job_id, run)] = shards

    # ------------------------------------------------------------------ page ranges of a split file
    @staticmethod
    def _range_sk(unit_id: str, first_page: int) -> str:
        return f"PART#{unit_id}#{first_page:06d}"

    def split_unit(
        self, job_id: str, unit_id: str, run: int, fields: dict[str, Any], ranges: list[dict[str, Any]], now: str
    ) -> bool:
        """Atomically: mark the running unit split for this run, write its page-range units, and raise the run's
        expected unit count by ``len(ranges) - 1`` (the ranges stand for the unit), so the run cannot be seen
        complete before the ranges are counted. False when the unit was already split for this run (a
        redelivery) or is no longer running. At most 97 ranges: DynamoDB's 100 items per transaction."""
        clause, names, values = set_clause(fields, "p")
        names["#s"] = "status"
        values |= {":run": run, ":running": "running", ":n": len(ranges), ":now": now}
        sets = ["split_run = :run", "range_count = :n", "updated_at = :now", *([clause] if clause else [])]
        pk, expiry = job_pk(job_id), self.expiry()
        parts = [
            {
                "Put": {
                    "TableName": self.name,
                    "Item": self._ser(
                        {**r, "PK": pk, "SK": self._range_sk(unit_id, r["first_page"]), "expires_at": expiry}
                    ),
                    "ConditionExpression": "attribute_not_exists(PK) OR run < :run",
                    "ExpressionAttributeValues": self._ser_values({":run": run}),
                }
            }
            for r in ranges
        ]
        unit_update = {
            "TableName": self.name,
            "Key": self._ser({"PK": job_pk(job_id), "SK": file_sk(unit_id)}),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": "run = :run AND #s = :running AND (attribute_not_exists(split_run) OR "
            "split_run <> :run)",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": self._ser_values(values),
        }
        run_update = {
            "TableName": self.name,
            "Key": self._ser({"PK": job_pk(job_id), "SK": run_sk(run)}),
            "UpdateExpression": "ADD total_units :extra",
            "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(finalize_state)",
            "ExpressionAttributeValues": self._ser_values({":extra": len(ranges) - 1}),
        }
        try:
            self.transact([{"Update": unit_update}, *parts, {"Update": run_update}])
            return True
        except ConditionFailed:
            return False

    def list_unit_ranges(self, job_id: str, unit_id: str) -> list[dict[str, Any]]:
        return self._query_all(job_pk(job_id), f"PART#{unit_id}#")

    def claim_range(self, job_id: str, unit_id: str, first_page: int, run: int, now: str) -> dict[str, Any] | None:
        """``claim_unit`` for one page range of a split unit."""
        return self._claim(job_id, self._range_sk(unit_id, first_page), run, now)

    def record_range_result(
        self, job_id: str, unit_id: str, first_page: int, run: int, result: dict[str, Any], now: str
    ) -> bool:
        """Atomically: a page range's terminal result and one more unit done for its run (as ``record_unit_result``
        counts a unit). False when the range already had its result for this run."""
        condition = "run = :run AND #s IN (:queued, :running)"
        values = {":run": run, ":queued": "queued", ":running": "running"}
        try:
            self.transact(
                [
                    self._result_update(job_id, self._range_sk(unit_id, first_page), result, now, condition, values),
                    # Counted like a unit, on the shard its own id picks.
                    self._count_done(job_id, f"{unit_id}#{first_page}", run),
                ]
            )
            return True
        except ConditionFailed:
            return False

    def record_split_result(
        self,
        job_id: str,
        unit_id: str,
        run: int,
        result: dict[str, Any],
        event: tuple[str, str, dict[str, Any]],
        now: str,
    ) -> bool:
        """The merged result of a split unit and its file event (finalize). Not counted again: its ranges were.
        False when the unit already has its result for this run."""
        condition = "run = :run AND #s = :running AND split_run = :run"
        event_type, message, payload = event
        try:
            self.transact(
                [
                    self._result_update(
                        job_id, file_sk(unit_id), result, now, condition, {":run": run, ":running": "running"}
                    ),
                    self._event_put(job_id, event_type, message, payload, now),
                ]
            )
            return True
        except ConditionFailed:
            return False

    def requeue_units(self, job_id: str, units: list[dict[str, Any]], new_run: int, now: str) -> None:
        """Move failed units into a new run (retry), one conditional write each."""
        for unit in units:
            self._update(
                job_pk(job_id),
                file_sk(unit["unit_id"]),
                UpdateExpression="SET #s = :queued, run = :new_run, updated_at = :now, retry_count = :rc, "
                "expires_at = :exp REMOVE error_type, error_message, output_path, output_files",
                ConditionExpression="(#s = :failed OR (#s = :skipped AND error_type = :halted)) AND run = :old_run",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":queued": "queued",
                    ":failed": "failed",
                    ":skipped": "skipped",
                    ":halted": "halted",
                    ":new_run": new_run,
                    ":old_run": unit["run"],
                    ":now": now,
                    ":rc": int(unit.get("retry_count", 0)) + 1,
                    ":exp": self.expiry(),
                },
            )

    # ------------------------------------------------------------------ runs
    def get_run(self, job_id: str, run: int) -> dict[str, Any] | None:
        """The run record with ``done_units`` summed over its counter shards: one strongly consistent Query over
        the run's prefix returns the record and every shard (a few small items, one page)."""
        base = run_sk(run)
        run_item: dict[str, Any] | None = None
        shard_done = 0
        for item in self._query_all(job_pk(job_id), base):
            if item["SK"] == base:
                run_item = item
            elif item["SK"].startswith(base + "#DONE#"):  # RUN#100 is also a prefix of RUN#1000: match exactly
                shard_done += int(item.get("done_units", 0))
        if run_item is None:
            return None
        self._remember_shards(job_id, run, int(run_item.get("counter_shards", 0)))
        run_item["done_units"] = int(run_item.get("done_units", 0)) + shard_done
        return run_item

    def start_retry_run(self, job_id: str, previous_run: int, run: dict[str, Any], now: str) -> None:
        """Open a new run and point the job at it; fails if another retry got there first."""
        expires = self.expiry()
        self.transact(
            [
                {
                    "Put": {
                        "TableName": self.name,
                        "Item": self._ser(
                            {**run, "PK": job_pk(job_id), "SK": run_sk(run["run"]), "expires_at": expires}
                        ),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                self._point_job_at_retry(job_id, previous_run, run, now, expires),
                self._event_put(
                    job_id,
                    "retry",
                    "Retry of failed files requested",
                    {"run": run["run"], "files": run["total_units"]},
                    now,
                ),
                self._event_put(
                    job_id, "queued", "Retry queued", {"run": run["run"], "files": run["total_units"]}, now
                ),
            ]
        )

    def _point_job_at_retry(
        self, job_id: str, previous_run: int, run: dict[str, Any], now: str, expires: int
    ) -> dict[str, Any]:
        """The job's side of a retry: queued again on the new run, if it is still the finished run it was."""
        active = self._active_keys(job_id, now)
        return {
            "Update": {
                "TableName": self.name,
                "Key": self._ser({"PK": job_pk(job_id), "SK": "JOB"}),
                # A retry is a fresh start: the halt of continue_on_error=false is lifted, retention restarts.
                "UpdateExpression": "SET #s = :queued, current_run = :run, session_id = :sid, updated_at = :now, "
                "dispatch_state = :pending, dispatch_attempts = dispatch_attempts + :one, "
                "halted = :false, expires_at = :exp, GSI2PK = :active, GSI2SK = :progress "
                "REMOVE finished_at, notice_state",
                "ConditionExpression": "current_run = :prev AND #s IN (:completed, :partial, :failed) "
                "AND (attribute_not_exists(cleaned) OR cleaned = :false)",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": self._ser_values(
                    {
                        ":queued": "queued",
                        ":run": run["run"],
                        ":sid": run["session_id"],
                        ":now": now,
                        ":pending": "pending_dispatch",
                        ":one": 1,
                        ":prev": previous_run,
                        ":false": False,
                        ":completed": "completed",
                        ":partial": "partial",
                        ":failed": "failed",
                        ":exp": expires,
                        ":active": active["GSI2PK"],
                        ":progress": active["GSI2SK"],
                    }
                ),
            }
        }

    def claim_finalize(self, job_id: str, run: int, now: str) -> bool:
        """The hand-over of a complete run to finalize: exactly one of the callers that saw it complete gets True.

        Completeness is the caller's consistent read (``get_run``): the count sums several shard items, which no
        condition on this one item can see, and it only grows within a run, so a run read complete stays complete.
        """
        try:
            self._update(
                job_pk(job_id),
                run_sk(run),
                UpdateExpression="SET finalize_state = :claimed, finalize_claimed_at = :now",
                ConditionExpression="attribute_exists(PK) AND attribute_not_exists(finalize_state)",
                ExpressionAttributeValues={":claimed": "claimed", ":now": now},
            )
            return True
        except ConditionFailed:
            return False

    def release_finalize_claim(self, job_id: str, run: int) -> None:
        self._update(
            job_pk(job_id),
            run_sk(run),
            UpdateExpression="REMOVE finalize_state, finalize_claimed_at",
            ConditionExpression="finalize_state = :claimed",
            ExpressionAttributeValues={":claimed": "claimed"},
        )

    def complete_run(
        self,
        job_id: str,
        run: int,
        job_fields: dict[str, Any],
        session: dict[str, Any],
        event: tuple[str, str, dict[str, Any]],
        now: str,
        *,
        seen_status: str | None = None,
        extra_events: tuple[tuple[str, str, dict[str, Any]], ...] = (),
    ) -> bool:
        """Finalize's single write: terminal job state, run marked done, session projection, 'finished' event
        (and ``extra_events`` after it).

        Returns False when this run was already finalized (a duplicate finalize message), or when the job's
        status is no longer ``seen_status`` (a cancel arrived while the run was being finalized).
        The job leaves the active-jobs index (GSI2).
        """
        clause, names, values = set_clause(job_fields, "f")
        values[":run"] = run
        job_condition = "current_run = :run"
        if seen_status is not None:
            names["#seen"] = "status"
            values[":seen"] = seen_status
            job_condition += " AND #seen = :seen"
        event_type, message, payload = event
        try:
            self.transact(
                [
                    {
                        "Update": {
                            "TableName": self.name,
                            "Key": self._ser({"PK": job_pk(job_id), "SK": run_sk(run)}),
                            "UpdateExpression": "SET finalize_state = :done, #s = :status, finished_at = :now",
                            "ConditionExpression": "finalize_state = :claimed",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": self._ser_values(
                                {":done": "done", ":claimed": "claimed", ":status": job_fields["status"], ":now": now}
                            ),
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.name,
                            "Key": self._ser({"PK": job_pk(job_id), "SK": "JOB"}),
                            "UpdateExpression": f"SET {clause} REMOVE GSI2PK, GSI2SK",
                            "ConditionExpression": job_condition,
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": self._ser_values(values),
                        }
                    },
                    self._session_put(session),
                    self._event_put(job_id, event_type, message, payload, now),
                    *(self._event_put(job_id, t, m, p, now) for t, m, p in extra_events),
                ]
            )
            return True
        except ConditionFailed:
            return False

    def _session_put(self, session: dict[str, Any]) -> dict[str, Any]:
        item = {
            **session,
            "PK": f"SESSION#{session['session_id']}",
            "SK": "SESSION",
            "GSI1PK": "SESSIONS",
            "GSI1SK": f"{session['updated_at']}#{session['session_id']}",
            "expires_at": self.expiry(),
        }
        return {"Put": {"TableName": self.name, "Item": self._ser(item)}}

    # ------------------------------------------------------------------ events
    def _event_put(
        self, job_id: str, event_type: str, message: str, payload: dict[str, Any], now: str
    ) -> dict[str, Any]:
        item = {
            "PK": job_pk(job_id),
            # Nanoseconds in the key keep events written within one millisecond in the order they happened.
            "SK": f"EVENT#{time.time_ns():020d}#{secrets.token_hex(4)}",
            "event_type": event_type,
            "message": message,
            "payload": payload,
            "event_time": now,
            "expires_at": self.expiry(),
        }
        return {"Put": {"TableName": self.name, "Item": self._ser(item)}}

    def add_event(
        self,
        job_id: str,
        event_type: str,
        message: str,
        payload: dict[str, Any] | None = None,
        event_time: str | None = None,
    ) -> None:
        from data_extract.contract import now_rfc3339

        put = self._event_put(job_id, event_type, message, payload or {}, event_time or now_rfc3339())["Put"]
        self._client.put_item(TableName=put["TableName"], Item=put["Item"])

    def list_events(self, job_id: str, limit: int) -> list[dict[str, Any]]:
        """The latest ``limit`` events, oldest first."""
        latest = self._query_all(job_pk(job_id), "EVENT#", limit=limit, forward=False)
        return list(reversed(latest))

    # ------------------------------------------------------------------ sessions
    def list_sessions(self, limit: int, offset: int = 0) -> list[dict[str, Any]]:
        return self._query_index("SESSIONS", limit, offset)

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        return self._get(f"SESSION#{session_id}", "SESSION")

    # ------------------------------------------------------------------ sources (incremental runs, resume)
    @staticmethod
    def _source_pk(digest: str) -> str:
        return f"SOURCE#{digest}"

    def get_source(self, digest: str) -> dict[str, Any] | None:
        return self._get(self._source_pk(digest), "SOURCE")

    def list_source_paths(self, digest: str) -> list[dict[str, Any]]:
        """The per-path state of a source (content hash, job and output of its current result)."""
        return self._query_all(self._source_pk(digest), "PATH#")

    def record_source_job(self, digest: str, source_id: str, job_id: str, created_at: str) -> None:
        self._table.put_item(
            Item={
                "PK": self._source_pk(digest),
                "SK": f"JOB#{created_at}#{job_id}",
                "source_id": source_id,
                "job_id": job_id,
                "created_at": created_at,
                "expires_at": self.expiry(),
            }
        )

    def list_source_jobs(self, digest: str, limit: int) -> list[dict[str, Any]]:
        """Jobs that ran over a source, newest first."""
        return self._query_all(self._source_pk(digest), "JOB#", limit=limit, forward=False)

    def set_resume_floor(self, digest: str, source_id: str, at: str) -> None:
        """Sessions of the source older than ``at`` are no longer offered to resume (force without resume)."""
        with contextlib.suppress(ConditionFailed):  # a later floor is already set
            self._update(
                self._source_pk(digest),
                "SOURCE",
                UpdateExpression="SET resume_floor = :at, source_id = :sid, expires_at = :exp",
                ConditionExpression="attribute_not_exists(resume_floor) OR resume_floor < :at",
                ExpressionAttributeValues={":at": at, ":sid": source_id, ":exp": self.expiry()},
            )

    def acquire_source_lock(
        self, digest: str, source_id: str, owner: str, now_epoch: float, lease_seconds: int
    ) -> bool:
        """Take the source's commit lock (free, expired, or already ours); False while another run holds it."""
        try:
            self._update(
                self._source_pk(digest),
                "SOURCE",
                UpdateExpression="SET lock_owner = :me, lock_expires = :until, source_id = :sid, expires_at = :exp",
                ConditionExpression="attribute_not_exists(lock_owner) OR lock_expires < :now OR lock_owner = :me",
                ExpressionAttributeValues={
                    ":me": owner,
                    ":until": _dynamo(now_epoch + lease_seconds),
                    ":now": _dynamo(now_epoch),
                    ":sid": source_id,
                    ":exp": self.expiry(),
                },
            )
            return True
        except ConditionFailed:
            return False

    def write_source_paths(self, digest: str, owner: str, puts: list[dict[str, Any]], deletes: list[str]) -> None:
        """Apply path-state changes while holding the commit lock: every write batch checks the lock is still
        ours, so a holder whose lease ran out can never write over the next holder's commit."""
        pk = self._source_pk(digest)
        expires = self.expiry()
        ops: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.name,
                    "Item": self._ser({**entry, "PK": pk, "SK": f"PATH#{entry['path']}", "expires_at": expires}),
                }
            }
            for entry in puts
        ] + [
            {"Delete": {"TableName": self.name, "Key": self._ser({"PK": pk, "SK": f"PATH#{path}"})}}
            for path in deletes
        ]
        lock_check = {
            "ConditionCheck": {
                "TableName": self.name,
                "Key": self._ser({"PK": pk, "SK": "SOURCE"}),
                "ConditionExpression": "lock_owner = :me",
                "ExpressionAttributeValues": self._ser_values({":me": owner}),
            }
        }
        for start in range(0, len(ops), 99):  # a transaction holds at most 100 items
            self.transact([lock_check, *ops[start : start + 99]])

    def release_source_lock(self, digest: str, owner: str, job_id: str, now: str) -> None:
        """End a commit: count it (version) and free the lock."""
        self._update(
            self._source_pk(digest),
            "SOURCE",
            UpdateExpression="SET version = if_not_exists(version, :zero) + :one, last_job_id = :job, "
            "updated_at = :now REMOVE lock_owner, lock_expires",
            ConditionExpression="lock_owner = :me",
            ExpressionAttributeValues={":zero": 0, ":one": 1, ":job": job_id, ":now": now, ":me": owner},
        )

    # ------------------------------------------------------------------ idempotency
    def claim_idempotency_key(
        self, key: str, request_hash: str, job_id: str, created_at: str
    ) -> dict[str, Any] | None:
        """Record key -> job. Returns None when claimed now, else the existing record."""
        try:
            self._table.put_item(
                Item={
                    "PK": f"IDEMPOTENCY#{key}",
                    "SK": "IDEMPOTENCY",
                    "request_hash": request_hash,
                    "job_id": job_id,
                    "created_at": created_at,
                    "expires_at": self.expiry(),
                },
                ConditionExpression="attribute_not_exists(PK)",
            )
            return None
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise
        return self._get(f"IDEMPOTENCY#{key}", "IDEMPOTENCY")

    def take_over_idempotency_key(
        self, key: str, old_job_id: str, request_hash: str, job_id: str, created_at: str
    ) -> bool:
        """Point an abandoned key (its job was never created) at a new job; False if someone else did first."""
        try:
            self._table.put_item(
                Item={
                    "PK": f"IDEMPOTENCY#{key}",
                    "SK": "IDEMPOTENCY",
                    "request_hash": request_hash,
                    "job_id": job_id,
                    "created_at": created_at,
                    "expires_at": self.expiry(),
                },
                ConditionExpression="job_id = :old",
                ExpressionAttributeValues={":old": old_job_id},
            )
            return True
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise

    def release_idempotency_key(self, key: str, job_id: str) -> None:
        try:
            self._table.delete_item(
                Key={"PK": f"IDEMPOTENCY#{key}", "SK": "IDEMPOTENCY"},
                ConditionExpression="job_id = :j",
                ExpressionAttributeValues={":j": job_id},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    # ------------------------------------------------------------------ settings
    def get_setting(self, name: str) -> str | None:
        item = self._get(f"SETTING#{name}", "SETTING", consistent=True)
        return item.get("value") if item else None

    def put_setting(self, name: str, value: str, now: str) -> None:
        # Settings outlive job retention: no expires_at.
        self._table.put_item(Item={"PK": f"SETTING#{name}", "SK": "SETTING", "value": value, "updated_at": now})

    # ------------------------------------------------------------------ login sessions
    def put_login(self, sid: str, expires_epoch: int) -> None:
        self._table.put_item(Item={"PK": f"LOGIN#{sid}", "SK": "LOGIN", "expires_at": expires_epoch})

    def login_active(self, sid: str, now_epoch: int) -> bool:
        item = self._get(f"LOGIN#{sid}", "LOGIN")
        # TTL deletion is lazy (up to days): check the expiry ourselves.
        return item is not None and int(item["expires_at"]) > now_epoch

    def delete_login(self, sid: str) -> None:
        self._table.delete_item(Key={"PK": f"LOGIN#{sid}", "SK": "LOGIN"})

    # ------------------------------------------------------------------ worker readiness
    def put_worker_readiness(self, readiness: dict[str, Any]) -> None:
        self._table.put_item(
            Item=_dynamo({"PK": "HEALTH#worker", "SK": "HEALTH", **readiness, "expires_at": self.expiry(7 * 86400)})
        )

    def get_worker_readiness(self) -> dict[str, Any] | None:
        return self._get("HEALTH#worker", "HEALTH", consistent=False)

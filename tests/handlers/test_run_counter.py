"""The run's sharded done counter: unit results spread over the run's shard items, completeness read in one Query,
and exactly one hand-over to finalize when many workers end one run's units at once."""

from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from tests.support.jobs import job, submit_upload


def _table(aws: dict[str, str]) -> Any:
    return boto3.resource("dynamodb", region_name="us-east-1").Table(aws["DATA_EXTRACT_TABLE_NAME"])


def _run_items(aws: dict[str, str], job_id: str, run: int = 1) -> dict[str, dict[str, Any]]:
    items = _table(aws).query(
        KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
        ExpressionAttributeValues={":pk": f"JOB#{job_id}", ":sk": f"RUN#{run:03d}"},
        ConsistentRead=True,
    )["Items"]
    return {i["SK"]: i for i in items}


def _open_run(store: Any, job_id: str, units: int, shards: int | None) -> None:
    """A job whose run 1 has ``units`` queued units, its counter split over ``shards`` (None: unsharded)."""
    run: dict[str, Any] = {"run": 1, "kind": "process", "session_id": "s1", "total_units": units, "done_units": 0}
    if shards is not None:
        run["counter_shards"] = shards
    now = "2026-01-01T00:00:00.000Z"
    store.table.create_job(
        {"job_id": job_id, "status": "running", "created_at": now, "current_run": 1},
        [{"unit_id": f"{i:05d}", "source_path": f"f{i}.txt", "status": "running", "run": 1} for i in range(units)],
        run,
        {"event_type": "queued", "message": "queued", "payload": {}, "event_time": now},
    )


def _end_unit(store: Any, job_id: str, unit_id: str) -> bool:
    """What the worker does when a unit ends: its result transaction, then the hand-over check."""
    from data_extract.jobs.units import hand_over_if_complete

    event = ("file", f"{unit_id}: processed", {"unit_id": unit_id, "run": 1})
    recorded = store.table.record_unit_result(
        job_id, unit_id, 1, {"status": "processed"}, event, "2026-01-01T00:00:01.000Z"
    )
    assert recorded
    return hand_over_if_complete(store, job_id, 1)


def _finalize_messages(aws: dict[str, str]) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    bodies: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=aws["DATA_EXTRACT_FINALIZE_QUEUE_URL"], MaxNumberOfMessages=10)
        if not got.get("Messages"):
            return bodies
        bodies.extend(json.loads(m["Body"]) for m in got["Messages"])


def test_given_a_sharded_run_when_units_end_then_each_adds_to_its_shard_and_the_run_reads_their_sum(store, aws):
    from data_extract.store.tables import counter_shard, done_shard_sk

    _open_run(store, "jsharded", units=40, shards=8)
    for i in range(39):
        assert _end_unit(store, "jsharded", f"{i:05d}") is False

    items = _run_items(aws, "jsharded")
    shard_items = {sk: i for sk, i in items.items() if "#DONE#" in sk}
    expected = Counter(done_shard_sk(1, counter_shard(f"{i:05d}", 8)) for i in range(39))
    assert {sk: int(i["done_units"]) for sk, i in shard_items.items()} == dict(expected)
    assert len(shard_items) > 1 and all(int(i["expires_at"]) > 0 for i in shard_items.values())
    assert int(items["RUN#001"]["done_units"]) == 0  # the run item itself takes no unit's write
    assert store.table.get_run("jsharded", 1)["done_units"] == 39

    assert _end_unit(store, "jsharded", "00039") is True
    assert _run_items(aws, "jsharded")["RUN#001"]["finalize_state"] == "claimed"
    assert _finalize_messages(aws) == [{"job_id": "jsharded", "run": 1}]


def test_given_a_run_recorded_without_shards_when_its_units_end_then_it_counts_on_its_own_item(store, aws):
    _open_run(store, "jlegacy", units=3, shards=None)
    assert [_end_unit(store, "jlegacy", f"{i:05d}") for i in range(3)] == [False, False, True]

    items = _run_items(aws, "jlegacy")
    assert list(items) == ["RUN#001"] and int(items["RUN#001"]["done_units"]) == 3
    assert _finalize_messages(aws) == [{"job_id": "jlegacy", "run": 1}]


def test_given_a_run_when_its_progress_is_read_then_one_consistent_query_returns_it_and_its_shards(store, aws):
    from data_extract.store.clients import resource as aws_resource

    _open_run(store, "jquery", units=20, shards=16)
    for i in range(20):
        store.table.record_unit_result("jquery", f"{i:05d}", 1, {"status": "processed"}, ("file", "m", {}), "t")
    calls: list[tuple[str, dict[str, Any]]] = []

    def count(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, json.loads(params.get("body") or b"{}")))

    dynamodb = aws_resource("dynamodb").meta.client
    dynamodb.meta.events.register("before-call.dynamodb.*", count)
    try:
        run = store.table.get_run("jquery", 1)
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb.*", count)

    assert run is not None and run["done_units"] == 20 and run["counter_shards"] == 16
    assert [name for name, _ in calls] == ["Query"] and calls[0][1]["ConsistentRead"] is True


def test_given_run_100_when_its_count_is_read_then_run_1000_shards_are_not_counted(store, aws):
    """RUN#100 is a prefix of RUN#1000: the sum takes only the run's own shards."""
    table = _table(aws)
    table.put_item(
        Item={"PK": "JOB#jprefix", "SK": "RUN#100", "total_units": 2, "done_units": 0, "counter_shards": 4}
    )
    table.put_item(Item={"PK": "JOB#jprefix", "SK": "RUN#100#DONE#01", "done_units": 1})
    table.put_item(Item={"PK": "JOB#jprefix", "SK": "RUN#1000", "total_units": 5, "done_units": 0})
    table.put_item(Item={"PK": "JOB#jprefix", "SK": "RUN#1000#DONE#01", "done_units": 5})

    assert store.table.get_run("jprefix", 100)["done_units"] == 1


@pytest.mark.parametrize("shards", [16, 1])
def test_given_many_workers_ending_one_runs_units_at_once_then_exactly_one_hands_it_over(store, aws, shards):
    """A local simulation of the fleet: 16 threads end 240 units of one run concurrently (each its result
    transaction, then the completeness Query and the conditional claim), against moto made as safe as DynamoDB
    under concurrency (the local stack's fix: moto's transactions are not thread-safe on their own)."""
    from infra.local.moto_fixes import install

    install()
    units = 240
    job_id = f"jconcurrent{shards}"
    _open_run(store, job_id, units=units, shards=shards)
    start = threading.Barrier(16)

    def worker(batch: list[int]) -> int:
        start.wait()
        return sum(_end_unit(store, job_id, f"{i:05d}") for i in batch)

    with ThreadPoolExecutor(max_workers=16) as pool:
        hand_overs = sum(pool.map(worker, [list(range(w, units, 16)) for w in range(16)]))

    assert hand_overs == 1
    assert _finalize_messages(aws) == [{"job_id": job_id, "run": 1}]
    run = store.table.get_run(job_id, 1)
    assert run is not None and run["done_units"] == units and run["finalize_state"] == "claimed"
    shard_counts = [int(i["done_units"]) for sk, i in _run_items(aws, job_id).items() if "#DONE#" in sk]
    assert sum(shard_counts) == units and len(shard_counts) == shards


@pytest.mark.parametrize("client", ["asgi"], indirect=True)
def test_given_a_job_and_its_retry_when_they_run_then_each_run_counts_on_its_own_shards(client, pump, aws):
    """Through the API and the real handlers: run 1 and the retry run each keep their own shard count and end."""
    from data_extract.settings import get_settings
    from data_extract.store import get_store

    files = [
        ("files", ("a.json", b"{broken", "application/json")),
        *[("files", (f"f{i}.txt", f"Fine text {i}.".encode(), "text/plain")) for i in range(5)],
    ]
    job_id = submit_upload(client, files=files)["job_id"]
    pump.run()
    assert job(client, job_id)["status"] == "partial"
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=f"jobs/{job_id}/inputs/a.json", Body=b'{"ok": true}'
    )
    assert client.post(f"/api/v1/jobs/{job_id}/retry-failures").status_code == 202
    pump.run()

    assert job(client, job_id)["status"] == "completed"
    for run, total in ((1, 6), (2, 1)):
        item = get_store().table.get_run(job_id, run)
        assert item is not None and item["done_units"] == item["total_units"] == total
        assert item["counter_shards"] == get_settings().run_counter_shards
        assert item["finalize_state"] == "done"
        assert any("#DONE#" in sk for sk in _run_items(aws, job_id, run))

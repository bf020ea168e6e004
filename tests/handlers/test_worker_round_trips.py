"""The worker's round trips per file unit: the job record once per batch, the unit claimed in one write."""

from __future__ import annotations

import json
from collections import Counter

from tests.support.jobs import job


def _files(n: int):
    return [
        ("files", (f"note-{i}.txt", f"Note {i}: the first control passed review.".encode(), "text/plain"))
        for i in range(n)
    ]


def test_given_a_batch_of_five_units_of_one_job_when_processed_then_the_job_record_is_read_once(client, pump, aws):
    from data_extract.store.clients import client as aws_client
    from data_extract.store.clients import resource as aws_resource

    job_id = client.post("/api/v1/jobs/process", files=_files(5)).json()["job_id"]
    calls: Counter[tuple[str, str]] = Counter()

    def count(params, model, **_):
        # before-call sees the serialized request: DynamoDB's JSON body with typed key attributes.
        body = json.loads(params.get("body") or b"{}")
        sort_key = body.get("Key", {}).get("SK", {}).get("S", "")
        projected = "+projection" if "ProjectionExpression" in body else ""
        calls[(model.name + projected, sort_key.split("#", 1)[0])] += 1

    # The storage layer uses both the low-level client and the table resource's client.
    clients = [aws_client("dynamodb"), aws_resource("dynamodb").meta.client]
    for dynamodb in clients:
        dynamodb.meta.events.register("before-call.dynamodb.*", count)
    try:
        from data_extract.handlers import worker

        pump.drain(aws["DATA_EXTRACT_WORK_QUEUE_URL"], worker.lambda_handler, batch_size=5)
    finally:
        for dynamodb in clients:
            dynamodb.meta.events.unregister("before-call.dynamodb.*", count)

    pump.run()
    assert job(client, job_id)["status"] == "completed"
    assert len(pump.invocations) >= 1 and len(pump.invocations[0]["event"]["Records"]) == 5
    assert calls[("GetItem", "JOB")] == 1  # the batch shares one read of the job record
    assert calls[("GetItem+projection", "JOB")] == 5  # the cancel check after extraction: the status alone
    assert calls[("GetItem", "FILE")] == 0  # the claim returns the unit: no separate read
    assert calls[("UpdateItem", "FILE")] == 5  # one claim per unit
    assert calls[("TransactWriteItems", "")] == 5 + 1  # five results, and the job's running mark


def test_given_a_redelivered_unit_when_its_claim_fails_then_it_is_a_duplicate_and_nothing_changes(client, pump, aws):
    from data_extract.jobs.units import UnitMessage, process_unit
    from data_extract.settings import get_settings
    from data_extract.store import get_store

    job_id = client.post("/api/v1/jobs/process", files=_files(1)).json()["job_id"]
    pump.run()
    before = job(client, job_id)
    unit_id = before["files"][0]["file_id"]

    outcome = process_unit(get_store(), get_settings(), UnitMessage(job_id, unit_id, 1), {})
    unknown = process_unit(get_store(), get_settings(), UnitMessage(job_id, "no-such-unit", 1), {})

    assert outcome.status == "duplicate" and unknown.status == "stale"
    assert job(client, job_id)["files"] == before["files"]

"""The sweeper finishes or fails stuck jobs: never dispatched, finalize never claimed (or its message lost), units
running past their lease. It finds them with a query on the active-jobs index, never a scan."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest

from tests.support.jobs import job, submit_upload

FILES = [("files", (f"{name}.txt", f"File {name}. Some words.".encode(), "text/plain")) for name in ("a", "b")]


@pytest.fixture
def client(aws):
    from fastapi.testclient import TestClient

    from data_extract.api.app import create_app

    with TestClient(create_app(), base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


def _store():
    from data_extract.settings import get_settings
    from data_extract.store import Store

    return Store.from_settings(get_settings())


def _sweep(after_seconds: float) -> dict[str, int]:
    from data_extract.contract import utc_now
    from data_extract.jobs.sweep import sweep
    from data_extract.settings import get_settings

    return sweep(_store(), get_settings(), now=utc_now() + timedelta(seconds=after_seconds))


def _sweep_events(detail: dict) -> list[dict]:
    return [e for e in detail["events"] if e["event_type"] == "sweep"]


def _job_item(aws, job_id: str) -> dict:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(aws["DATA_EXTRACT_TABLE_NAME"])
    return table.get_item(Key={"PK": f"JOB#{job_id}", "SK": "JOB"})["Item"]


def test_given_the_api_died_before_queueing_when_swept_then_the_job_is_dispatched_and_finishes(
    client, pump, aws, monkeypatch
):
    from data_extract.jobs import submit

    def die(*args, **kwargs):
        raise RuntimeError("the API invocation ended here")

    monkeypatch.setattr(submit, "dispatch_units", die)
    assert client.post("/api/v1/jobs/process", files=FILES).status_code == 500
    monkeypatch.undo()
    (listed,) = client.get("/api/v1/jobs").json()
    job_id = listed["job_id"]
    assert pump.messages_waiting(aws["DATA_EXTRACT_WORK_QUEUE_URL"]) == 0
    assert job(client, job_id)["dispatch_state"] == "pending_dispatch"

    assert _sweep(after_seconds=10) == {}  # within the grace period: not even looked at
    assert _sweep(after_seconds=400) == {"redispatched": 1}
    pump.run()

    detail = job(client, job_id)
    assert detail["status"] == "completed"
    assert {f["status"] for f in detail["files"]} == {"processed"}
    (event,) = _sweep_events(detail)
    assert "never dispatched" in event["message"] and event["payload"]["units"] == 2
    assert "GSI2PK" not in _job_item(aws, job_id)  # ended: out of the active-jobs index
    assert _sweep(after_seconds=4000) == {}


def test_given_a_run_whose_finalize_was_never_claimed_when_swept_then_it_is_finalized_once(
    client, pump, aws, monkeypatch
):
    from data_extract.handlers import worker
    from data_extract.jobs import units

    job_id = submit_upload(client, files=FILES)["job_id"]
    # The worker that recorded the last unit died before handing the run over, and its message was deleted.
    monkeypatch.setattr(units, "hand_over_if_complete", lambda *a, **k: False)
    pump.drain(aws["DATA_EXTRACT_WORK_QUEUE_URL"], worker.lambda_handler)
    monkeypatch.undo()
    assert job(client, job_id)["status"] == "running"

    assert _sweep(after_seconds=400) == {"finalize_handed_over": 1}
    assert _sweep(after_seconds=400) == {}  # looked at again only one grace period later
    pump.run()

    detail = job(client, job_id)
    assert detail["status"] == "completed"
    assert len([e for e in detail["events"] if e["event_type"] == "finished"]) == 1
    assert "finalize never ran" in _sweep_events(detail)[0]["message"]


def test_given_a_claimed_finalize_whose_message_was_lost_when_swept_then_it_is_sent_again(client, pump, aws):
    from data_extract.handlers import worker

    job_id = submit_upload(client, files=FILES)["job_id"]
    pump.drain(aws["DATA_EXTRACT_WORK_QUEUE_URL"], worker.lambda_handler)
    sqs = boto3.client("sqs", region_name="us-east-1")
    (lost,) = sqs.receive_message(QueueUrl=aws["DATA_EXTRACT_FINALIZE_QUEUE_URL"])["Messages"]
    sqs.delete_message(QueueUrl=aws["DATA_EXTRACT_FINALIZE_QUEUE_URL"], ReceiptHandle=lost["ReceiptHandle"])
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(aws["DATA_EXTRACT_TABLE_NAME"])
    table.update_item(
        Key={"PK": f"JOB#{job_id}", "SK": "RUN#001"},
        UpdateExpression="SET finalize_claimed_at = :t",
        ExpressionAttributeValues={":t": "2026-01-01T00:00:00.000Z"},
    )  # claimed long ago

    assert _sweep(after_seconds=400) == {"finalize_handed_over": 1}
    pump.run()

    assert job(client, job_id)["status"] == "completed"


def test_given_a_unit_running_past_its_lease_when_swept_then_it_fails_and_the_job_ends(client, pump, aws):
    from data_extract.handlers import worker

    job_id = submit_upload(client, files=FILES)["job_id"]
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = aws["DATA_EXTRACT_WORK_QUEUE_URL"]
    # a.txt's worker started it, then its message vanished with the worker (and no redelivery is left).
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    for m in messages:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    store = _store()
    (lost,) = [m for m in messages if '"00001"' in m["Body"]]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=lost["ReceiptHandle"])
    assert store.table.claim_unit(job_id, "00001", 1, "2026-01-01T00:00:00.000Z")
    pump.drain(url, worker.lambda_handler)  # b.txt is processed normally

    assert _sweep(after_seconds=60) == {}  # still within the grace period after its creation
    assert _sweep(after_seconds=400) == {"lease_expired": 1, "finalize_handed_over": 1}
    pump.run()

    detail = job(client, job_id)
    files = {f["source_path"]: f for f in detail["files"]}
    assert detail["status"] == "partial"
    assert (files["a.txt"]["status"], files["a.txt"]["error_type"]) == ("failed", "lease_expired")
    assert files["b.txt"]["status"] == "processed"
    assert client.post(f"/api/v1/jobs/{job_id}/retry-failures").status_code == 202
    pump.run()
    assert job(client, job_id)["status"] == "completed"


def test_given_a_unit_that_started_recently_when_swept_then_its_lease_holds(client, pump, aws):
    from data_extract.contract import now_rfc3339

    job_id = submit_upload(client, files=FILES)["job_id"]
    _store().table.claim_unit(job_id, "00001", 1, now_rfc3339())

    assert _sweep(after_seconds=400) == {"healthy": 1}
    assert {f["status"] for f in job(client, job_id)["files"]} == {"running", "queued"}


def test_given_a_cancelled_job_never_dispatched_when_swept_then_its_units_are_skipped_and_it_ends(
    client, pump, aws, monkeypatch
):
    from data_extract.jobs import cancel, submit

    def die(*args, **kwargs):
        raise RuntimeError("the API invocation ended here")

    monkeypatch.setattr(submit, "dispatch_units", die)
    monkeypatch.setattr(cancel, "SKIP_INLINE_UNITS", 0)  # leave every unit to the sweeper
    client.post("/api/v1/jobs/process", files=FILES)
    monkeypatch.undo()
    (listed,) = client.get("/api/v1/jobs").json()
    monkeypatch.setattr(cancel, "SKIP_INLINE_UNITS", 0)
    assert client.post(f"/api/v1/jobs/{listed['job_id']}/cancel").status_code == 202

    assert _sweep(after_seconds=400) == {"skipped_cancelled": 1, "finalize_handed_over": 1}
    pump.run()

    detail = job(client, listed["job_id"])
    assert detail["status"] == "cancelled"
    assert {(f["status"], f["error_type"]) for f in detail["files"]} == {("skipped", "cancelled")}


def test_given_many_jobs_when_swept_then_one_index_query_finds_them_and_nothing_scans(client, pump, aws):
    for _ in range(3):
        submit_upload(client, files=FILES[:1])
    store = _store()
    calls: list[tuple[str, dict]] = []
    for dynamodb in (store.table._table.meta.client, store.table._client):
        dynamodb.meta.events.register(
            "before-parameter-build.dynamodb", lambda model, params, **kw: calls.append((model.name, params))
        )

    from data_extract.contract import utc_now
    from data_extract.jobs.sweep import sweep
    from data_extract.settings import get_settings

    outcomes = sweep(store, get_settings(), now=utc_now() + timedelta(seconds=400))

    assert outcomes == {"healthy": 3}
    names = [name for name, _ in calls]
    assert "Scan" not in names
    (index_query,) = [params for name, params in calls if name == "Query" and params.get("IndexName")]
    assert index_query["IndexName"] == "GSI2"


def test_given_the_scheduled_event_when_the_sweeper_is_invoked_then_it_reports_what_it_did(aws):
    from data_extract.handlers import sweeper
    from tests.support.apigw import load_event
    from tests.support.lambda_context import LambdaContext

    assert sweeper.lambda_handler(load_event("eventbridge_schedule_sweep.json"), LambdaContext()) == {"outcomes": {}}

"""Large jobs fan out asynchronously: the request records the job and one dispatch message, the dispatch function
writes units and work messages slice by slice, and a crash resumes from the last slice without duplicating units."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.jobs import job, submit_upload
from tests.support.lambda_context import LambdaContext

EVENTS = Path(__file__).resolve().parents[1] / "events"
FILES = 23  # over the threshold of 5 below: three slices of 10, 10 and 3


@pytest.fixture
def small_slices(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from data_extract.settings import get_settings

    monkeypatch.setenv("DATA_EXTRACT_DISPATCH_INLINE_MAX_UNITS", "5")
    monkeypatch.setenv("DATA_EXTRACT_DISPATCH_SLICE_UNITS", "10")
    get_settings.cache_clear()


def _files(n: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (f"n{i:02d}.txt", f"Note {i}: the control passed.".encode(), "text/plain")) for i in range(n)]


def _receive(aws: dict[str, str], queue: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    got = sqs.receive_message(QueueUrl=aws[queue], MaxNumberOfMessages=10, AttributeNames=["All"])
    return got.get("Messages", [])


def _record(message_id: str, body: dict[str, Any]) -> dict[str, Any]:
    event = json.loads((EVENTS / "sqs_dispatch_slice.json").read_text())
    event["Records"][0]["messageId"] = message_id
    event["Records"][0]["body"] = json.dumps(body)
    return event


@pytest.mark.parametrize("client", ["asgi"], indirect=True)
def test_given_a_job_over_the_threshold_when_submitted_then_one_dispatch_message_and_slices_complete_it(
    client, pump, aws, small_slices, store
):
    job_id = submit_upload(client, files=_files(FILES))["job_id"]

    assert store.table.list_units(job_id) == []  # the request wrote none of them
    assert _count_waiting(pump, aws, "DATA_EXTRACT_WORK_QUEUE_URL") == 0
    (message,) = _receive(aws, "DATA_EXTRACT_DISPATCH_QUEUE_URL")
    assert json.loads(message["Body"]) == {"job_id": job_id, "run": 1, "slice": 0}
    boto3.client("sqs", region_name="us-east-1").change_message_visibility(
        QueueUrl=aws["DATA_EXTRACT_DISPATCH_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
    )
    assert store.table.get_job(job_id)["dispatch_slices"] == 3

    pump.run()

    detail = job(client, job_id)
    assert detail["status"] == "completed" and len(detail["files"]) == FILES
    assert {f["status"] for f in detail["files"]} == {"processed"}
    dispatch_events = [e for e in detail["events"] if e["event_type"] == "dispatch"]
    assert [e["payload"]["slices"] for e in dispatch_events] == [3]
    assert list(store.objects.list("dispatch/")) == []  # the slices are gone once the last one is queued


def _count_waiting(pump: Any, aws: dict[str, str], queue: str) -> int:
    return int(pump.messages_waiting(aws[queue]))


@pytest.mark.parametrize("client", ["asgi"], indirect=True)
def test_given_a_small_job_when_submitted_then_its_units_and_messages_are_written_in_the_request(
    client, pump, aws, small_slices, store
):
    job_id = submit_upload(client, files=_files(5))["job_id"]

    assert len(store.table.list_units(job_id)) == 5
    assert _count_waiting(pump, aws, "DATA_EXTRACT_WORK_QUEUE_URL") == 5
    assert _count_waiting(pump, aws, "DATA_EXTRACT_DISPATCH_QUEUE_URL") == 0
    assert "dispatch_slices" not in store.table.get_job(job_id)


def _submitted_fan_out(client: Any, aws: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """A submitted large job whose first dispatch message was taken off the queue (the test delivers it)."""
    job_id = submit_upload(client, files=_files(FILES))["job_id"]
    (message,) = _receive(aws, "DATA_EXTRACT_DISPATCH_QUEUE_URL")
    boto3.client("sqs", region_name="us-east-1").delete_message(
        QueueUrl=aws["DATA_EXTRACT_DISPATCH_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"]
    )
    return job_id, json.loads(message["Body"])


@pytest.mark.parametrize("client", ["asgi"], indirect=True)
def test_given_a_slice_that_crashed_before_moving_the_cursor_when_redelivered_then_no_unit_is_written_twice(
    client: Any, pump: Any, aws: dict[str, str], small_slices: None, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from data_extract.handlers import dispatch
    from data_extract.store.tables import Table

    job_id, body = _submitted_fan_out(client, aws)
    real_update = Table.update_job

    def die_on_cursor(self: Table, job_id: str, fields: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "dispatch_slice" in fields:
            raise RuntimeError("the invocation timed out")
        return real_update(self, job_id, fields, **kwargs)

    monkeypatch.setattr(Table, "update_job", die_on_cursor)
    with pytest.raises(RuntimeError):
        dispatch.record_handler(_sqs_record("m-0", body))
    monkeypatch.setattr(Table, "update_job", real_update)
    assert len(store.table.list_units(job_id)) == 10  # slice 0's units exist; the cursor did not move

    assert dispatch.lambda_handler(_record("m-0", body), LambdaContext()) == {"batchItemFailures": []}
    pump.run()

    detail = job(client, job_id)
    assert detail["status"] == "completed" and len(detail["files"]) == FILES
    file_events = Counter(e["payload"]["unit_id"] for e in detail["events"] if e["event_type"] == "file")
    assert len(file_events) == FILES and set(file_events.values()) == {1}  # each unit counted once
    run = store.table.get_run(job_id, 1)
    assert run is not None and run["done_units"] == run["total_units"] == FILES


@pytest.mark.parametrize("client", ["asgi"], indirect=True)
def test_given_a_slice_that_crashed_after_moving_the_cursor_when_redelivered_then_it_sends_the_next_slice_once(
    client: Any, pump: Any, aws: dict[str, str], small_slices: None, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from data_extract.handlers import dispatch
    from data_extract.store.queues import Queues

    job_id, body = _submitted_fan_out(client, aws)
    real_send = Queues.send_dispatch

    def die(self: Queues, message: dict[str, Any]) -> None:
        raise RuntimeError("the invocation timed out")

    monkeypatch.setattr(Queues, "send_dispatch", die)
    with pytest.raises(RuntimeError):
        dispatch.record_handler(_sqs_record("m-0", body))
    monkeypatch.setattr(Queues, "send_dispatch", real_send)
    assert store.table.get_job(job_id)["dispatch_slice"] == 1

    # Another copy of the message (a different message id) is a duplicate; the redelivery resends slice 1.
    assert dispatch.record_handler(_sqs_record("m-copy", body)) == "duplicate"
    assert dispatch.record_handler(_sqs_record("m-0", body)) == "resent_next"
    assert _count_waiting(pump, aws, "DATA_EXTRACT_DISPATCH_QUEUE_URL") == 1
    pump.run()

    detail = job(client, job_id)
    assert detail["status"] == "completed" and len(detail["files"]) == FILES
    assert len(store.table.list_units(job_id)) == FILES


def _sqs_record(message_id: str, body: dict[str, Any]) -> Any:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    return SQSRecord(_record(message_id, body)["Records"][0])


def test_given_the_dispatch_event_file_when_handled_then_its_slice_units_are_written_and_queued(
    aws, small_slices, store
):
    from data_extract.handlers import dispatch
    from data_extract.jobs.dispatch import slice_key

    event = json.loads((EVENTS / "sqs_dispatch_slice.json").read_text())
    job_id = json.loads(event["Records"][0]["body"])["job_id"]
    units = [{"unit_id": f"{i:05d}", "source_path": f"f{i}.txt", "status": "queued", "run": 1} for i in range(1, 8)]
    store.objects.put_json(slice_key(job_id, 0), units)
    run = {"run": 1, "session_id": "s", "total_units": 7, "done_units": 0, "counter_shards": 4}
    store.table.create_job(
        {
            "job_id": job_id,
            "status": "queued",
            "created_at": "2026-01-01T00:00:00.000Z",
            "current_run": 1,
            "dispatch_state": "pending_dispatch",
            "dispatch_slices": 1,
            "dispatch_slice": 0,
        },
        [],
        run,
        {"event_type": "queued", "message": "queued", "payload": {}, "event_time": "2026-01-01T00:00:00.000Z"},
    )

    assert dispatch.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}

    assert [u["unit_id"] for u in store.table.list_units(job_id)] == [u["unit_id"] for u in units]
    queued = [json.loads(m["Body"])["unit_id"] for m in _receive(aws, "DATA_EXTRACT_WORK_QUEUE_URL")]
    assert sorted(queued) == [u["unit_id"] for u in units]
    after = store.table.get_job(job_id)
    assert after["dispatch_slice"] == 1 and after["dispatch_state"] == "submitted"


def _sweep_later(store: Any, grace_periods: int = 1) -> dict[str, int]:
    """A sweep this many grace periods from now (a job the sweeper inspected waits one period for the next)."""
    from datetime import timedelta

    from data_extract.contract import utc_now
    from data_extract.jobs.sweep import sweep
    from data_extract.settings import get_settings

    later = timedelta(seconds=(get_settings().sweep_grace_seconds + 60) * grace_periods)
    return sweep(store, get_settings(), now=utc_now() + later)


def _drop_dispatch_messages(aws: dict[str, str]) -> int:
    sqs = boto3.client("sqs", region_name="us-east-1")
    dropped = 0
    for message in _receive(aws, "DATA_EXTRACT_DISPATCH_QUEUE_URL"):
        sqs.delete_message(QueueUrl=aws["DATA_EXTRACT_DISPATCH_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"])
        dropped += 1
    return dropped


@pytest.mark.parametrize("client", ["asgi"], indirect=True)
def test_given_the_queue_refusing_the_first_dispatch_message_when_swept_then_the_fan_out_resumes_and_completes(
    client: Any, pump: Any, aws: dict[str, str], small_slices: None, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from data_extract.store.queues import QueueError, Queues

    def refuse(self: Queues, message: dict[str, Any]) -> None:
        raise QueueError("SQS is unavailable")

    monkeypatch.setattr(Queues, "send_dispatch", refuse)
    job_id = submit_upload(client, files=_files(FILES))["job_id"]  # recorded all the same: 202
    monkeypatch.undo()

    detail = job(client, job_id)
    assert detail["status"] == "queued" and detail["dispatch_state"] == "pending_dispatch"
    # Files the fan-out has not written yet are counted as queued, not missing.
    assert (detail["progress"]["total"], detail["progress"]["queued"]) == (FILES, FILES)
    assert any("the sweeper resumes" in e["message"] for e in detail["events"] if e["event_type"] == "error")

    assert _sweep_later(store) == {"fan_out_resumed": 1}
    pump.run()

    detail = job(client, job_id)
    assert detail["status"] == "completed" and len(detail["files"]) == FILES
    assert detail["progress"]["total"] == FILES


@pytest.mark.parametrize("client", ["asgi"], indirect=True)
def test_given_a_fan_out_that_keeps_stopping_when_swept_past_its_resumes_then_the_files_left_fail_and_can_be_retried(
    client: Any, pump: Any, aws: dict[str, str], small_slices: None, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from data_extract.handlers import dispatch
    from data_extract.settings import get_settings

    monkeypatch.setenv("DATA_EXTRACT_SWEEP_DISPATCH_RESUMES", "1")
    get_settings.cache_clear()
    job_id = submit_upload(client, files=_files(FILES))["job_id"]
    (message,) = _receive(aws, "DATA_EXTRACT_DISPATCH_QUEUE_URL")
    body = json.loads(message["Body"])
    dispatch.lambda_handler(_record(message["MessageId"], body), LambdaContext())  # slice 1 of 3 is written
    boto3.client("sqs", region_name="us-east-1").delete_message(
        QueueUrl=aws["DATA_EXTRACT_DISPATCH_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"]
    )
    assert _drop_dispatch_messages(aws) == 1  # slice 2's message: lost
    pump.run()  # slice 0's ten files are processed

    assert _sweep_later(store) == {"fan_out_resumed": 1}
    assert _drop_dispatch_messages(aws) == 1  # lost again
    # Failing the last files ends the run, which hands itself to finalize.
    assert _sweep_later(store, grace_periods=2) == {"fan_out_failed": 1}
    pump.run()

    detail = job(client, job_id)
    statuses = Counter((f["status"], f.get("error_type")) for f in detail["files"])
    assert detail["status"] == "partial" and len(detail["files"]) == FILES
    assert statuses == {("processed", None): 10, ("failed", "dispatch_failed"): FILES - 10}
    assert list(store.objects.list("dispatch/")) == []

    assert client.post(f"/api/v1/jobs/{job_id}/retry-failures").status_code == 202
    pump.run()
    assert job(client, job_id)["status"] == "completed"

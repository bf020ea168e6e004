"""Faults injected into the real handlers (moto behind boto3): a worker killed mid-file, DynamoDB and S3 calls
throttled or timing out (botocore event hooks), a parser that segfaults, duplicated and reordered SQS deliveries, a
finalize that crashes after writing half its records. After each: every job terminal, counts add up, no record lost
or duplicated."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from tests.support.jobs import job, submit_upload
from tests.support.lambda_context import LambdaContext
from tests.support.sqs import as_lambda, records_from_messages

FILES = [
    ("files", (f"{name}.txt", f"File {name}. It holds a sentence or two of text.".encode(), "text/plain"))
    for name in ("a", "b", "c")
]


class WorkerKilled(BaseException):
    """The Lambda runtime ending mid-invocation: nothing after this point runs, no batch response is returned."""


@pytest.fixture
def client(aws):
    from fastapi.testclient import TestClient

    from data_extract.api.app import create_app

    with TestClient(create_app(), base_url="https://testserver") as c:
        yield c


def _store():
    from data_extract.settings import get_settings
    from data_extract.store import Store

    return Store.from_settings(get_settings())


def _receive_all(sqs, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", []):
        messages.extend(batch)
    return messages


def _deliver_killed(pump, url: str, handler) -> None:
    """One invocation that the runtime kills: its messages stay on the queue and come back after the timeout."""
    sqs = pump.sqs
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5, AttributeNames=["All"])["Messages"]
    with pytest.raises(WorkerKilled):
        handler(records_from_messages(messages, pump._arn(url)), LambdaContext())
    for m in messages:  # the visibility timeout passes
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)


def assert_consistent(client, aws, job_id: str, runs: int = 1) -> dict[str, Any]:
    """Terminal, counted once: one result per unit and run, run counters equal to the units, one terminal event,
    outputs present for every processed file, the result record agreeing with the files."""
    detail = job(client, job_id)
    assert detail["status"] in ("completed", "partial", "failed", "cancelled"), detail["status"]
    from data_extract.store import get_store

    for run in range(1, runs + 1):
        item = get_store().table.get_run(job_id, run)  # done_units summed over the run's counter shards
        assert item is not None
        assert item["done_units"] == item["total_units"], item
        assert item["finalize_state"] == "done"
    file_events = Counter(
        (e["payload"]["unit_id"], e["payload"]["run"]) for e in detail["events"] if e["event_type"] == "file"
    )
    assert all(count == 1 for count in file_events.values()), file_events
    terminal = [
        e
        for e in detail["events"]
        if e["event_type"] in ("finished", "cancelled")
        or (e["event_type"] == "error" and e["payload"].get("reason") == "finalize_exhausted")
    ]
    assert len(terminal) == runs
    result = detail["result_payload"]
    statuses = Counter(f["status"] for f in detail["files"])
    assert (result["processed_count"], result["failed_count"], result["skipped_count"]) == (
        statuses["processed"],
        statuses["failed"],
        statuses["skipped"],
    )
    assert result["total_files"] == len(detail["files"]) == sum(statuses.values())
    s3 = boto3.client("s3", region_name="us-east-1")
    for f in detail["files"]:
        if f["status"] == "processed":
            s3.head_object(Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=f["output_path"])
    return detail


# ---------------------------------------------------------------- a worker killed mid-file


@pytest.mark.parametrize("kill_point", ["extracting", "after_outputs_written", "after_result_recorded"])
def test_given_a_worker_killed_mid_file_when_redelivered_then_each_file_is_processed_once(
    client, pump, aws, monkeypatch, kill_point
):
    from data_extract.handlers import worker
    from data_extract.jobs import units
    from data_extract.pipeline import run
    from data_extract.store import ObjectStore

    job_id = submit_upload(client, files=FILES)["job_id"]
    killed = []

    def once(real):
        def maybe_kill(*args, **kwargs):
            if not killed:
                if kill_point == "after_outputs_written":
                    real(*args, **kwargs)
                killed.append(kill_point)
                raise WorkerKilled
            return real(*args, **kwargs)

        return maybe_kill

    if kill_point == "extracting":
        monkeypatch.setattr(run, "process_file", once(run.process_file))
    elif kill_point == "after_outputs_written":
        real_put = ObjectStore.put_bytes
        kill_after_put = once(real_put)

        def put_bytes(self, key, *args, **kwargs):
            return (kill_after_put if "/outputs/" in key else real_put)(self, key, *args, **kwargs)

        monkeypatch.setattr(ObjectStore, "put_bytes", put_bytes)
    else:
        monkeypatch.setattr(units, "hand_over_if_complete", once(units.hand_over_if_complete))

    _deliver_killed(pump, aws["DATA_EXTRACT_WORK_QUEUE_URL"], worker.lambda_handler)
    assert killed == [kill_point]
    pump.run()

    detail = assert_consistent(client, aws, job_id)
    assert detail["status"] == "completed"
    assert {f["status"] for f in detail["files"]} == {"processed"}
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(aws["DATA_EXTRACT_TABLE_NAME"])
    first = table.get_item(Key={"PK": f"JOB#{job_id}", "SK": "FILE#00001"})["Item"]
    # Started twice (the redelivery of a recorded result takes the duplicate path), counted once.
    assert first["attempts"] == (1 if kill_point == "after_result_recorded" else 2)


# ---------------------------------------------------------------- AWS calls throttled or timing out


def _inject(client_obj, event: str, fault) -> list[dict[str, Any]]:
    """Register ``fault(params)`` before the named operation builds its request; returns the calls it saw."""
    seen: list[dict[str, Any]] = []

    def hook(params, **kwargs):
        seen.append(params)
        fault(params, len(seen))

    client_obj.meta.events.register(event, hook)
    return seen


def _throttled(operation: str, code: str, status: int) -> ClientError:
    # What botocore raises once its own retries are exhausted.
    return ClientError(
        {
            "Error": {"Code": code, "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": status, "MaxAttemptsReached": True},
        },
        operation,
    )


def test_given_dynamodb_throttling_the_result_write_when_processed_then_the_unit_retries_and_counts_once(
    client,
    pump,
    aws,
):
    from data_extract.store import get_store

    job_id = submit_upload(client, files=FILES)["job_id"]

    throttled = []

    def throttle_first(params, n):
        records_a_result = any(
            "done_units" in i.get("Update", {}).get("UpdateExpression", "") for i in params["TransactItems"]
        )
        if records_a_result and not throttled:
            throttled.append(params)
            raise _throttled("TransactWriteItems", "ProvisionedThroughputExceededException", 400)

    seen = _inject(get_store().table._client, "before-parameter-build.dynamodb.TransactWriteItems", throttle_first)
    pump.run()

    detail = assert_consistent(client, aws, job_id)
    assert detail["status"] == "completed" and throttled and len(seen) > 3
    failures = [i for i in pump.invocations if i["result"]["batchItemFailures"]]
    assert len(failures) == 1  # the throttled record went back to the queue, once


def test_given_s3_timing_out_on_an_input_when_processed_then_the_unit_retries(client, pump, aws):
    from data_extract.store import get_store

    job_id = submit_upload(client, files=FILES)["job_id"]

    def time_out_first(params, n):
        if n == 1:
            raise ReadTimeoutError(endpoint_url=f"https://s3.amazonaws.com/{params['Key']}")

    _inject(get_store().objects._s3, "before-parameter-build.s3.GetObject", time_out_first)
    pump.run()

    detail = assert_consistent(client, aws, job_id)
    assert detail["status"] == "completed"


def test_given_s3_refusing_one_files_outputs_every_time_when_processed_then_it_fails_precisely(client, pump, aws):
    from data_extract.handlers import dead_letter, worker
    from data_extract.store import get_store

    job_id = submit_upload(client, files=FILES)["job_id"]

    def slow_down_b(params, n):
        if params["Key"].endswith("/outputs/b.txt.json"):
            raise _throttled("PutObject", "SlowDown", 503)

    _inject(get_store().objects._s3, "before-parameter-build.s3.PutObject", slow_down_b)
    work, dlq = aws["DATA_EXTRACT_WORK_QUEUE_URL"], aws["DATA_EXTRACT_WORK_DLQ_URL"]
    for _ in range(7):  # five receives, then the redrive policy moves the message to the dead-letter queue
        pump.drain(work, as_lambda(worker.lambda_handler), batch_size=5)
    assert pump.messages_waiting(dlq) == 1
    pump.drain(dlq, dead_letter.lambda_handler)
    pump.run()

    detail = assert_consistent(client, aws, job_id)
    files = {f["source_path"]: f for f in detail["files"]}
    assert detail["status"] == "partial"
    assert (files["b.txt"]["status"], files["b.txt"]["error_type"]) == ("failed", "delivery_exhausted")
    assert {files["a.txt"]["status"], files["c.txt"]["status"]} == {"processed"}


# ---------------------------------------------------------------- a parser that segfaults


def test_given_a_parser_that_segfaults_when_processed_then_that_file_fails_and_the_batch_goes_on(
    client, pump, aws, monkeypatch
):
    from data_extract.pipeline.extract import html

    def segfault(data, **kwargs):
        os.kill(os.getpid(), signal.SIGSEGV)  # in the guard's forked child

    monkeypatch.setattr(html, "extract_html", segfault)
    files = [("files", ("page.html", b"<html><body><p>Hello there.</p></body></html>", "text/html")), *FILES[:2]]
    job_id = submit_upload(client, files=files)["job_id"]
    pump.run()

    detail = assert_consistent(client, aws, job_id)
    by_name = {f["source_path"]: f for f in detail["files"]}
    assert detail["status"] == "partial"
    assert (by_name["page.html"]["status"], by_name["page.html"]["error_type"]) == ("failed", "internal_error")
    assert "SIGSEGV" in by_name["page.html"]["error_message"]
    assert by_name["a.txt"]["status"] == by_name["b.txt"]["status"] == "processed"


# ---------------------------------------------------------------- duplicated and reordered deliveries


def test_given_duplicated_and_reordered_deliveries_when_processed_then_nothing_is_counted_twice(client, pump, aws):
    from data_extract.handlers import finalize, worker

    sqs = pump.sqs
    work, fin = aws["DATA_EXTRACT_WORK_QUEUE_URL"], aws["DATA_EXTRACT_FINALIZE_QUEUE_URL"]
    job_id = submit_upload(client, files=FILES)["job_id"]
    originals = _receive_all(sqs, work)
    assert len(originals) == 3
    for m in originals:  # SQS delivers at least once: every unit twice more, as separate messages
        for _ in range(2):
            sqs.send_message(QueueUrl=work, MessageBody=m["Body"])
    copies = _receive_all(sqs, work)
    deliveries = list(reversed(originals + copies))  # last file first, copies before originals
    for start in range(0, len(deliveries), 4):
        batch = deliveries[start : start + 4]
        result = worker.lambda_handler(records_from_messages(batch, pump._arn(work)), LambdaContext())
        assert result == {"batchItemFailures": []}
    finalize_messages = _receive_all(sqs, fin)
    assert len(finalize_messages) == 1  # the run was handed over exactly once
    for _ in range(2):  # and its finalize message delivered three times
        finalize.lambda_handler(records_from_messages(finalize_messages, pump._arn(fin)), LambdaContext())
    finalize.lambda_handler(records_from_messages(finalize_messages, pump._arn(fin)), LambdaContext())

    detail = assert_consistent(client, aws, job_id)
    assert detail["status"] == "completed"


def test_given_a_late_message_of_an_earlier_run_when_delivered_after_a_retry_then_it_changes_nothing(
    client, pump, aws
):
    from data_extract.handlers import worker

    bad = [("files", ("a.json", b"{broken", "application/json")), *FILES[:1]]
    job_id = submit_upload(client, files=bad)["job_id"]
    pump.run()
    assert job(client, job_id)["status"] == "partial"
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=f"jobs/{job_id}/inputs/a.json", Body=b'{"ok": true}'
    )
    assert client.post(f"/api/v1/jobs/{job_id}/retry-failures").status_code == 202
    pump.run()
    before = job(client, job_id)

    late = {
        "MessageId": "late-1",
        "ReceiptHandle": "r",
        "MD5OfBody": "x",
        "Attributes": {},
        "Body": json.dumps({"job_id": job_id, "unit_id": "00001", "run": 1}),
    }
    result = worker.lambda_handler(
        records_from_messages([late], pump._arn(aws["DATA_EXTRACT_WORK_QUEUE_URL"])), LambdaContext()
    )

    assert result == {"batchItemFailures": []}
    after = assert_consistent(client, aws, job_id, runs=2)
    assert after["status"] == "completed"
    assert after["files"] == before["files"] and len(after["events"]) == len(before["events"])


# ---------------------------------------------------------------- a finalize that crashes half-way


def test_given_a_finalize_that_crashed_after_half_its_records_when_rerun_then_the_records_are_the_same(
    client,
    pump,
    aws,
    monkeypatch,
):
    from data_extract.handlers import finalize, worker
    from data_extract.store import ObjectStore

    job_id = submit_upload(client, files=[*FILES, ("files", ("d.xyz", b"\x00\x01", "application/octet-stream"))])[
        "job_id"
    ]
    pump.drain(aws["DATA_EXTRACT_WORK_QUEUE_URL"], worker.lambda_handler)
    real_put_json = ObjectStore.put_json
    written: list[str] = []

    def crash_on_session_record(self, key, payload):
        if key.startswith("records/sessions/") and not written:
            written.append(key)
            raise WorkerKilled  # result record and result.json are written; session and job records are not
        return real_put_json(self, key, payload)

    monkeypatch.setattr(ObjectStore, "put_json", crash_on_session_record)
    fin = aws["DATA_EXTRACT_FINALIZE_QUEUE_URL"]
    _deliver_killed(pump, fin, finalize.lambda_handler)
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = aws["DATA_EXTRACT_BUCKET_NAME"]
    half = json.loads(s3.get_object(Bucket=bucket, Key=f"records/jobs/{job_id}/result-001.json")["Body"].read())
    assert job(client, job_id)["status"] == "running"  # nothing of the crashed finalize is visible as done

    pump.run()

    detail = assert_consistent(client, aws, job_id)
    final = json.loads(s3.get_object(Bucket=bucket, Key=f"records/jobs/{job_id}/result-001.json")["Body"].read())
    artifact = json.loads(s3.get_object(Bucket=bucket, Key=f"jobs/{job_id}/result.json")["Body"].read())
    volatile = {"finished_at"}
    assert {k: v for k, v in final.items() if k not in volatile} == {
        k: v for k, v in half.items() if k not in volatile
    }
    assert artifact == final == detail["result_payload"]
    assert detail["status"] == "completed" and (final["processed_count"], final["skipped_count"]) == (3, 1)
    sessions = s3.list_objects_v2(Bucket=bucket, Prefix="records/sessions/")["Contents"]
    assert [o["Key"] for o in sessions] == [f"records/sessions/{detail['session_id']}.json"]

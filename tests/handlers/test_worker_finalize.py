"""Worker, finalize and dead-letter handlers invoked with real SQS event shapes (tests/events)."""

from __future__ import annotations

import copy
import json

import boto3

from tests.support.apigw import load_event
from tests.support.jobs import job, submit_upload
from tests.support.lambda_context import LambdaContext


def _event(template: str, body: dict) -> dict:
    event = copy.deepcopy(load_event(template))
    event["Records"][0]["body"] = json.dumps(body)
    return event


def _finalize_count(client, job_id):
    return [e["event_type"] for e in job(client, job_id)["events"]].count("finished")


def test_redelivered_record_for_a_finished_unit_changes_nothing(client, pump, aws):
    from data_extract.handlers import worker

    job_id = submit_upload(client)["job_id"]
    pump.run()
    before = job(client, job_id)
    unit = next(f for f in before["files"] if f["source_path"] == "alpha.txt")

    result = worker.lambda_handler(
        _event("sqs_work_unit.json", {"job_id": job_id, "unit_id": unit["file_id"], "run": 1}), LambdaContext()
    )
    assert result == {"batchItemFailures": []}
    pump.run()
    after = job(client, job_id)
    assert after["files"] == before["files"]
    assert after["result_payload"] == before["result_payload"]
    assert _finalize_count(client, job_id) == 1
    assert pump.messages_waiting(aws["DATA_EXTRACT_FINALIZE_QUEUE_URL"]) == 0


def test_finalize_runs_once_even_when_its_message_is_duplicated(client, pump, aws):
    from data_extract.handlers import finalize

    job_id = submit_upload(client)["job_id"]
    pump.run()
    checksum = job(client, job_id)["result_checksum"]
    for _ in range(2):
        out = finalize.lambda_handler(_event("sqs_finalize_run.json", {"job_id": job_id, "run": 1}), LambdaContext())
        assert out == {"batchItemFailures": []}
    assert _finalize_count(client, job_id) == 1
    assert job(client, job_id)["result_checksum"] == checksum


def test_malformed_message_is_reported_as_a_batch_item_failure_only(client, pump):
    from data_extract.handlers import worker

    job_id = submit_upload(client)["job_id"]
    event = _event("sqs_work_unit.json", {"job_id": job_id, "unit_id": "00001", "run": 1})
    bad = copy.deepcopy(event["Records"][0])
    bad["messageId"] = "bad-message"
    bad["body"] = "{not json"
    event["Records"].append(bad)
    result = worker.lambda_handler(event, LambdaContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad-message"}]}
    assert next(f for f in job(client, job_id)["files"] if f["file_id"] == "00001")["status"] != "queued"


def test_dead_lettered_unit_is_failed_so_the_job_still_finishes(client, pump, aws):
    from data_extract.handlers import dead_letter

    job_id = submit_upload(
        client,
        files=[("files", ("a.txt", b"Some text.", "text/plain")), ("files", ("b.txt", b"Other text.", "text/plain"))],
    )["job_id"]
    sqs = boto3.client("sqs", region_name="us-east-1")
    # Simulate: b.txt's message kept failing and SQS moved it to the dead-letter queue.
    msgs = sqs.receive_message(QueueUrl=aws["DATA_EXTRACT_WORK_QUEUE_URL"], MaxNumberOfMessages=10)["Messages"]
    b_msg = next(m for m in msgs if json.loads(m["Body"])["unit_id"] == "00002")
    sqs.delete_message(QueueUrl=aws["DATA_EXTRACT_WORK_QUEUE_URL"], ReceiptHandle=b_msg["ReceiptHandle"])
    for m in msgs:
        if m is not b_msg:
            sqs.change_message_visibility(
                QueueUrl=aws["DATA_EXTRACT_WORK_QUEUE_URL"], ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
            )
    event = _event("sqs_work_unit.json", json.loads(b_msg["Body"]))
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "5"
    assert dead_letter.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    pump.run()
    detail = job(client, job_id)
    assert detail["status"] == "partial"
    b = next(f for f in detail["files"] if f["source_path"] == "b.txt")
    assert b["status"] == "failed" and b["error_type"] == "delivery_exhausted"


def test_source_object_deleted_before_processing_fails_that_file_only(client, pump, aws):
    job_id = submit_upload(client)["job_id"]
    boto3.client("s3", region_name="us-east-1").delete_object(
        Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=f"jobs/{job_id}/inputs/alpha.txt"
    )
    pump.run()
    detail = job(client, job_id)
    assert detail["status"] == "partial"
    alpha = next(f for f in detail["files"] if f["source_path"] == "alpha.txt")
    assert alpha["error_type"] == "source_not_found"


def test_continue_on_error_false_halts_remaining_files(aws, pump):
    from data_extract.contract import JobOptions
    from data_extract.jobs import submit
    from data_extract.settings import get_settings
    from data_extract.store import get_store

    store, settings = get_store(), get_settings()
    files = [
        submit.InputFile("a.json", store.objects.bucket, "", 5, "h1", data=b"{bad"),
        submit.InputFile("b.txt", store.objects.bucket, "", 5, "h2", data=b"fine text"),
    ]
    inputs = submit.ResolvedInputs(files, "upload")
    out = submit.submit_job(
        store, settings, JobOptions(continue_on_error=False), submit.uploaded_source(files), lambda: inputs, {}
    )
    pump.run()
    units = {u["source_path"]: u for u in store.table.list_units(out.job_id)}
    assert units["a.json"]["status"] == "failed"
    assert units["b.txt"]["status"] == "skipped" and units["b.txt"]["error_type"] == "halted"


def test_finalize_that_keeps_failing_ends_the_job_failed_from_its_dead_letter_queue(client, pump, aws):
    from data_extract.handlers import dead_letter

    job_id = submit_upload(client)["job_id"]
    sqs = boto3.client("sqs", region_name="us-east-1")
    # Run the worker only; the finalize message then "keeps failing" and lands in the finalize DLQ.
    from data_extract.handlers import worker

    pump.drain(aws["DATA_EXTRACT_WORK_QUEUE_URL"], worker.lambda_handler, batch_size=5)
    msgs = sqs.receive_message(QueueUrl=aws["DATA_EXTRACT_FINALIZE_QUEUE_URL"], MaxNumberOfMessages=1)["Messages"]
    sqs.delete_message(QueueUrl=aws["DATA_EXTRACT_FINALIZE_QUEUE_URL"], ReceiptHandle=msgs[0]["ReceiptHandle"])
    assert job(client, job_id)["status"] == "running"

    event = _event("sqs_finalize_run.json", json.loads(msgs[0]["Body"]))
    assert dead_letter.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    detail = job(client, job_id)
    assert detail["status"] == "failed" and detail["finished_at"]
    assert detail["events"][-1]["event_type"] == "error"
    assert "failed repeatedly" in detail["events"][-1]["message"]
    assert detail["progress"]["processed"] == 3
    # A late duplicate of the finalize message changes nothing.
    from data_extract.handlers import finalize

    finalize.lambda_handler(event, LambdaContext())
    assert job(client, job_id)["status"] == "failed"

"""Cancel: queued files are skipped without extraction, running ones stop at the next stage boundary, finalize runs
once and ends the job cancelled with honest counts; 409 on ended jobs; cleanup refuses jobs that have not ended."""

from __future__ import annotations

import boto3

from tests.support.jobs import job, submit_upload

FILES = [
    ("files", (f"{name}.txt", f"File {name}. It has one sentence.".encode(), "text/plain"))
    for name in ("a", "b", "c")
]


def _events(detail: dict, kind: str) -> list[dict]:
    return [e for e in detail["events"] if e["event_type"] == kind]


def _outputs(aws, job_id: str) -> list[str]:
    listing = boto3.client("s3", region_name="us-east-1").list_objects_v2(
        Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Prefix=f"jobs/{job_id}/outputs/"
    )
    return [o["Key"] for o in listing.get("Contents", [])]


def test_given_a_queued_job_when_cancelled_then_no_file_is_extracted_and_it_ends_cancelled(
    client, pump, aws, monkeypatch
):
    from data_extract.pipeline import run

    job_id = submit_upload(client, files=FILES)["job_id"]
    extracted: list[str] = []
    real = run.process_file
    monkeypatch.setattr(
        run, "process_file", lambda data, **kw: extracted.append(kw["source_path"]) or real(data, **kw)
    )

    resp = client.post(f"/api/v1/jobs/{job_id}/cancel")

    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "cancelling" and resp.json()["cancel_requested_at"].endswith("Z")
    pump.run()
    detail = job(client, job_id)
    assert detail["status"] == "cancelled"
    assert extracted == []  # the work messages still arrived; none was extracted
    assert {(f["status"], f["error_type"]) for f in detail["files"]} == {("skipped", "cancelled")}
    assert detail["progress"] == {
        "total": 3,
        "queued": 0,
        "running": 0,
        "processed": 0,
        "failed": 0,
        "skipped": 3,
        "pending": 0,
    }
    (cancelled,) = _events(detail, "cancelled")
    assert cancelled["payload"] == {"run": 1, "processed": 0, "failed": 0, "skipped": 3}
    assert len(_events(detail, "cancelling")) == 1 and not _events(detail, "finished")
    assert detail["result_payload"]["status"] == "cancelled"
    assert detail["result_payload"]["skipped_count"] == 3
    assert _outputs(aws, job_id) == []


def test_given_a_cancelling_job_when_cancelled_again_then_the_answer_is_the_same(client, pump):
    job_id = submit_upload(client, files=FILES)["job_id"]

    first = client.post(f"/api/v1/jobs/{job_id}/cancel")
    second = client.post(f"/api/v1/jobs/{job_id}/cancel")

    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert len(_events(job(client, job_id), "cancelling")) == 1


def test_given_ended_jobs_when_cancelled_then_409_says_it_already_ended(client, pump):
    done = submit_upload(client, files=FILES[:1])["job_id"]
    gone = submit_upload(client, files=FILES[:1])["job_id"]
    assert client.post(f"/api/v1/jobs/{gone}/cancel").status_code == 202
    pump.run()

    for job_id, status in ((done, "completed"), (gone, "cancelled")):
        resp = client.post(f"/api/v1/jobs/{job_id}/cancel")
        assert resp.status_code == 409
        assert f"already ended with status {status}" in resp.json()["detail"]
    assert client.post("/api/v1/jobs/doesnotexist/cancel").status_code == 404


def test_given_a_file_being_extracted_when_the_job_is_cancelled_then_it_stops_at_the_next_boundary(
    client, pump, aws, monkeypatch
):
    from data_extract.jobs.cancel import cancel_job
    from data_extract.pipeline import run
    from data_extract.settings import get_settings
    from data_extract.store import Store

    job_id = submit_upload(client, files=FILES)["job_id"]
    real = run.process_file
    seen: list[str] = []

    def cancel_during_second_file(data, **kw):
        seen.append(kw["source_path"])
        if len(seen) == 2:
            cancel_job(Store.from_settings(get_settings()), job_id)  # arrives while this file is extracted
        return real(data, **kw)

    monkeypatch.setattr(run, "process_file", cancel_during_second_file)
    pump.run()

    detail = job(client, job_id)
    files = {f["source_path"]: f for f in detail["files"]}
    first, second = seen
    (third,) = set(files) - set(seen)
    assert detail["status"] == "cancelled"
    assert files[first]["status"] == "processed"  # done before the cancel: kept
    assert (files[second]["status"], files[second]["error_type"]) == ("skipped", "cancelled")
    assert "before this file's results were written" in files[second]["error_message"]
    assert (files[third]["status"], files[third]["error_type"]) == ("skipped", "cancelled")
    assert _outputs(aws, job_id) == [f"jobs/{job_id}/outputs/{first}.json"]
    (cancelled,) = _events(detail, "cancelled")
    assert cancelled["payload"] == {"run": 1, "processed": 1, "failed": 0, "skipped": 2}
    assert detail["result_payload"]["processed_count"] == 1


def test_given_a_cancel_during_finalize_when_the_run_ends_then_it_is_finalized_once_as_cancelled(
    client, pump, monkeypatch
):
    from data_extract.governance import evaluate as governance
    from data_extract.jobs.cancel import cancel_job
    from data_extract.settings import get_settings
    from data_extract.store import Store

    job_id = submit_upload(client, files=FILES)["job_id"]
    real = governance.evaluate
    calls = []

    def cancel_while_evaluating(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            cancel_job(Store.from_settings(get_settings()), job_id)
        return real(*args, **kwargs)

    monkeypatch.setattr(governance, "evaluate", cancel_while_evaluating)
    pump.run()

    detail = job(client, job_id)
    assert detail["status"] == "cancelled"
    assert len(calls) == 2  # the first write lost to the cancel; the run was finalized again, once
    assert {f["status"] for f in detail["files"]} == {"processed"}
    assert len(_events(detail, "cancelled")) == 1 and not _events(detail, "finished")


def test_given_jobs_not_ended_when_cleaned_then_409_and_a_cancelled_job_can_be_cleaned(client, pump):
    queued = submit_upload(client, files=FILES)["job_id"]
    assert client.delete(f"/api/v1/jobs/{queued}/artifacts").status_code == 409

    _deliver_one_work_message(pump)  # one file done: the job is running
    assert job(client, queued)["status"] == "running"
    assert client.delete(f"/api/v1/jobs/{queued}/artifacts").status_code == 409

    assert client.post(f"/api/v1/jobs/{queued}/cancel").status_code == 202
    cleanup = client.delete(f"/api/v1/jobs/{queued}/artifacts")
    assert cleanup.status_code == 409 and "cancelling" in cleanup.json()["detail"]

    pump.run()
    assert job(client, queued)["status"] == "cancelled"
    assert client.delete(f"/api/v1/jobs/{queued}/artifacts").status_code == 200
    retry = client.post(f"/api/v1/jobs/{queued}/retry-failures")
    assert retry.status_code == 409


def _deliver_one_work_message(pump) -> None:
    from data_extract.handlers import worker
    from tests.support.lambda_context import LambdaContext
    from tests.support.sqs import records_from_messages

    url = pump.env["DATA_EXTRACT_WORK_QUEUE_URL"]
    (message,) = pump.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"])["Messages"]
    result = worker.lambda_handler(records_from_messages([message], pump._arn(url)), LambdaContext())
    assert result == {"batchItemFailures": []}
    pump.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_given_an_idempotent_replay_when_answered_then_it_says_so_in_a_header(client, pump):
    files = [("files", ("a.txt", b"Replay me.", "text/plain"))]

    first = client.post("/api/v1/jobs/process", files=files, headers={"Idempotency-Key": "replay-header"})
    again = client.post("/api/v1/jobs/process", files=files, headers={"Idempotency-Key": "replay-header"})

    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["job_id"] == first.json()["job_id"]


def test_given_the_openapi_document_when_read_then_cancel_and_the_replay_header_are_described(client):
    doc = client.get("/openapi.json").json()

    cancel = doc["paths"]["/api/v1/jobs/{job_id}/cancel"]["post"]
    assert {"202", "401", "404", "409", "422"} <= set(cancel["responses"])
    assert cancel["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/CancelJobResponse")
    assert "cancelling" in doc["components"]["schemas"]["JobStatus"]["enum"]
    replay = doc["paths"]["/api/v1/jobs/process"]["post"]["responses"]["200"]
    assert "Idempotent-Replayed" in replay["headers"]
    assert "callback_url" in doc["components"]["schemas"]["ProcessJobRequest"]["properties"]

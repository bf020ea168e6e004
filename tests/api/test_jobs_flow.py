"""A job end to end through the API, the worker and finalize: ASGI and both API Gateway event versions."""

from __future__ import annotations

import json

from tests.support.jobs import UTF16_TEXT, job, submit_upload


def test_multipart_upload_runs_to_completed_with_skipped_unsupported_file(client, pump):
    # GIVEN three text files (one UTF-16) and one .xyz file, uploaded as multipart
    created = submit_upload(client)
    assert created["status"] == "queued"
    job_id = created["job_id"]

    # WHEN the worker and finalize consume their queues
    pump.run()

    # THEN the job completed with three processed files and the .xyz file skipped as unsupported
    detail = job(client, job_id)
    assert detail["status"] == "completed"
    by_path = {f["source_path"]: f for f in detail["files"]}
    assert {p: f["status"] for p, f in by_path.items()} == {
        "alpha.txt": "processed",
        "notes/beta.md": "processed",
        "gamma.txt": "processed",
        "delta.xyz": "skipped",
    }
    assert by_path["delta.xyz"]["error_type"] == "unsupported_format"
    assert detail["progress"] == {
        "total": 4,
        "queued": 0,
        "running": 0,
        "processed": 3,
        "failed": 0,
        "skipped": 1,
        "pending": 0,
    }
    result = detail["result_payload"]
    assert (result["processed_count"], result["failed_count"], result["skipped_count"]) == (3, 0, 1)
    assert result["semantic"]["status"] == "disabled"
    assert result["evaluation"]["policy_id"] == "baseline_v1"
    assert next(e["event_type"] for e in detail["events"]) == "queued"
    assert "finished" in [e["event_type"] for e in detail["events"]]
    assert detail["created_at"].endswith("Z") and detail["finished_at"].endswith("Z")


def test_artifacts_are_listed_and_downloadable_with_utf16_text_decoded(client, pump):
    job_id = submit_upload(client)["job_id"]
    pump.run()

    listing = client.get(f"/api/v1/jobs/{job_id}/artifacts")
    assert listing.status_code == 200
    paths = {a["path"] for a in listing.json()["artifacts"]}
    assert {"outputs/alpha.txt.json", "outputs/notes/beta.md.json", "outputs/gamma.txt.json", "result.json"} <= paths

    resp = client.get(f"/api/v1/jobs/{job_id}/artifacts/outputs/gamma.txt.json")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    assert 'filename="gamma.txt.json"' in resp.headers["content-disposition"]
    doc = json.loads(resp.content)
    assert "The controls were tested in October." in doc["content"]
    assert "\x00" not in doc["content"]
    assert doc["metadata"]["chunk_count"] == len(doc["chunks"]) >= 1

    beta = json.loads(client.get(f"/api/v1/jobs/{job_id}/artifacts/outputs/notes/beta.md.json").content)
    assert "Grüße aus Köln" in beta["content"]

    result = json.loads(client.get(f"/api/v1/jobs/{job_id}/artifacts/result.json").content)
    assert result["job_id"] == job_id and result["status"] == "completed"


def test_txt_and_csv_outputs_are_downloadable_binary_safe(client, pump):
    job_id = submit_upload(client, output_format="csv")["job_id"]
    pump.run()
    resp = client.get(f"/api/v1/jobs/{job_id}/artifacts/outputs/alpha.txt.csv")
    assert resp.status_code == 200
    assert resp.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM survives base64 transport
    assert b"chunk_id,source_file" in resp.content
    assert (
        UTF16_TEXT.split("\n")[0].encode()
        in client.get(f"/api/v1/jobs/{job_id}/artifacts/outputs/gamma.txt.csv").content
    )


def test_job_list_is_newest_first_and_paginated(client, pump):
    first = submit_upload(client)["job_id"]
    second = submit_upload(client)["job_id"]
    listed = client.get("/api/v1/jobs").json()
    assert [j["job_id"] for j in listed[:2]] == [second, first]
    assert client.get("/api/v1/jobs", params={"limit": 1, "offset": 1}).json()[0]["job_id"] == first
    assert client.get("/api/v1/jobs", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/jobs", params={"limit": 1001}).status_code == 422


def test_progress_is_visible_while_the_job_runs(client, pump, aws):
    from data_extract.handlers import worker
    from tests.support.lambda_context import LambdaContext
    from tests.support.sqs import records_from_messages

    job_id = submit_upload(client)["job_id"]
    sqs = pump.sqs
    msg = sqs.receive_message(
        QueueUrl=aws["DATA_EXTRACT_WORK_QUEUE_URL"], MaxNumberOfMessages=1, AttributeNames=["All"]
    )["Messages"]
    worker.lambda_handler(records_from_messages(msg, "arn:aws:sqs:us-east-1:123456789012:work"), LambdaContext())
    sqs.delete_message(QueueUrl=aws["DATA_EXTRACT_WORK_QUEUE_URL"], ReceiptHandle=msg[0]["ReceiptHandle"])

    detail = job(client, job_id)
    assert detail["status"] == "running"
    assert detail["progress"]["total"] == 4
    assert detail["progress"]["pending"] == 3
    assert detail["progress"]["processed"] + detail["progress"]["skipped"] == 1
    assert any(e["event_type"] == "file" for e in detail["events"])

"""Failure paths found in review: dispatch failures, halted jobs retried, abandoned idempotency keys, size limits."""

from __future__ import annotations

import boto3

from tests.support.jobs import job, submit_upload


def test_units_that_cannot_be_queued_fail_and_the_job_still_ends(client, pump, monkeypatch):
    from data_extract.store import QueueError, Queues

    real_send = Queues.send_work

    def send_first_batch_only(self, messages):
        real_send(self, messages[:10])
        raise QueueError("throttled", sent=10)

    monkeypatch.setattr(Queues, "send_work", send_first_batch_only)
    files = [("files", (f"f{i:02d}.txt", f"File number {i}.".encode(), "text/plain")) for i in range(12)]
    job_id = submit_upload(client, files=files)["job_id"]
    monkeypatch.setattr(Queues, "send_work", real_send)
    pump.run()

    detail = job(client, job_id)
    assert detail["status"] == "partial"
    failed = sorted(f["source_path"] for f in detail["files"] if f["status"] == "failed")
    assert failed == ["f10.txt", "f11.txt"]
    assert {f["error_type"] for f in detail["files"] if f["status"] == "failed"} == {"dispatch_failed"}
    assert client.post(f"/api/v1/jobs/{job_id}/retry-failures").status_code == 202
    pump.run()
    assert job(client, job_id)["status"] == "completed"


def test_a_halted_job_can_be_retried_and_its_halted_files_run(client, pump, aws):
    files = [("files", ("a.json", b"{broken", "application/json")), ("files", ("b.txt", b"Fine text.", "text/plain"))]
    job_id = submit_upload(client, files=files, continue_on_error=False)["job_id"]
    pump.run()
    first = {f["source_path"]: f for f in job(client, job_id)["files"]}
    assert first["a.json"]["status"] == "failed"
    assert (first["b.txt"]["status"], first["b.txt"]["error_type"]) == ("skipped", "halted")

    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=f"jobs/{job_id}/inputs/a.json", Body=b'{"ok": true}'
    )
    assert client.post(f"/api/v1/jobs/{job_id}/retry-failures").status_code == 202
    pump.run()
    after = job(client, job_id)
    assert after["status"] == "completed"
    assert {f["status"] for f in after["files"]} == {"processed"}


def test_an_abandoned_idempotency_key_is_taken_over(client, pump, aws):
    ddb = boto3.resource("dynamodb", region_name="us-east-1").Table(aws["DATA_EXTRACT_TABLE_NAME"])
    files = [("files", ("a.txt", b"Some text here.", "text/plain"))]
    first = client.post("/api/v1/jobs/process", files=files, headers={"Idempotency-Key": "crashy"})
    real_hash = ddb.get_item(Key={"PK": "IDEMPOTENCY#crashy", "SK": "IDEMPOTENCY"})["Item"]["request_hash"]
    # The key now points at a job whose creation "never happened", claimed long ago.
    ddb.put_item(
        Item={
            "PK": "IDEMPOTENCY#crashy",
            "SK": "IDEMPOTENCY",
            "request_hash": real_hash,
            "job_id": "neverexisted",
            "created_at": "2026-01-01T00:00:00.000Z",
            "expires_at": 2**31,
        }
    )
    again = client.post("/api/v1/jobs/process", files=files, headers={"Idempotency-Key": "crashy"})
    assert again.status_code == 202
    assert again.json()["job_id"] not in ("neverexisted", first.json()["job_id"])
    assert client.get(f"/api/v1/jobs/{again.json()['job_id']}").status_code == 200


def test_input_path_objects_over_the_size_limit_are_refused(client, aws, monkeypatch):
    from data_extract.settings import get_settings

    bucket = aws["DATA_EXTRACT_BUCKET_NAME"]
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=bucket, Key="incoming/big/a.txt", Body=b"x" * 500)
    monkeypatch.setenv("DATA_EXTRACT_API_MAX_UPLOAD_FILE_BYTES", "100")
    get_settings.cache_clear()
    resp = client.post("/api/v1/jobs/process", json={"input_path": f"s3://{bucket}/incoming/big/"})
    assert resp.status_code == 413 and "per-file" in resp.json()["detail"]
    get_settings.cache_clear()


def test_worker_fails_oversized_inputs_before_downloading(aws, pump, monkeypatch):
    from data_extract.contract import JobOptions
    from data_extract.jobs import submit
    from data_extract.settings import get_settings
    from data_extract.store import get_store

    store = get_store()
    files = [submit.InputFile("a.txt", store.objects.bucket, "", 50, "h", data=b"y" * 50)]
    inputs = submit.ResolvedInputs(files, "upload")
    out = submit.submit_job(store, get_settings(), JobOptions(), submit.uploaded_source(files), lambda: inputs, {})
    monkeypatch.setenv("DATA_EXTRACT_MAX_FILE_BYTES", "10")
    get_settings.cache_clear()
    pump.run()
    unit = store.table.list_units(out.job_id)[0]
    assert (unit["status"], unit["error_type"]) == ("failed", "too_large")
    get_settings.cache_clear()


def test_binary_artifacts_redirect_before_their_base64_body_outgrows_lambda(client, pump, aws, monkeypatch):
    from data_extract.settings import get_settings

    job_id = submit_upload(client)["job_id"]
    pump.run()
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=f"jobs/{job_id}/inputs/scan.bin", Body=b"\x00" * 900)
    s3.put_object(Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=f"jobs/{job_id}/inputs/note.txt", Body=b"n" * 900)
    monkeypatch.setenv("DATA_EXTRACT_API_INLINE_DOWNLOAD_MAX_BYTES", "1000")
    get_settings.cache_clear()
    resp = client.get(f"/api/v1/jobs/{job_id}/artifacts/inputs/scan.bin", follow_redirects=False)
    assert resp.status_code == 307  # 900 bytes are 1200 once base64-encoded
    text = client.get(f"/api/v1/jobs/{job_id}/artifacts/inputs/note.txt", follow_redirects=False)
    assert text.status_code == 200 and text.content == b"n" * 900  # text goes out as is
    get_settings.cache_clear()


def test_a_document_password_is_sealed_with_kms_and_opens_the_pdf(client, pump, aws):
    from tests.unit.pipeline.pdf_builder import plain_pdf

    data = plain_pdf(["Quarterly secret figures."], user_password="open-sesame")
    files = [("files", ("locked.pdf", data, "application/pdf"))]
    job_id = submit_upload(client, files=files, password="open-sesame")["job_id"]
    pump.run()
    detail = job(client, job_id)
    assert detail["status"] == "completed", detail["files"]
    assert "password" not in detail["request_payload"]
    assert "open-sesame" not in client.get(f"/api/v1/jobs/{job_id}").text

    ddb = boto3.resource("dynamodb", region_name="us-east-1").Table(aws["DATA_EXTRACT_TABLE_NAME"])
    item = ddb.get_item(Key={"PK": f"JOB#{job_id}", "SK": "JOB"})["Item"]
    assert "open-sesame" not in str(item)
    assert item["sealed_password"]
    text = client.get(f"/api/v1/jobs/{job_id}/artifacts/outputs/locked.pdf.json").json()["content"]
    assert "Quarterly secret figures." in text


def test_a_wrong_document_password_fails_the_file_as_encrypted(client, pump):
    from tests.unit.pipeline.pdf_builder import plain_pdf

    files = [("files", ("locked.pdf", plain_pdf(["Hidden."], user_password="right"), "application/pdf"))]
    job_id = submit_upload(client, files=files, password="wrong")["job_id"]
    pump.run()
    unit = job(client, job_id)["files"][0]
    assert (unit["status"], unit["error_type"]) == ("failed", "encrypted")
    assert "wrong" in unit["error_message"]

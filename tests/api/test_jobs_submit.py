"""Submitting jobs: validation, limits, input_path roots, idempotency, admission control."""

from __future__ import annotations

import boto3
import pytest

from tests.support.jobs import job, submit_upload


def test_json_submit_with_input_path_inside_allowed_root(client, aws, pump):
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = aws["DATA_EXTRACT_BUCKET_NAME"]
    s3.put_object(Bucket=bucket, Key="incoming/batch1/a.txt", Body=b"Alpha text. Second sentence.")
    s3.put_object(Bucket=bucket, Key="incoming/batch1/b.csv", Body=b"name,score\nann,3\nbob,4\n")
    s3.put_object(Bucket=bucket, Key="incoming/batch1/sub/c.txt", Body=b"Nested file.")

    resp = client.post("/api/v1/jobs/process", json={"input_path": f"s3://{bucket}/incoming/batch1/"})
    assert resp.status_code == 202, resp.text
    pump.run()
    detail = job(client, resp.json()["job_id"])
    assert detail["status"] == "completed"
    assert sorted(f["source_path"] for f in detail["files"]) == ["a.txt", "b.csv"]  # not recursive

    recursive = client.post(
        "/api/v1/jobs/process", json={"input_path": f"s3://{bucket}/incoming/batch1/", "recursive": True}
    )
    assert len(job(client, recursive.json()["job_id"])["files"]) == 3

    glob = client.post("/api/v1/jobs/process", json={"input_path": f"s3://{bucket}/incoming/batch1/*.csv"})
    assert [f["source_path"] for f in job(client, glob.json()["job_id"])["files"]] == ["b.csv"]


@pytest.mark.parametrize("path", ["s3://other-bucket/x/", "outside/a.txt", "incoming/../secret/a.txt", ""])
def test_input_path_outside_allowed_roots_is_rejected(client, aws, path):
    resp = client.post("/api/v1/jobs/process", json={"input_path": path})
    assert resp.status_code == 400
    assert "input_path" in resp.json()["detail"]


def test_input_path_with_no_objects_is_a_clear_400(client, aws):
    resp = client.post("/api/v1/jobs/process", json={"input_path": "incoming/nothing-here/"})
    assert resp.status_code == 400
    assert "No files found" in resp.json()["detail"]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"input_path": "incoming/a", "output_format": "xml"}, "output_format"),
        ({"input_path": "incoming/a", "strategy": "by_magic", "organize": True}, "strategy"),
        ({"input_path": "incoming/a", "chunk_size": 0}, "chunk_size"),
        ({"input_path": "incoming/a", "semantic_graph_format": "png"}, "semantic_graph_format"),
        ({"input_path": "incoming/a", "evaluation_policy": "nope_v9"}, "evaluation_policy"),
        ({"input_path": "incoming/a", "surprise": 1}, "surprise"),
        ({}, "input_path"),
    ],
)
def test_unknown_option_values_are_rejected_at_submit_with_422(client, aws, body, field):
    resp = client.post("/api/v1/jobs/process", json=body)
    assert resp.status_code == 422
    assert field in resp.text


def test_unknown_preset_is_rejected_at_submit(client, aws):
    resp = client.post(
        "/api/v1/jobs/process",
        files=[("files", ("a.txt", b"x y z", "text/plain"))],
        data={"preset": "no-such-preset"},
    )
    assert resp.status_code == 422
    assert "no-such-preset" in resp.json()["detail"]


def test_multipart_option_values_are_validated_too(client, aws):
    resp = client.post(
        "/api/v1/jobs/process", files=[("files", ("a.txt", b"x", "text/plain"))], data={"chunk_size": "many"}
    )
    assert resp.status_code == 422


def test_unsupported_content_type_is_415(client, aws):
    resp = client.post(
        "/api/v1/jobs/process", content=b"input_path=x", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert resp.status_code == 415


def test_upload_limits_answer_413_naming_the_limit(client, aws, monkeypatch):
    from data_extract.settings import get_settings

    monkeypatch.setenv("DATA_EXTRACT_API_MAX_UPLOAD_FILE_BYTES", "10")
    monkeypatch.setenv("DATA_EXTRACT_API_MAX_UPLOAD_FILES", "2")
    get_settings.cache_clear()
    big = client.post("/api/v1/jobs/process", files=[("files", ("big.txt", b"x" * 11, "text/plain"))])
    assert big.status_code == 413 and "per-file upload limit" in big.json()["detail"]
    many = client.post("/api/v1/jobs/process", files=[("files", (f"{i}.txt", b"x", "text/plain")) for i in range(3)])
    assert many.status_code == 413 and "file count" in many.json()["detail"]
    get_settings.cache_clear()


def test_upload_names_are_sanitized_and_duplicates_refused(client, aws, pump):
    resp = client.post(
        "/api/v1/jobs/process",
        files=[
            ("files", ("../../etc/passwd.txt", b"root text", "text/plain")),
            ("files", ("C:/Users/me/notes.txt", b"win text", "text/plain")),
        ],
    )
    assert resp.status_code == 202
    files = sorted(f["source_path"] for f in job(client, resp.json()["job_id"])["files"])
    assert files == ["Users/me/notes.txt", "etc/passwd.txt"]
    dup = client.post(
        "/api/v1/jobs/process",
        files=[("files", ("a.txt", b"1", "text/plain")), ("files", ("./a.txt", b"2", "text/plain"))],
    )
    assert dup.status_code == 400 and "Duplicate" in dup.json()["detail"]


def test_admission_control_answers_503_with_retry_after(client, aws, monkeypatch):
    from data_extract.settings import get_settings

    monkeypatch.setenv("DATA_EXTRACT_API_QUEUE_HIGH_WATERMARK", "2")
    get_settings.cache_clear()
    submit_upload(client)  # four messages now wait in the work queue
    resp = client.post("/api/v1/jobs/process", files=[("files", ("a.txt", b"x", "text/plain"))])
    assert resp.status_code == 503
    assert int(resp.headers["retry-after"]) >= 1
    assert "watermark" in resp.json()["detail"]
    get_settings.cache_clear()


def test_presigned_upload_flow(client, aws, pump):
    import httpx

    resp = client.post("/api/v1/uploads", json={"files": [{"name": "big/report.txt", "size_bytes": 30}]})
    assert resp.status_code == 201, resp.text
    upload = resp.json()
    target = upload["files"][0]
    assert target["name"] == "big/report.txt"
    # The URL points at S3 (moto intercepts it in-process).
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(
        Bucket=aws["DATA_EXTRACT_BUCKET_NAME"],
        Key=f"uploads/{upload['upload_id']}/big/report.txt",
        Body=b"Presigned upload content here.",
    )
    assert httpx.URL(target["url"]).host.endswith("amazonaws.com")
    created = client.post("/api/v1/jobs/process", json={"upload_id": upload["upload_id"]})
    assert created.status_code == 202, created.text
    pump.run()
    detail = job(client, created.json()["job_id"])
    assert detail["status"] == "completed"
    assert detail["files"][0]["source_path"] == "big/report.txt"


def test_presigned_upload_without_files_is_400(client, aws):
    resp = client.post("/api/v1/jobs/process", json={"upload_id": "abc123"})
    assert resp.status_code == 400


def test_idempotent_replay_of_an_input_path_job_does_not_depend_on_the_objects(client, aws, pump):
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = aws["DATA_EXTRACT_BUCKET_NAME"]
    s3.put_object(Bucket=bucket, Key="incoming/replay/a.txt", Body=b"First version.")
    body = {"input_path": f"s3://{bucket}/incoming/replay/", "idempotency_key": "nightly-2026-11-25"}
    first = client.post("/api/v1/jobs/process", json=body)
    assert first.status_code == 202
    pump.run()
    # The inputs change (or vanish) afterwards; the same request still names the same job.
    s3.delete_object(Bucket=bucket, Key="incoming/replay/a.txt")
    replay = client.post("/api/v1/jobs/process", json=body)
    assert replay.status_code == 200
    assert replay.json() == {"job_id": first.json()["job_id"], "status": "completed"}
    different = client.post("/api/v1/jobs/process", json={**body, "chunk_size": 128})
    assert different.status_code == 409

"""Retry, cleanup, artifact download guard, sessions: the job after it ran."""

from __future__ import annotations

import boto3

from tests.support.jobs import job, submit_upload


def _failing_upload(client, **fields):
    # A .json file that is not valid JSON fails as corrupt; the text file succeeds.
    files = [
        ("files", ("good.txt", b"Good text. It has two sentences.", "text/plain")),
        ("files", ("bad.json", b'{"truncated": [1, 2', "application/json")),
    ]
    return submit_upload(client, files=files, **fields)["job_id"]


def test_retry_requeues_only_failed_files_and_keeps_successes(client, pump, aws):
    job_id = _failing_upload(client, chunk_size=64, output_format="txt")
    pump.run()
    first = job(client, job_id)
    assert first["status"] == "partial"
    good_before = next(f for f in first["files"] if f["source_path"] == "good.txt")

    # The broken file gets fixed in place, then retried.
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(
        Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=f"jobs/{job_id}/inputs/bad.json", Body=b'{"fixed": [1, 2, 3]}'
    )
    resp = client.post(f"/api/v1/jobs/{job_id}/retry-failures")
    assert resp.status_code == 202
    assert resp.json() == {"job_id": job_id, "status": "queued"}
    assert job(client, job_id)["session_id"] != first["session_id"]
    pump.run()

    after = job(client, job_id)
    assert after["status"] == "completed"
    files = {f["source_path"]: f for f in after["files"]}
    assert files["bad.json"]["status"] == "processed" and files["bad.json"]["retry_count"] == 1
    assert files["good.txt"]["retry_count"] == 0
    assert files["good.txt"]["output_path"] == good_before["output_path"]
    assert after["effective_format"] == "txt" and after["effective_chunk_size"] == 64
    assert after["result_payload"]["processed_count"] == 2
    assert after["result_payload"]["run"] == 2
    assert after["dispatch_attempts"] == 2


def test_retry_conflicts_when_running_or_nothing_to_retry(client, pump):
    job_id = submit_upload(client)["job_id"]
    assert client.post(f"/api/v1/jobs/{job_id}/retry-failures").status_code == 409  # still queued
    pump.run()
    before = job(client, job_id)
    resp = client.post(f"/api/v1/jobs/{job_id}/retry-failures")
    assert resp.status_code == 409
    assert "no failed files" in resp.json()["detail"]
    after = job(client, job_id)
    assert after["status"] == "completed" and after["result_payload"] == before["result_payload"]
    assert client.post("/api/v1/jobs/doesnotexist/retry-failures").status_code == 404


def test_retries_stop_after_the_limit(client, pump):
    job_id = _failing_upload(client)
    pump.run()
    for _ in range(3):
        assert client.post(f"/api/v1/jobs/{job_id}/retry-failures").status_code == 202
        pump.run()
    resp = client.post(f"/api/v1/jobs/{job_id}/retry-failures")
    assert resp.status_code == 409
    bad = next(f for f in job(client, job_id)["files"] if f["source_path"] == "bad.json")
    assert bad["retry_count"] == 3 and bad["status"] == "failed" and bad["error_type"] == "corrupt"


def test_cleanup_deletes_everything_refuses_running_jobs_and_sticks(client, pump):
    job_id = submit_upload(client)["job_id"]
    assert client.delete(f"/api/v1/jobs/{job_id}/artifacts").status_code == 409
    pump.run()
    resp = client.delete(f"/api/v1/jobs/{job_id}/artifacts")
    assert resp.status_code == 200
    assert resp.json()["removed"] is True and resp.json()["job_id"] == job_id
    assert client.get(f"/api/v1/jobs/{job_id}/artifacts").json()["artifacts"] == []
    detail = job(client, job_id)
    assert detail["events"][-1]["event_type"] == "cleanup"
    assert detail["result_payload"]["status"] == "completed"  # the record survives the artifacts
    pump.run()  # nothing pending may bring artifacts back
    assert client.get(f"/api/v1/jobs/{job_id}/artifacts").json()["artifacts"] == []
    assert client.post(f"/api/v1/jobs/{job_id}/retry-failures").status_code == 409


ESCAPING_PATHS = [
    "../result.json",
    "outputs/../../other/result.json",
    "outputs/%2e%2e/%2e%2e/x",
    "outputs%2F..%2F..%2Fx",
    "outputs/..%252F..%252Fx",
    "outputs\\..\\x",
    "%2Fetc%2Fpasswd",
    "outputs//alpha.txt.json",
    "outputs/alpha.txt.json%00",
    "..%5c..%5cresult.json",
]


def test_download_guard_rejects_paths_leaving_the_job(client, pump):
    job_id = submit_upload(client)["job_id"]
    pump.run()
    assert client.get(f"/api/v1/jobs/{job_id}/artifacts/outputs/alpha.txt.json").status_code == 200
    for bad_path in ESCAPING_PATHS:
        resp = client.get(f"/api/v1/jobs/{job_id}/artifacts/{bad_path}")
        assert resp.status_code in (400, 404), bad_path
        assert resp.status_code == 400 or "not found" in resp.text.lower(), bad_path
        assert b"Alpha report" not in resp.content, bad_path


def test_unknown_job_and_artifact_are_404(client, pump):
    assert client.get("/api/v1/jobs/unknown123").status_code == 404
    assert client.get("/api/v1/jobs/unknown123/artifacts").status_code == 404
    job_id = submit_upload(client)["job_id"]
    pump.run()
    resp = client.get(f"/api/v1/jobs/{job_id}/artifacts/outputs/missing.json")
    assert resp.status_code == 404 and "Artifact not found" in resp.json()["detail"]


def test_large_artifacts_redirect_to_a_presigned_url(client, pump, monkeypatch):
    from data_extract.settings import get_settings

    job_id = submit_upload(client)["job_id"]
    pump.run()
    monkeypatch.setenv("DATA_EXTRACT_API_INLINE_DOWNLOAD_MAX_BYTES", "10")
    get_settings.cache_clear()
    resp = client.get(f"/api/v1/jobs/{job_id}/artifacts/outputs/alpha.txt.json", follow_redirects=False)
    assert resp.status_code == 307
    assert "X-Amz-Signature" in resp.headers["location"] and "alpha.txt.json" in resp.headers["location"]
    get_settings.cache_clear()


def test_sessions_list_and_detail_for_successful_and_retry_runs(client, pump, aws):
    job_id = _failing_upload(client)
    pump.run()
    first = job(client, job_id)
    client.post(f"/api/v1/jobs/{job_id}/retry-failures")
    pump.run()

    sessions = client.get("/api/v1/sessions").json()
    mine = [s for s in sessions if s["job_id"] == job_id]
    assert [s["run"] for s in mine] == [2, 1]
    assert {s["status"] for s in mine} <= {"completed", "partial", "failed"}
    detail = client.get(f"/api/v1/sessions/{first['session_id']}").json()
    assert detail["status"] == "partial"
    assert detail["statistics"] == {"total_files": 2, "processed_count": 1, "failed_count": 1, "skipped_count": 0}
    assert detail["failed_files"][0]["path"] == "bad.json"
    assert client.get("/api/v1/sessions/nope0000").status_code == 404

    # The S3 records stand in when the projection misses a session.
    ddb = boto3.resource("dynamodb", region_name="us-east-1").Table(aws["DATA_EXTRACT_TABLE_NAME"])
    ddb.delete_item(Key={"PK": f"SESSION#{first['session_id']}", "SK": "SESSION"})
    again = {s["session_id"] for s in client.get("/api/v1/sessions").json()}
    assert first["session_id"] in again

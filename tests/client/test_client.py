"""The Python client against the real app: every operation, typed models, typed errors with the API's detail."""

from __future__ import annotations

import asyncio
from pathlib import Path

import boto3
import httpx
import pytest

from data_extract import contract
from data_extract.client import (
    AsyncDataExtractClient,
    BadRequest,
    Conflict,
    DataExtractClient,
    FileSelectionError,
    NotFound,
    ServerUnreachable,
    Unauthorized,
    ValidationFailed,
    WaitTimedOut,
    _core,
    collect_files,
)


def _docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "notes").mkdir(parents=True)
    (root / "alpha.txt").write_text("Alpha report. The first control passed review.\n\nSecond paragraph here.")
    (root / "notes" / "beta.md").write_text("# Beta\n\nUmlauts: Grüße aus Köln.")
    (root / "bad.json").write_bytes(b'{"truncated": [1, 2')
    (root / ".hidden").write_text("never sent")
    return root


def test_collect_files_walks_folders_and_names_files_below_the_folder(tmp_path):
    root = _docs(tmp_path)
    (tmp_path / "single.txt").write_text("one")
    files = collect_files([root, tmp_path / "single.txt", root / "alpha.txt"])
    assert [f.name for f in files] == [
        "docs/alpha.txt",
        "docs/bad.json",
        "docs/notes/beta.md",
        "single.txt",
        "alpha.txt",
    ]
    assert files[0].size == (root / "alpha.txt").stat().st_size
    with pytest.raises(FileSelectionError, match="no such file"):
        collect_files([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileSelectionError, match="holds no files"):
        collect_files([tmp_path / "empty"])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "alpha.txt").write_text("another alpha")
    with pytest.raises(FileSelectionError, match=r"both be named 'alpha\.txt'"):
        collect_files([root / "alpha.txt", tmp_path / "other" / "alpha.txt"])


def test_submit_wait_and_read_a_job_with_the_contract_models(any_api, tmp_path):
    api = any_api
    created = api.submit_files(collect_files([_docs(tmp_path)]), contract.JobOptions(chunk_size=64))
    assert isinstance(created, contract.EnqueueJobResponse) and created.status == contract.JobStatus.queued

    seen: list[contract.JobDetail] = []
    detail = api.wait_for_job(created.job_id, poll_interval=0.01, timeout=30, on_update=seen.append)

    assert isinstance(detail, contract.JobDetail)
    assert detail.status == contract.JobStatus.partial
    assert {f.source_path: f.status for f in detail.files} == {
        "docs/alpha.txt": "processed",
        "docs/notes/beta.md": "processed",
        "docs/bad.json": "failed",
    }
    assert detail.progress.total == 3 and detail.progress.pending == 0
    assert seen[-1].status == contract.JobStatus.partial
    assert detail.request_payload["chunk_size"] == 64
    assert [j.job_id for j in api.list_jobs(limit=5)] == [created.job_id]


def test_presigned_uploads_carry_large_submissions(api, tmp_path, monkeypatch):
    # GIVEN a folder whose total is over the multipart budget (lowered so a small folder crosses it)
    monkeypatch.setattr(_core, "MULTIPART_LIMIT_BYTES", 50)
    files = collect_files([_docs(tmp_path)])
    uploaded: list[tuple[int, int | None]] = []

    # WHEN it is submitted in auto mode
    created = api.submit_files(files, {"output_format": "txt"}, on_upload=lambda d, t: uploaded.append((d, t)))
    detail = api.wait_for_job(created.job_id, poll_interval=0.01, timeout=30)

    # THEN the files went to S3 through presigned PUTs and the job names the upload
    assert detail.input_path.startswith("upload:")
    assert detail.request_payload["upload_id"] and detail.request_payload["output_format"] == "txt"
    assert uploaded[-1] == (sum(f.size for f in files),) * 2
    assert {f.source_path for f in detail.files} == {f.name for f in files}
    assert detail.status == contract.JobStatus.partial


def test_json_submission_of_an_s3_location(api, aws):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key="incoming/batch/a.txt", Body=b"Plain text. Two lines.")
    created = api.submit_job(
        contract.ProcessJobRequest(input_path=f"s3://{aws['DATA_EXTRACT_BUCKET_NAME']}/incoming/batch/"),
        idempotency_key="batch-1",
    )
    again = api.submit_job(
        {"input_path": f"s3://{aws['DATA_EXTRACT_BUCKET_NAME']}/incoming/batch/"}, idempotency_key="batch-1"
    )
    assert again.job_id == created.job_id
    assert api.wait_for_job(created.job_id, poll_interval=0.01, timeout=30).status == "completed"


def test_errors_are_typed_and_carry_the_detail(api, tmp_path):
    with pytest.raises(NotFound) as missing:
        api.get_job("nosuchjob")
    assert missing.value.status_code == 404 and "nosuchjob" in str(missing.value.detail)

    with pytest.raises(ValidationFailed) as invalid:
        api.submit_files(collect_files([_docs(tmp_path)]), {"chunk_size": 5})
    assert any(item["loc"][-1] == "chunk_size" for item in invalid.value.detail)
    assert "chunk_size" in str(invalid.value)

    with pytest.raises(BadRequest, match="400"):
        api.preview_preset("bad name!")
    with pytest.raises(NotFound):
        api.preview_preset("no-such-preset")

    created = api.submit_files(collect_files([tmp_path / "docs" / "alpha.txt"]))
    api.wait_for_job(created.job_id, poll_interval=0.01, timeout=30)
    with pytest.raises(Conflict) as nothing:
        api.retry_failures(created.job_id)
    assert "retry" in str(nothing.value.detail).lower()


def test_retry_cleanup_artifacts_sessions_presets_and_health(api, tmp_path, aws):
    created = api.submit_files(collect_files([_docs(tmp_path)]))
    job_id = created.job_id
    first = api.wait_for_job(job_id, poll_interval=0.01, timeout=30)
    assert first.status == "partial"

    listing = api.list_artifacts(job_id)
    paths = {a.path for a in listing.artifacts}
    assert {"outputs/docs/alpha.txt.json", "result.json"} <= paths
    assert b"Alpha report" in api.download_artifact(job_id, "outputs/docs/alpha.txt.json")

    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=f"jobs/{job_id}/inputs/docs/bad.json", Body=b'{"fixed": true}'
    )
    assert api.retry_failures(job_id).status == "queued"
    assert api.wait_for_job(job_id, poll_interval=0.01, timeout=30).status == "completed"

    sessions = [s for s in api.list_sessions() if s.job_id == job_id]
    assert sorted(s.run for s in sessions) == [1, 2]
    detail = api.get_session(sessions[0].session_id)
    assert isinstance(detail, contract.SessionDetail) and detail.job_id == job_id

    names = {p.name for p in api.list_presets()}
    assert {"audit-standard", "quick-scan", "rag-optimized"} <= names
    assert api.preview_preset("quick-scan").preset == "quick-scan"
    assert api.apply_preset("rag-optimized").preset == "rag-optimized"
    assert api.current_preset().preset == "rag-optimized"
    assert api.effective_config()["chunk"]["max_tokens"] == 512

    assert api.health().ready is True
    assert api.health_detailed().table_reachable is True

    cleaned = api.cleanup_artifacts(job_id)
    assert cleaned.removed and cleaned.removed_count >= len(paths)
    assert api.list_artifacts(job_id).artifacts == []


def test_resumable_download_through_the_presigned_redirect(any_api, aws, tmp_path, monkeypatch):
    api = any_api
    from data_extract.settings import get_settings

    created = api.submit_files(collect_files([_docs(tmp_path)]))
    job_id = created.job_id
    api.wait_for_job(job_id, poll_interval=0.01, timeout=30)
    payload = bytes(range(256)) * 400  # 100 KiB of binary: base64 would outgrow the inline limit below
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=f"jobs/{job_id}/inputs/big.bin", Body=payload
    )
    monkeypatch.setenv("DATA_EXTRACT_API_INLINE_DOWNLOAD_MAX_BYTES", "1000")
    get_settings.cache_clear()

    # GIVEN the first 40000 bytes already on disk from an interrupted download
    dest = tmp_path / "out" / "big.bin"
    dest.parent.mkdir()
    (tmp_path / "out" / "big.bin.part").write_bytes(payload[:40000])

    # WHEN the download runs again
    result = api.download_artifact_to(job_id, "inputs/big.bin", dest, expected_size=len(payload))

    # THEN it asked S3 (through the redirect) for the rest only, and the file is whole
    assert result.resumed and result.bytes_written == len(payload) - 40000
    assert dest.read_bytes() == payload
    assert not (tmp_path / "out" / "big.bin.part").exists()
    assert api.download_artifact(job_id, "inputs/big.bin") == payload
    again = api.download_artifact_to(job_id, "inputs/big.bin", dest, expected_size=len(payload))
    assert again.skipped and again.bytes_written == 0
    get_settings.cache_clear()


def test_a_partial_file_longer_than_the_object_starts_over(api, tmp_path):
    created = api.submit_files(collect_files([_docs(tmp_path) / "alpha.txt"]))
    api.wait_for_job(created.job_id, poll_interval=0.01, timeout=30)
    dest = tmp_path / "result.json"
    (tmp_path / "result.json.part").write_bytes(b"x" * 10_000_000)
    result = api.download_artifact_to(created.job_id, "result.json", dest)
    assert not result.resumed
    assert dest.read_bytes() == api.download_artifact(created.job_id, "result.json")


def test_auth_header_session_cookie_and_logout(api, keyed):
    with pytest.raises(Unauthorized) as refused:
        api.list_jobs()
    assert refused.value.detail == "Unauthorized"
    status = api.login(keyed)
    assert status.authenticated and status.api_key_configured and status.expires_at is not None
    assert api.list_jobs() == []  # the session cookie carries it
    assert api.logout().authenticated is False
    with pytest.raises(Unauthorized):
        api.list_jobs()
    with pytest.raises(Unauthorized):
        api.login("wrong")


def test_the_api_key_is_sent_to_the_api_and_never_to_storage(aws, keyed, pump, tmp_path, monkeypatch):
    from tests.support.client import api_http, moto_http

    monkeypatch.setattr(_core, "MULTIPART_LIMIT_BYTES", 10)
    seen: list[httpx.Headers] = []
    url, http = api_http("asgi", before_poll=pump.run)
    storage = moto_http()
    storage.event_hooks = {"request": [lambda request: seen.append(request.headers)]}
    with http, storage, DataExtractClient(url, keyed, http_client=http, storage_http_client=storage) as client:
        created = client.submit_files(collect_files([_docs(tmp_path)]))
        assert client.wait_for_job(created.job_id, poll_interval=0.01, timeout=30).status == "partial"
    assert seen and all("x-api-key" not in headers for headers in seen)


def test_wait_times_out_with_the_last_state(aws, tmp_path):
    from tests.support.client import api_http

    url, http = api_http("asgi")  # nothing delivers the queue: the job stays queued
    with http, DataExtractClient(url, http_client=http) as client:
        created = client.submit_files(collect_files([_docs(tmp_path) / "alpha.txt"]))
        with pytest.raises(WaitTimedOut) as late:
            client.wait_for_job(created.job_id, poll_interval=0.01, timeout=0.05)
    assert late.value.job.status == "queued" and late.value.job_id == created.job_id


def test_an_unreachable_server_is_its_own_error():
    with DataExtractClient("http://127.0.0.1:9", timeout=2) as client, pytest.raises(ServerUnreachable) as exc:
        client.health()
    assert exc.value.url == "http://127.0.0.1:9/api/v1"


def test_server_urls_are_normalized():
    assert (
        _core.api_root("https://x.execute-api.us-east-1.amazonaws.com/prod/")
        == "https://x.execute-api.us-east-1.amazonaws.com/prod/api/v1"
    )
    assert _core.api_root("http://127.0.0.1:8000/api/v1") == "http://127.0.0.1:8000/api/v1"
    with pytest.raises(ValueError, match="http"):
        _core.api_root("127.0.0.1:8000")


def test_the_async_client_is_the_same_api(aws, pump, tmp_path):
    from data_extract.api.app import create_app

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=create_app())
        async with (
            httpx.AsyncClient(transport=transport) as http,
            AsyncDataExtractClient("http://testserver", http_client=http) as client,
        ):
            assert (await client.health()).ready
            created = await client.submit_files(collect_files([_docs(tmp_path)]), {"chunk_size": 128})
            await asyncio.to_thread(pump.run)
            detail = await client.wait_for_job(created.job_id, poll_interval=0.01, timeout=30)
            assert detail.status == "partial" and detail.progress.failed == 1
            assert [j.job_id for j in await client.list_jobs()] == [created.job_id]
            listing = await client.list_artifacts(created.job_id)
            assert "result.json" in {a.path for a in listing.artifacts}
            dest = tmp_path / "dl" / "alpha.json"
            result = await client.download_artifact_to(created.job_id, "outputs/docs/alpha.txt.json", dest)
            assert result.size == dest.stat().st_size and b"Alpha report" in dest.read_bytes()
            with pytest.raises(NotFound):
                await client.get_session("nosuchsession")
            assert (await client.cleanup_artifacts(created.job_id)).removed
            with pytest.raises(Conflict):
                await client.retry_failures(created.job_id)  # a cleaned job is not run again

    # A loop of its own, never made the thread's current one: asyncio.run() would leave "no current event loop"
    # behind, which Mangum's adapter (asyncio.get_event_loop()) trips over in later tests of this process.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


# ---- operations whose server side lands separately (the cancel endpoint, incremental/force/resume fields)


def test_cancel_a_queued_job_and_conflict_on_a_finished_one(aws, pump, tmp_path):
    from tests.support.client import api_http

    url, http = api_http("asgi")  # nothing delivers the queue until the test says so
    with http, DataExtractClient(url, http_client=http) as client:
        queued = client.submit_files(collect_files([_docs(tmp_path)]))
        answer = client.cancel_job(queued.job_id)
        assert isinstance(answer, contract.EnqueueJobResponse) and answer.job_id == queued.job_id
        pump.run()
        assert client.get_job(queued.job_id).status in contract.TERMINAL_JOB_STATUSES

        done = client.submit_files(collect_files([tmp_path / "docs" / "alpha.txt"]))
        pump.run()
        assert client.get_job(done.job_id).status == "completed"
        with pytest.raises(Conflict) as finished:
            client.cancel_job(done.job_id)
        assert finished.value.status_code == 409 and finished.value.detail


def test_incremental_force_and_resume_fields_reach_the_job(api, tmp_path):
    files = collect_files([_docs(tmp_path)])
    first = api.submit_files(files, {"incremental": True})
    detail = api.wait_for_job(first.job_id, poll_interval=0.01, timeout=30)
    assert detail.request_payload["incremental"] is True
    forced = api.submit_files(files, {"incremental": True, "force": True, "resume": True})
    payload = api.get_job(forced.job_id).request_payload
    assert (payload["incremental"], payload["force"], payload["resume"]) == (True, True, True)

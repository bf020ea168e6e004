"""Incremental runs (per-source state, unchanged/deleted files, force) and resume, in-process against moto."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.support.jobs import job


@pytest.fixture
def api(aws) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from data_extract.api.app import create_app

    with TestClient(create_app(), base_url="https://testserver") as c:
        yield c


def _s3():
    return boto3.client("s3", region_name="us-east-1")


def _put(aws, key: str, body: bytes) -> None:
    _s3().put_object(Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=key, Body=body)


def _submit(api, **body) -> str:
    resp = api.post("/api/v1/jobs/process", json=body)
    assert resp.status_code == 202, resp.text
    return resp.json()["job_id"]


def _files(detail) -> dict[str, dict]:
    return {f["source_path"]: f for f in detail["files"]}


def _state(store, source_id: str) -> dict[str, dict]:
    from data_extract.jobs.incremental import SourceIdentity

    return {e["path"]: e for e in store.table.list_source_paths(SourceIdentity.of(source_id).digest)}


def _dispatched(detail) -> int:
    return sum(e["payload"]["units"] for e in detail["events"] if e["event_type"] == "dispatch")


BODIES = {
    "a.txt": b"Alpha report. The first control passed.",
    "b.txt": b"Bravo report. Second control.",
    "c.txt": b"Charlie report. Third control.",
    "d.txt": b"Delta report. Fourth control.",
}


def test_incremental_runs_skip_unchanged_files_report_deletions_and_force_reprocesses(api, aws, pump, store):
    for name, body in BODIES.items():
        _put(aws, f"incoming/inc/{name}", body)
    root = f"s3://{aws['DATA_EXTRACT_BUCKET_NAME']}/incoming/inc/"

    first = _submit(api, input_path=root, incremental=True)
    pump.run()
    run1 = job(api, first)
    assert run1["status"] == "completed" and run1["source"] == root
    assert {f["status"] for f in run1["files"]} == {"processed"}
    state = _state(store, root)
    assert {p: e["sha256"] for p, e in state.items()} == {p: hashlib.sha256(b).hexdigest() for p, b in BODIES.items()}
    assert {e["job_id"] for e in state.values()} == {first}

    _put(aws, "incoming/inc/b.txt", b"Bravo report, revised. Second control failed.")
    _put(aws, "incoming/inc/e.txt", b"Echo report. A new file.")
    _s3().delete_object(Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key="incoming/inc/d.txt")

    second = _submit(api, input_path=root, incremental=True)
    pump.run()
    run2 = job(api, second)
    files = _files(run2)
    assert run2["status"] == "completed"
    assert {p for p, f in files.items() if f["status"] == "processed"} == {"b.txt", "e.txt"}
    for name in ("a.txt", "c.txt"):
        assert files[name]["status"] == "skipped" and files[name]["error_type"] == "unchanged"
        assert files[name]["current_job_id"] == first
        assert files[name]["current_output_path"] == _files(run1)[name]["output_path"]
    assert _dispatched(run2) == 2  # unchanged files were never sent to a worker
    assert run2["incremental"] == {
        "source": root,
        "force": False,
        "unchanged_count": 2,
        "deleted_count": 1,
        "deleted_files": ["d.txt"],
    }
    result = run2["result_payload"]
    assert (result["processed_count"], result["skipped_count"], result["deleted_count"]) == (2, 2, 1)
    assert result["deleted_files"] == ["d.txt"] and result["unchanged_count"] == 2
    state = _state(store, root)
    assert set(state) == {"a.txt", "b.txt", "c.txt", "e.txt"}
    assert {p: e["job_id"] for p, e in state.items()} == {
        "a.txt": first,
        "c.txt": first,
        "b.txt": second,
        "e.txt": second,
    }

    third = _submit(api, input_path=root, incremental=True, force=True)
    pump.run()
    run3 = job(api, third)
    assert {f["status"] for f in run3["files"]} == {"processed"} and len(run3["files"]) == 4
    assert run3["incremental"]["force"] is True
    assert {e["job_id"] for e in _state(store, root).values()} == {third}


def test_same_content_under_a_new_etag_is_found_unchanged_by_the_worker(api, aws, pump, store):
    bucket = aws["DATA_EXTRACT_BUCKET_NAME"]
    _put(aws, "incoming/etag/a.txt", BODIES["a.txt"])
    _put(aws, "incoming/etag/b.txt", BODIES["b.txt"])
    first = _submit(api, input_path="incoming/etag/", incremental=True)
    pump.run()
    etag_before = _s3().head_object(Bucket=bucket, Key="incoming/etag/a.txt")["ETag"]
    # A multipart upload of the same bytes: another ETag, same content.
    s3 = _s3()
    upload = s3.create_multipart_upload(Bucket=bucket, Key="incoming/etag/a.txt")
    part = s3.upload_part(
        Bucket=bucket, Key="incoming/etag/a.txt", UploadId=upload["UploadId"], PartNumber=1, Body=BODIES["a.txt"]
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="incoming/etag/a.txt",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert s3.head_object(Bucket=bucket, Key="incoming/etag/a.txt")["ETag"] != etag_before

    second = _submit(api, input_path="incoming/etag/", incremental=True)
    pump.run()
    detail = job(api, second)
    files = _files(detail)
    assert _dispatched(detail) == 1  # b.txt matched at submit; a.txt had to be fetched and hashed
    assert files["a.txt"]["error_type"] == "unchanged" and files["a.txt"]["current_job_id"] == first
    assert files["b.txt"]["error_type"] == "unchanged"
    assert detail["status"] == "completed" and detail["result_payload"]["processed_count"] == 0


def test_other_output_options_or_a_cleaned_holder_mean_processing_again(api, aws, pump):
    _put(aws, "incoming/opts/a.txt", BODIES["a.txt"])
    first = _submit(api, input_path="incoming/opts/", incremental=True, chunk_size=512)
    pump.run()
    other_size = _submit(api, input_path="incoming/opts/", incremental=True, chunk_size=128)
    pump.run()
    assert _files(job(api, other_size))["a.txt"]["status"] == "processed"
    # Same options as the last run: unchanged, pointing at it.
    same = _submit(api, input_path="incoming/opts/", incremental=True, chunk_size=128)
    pump.run()
    assert _files(job(api, same))["a.txt"]["current_job_id"] == other_size
    # The job holding the current output cleaned its artifacts: the output is gone, so the file is processed.
    assert api.delete(f"/api/v1/jobs/{other_size}/artifacts").status_code == 200
    after_cleanup = _submit(api, input_path="incoming/opts/", incremental=True, chunk_size=128)
    pump.run()
    assert _files(job(api, after_cleanup))["a.txt"]["status"] == "processed"
    assert first != other_size


def test_uploads_compare_by_source_label_and_relative_path(api, aws, pump):
    def upload(label: str | None, files: dict[str, bytes]) -> dict:
        data = {"incremental": "true", **({"source": label} if label else {})}
        parts = [("files", (name, body, "text/plain")) for name, body in files.items()]
        resp = api.post("/api/v1/jobs/process", files=parts, data=data)
        assert resp.status_code == 202, resp.text
        pump.run()
        return job(api, resp.json()["job_id"])

    first = upload("team/q3", {"a.txt": BODIES["a.txt"], "sub/b.txt": BODIES["b.txt"], "c.txt": BODIES["c.txt"]})
    assert first["source"] == "upload:team/q3"
    second = upload("team/q3", {"a.txt": BODIES["a.txt"], "sub/b.txt": b"Bravo, changed.", "d.txt": BODIES["d.txt"]})
    files = _files(second)
    assert files["a.txt"]["error_type"] == "unchanged" and files["a.txt"]["current_job_id"] == first["job_id"]
    assert files["sub/b.txt"]["status"] == "processed" and files["d.txt"]["status"] == "processed"
    assert second["incremental"]["deleted_files"] == ["c.txt"]
    # The unchanged file was not stored again under the new job.
    keys = [a["path"] for a in api.get(f"/api/v1/jobs/{second['job_id']}/artifacts").json()["artifacts"]]
    assert "inputs/a.txt" not in keys and "inputs/d.txt" in keys

    other_label = upload("team/q4", {"a.txt": BODIES["a.txt"]})
    assert _files(other_label)["a.txt"]["status"] == "processed"
    unlabeled = upload(None, {"a.txt": BODIES["a.txt"]})
    assert _files(unlabeled)["a.txt"]["status"] == "processed" and unlabeled["incremental"] is None
    assert any("without a `source` label has nothing to compare" in n for n in unlabeled["notes"])

    _put(aws, "incoming/labelled/a.txt", BODIES["a.txt"])
    label_with_path = api.post("/api/v1/jobs/process", json={"input_path": "incoming/labelled/", "source": "x"})
    assert label_with_path.status_code == 400 and "source labels" in label_with_path.json()["detail"]


def test_two_concurrent_incremental_runs_leave_the_state_of_a_serial_order(api, aws, pump, store):
    for name, body in BODIES.items():
        _put(aws, f"incoming/race/{name}", body)
    root = f"s3://{aws['DATA_EXTRACT_BUCKET_NAME']}/incoming/race/"
    base = _submit(api, input_path=root, incremental=True)
    pump.run()
    _put(aws, "incoming/race/a.txt", b"Alpha, changed once.")
    _put(aws, "incoming/race/b.txt", b"Bravo, changed once.")
    run_a = _submit(api, input_path=root, incremental=True)
    run_b = _submit(api, input_path=root, incremental=True)  # before either ran: both see the same state
    pump.run()
    assert job(api, run_a)["status"] == job(api, run_b)["status"] == "completed"
    state = _state(store, root)
    current = {
        k["Key"].rsplit("/", 1)[1]: _s3()
        .get_object(Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=k["Key"])["Body"]
        .read()
        for k in _s3().list_objects_v2(Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Prefix="incoming/race/")["Contents"]
    }
    assert {p: e["sha256"] for p, e in state.items()} == {
        p: hashlib.sha256(b).hexdigest() for p, b in current.items()
    }
    changed_holders = {state["a.txt"]["job_id"], state["b.txt"]["job_id"]}
    # Serially, the first run processes the changed files and the second finds them unchanged: one job holds both.
    assert changed_holders in ({run_a}, {run_b})
    assert {state[p]["job_id"] for p in ("c.txt", "d.txt")} == {base}
    for entry in state.values():
        holder = job(api, entry["job_id"])
        assert _files(holder)[entry["path"]]["output_path"] == entry["output_path"]


def test_the_commit_lock_excludes_a_second_committer(aws, store, monkeypatch):
    from data_extract.jobs import incremental
    from data_extract.store import ConditionFailed

    source = incremental.SourceIdentity.of("s3://bucket/locked/")
    job_item = {
        "job_id": "j2",
        "source_id": source.source_id,
        "source_digest": source.digest,
        "incremental": {"source": source.source_id, "force": False, "options_digest": "x", "full_listing": True},
    }
    units = [
        {
            "unit_id": "00001",
            "source_path": "a.txt",
            "status": "processed",
            "file_hash": "ab" * 32,
            "size_bytes": 3,
            "output_path": "jobs/j2/outputs/a.txt.json",
        }
    ]
    import time as _time

    assert store.table.acquire_source_lock(source.digest, source.source_id, "j1#1", _time.time(), 60)
    monkeypatch.setattr(incremental, "LOCK_WAIT_SECONDS", 0.3)
    with pytest.raises(incremental.SourceBusy):
        incremental.commit_source_state(store, job_item, units, 1)
    assert store.table.list_source_paths(source.digest) == []
    # A holder whose lease was taken over cannot write any more.
    with pytest.raises(ConditionFailed):
        store.table.write_source_paths(source.digest, "j0#1", [{"path": "z.txt", "sha256": "0", "job_id": "j0"}], [])
    store.table.release_source_lock(source.digest, "j1#1", "j1", "2026-01-01T00:00:00.000Z")

    # Two committers at once: each commit is whole, and the second sees the first's entries.
    def commit(job_id: str) -> None:
        item = {**job_item, "job_id": job_id}
        incremental.commit_source_state(store, item, [{**units[0], "output_path": f"jobs/{job_id}/o"}], 1)

    monkeypatch.setattr(incremental, "LOCK_WAIT_SECONDS", 30)
    threads = [threading.Thread(target=commit, args=(j,)) for j in ("j3", "j4")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (entry,) = store.table.list_source_paths(source.digest)
    assert entry["job_id"] in ("j3", "j4") and entry["output_path"] == f"jobs/{entry['job_id']}/o"
    assert store.table.get_source(source.digest)["version"] == 3 and "lock_owner" not in store.table.get_source(
        source.digest
    )


# ---------------------------------------------------------------- resume


def _halting_source(aws) -> str:
    _put(aws, "incoming/res/a.txt", BODIES["a.txt"])
    _put(aws, "incoming/res/b.json", b'{"truncated": [1, 2')
    _put(aws, "incoming/res/c.txt", BODIES["c.txt"])
    return "incoming/res/"


def test_resume_processes_only_files_without_a_result_and_links_the_session(api, aws, pump):
    root = _halting_source(aws)
    first = _submit(api, input_path=root, continue_on_error=False)
    pump.run()
    run1 = job(api, first)
    assert {p: f["status"] for p, f in _files(run1).items()} == {
        "a.txt": "processed",
        "b.json": "failed",
        "c.txt": "skipped",
    }
    _put(aws, "incoming/res/b.json", b'{"fixed": true}')

    resumed = _submit(api, input_path=root, resume=True)
    pump.run()
    run2 = job(api, resumed)
    files = _files(run2)
    assert run2["resumes"] == {"session_id": run1["session_id"], "job_id": first}
    assert files["a.txt"]["status"] == "skipped" and files["a.txt"]["error_type"] == "already_processed"
    assert files["a.txt"]["current_job_id"] == first
    assert files["a.txt"]["current_output_path"] == _files(run1)["a.txt"]["output_path"]
    assert files["b.json"]["status"] == "processed" and files["c.txt"]["status"] == "processed"
    assert _dispatched(run2) == 2 and run2["status"] == "completed"
    assert run2["result_payload"]["resumes"] == run2["resumes"]
    session = api.get(f"/api/v1/sessions/{run2['session_id']}").json()
    assert session["configuration"]["resumes"] == run2["resumes"]

    # The source grew: the newest session (complete until now) is resumed for the new file only.
    _put(aws, "incoming/res/d.txt", BODIES["d.txt"])
    grown = job(api, _submit(api, input_path=root, resume=True))
    pump.run()
    grown = job(api, grown["job_id"])
    assert grown["resumes"]["job_id"] == resumed
    assert [p for p, f in _files(grown).items() if f["status"] == "processed"] == ["d.txt"]
    assert _files(grown)["a.txt"]["current_job_id"] == first  # the pointer follows the chain

    # Nothing left anywhere: no unfinished session, so a resume request processes every file, as the original did.
    fresh = _submit(api, input_path=root, resume=True)
    pump.run()
    fresh_detail = job(api, fresh)
    assert fresh_detail["resumes"] is None and len(_files(fresh_detail)) == 4
    assert {f["status"] for f in fresh_detail["files"]} == {"processed"}
    assert any("no unfinished session" in n for n in fresh_detail["notes"])

    # An explicit session id resumes that session, whatever is newer.
    explicit = _submit(api, input_path=root, resume_session=run1["session_id"])
    pump.run()
    explicit_detail = job(api, explicit)
    assert {p for p, f in _files(explicit_detail).items() if f["status"] == "processed"} == {
        "b.json",
        "c.txt",
        "d.txt",
    }


def test_resume_session_checks_at_submit(api, aws, pump):
    root = _halting_source(aws)
    running = _submit(api, input_path=root)
    session_id = job(api, running)["session_id"]
    busy = api.post("/api/v1/jobs/process", json={"input_path": root, "resume_session": session_id})
    assert busy.status_code == 409 and "still" in busy.json()["detail"]
    pump.run()
    _put(aws, "incoming/elsewhere/a.txt", BODIES["a.txt"])
    other = api.post("/api/v1/jobs/process", json={"input_path": "incoming/elsewhere/", "resume_session": session_id})
    assert other.status_code == 400 and "incoming/res/" in other.json()["detail"]
    ok = api.post("/api/v1/jobs/process", json={"input_path": root, "resume_session": session_id})
    assert ok.status_code == 202


def test_force_without_resume_discards_older_unfinished_sessions(api, aws, pump):
    root = _halting_source(aws)
    first = _submit(api, input_path=root, continue_on_error=False)
    pump.run()
    assert job(api, first)["status"] == "partial"
    forced = _submit(api, input_path=root, force=True)  # still queued when the resume below is submitted
    assert any(n.startswith("force:") for n in job(api, forced)["notes"])
    resume = _submit(api, input_path=root, resume=True)
    pump.run()
    detail = job(api, resume)
    assert detail["resumes"] is None and len([f for f in detail["files"] if f["status"] != "skipped"]) == 3
    # Without the forced run, the same request resumes the halted session.
    _put(aws, "incoming/res2/a.txt", BODIES["a.txt"])
    _put(aws, "incoming/res2/b.json", b"{")
    halted = _submit(api, input_path="incoming/res2/", continue_on_error=False)
    pump.run()
    again = _submit(api, input_path="incoming/res2/", resume=True)
    assert job(api, again)["resumes"]["job_id"] == halted


def test_resume_of_uploads_by_session_id_and_by_label(api, aws, pump):
    parts = [("files", ("a.txt", BODIES["a.txt"], "text/plain")), ("files", ("b.json", b"{", "application/json"))]
    first = api.post("/api/v1/jobs/process", files=parts, data={"source": "inbox"}).json()["job_id"]
    pump.run()
    run1 = job(api, first)
    assert run1["status"] == "partial"
    fixed = [parts[0], ("files", ("b.json", b'{"ok": 1}', "application/json"))]
    by_label = api.post("/api/v1/jobs/process", files=fixed, data={"source": "inbox", "resume": "true"})
    assert by_label.status_code == 202, by_label.text
    pump.run()
    files = _files(job(api, by_label.json()["job_id"]))
    assert files["a.txt"]["error_type"] == "already_processed" and files["b.json"]["status"] == "processed"

    unlabeled = api.post("/api/v1/jobs/process", files=parts).json()["job_id"]
    pump.run()
    by_id = api.post("/api/v1/jobs/process", files=fixed, data={"resume_session": job(api, unlabeled)["session_id"]})
    assert by_id.status_code == 202, by_id.text
    pump.run()
    assert _files(job(api, by_id.json()["job_id"]))["a.txt"]["error_type"] == "already_processed"
    mismatched = api.post(
        "/api/v1/jobs/process",
        files=fixed,
        data={"source": "inbox", "resume_session": job(api, unlabeled)["session_id"]},
    )
    assert mismatched.status_code == 400


def test_force_in_a_form_reprocesses_an_unchanged_upload(api, aws, pump):
    parts = [("files", ("a.txt", BODIES["a.txt"], "text/plain"))]
    first = api.post("/api/v1/jobs/process", files=parts, data={"source": "forms", "incremental": "on"})
    pump.run()
    again = api.post("/api/v1/jobs/process", files=parts, data={"source": "forms", "incremental": "on"})
    forced = api.post(
        "/api/v1/jobs/process", files=parts, data={"source": "forms", "incremental": "on", "force": "yes"}
    )
    pump.run()
    assert _files(job(api, again.json()["job_id"]))["a.txt"]["current_job_id"] == first.json()["job_id"]
    forced_detail = job(api, forced.json()["job_id"])
    assert _files(forced_detail)["a.txt"]["status"] == "processed" and forced_detail["incremental"]["force"] is True

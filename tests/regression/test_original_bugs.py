"""Regression tests for the original system's known bugs (its reference, section 10, items 1-8)."""

from __future__ import annotations

import json

from tests.support.jobs import job, submit_upload, text_files


def test_1_multipart_upload_is_accepted(client, pump):
    resp = client.post("/api/v1/jobs/process", files=[("files", ("a.txt", b"Hello there.", "text/plain"))])
    assert resp.status_code == 202


def test_2_idempotency_key_job_really_processes_and_replays_return_the_same_job(client, pump):
    files = [("files", ("a.txt", b"Idempotent text. Two sentences.", "text/plain"))]
    first = client.post("/api/v1/jobs/process", files=files, headers={"Idempotency-Key": "k-123"})
    assert first.status_code == 202
    pump.run()
    assert job(client, first.json()["job_id"])["status"] == "completed"
    assert job(client, first.json()["job_id"])["progress"]["processed"] == 1
    replay = client.post("/api/v1/jobs/process", files=files, headers={"Idempotency-Key": "k-123"})
    assert replay.status_code == 200
    assert replay.json() == {"job_id": first.json()["job_id"], "status": "completed"}
    other = client.post(
        "/api/v1/jobs/process",
        files=[("files", ("a.txt", b"different", "text/plain"))],
        headers={"Idempotency-Key": "k-123"},
    )
    assert other.status_code == 409


def test_3_same_stem_outputs_never_collide(client, pump):
    files = [
        ("files", ("sample.txt", b"Text version.", "text/plain")),
        ("files", ("sample.md", b"Markdown version.", "text/markdown")),
        ("files", ("sample.csv", b"a,b\n1,2\n", "text/csv")),
        ("files", ("result", b"A file named result.", "text/plain")),
        ("files", ("result.txt", b"Another named result.", "text/plain")),
    ]
    job_id = submit_upload(client, files=files)["job_id"]
    pump.run()
    detail = job(client, job_id)
    outputs = [f["output_path"] for f in detail["files"] if f["status"] == "processed"]
    assert len(outputs) == len(set(outputs))
    paths = {a["path"] for a in client.get(f"/api/v1/jobs/{job_id}/artifacts").json()["artifacts"]}
    assert {"outputs/sample.txt.json", "outputs/sample.md.json", "outputs/sample.csv.json", "result.json"} <= paths
    assert json.loads(client.get(f"/api/v1/jobs/{job_id}/artifacts/result.json").content)["job_id"] == job_id


def test_4_retry_keeps_format_chunk_size_and_result(client, pump):
    files = [
        ("files", ("ok.txt", b"Fine text here.", "text/plain")),
        ("files", ("bad.json", b"{oops", "application/json")),
    ]
    job_id = submit_upload(client, files=files, output_format="csv", chunk_size=100)["job_id"]
    pump.run()
    first = job(client, job_id)
    client.post(f"/api/v1/jobs/{job_id}/retry-failures")
    pump.run()
    after = job(client, job_id)
    assert after["result_payload"]["job_id"] == job_id
    assert after["effective_format"] == "csv" and after["effective_chunk_size"] == 100
    assert {f["source_path"] for f in after["files"]} == {"ok.txt", "bad.json"}
    assert after["result_payload"]["processed_files"][0]["path"] == "ok.txt"
    assert after["result_payload"]["processed_files"][0]["output_path"].endswith("ok.txt.csv")
    assert first["status"] == after["status"] == "partial"


def test_5_session_status_is_a_plain_string(client, pump):
    job_id = submit_upload(client)["job_id"]
    pump.run()
    session = next(s for s in client.get("/api/v1/sessions").json() if s["job_id"] == job_id)
    assert session["status"] == "completed"


def test_6_session_detail_exists_for_successful_sessions(client, pump):
    job_id = submit_upload(client)["job_id"]
    pump.run()
    sid = job(client, job_id)["session_id"]
    resp = client.get(f"/api/v1/sessions/{sid}")
    assert resp.status_code == 200
    assert resp.json()["status"] == "completed" and resp.json()["processed_count"] == 3


def test_7_semantic_similarity_dedup_and_graph_reach_the_job_output(client, pump):
    files = [*text_files(), ("files", ("copy-of-alpha.txt", text_files()[0][1][1], "text/plain"))]
    job_id = submit_upload(client, files=files, include_semantic=True)["job_id"]
    pump.run()
    semantic = job(client, job_id)["result_payload"]["semantic"]
    assert semantic["status"] == "completed" and semantic["summary"]["total_chunks"] >= 4
    summary = client.get(f"/api/v1/jobs/{job_id}/artifacts/semantic/semantic_summary.json").json()
    # The original dropped these in its LSA step: here the twin's chunks form a group, listed pairs and a graph.
    assert summary["similarity"]["duplicate_groups"] and summary["similarity"]["similar_pairs"]
    assert summary["similarity"]["similarity_graph"] and summary["similarity"]["statistics"]["n_duplicate_pairs"]
    graph = client.get(f"/api/v1/jobs/{job_id}/artifacts/semantic/similarity_graph.json").json()
    assert graph["edges"]
    # ... and the quality distribution counts every chunk, review included.
    distribution = summary["quality"]["distribution"]
    assert set(distribution) == {"high", "medium", "low", "review"}
    assert sum(distribution.values()) == semantic["summary"]["total_chunks"]


def test_8_organize_writes_chunk_files_for_json_and_csv(client, pump):
    for fmt in ("json", "csv"):
        job_id = submit_upload(client, output_format=fmt, organize=True, strategy="flat")["job_id"]
        pump.run()
        detail = job(client, job_id)
        assert detail["status"] == "completed"
        paths = [a["path"] for a in client.get(f"/api/v1/jobs/{job_id}/artifacts").json()["artifacts"]]
        chunk_files = [p for p in paths if p.startswith("outputs/flat/") and p.endswith(f".{fmt}")]
        assert len(chunk_files) >= 3, paths

"""The semantic function end to end in-process: API submit -> workers -> finalize -> semantic -> finished run.

Real moto queues, the real handlers with the SQS event shape (tests/events/sqs_semantic_run.json), real corpus
documents. The browser rendering of the HTML report lives in tests/integration/test_semantic_report_browser.py.
"""

from __future__ import annotations

import copy
import csv
import io
import json

import pytest

from tests.support.apigw import load_event
from tests.support.jobs import job
from tests.support.lambda_context import LambdaContext

pytestmark = pytest.mark.parametrize("client", ["asgi"], indirect=True)

PROSE = (
    "The audit committee reviewed the internal control framework for the fiscal year. Management described how "
    "access rights to the general ledger are granted, reviewed every quarter and withdrawn when staff leave. "
    "The external auditor tested a sample of forty journal entries and found two without a second approval. "
)
OTHER = (
    "Norwich City Football Club plays its home games at Carrow Road. The club was founded in 1902 and has spent "
    "most of its history in the second tier of English football, with several seasons in the Premier League. "
)


def _files(corpus) -> list[tuple[str, tuple[str, bytes, str]]]:
    pdf = (corpus / "pdf" / "fake-memo.pdf").read_bytes()
    docx = (corpus / "docx" / "fake-doc-emphasized-text.docx").read_bytes()
    pptx = (corpus / "pptx" / "fake-power-point.pptx").read_bytes()
    norwich = (corpus / "text" / "norwich-city.txt").read_bytes()
    return [
        ("files", ("memo.pdf", pdf, "application/pdf")),
        ("files", ("doc.docx", docx, "application/octet-stream")),
        ("files", ("deck.pptx", pptx, "application/octet-stream")),
        ("files", ("norwich.txt", norwich, "text/plain")),
        ("files", ("copies/norwich-copy.txt", norwich, "text/plain")),  # the same file under another name
        ("files", ("audit.txt", (PROSE * 3).encode(), "text/plain")),
        ("files", ("other.txt", (OTHER * 3).encode(), "text/plain")),
    ]


def _submit(client, files, **fields) -> str:
    data = {
        "include_semantic": "true",
        **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()},
    }
    resp = client.post("/api/v1/jobs/process", files=files, data=data)
    assert resp.status_code == 202, resp.text
    return resp.json()["job_id"]


def _chunk_ids_by_source(store, job_id: str) -> dict[str, list[str]]:
    from data_extract.jobs import paths
    from data_extract.store.records import get_chunk_record

    out = {}
    for unit in store.table.list_units(job_id):
        if unit["status"] == "processed":
            record = get_chunk_record(store.objects, paths.chunk_record_key(job_id, unit["unit_id"]))
            out[unit["source_path"]] = [r["id"] for r in record["records"]]
    return out


@pytest.mark.corpus
def test_given_mixed_corpus_files_with_a_twin_when_semantic_requested_then_the_run_carries_the_analysis(
    client, pump, store, corpus
):
    job_id = _submit(client, _files(corpus), semantic_report_format="html", semantic_export_graph=True)

    pump.run()

    detail = job(client, job_id)
    assert detail["status"] == "completed"
    result = detail["result_payload"]
    semantic = result["semantic"]
    assert semantic["status"] == "completed", semantic
    summary = semantic["summary"]
    assert summary["total_chunks"] > 0 and summary["vocabulary_size"] > 0
    assert summary["n_components"] > 0 and summary["n_clusters"] >= 2
    assert set(semantic["stage_timings_ms"]) >= {
        "semantic_tfidf",
        "semantic_similarity",
        "semantic_lsa",
        "semantic_quality",
    }
    assert result["stage_totals_ms"]["semantic"] > 0
    by_type = {a["artifact_type"]: a for a in semantic["artifacts"]}
    assert by_type["summary"]["path"] == "semantic/semantic_summary.json"
    assert (by_type["report"]["format"], by_type["graph"]["format"]) == ("html", "json")
    listed = {a["path"]: a["size_bytes"] for a in client.get(f"/api/v1/jobs/{job_id}/artifacts").json()["artifacts"]}
    for artifact in semantic["artifacts"]:
        assert listed[artifact["path"]] == artifact["size_bytes"]

    document = client.get(f"/api/v1/jobs/{job_id}/artifacts/semantic/semantic_summary.json").json()
    assert document["topics"] and all(terms for terms in document["topics"].values())
    assert len(document["clusters"]["assignments"]) == summary["total_chunks"]
    ids = _chunk_ids_by_source(store, job_id)
    twins = list(zip(ids["norwich.txt"], ids["copies/norwich-copy.txt"], strict=True))
    assert twins
    groups = [set(g) for g in document["similarity"]["duplicate_groups"]]
    for original, copy_ in twins:
        assert any({original, copy_} <= g for g in groups), (original, copy_)
    # English stop words are gone from the topics.
    assert not {"the", "and", "of"} & {t for terms in document["topics"].values() for t in terms}

    # Quality written back into every chunk of every output.
    for path in ("memo.pdf.json", "norwich.txt.json", "copies/norwich-copy.txt.json", "deck.pptx.json"):
        output = client.get(f"/api/v1/jobs/{job_id}/artifacts/outputs/{path}").json()
        for chunk in output["chunks"]:
            assert 0.0 <= chunk["quality_score"] <= 1.0
            assert chunk["quality_flag"] in {"high", "medium", "low", "review"}
            assert chunk["quality"]["overall"] == chunk["quality_score"]
            assert "extraction_overall" in chunk["quality"]

    graph = client.get(f"/api/v1/jobs/{job_id}/artifacts/semantic/similarity_graph.json").json()
    assert any(e["type"] == "duplicate" for e in graph["edges"])
    report = client.get(f"/api/v1/jobs/{job_id}/artifacts/semantic/semantic_report.html")
    assert report.status_code == 200 and "<svg" in report.text and "Duplicate groups" in report.text

    # Governance reads the semantic outcome: its milestone ran and passed.
    milestones = {m["milestone_id"]: m for m in result["evaluation"]["milestones"]}
    assert milestones["semantic"]["skipped"] is False and milestones["semantic"]["status"] == "passed"
    assert result["evaluation"]["metadata"]["semantic_status"] == "completed"
    assert [e["event_type"] for e in detail["events"]].count("finished") == 1


def test_given_txt_output_when_semantic_requested_then_it_runs_and_the_txt_shows_the_quality(client, pump, store):
    files = [
        ("files", ("audit.txt", (PROSE * 4).encode(), "text/plain")),
        ("files", ("other.txt", (OTHER * 4).encode(), "text/plain")),
        ("files", ("again.txt", (PROSE * 4).encode(), "text/plain")),
    ]
    job_id = _submit(
        client,
        files,
        output_format="txt",
        include_metadata=True,
        semantic_report_format="csv",
        semantic_graph_format="dot",
    )

    pump.run()

    result = job(client, job_id)["result_payload"]
    assert result["semantic"]["status"] == "completed", result["semantic"]
    text = client.get(f"/api/v1/jobs/{job_id}/artifacts/outputs/audit.txt.txt").text
    assert any(
        line.startswith("Quality: ") and line.rstrip().endswith(("(high)", "(medium)", "(low)", "(review)"))
        for line in text.splitlines()
    )
    report = client.get(f"/api/v1/jobs/{job_id}/artifacts/semantic/semantic_report.csv").text
    assert "# Duplicate Groups" in report
    rows = list(csv.reader(io.StringIO(report.split("# Duplicate Groups\n", 1)[1].split("\n\n", 1)[0])))
    assert rows[0] == ["group_id", "size", "members"] and int(rows[1][1]) >= 2
    dot = client.get(f"/api/v1/jobs/{job_id}/artifacts/semantic/similarity_graph.dot").text
    assert dot.startswith("graph SimilarityGraph {") and " -- " in dot

    # Cleanup removes the chunk records (the documents' text) with the artifacts.
    from data_extract.jobs import paths

    assert list(store.objects.list(paths.chunk_record_prefix(job_id)))
    assert client.delete(f"/api/v1/jobs/{job_id}/artifacts").status_code == 200
    assert not list(store.objects.list(paths.chunk_record_prefix(job_id)))


def test_given_a_stage_that_raises_when_the_run_finishes_then_semantic_failed_and_extraction_kept(
    client, pump, monkeypatch
):
    import data_extract.pipeline.semantic.analyze as analyze_module

    def broken(chunks, options):
        raise RuntimeError("matrix exploded")

    monkeypatch.setattr(analyze_module, "analyze", broken)
    files = [("files", ("audit.txt", (PROSE * 4).encode(), "text/plain"))]
    job_id = _submit(client, files)

    pump.run()

    detail = job(client, job_id)
    result = detail["result_payload"]
    assert detail["status"] == "completed" and result["processed_count"] == 1
    assert result["semantic"]["status"] == "failed"
    assert result["semantic"]["message"] == "Semantic stage failed: RuntimeError: matrix exploded"
    assert "CRITICAL_SEMANTIC_STAGE_FAILED" in result["evaluation"]["reason_codes"]
    assert result["evaluation"]["verdict"] == "bad"


def test_given_a_semantic_message_that_kept_failing_when_dead_lettered_then_the_run_finishes_without_it(
    client, pump, aws
):
    import boto3

    from data_extract.handlers import dead_letter, finalize, worker

    files = [("files", ("audit.txt", (PROSE * 4).encode(), "text/plain"))]
    job_id = _submit(client, files)
    pump.drain(aws["DATA_EXTRACT_WORK_QUEUE_URL"], worker.lambda_handler)
    pump.drain(aws["DATA_EXTRACT_FINALIZE_QUEUE_URL"], finalize.lambda_handler)
    assert job(client, job_id)["status"] == "running"  # waiting for the semantic stage
    sqs = boto3.client("sqs", region_name="us-east-1")
    (message,) = sqs.receive_message(QueueUrl=aws["DATA_EXTRACT_SEMANTIC_QUEUE_URL"])["Messages"]
    event = copy.deepcopy(load_event("sqs_semantic_run.json"))
    event["Records"][0]["body"] = message["Body"]
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "5"

    assert dead_letter.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    pump.drain(aws["DATA_EXTRACT_FINALIZE_QUEUE_URL"], finalize.lambda_handler)

    detail = job(client, job_id)
    assert detail["status"] == "completed"
    semantic = detail["result_payload"]["semantic"]
    assert (semantic["status"], semantic["reason_code"]) == ("failed", "semantic_stage_exhausted")
    assert "after 5 attempts" in semantic["message"]


def test_given_the_semantic_event_when_its_job_is_unknown_then_the_record_is_consumed_as_stale(client):
    from data_extract.handlers import semantic

    event = load_event("sqs_semantic_run.json")
    assert json.loads(event["Records"][0]["body"])["stage"] == "semantic"

    assert semantic.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}

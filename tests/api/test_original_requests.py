"""Requests written for the original service: every field it accepted, in JSON and in forms, with its effect."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.support.jobs import job, submit_upload


@pytest.fixture
def api(aws) -> Iterator[Any]:
    """The app through ASGI only, for tests whose subject is not the transport (the `client` tests cover it)."""
    from fastapi.testclient import TestClient

    from data_extract.api.app import create_app

    with TestClient(create_app(), base_url="https://testserver") as c:
        yield c


ONE_FILE = [("files", ("notes/a.txt", b"Alpha text. The first control passed review.", "text/plain"))]

# Every field of the original's ProcessJobRequest, with a value that is not its default where that is possible.
ORIGINAL_JSON_FIELDS = {
    "output_path": "/home/user/.data-extract-ui/jobs/x/outputs",
    "output_format": "txt",
    "chunk_size": 128,
    "include_metadata": True,
    "per_chunk": False,
    "organize": False,
    "strategy": None,
    "delimiter": "--- {{n}} ---",
    "recursive": True,
    "incremental": False,
    "force": False,
    "resume": False,
    "resume_session": None,
    "preset": None,
    "non_interactive": True,
    "include_semantic": False,
    "include_evaluation": True,
    "evaluation_policy": "baseline_v1",
    "evaluation_fail_on_bad": False,
    "semantic_report": None,
    "semantic_report_format": None,
    "semantic_export_graph": None,
    "semantic_graph_format": None,
    "semantic_duplicate_threshold": 0.9,
    "semantic_related_threshold": 0.6,
    "semantic_max_features": 2000,
    "semantic_n_components": 50,
    "semantic_min_quality": 0.2,
    "pipeline_profile": "legacy",
    "continue_on_error": True,
    "source_files": [],
    "idempotency_key": None,
}


def _put(aws, key: str, body: bytes) -> None:
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=key, Body=body)


def test_every_field_of_the_original_json_request_is_accepted_and_applied(client, aws, pump):
    _put(aws, "incoming/orig/a.txt", b"Alpha text. Second sentence of alpha.")
    _put(aws, "incoming/orig/sub/b.txt", b"Nested text. It is found with recursive.")
    body = {"input_path": f"s3://{aws['DATA_EXTRACT_BUCKET_NAME']}/incoming/orig/", **ORIGINAL_JSON_FIELDS}
    resp = client.post("/api/v1/jobs/process", json=body)
    assert resp.status_code == 202, resp.text
    pump.run()
    detail = job(client, resp.json()["job_id"])
    assert detail["status"] == "completed"
    assert sorted(f["source_path"] for f in detail["files"]) == ["a.txt", "sub/b.txt"]  # recursive applied
    assert detail["effective_format"] == "txt" and detail["effective_chunk_size"] == 128
    # output_path and non_interactive change nothing, and the detail says so and why.
    assert set(detail["ignored_fields"]) == {"output_path", "non_interactive"}
    assert "S3 prefix" in detail["ignored_fields"]["output_path"]
    assert detail["output_dir"].startswith("s3://") and "/home/user" not in detail["output_dir"]
    assert all(f["output_path"].startswith(f"jobs/{detail['job_id']}/outputs/") for f in detail["files"])
    assert detail["pipeline_profile"] == "legacy"
    assert any("pipeline_profile 'legacy'" in n and "same pipeline" in n for n in detail["notes"])


def test_the_original_form_fields_and_aliases_are_accepted(client, aws, pump):
    data = {
        "output_format": "json",
        "chunk_size": "256",
        "recursive": "true",
        "incremental": "false",
        "force": "0",
        "resume": "no",
        "resume_session": "",
        "preset": "",
        "idempotency_key": "",
        "semantic": "true",
        "export_graph": "dot",
        "semantic_report": "on",
        "semantic_report_format": "html",
        "semantic_duplicate_threshold": "0.9",
        "semantic_related_threshold": "0.5",
        "semantic_max_features": "100",
        "semantic_n_components": "5",
        "semantic_min_quality": "0.1",
        "include_evaluation": "1",
        "evaluation_policy": "baseline_v1",
        "evaluation_fail_on_bad": "off",
        "pipeline_profile": "advanced",
        "non_interactive": "true",
        "output_path": "/tmp/out",
    }
    resp = client.post("/api/v1/jobs/process", files=ONE_FILE, data=data)
    assert resp.status_code == 202, resp.text
    pump.run()
    detail = job(client, resp.json()["job_id"])
    request = detail["request_payload"]
    assert request["include_semantic"] is True  # `semantic` is the original's alias
    assert (
        request["semantic_export_graph"] is True and request["semantic_graph_format"] == "dot"
    )  # legacy export_graph
    assert request["semantic_report"] is True and request["semantic_report_format"] == "html"
    assert detail["effective_chunk_size"] == 256 and detail["pipeline_profile"] == "advanced"
    assert set(detail["ignored_fields"]) == {"output_path", "non_interactive"}
    assert detail["result_payload"]["semantic"]["status"] != "disabled"  # the semantic stage was asked for
    assert detail["result_payload"]["evaluation"] is not None


def test_export_graph_and_semantic_aliases_work_in_json_too(api, aws):
    _put(aws, "incoming/alias/a.txt", b"Alias text.")
    resp = api.post(
        "/api/v1/jobs/process", json={"input_path": "incoming/alias/", "semantic": True, "export_graph": "csv"}
    )
    assert resp.status_code == 202, resp.text
    request = job(api, resp.json()["job_id"])["request_payload"]
    assert request["include_semantic"] is True
    assert request["semantic_export_graph"] is True and request["semantic_graph_format"] == "csv"
    conflicting = api.post(
        "/api/v1/jobs/process", json={"input_path": "incoming/alias/", "semantic": True, "include_semantic": False}
    )
    assert conflicting.status_code == 422 and "alias of include_semantic" in conflicting.text
    bad_graph = api.post("/api/v1/jobs/process", json={"input_path": "incoming/alias/", "export_graph": "png"})
    assert bad_graph.status_code == 422 and "semantic_graph_format" in bad_graph.text


@pytest.mark.parametrize(
    "value,expected",
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("Off", False),
    ],
)
def test_form_booleans_are_true_only_for_1_true_yes_on(api, aws, pump, value, expected):
    resp = api.post("/api/v1/jobs/process", files=ONE_FILE, data={"include_evaluation": value})
    assert resp.status_code == 202, resp.text
    pump.run()
    detail = job(api, resp.json()["job_id"])
    assert detail["request_payload"]["include_evaluation"] is expected
    assert (detail["result_payload"]["evaluation"] is not None) is expected  # the effect, not only the echo


@pytest.mark.parametrize("value", ["t", "y", "maybe", "2"])
def test_other_form_boolean_values_are_a_422_naming_the_field(api, aws, value):
    resp = api.post("/api/v1/jobs/process", files=ONE_FILE, data={"incremental": value})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "incremental"]


def test_empty_preset_gets_the_applied_default_preset_in_both_modes(client, aws, pump):
    assert client.post("/api/v1/config/presets/rag-optimized/apply").status_code == 200
    upload = submit_upload(client, files=ONE_FILE, preset="", chunk_size="")
    _put(aws, "incoming/preset/a.txt", b"Preset text.")
    path = client.post(
        "/api/v1/jobs/process", json={"input_path": "incoming/preset/", "preset": "", "semantic_report_format": ""}
    )
    assert path.status_code == 202, path.text
    for job_id in (upload["job_id"], path.json()["job_id"]):
        detail = job(client, job_id)
        assert detail["preset"] == "rag-optimized"
        assert detail["effective_chunk_size"] == 256  # the preset's chunk size, not the request default


def test_unknown_fields_stay_a_422_naming_the_field(client, aws):
    json_resp = client.post("/api/v1/jobs/process", json={"input_path": "incoming/x/", "turbo_mode": True})
    assert json_resp.status_code == 422 and "turbo_mode" in json_resp.text
    form_resp = client.post("/api/v1/jobs/process", files=ONE_FILE, data={"turbo_mode": "1"})
    assert form_resp.status_code == 422 and "turbo_mode" in form_resp.text


@pytest.mark.parametrize("profile", ["auto", "legacy", "advanced"])
def test_each_pipeline_profile_is_accepted_and_changes_nothing_said_so(api, aws, pump, profile):
    resp = api.post("/api/v1/jobs/process", files=ONE_FILE, data={"pipeline_profile": profile})
    assert resp.status_code == 202, resp.text
    pump.run()
    detail = job(api, resp.json()["job_id"])
    assert detail["pipeline_profile"] == profile
    assert any(f"pipeline_profile '{profile}'" in n for n in detail["notes"])
    out = api.get(f"/api/v1/jobs/{detail['job_id']}/artifacts/outputs/notes/a.txt.json").json()
    assert out["chunks"][0]["text"].startswith("Alpha text.")


def test_the_profile_outputs_are_identical(api, aws, pump):
    outputs = []
    for profile in ("auto", "legacy", "advanced"):
        job_id = submit_upload(api, files=ONE_FILE, pipeline_profile=profile)["job_id"]
        pump.run()
        chunks = api.get(f"/api/v1/jobs/{job_id}/artifacts/outputs/notes/a.txt.json").json()["chunks"]
        outputs.append([(c["chunk_id"], c["text"]) for c in chunks])
    assert outputs[0] == outputs[1] == outputs[2]


def test_unknown_pipeline_profile_is_a_422_in_both_modes(client, aws):
    form = client.post("/api/v1/jobs/process", files=ONE_FILE, data={"pipeline_profile": "turbo"})
    assert form.status_code == 422 and "pipeline_profile" in form.text
    body = client.post("/api/v1/jobs/process", json={"input_path": "incoming/x/", "pipeline_profile": "turbo"})
    assert body.status_code == 422 and "pipeline_profile" in body.text


def test_unknown_resume_session_is_a_404_at_submit_in_both_modes(client, aws):
    _put(aws, "incoming/resume404/a.txt", b"Text.")
    form = client.post("/api/v1/jobs/process", files=ONE_FILE, data={"resume_session": "deadbeef"})
    assert form.status_code == 404 and form.json()["detail"] == "Session not found: deadbeef"
    body = client.post(
        "/api/v1/jobs/process", json={"input_path": "incoming/resume404/", "resume_session": "deadbeef"}
    )
    assert body.status_code == 404


def test_source_files_selects_uploaded_files_in_forms(api, aws, pump):
    files = [*ONE_FILE, ("files", ("b.txt", b"Bravo text.", "text/plain"))]
    resp = api.post("/api/v1/jobs/process", files=files, data={"source_files": "b.txt"})
    assert resp.status_code == 202, resp.text
    assert [f["source_path"] for f in job(api, resp.json()["job_id"])["files"]] == ["b.txt"]
    missing = api.post("/api/v1/jobs/process", files=files, data={"source_files": "c.txt"})
    assert missing.status_code == 400 and "c.txt" in missing.json()["detail"]


def test_openapi_lists_every_original_field_with_its_meaning(client):
    spec = client.get("/openapi.json").json()
    json_props = spec["components"]["schemas"]["ProcessJobRequest"]["properties"]
    form_props = spec["paths"]["/api/v1/jobs/process"]["post"]["requestBody"]["content"]["multipart/form-data"][
        "schema"
    ]["properties"]
    for name in [*ORIGINAL_JSON_FIELDS, "input_path", "semantic", "export_graph", "source"]:
        assert name in json_props, name
        if name != "input_path":
            assert name in form_props, name
    for name in (
        "incremental",
        "force",
        "resume",
        "resume_session",
        "non_interactive",
        "pipeline_profile",
        "output_path",
        "semantic",
        "export_graph",
        "source",
    ):
        assert json_props[name].get("description"), name
        assert form_props[name].get("description"), name
    detail = spec["components"]["schemas"]["JobDetail"]["properties"]
    assert {"ignored_fields", "notes", "incremental", "resumes", "pipeline_profile"} <= set(detail)


ORIGINAL_RESULT_KEYS = {
    "job_id",
    "status",
    "total_files",
    "processed_count",
    "failed_count",
    "skipped_count",
    "output_dir",
    "session_id",
    "processed_files",
    "failed_files",
    "stage_totals_ms",
    "started_at",
    "finished_at",
    "artifact_dir",
    "request_hash",
    "exit_code",
    "semantic",
    "evaluation",
}


def test_detail_events_and_result_are_what_the_original_clients_read(client, aws, pump):
    files = [*ONE_FILE, ("files", ("bad.json", b'{"truncated": [1, 2', "application/json"))]
    job_id = submit_upload(client, files=files)["job_id"]
    pump.run()
    resp = client.get(f"/api/v1/jobs/{job_id}", params={"file_limit": 2000, "event_limit": 2000})
    assert resp.status_code == 200
    detail = resp.json()
    assert detail["status"] == "partial"
    types = [e["event_type"] for e in detail["events"]]
    assert types[0] == "queued" and "running" in types
    assert types.index("finished") < types.index("partial")  # the status event follows `finished`
    result = detail["result_payload"]
    assert set(result) >= ORIGINAL_RESULT_KEYS
    assert {"extract", "normalize", "chunk", "semantic", "output"} <= set(result["stage_totals_ms"])
    assert {"path", "output_path", "chunk_count", "stage_timings_ms", "source_key"} <= set(
        result["processed_files"][0]
    )
    assert {"path", "error_type", "error_message", "retry_count", "source_key"} <= set(result["failed_files"][0])
    assert result["total_files"] == 2 and result["deleted_count"] == 0
    for f in detail["files"]:
        assert {
            "source_path",
            "output_path",
            "status",
            "chunk_count",
            "retry_count",
            "error_type",
            "error_message",
        } <= set(f)

    assert client.post(f"/api/v1/jobs/{job_id}/retry-failures").status_code == 202
    pump.run()
    assert client.delete(f"/api/v1/jobs/{job_id}/artifacts").status_code == 200
    types = [e["event_type"] for e in job(client, job_id)["events"]]
    assert "retry" in types and types.index("retry") < len(types) - 1
    assert types.count("finished") == 2 and types[-1] == "cleanup"
    assert client.get(f"/api/v1/jobs/{job_id}", params={"file_limit": 5001}).status_code == 422


def test_input_path_in_a_bucket_that_does_not_exist_is_a_clear_400(api, aws, monkeypatch):
    from data_extract.settings import get_settings

    monkeypatch.setenv("DATA_EXTRACT_API_ALLOWED_INPUT_ROOTS", "s3://no-such-bucket-here/incoming/")
    get_settings.cache_clear()
    resp = api.post(
        "/api/v1/jobs/process",
        json={"input_path": "s3://no-such-bucket-here/incoming/x/", "resume_session": "abc123"},
    )
    assert resp.status_code == 400
    assert "no-such-bucket-here" in resp.json()["detail"]

"""Config presets, health, and the OpenAPI document."""

from __future__ import annotations

import pytest

from tests.support.jobs import job, submit_upload


def test_presets_list_preview_apply_and_current(client, pump):
    names = [p["name"] for p in client.get("/api/v1/config/presets").json()]
    assert names == sorted(names)
    assert {"audit-standard", "quick-scan", "rag-optimized", "quality", "speed", "balanced"} <= set(names)
    shapes = {tuple(sorted(client.get(f"/api/v1/config/presets/{n}/preview").json())) for n in names}
    assert len(shapes) == 1  # one response shape for every preset
    assert client.get("/api/v1/config/current-preset").json() == {"preset": None}

    applied = client.post("/api/v1/config/presets/rag-optimized/apply")
    assert applied.status_code == 200
    assert applied.json()["effective_config"]["chunk"]["max_tokens"] == 256
    assert client.get("/api/v1/config/current-preset").json() == {"preset": "rag-optimized"}

    # The applied preset really changes the next run that names none.
    job_id = submit_upload(client)["job_id"]
    detail = job(client, job_id)
    assert detail["preset"] == "rag-optimized"
    assert (detail["effective_chunk_size"], detail["effective_chunk_overlap"]) == (256, 64)
    assert detail["chunk_size"] == 512  # the request value stays visible


@pytest.mark.parametrize("name,status", [("a..b", 400), ("a b", 400), ("-lead", 400), ("no-such", 404)])
def test_preset_names_are_validated(client, aws, name, status):
    assert client.get(f"/api/v1/config/presets/{name}/preview").status_code == status
    assert client.post(f"/api/v1/config/presets/{name}/apply").status_code == status


def test_effective_config_has_the_default_shape(client, aws):
    cfg = client.get("/api/v1/config/effective").json()
    assert cfg["chunk"] == {"max_tokens": 512, "overlap": 128}
    assert cfg["semantic"]["tfidf"]["max_features"] == 5000


def test_health_basic_and_detailed(client, aws, pump):
    basic = client.get("/api/v1/health").json()
    assert set(basic) == {"status", "ready", "timestamp"}
    assert basic["ready"] is True and basic["timestamp"].endswith("Z")
    submit_upload(client)
    detailed = client.get("/api/v1/health", params={"detailed": "true"}).json()
    assert detailed["work_queue"]["reachable"] is True and detailed["work_queue"]["visible"] == 4
    assert detailed["table_reachable"] and detailed["bucket_reachable"]
    assert "worker_not_reported" in detailed["problems"] and detailed["status"] == "degraded"
    pump.run()
    after = client.get("/api/v1/health", params={"detailed": "true"}).json()
    assert after["extractors"]["reported_by_worker"] is True
    assert "pdf" in after["extractors"]["formats"]


def test_openapi_lists_every_operation_with_models_and_status_codes(client, aws):
    doc = client.get("/openapi.json").json()
    expected = {
        ("post", "/api/v1/auth/session"),
        ("get", "/api/v1/auth/session"),
        ("delete", "/api/v1/auth/session"),
        ("post", "/api/v1/jobs/process"),
        ("get", "/api/v1/jobs"),
        ("get", "/api/v1/jobs/{job_id}"),
        ("post", "/api/v1/jobs/{job_id}/retry-failures"),
        ("delete", "/api/v1/jobs/{job_id}/artifacts"),
        ("get", "/api/v1/jobs/{job_id}/artifacts"),
        ("get", "/api/v1/jobs/{job_id}/artifacts/{artifact_path}"),
        ("get", "/api/v1/sessions"),
        ("get", "/api/v1/sessions/{session_id}"),
        ("get", "/api/v1/config/effective"),
        ("get", "/api/v1/config/current-preset"),
        ("get", "/api/v1/config/presets"),
        ("get", "/api/v1/config/presets/{name}/preview"),
        ("post", "/api/v1/config/presets/{name}/apply"),
        ("get", "/api/v1/health"),
    }
    present = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert expected <= present
    process = doc["paths"]["/api/v1/jobs/process"]["post"]
    assert {"application/json", "multipart/form-data"} <= set(process["requestBody"]["content"])
    assert {"202", "200", "400", "409", "413", "415", "422", "503"} <= set(process["responses"])
    for name in (
        "ProcessJobRequest",
        "EnqueueJobResponse",
        "JobSummary",
        "JobDetail",
        "ArtifactListResponse",
        "CleanupResponse",
        "SessionSummary",
        "SessionDetail",
        "SessionStatusResponse",
        "PresetInfo",
        "PresetPreview",
        "HealthResponse",
        "DetailedHealthResponse",
        "ErrorResponse",
    ):
        assert name in doc["components"]["schemas"], name


def test_every_status_the_api_answers_with_is_documented(client, aws):
    # A fuzzer sends arbitrary bytes as a JSON body; the answer must be one the document lists.
    doc = client.get("/openapi.json").json()
    resp = client.post(
        "/api/v1/auth/session", content=b"\x19\xff\xfe\x06\x1d", headers={"content-type": "application/json"}
    )
    documented = doc["paths"]["/api/v1/auth/session"]["post"]["responses"]
    assert str(resp.status_code) in documented
    assert resp.status_code in (400, 422)

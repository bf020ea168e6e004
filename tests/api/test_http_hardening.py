"""What probing the API over HTTP with auth on turned up, each pinned down: no 500 from odd input, the headers a
browser needs, names that round-trip, strict and bounded validation, and a document that states the rules."""

from __future__ import annotations

import logging
from urllib.parse import quote

import boto3
import pytest

from tests.support.jobs import job

KEY = "probe-key-0123456789abcdef"
NEXT_KEY = "rotated-key-fedcba9876543210"


@pytest.fixture
def keyed(aws, monkeypatch):
    """Auth on, with two valid keys (a rotation in progress)."""
    from data_extract.api.deps import reset_auth_cache
    from data_extract.settings import get_settings

    monkeypatch.setenv("DATA_EXTRACT_API_KEY", f"{KEY},{NEXT_KEY}")
    monkeypatch.setenv("DATA_EXTRACT_API_SESSION_SECRET", "session-signing-secret-0123456789")
    get_settings.cache_clear()
    reset_auth_cache()
    yield KEY
    get_settings.cache_clear()
    reset_auth_cache()


@pytest.fixture
def asgi(keyed):
    from fastapi.testclient import TestClient

    from data_extract.api.app import create_app

    with TestClient(create_app(), base_url="https://testserver", headers={"X-API-Key": KEY}) as c:
        yield c


def _upload(client, files, **data):
    resp = client.post("/api/v1/jobs/process", files=files, data=data, headers={"X-API-Key": KEY})
    assert resp.status_code == 202, resp.text
    return resp.json()["job_id"]


# ---------------------------------------------------------------- keys and sessions


def test_every_configured_key_works_and_none_is_ever_logged(client, keyed, caplog):
    caplog.set_level(logging.DEBUG)
    # The Lambda handlers route the package's loggers through Powertools (no propagation to the root logger
    # caplog listens on), so listen on the package logger itself as well.
    package = logging.getLogger("data_extract")
    package.addHandler(caplog.handler)
    level = package.level
    package.setLevel(logging.DEBUG)
    try:
        _use_every_key(client)
    finally:
        package.removeHandler(caplog.handler)
        package.setLevel(level)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert KEY not in logged and NEXT_KEY not in logged
    from data_extract.api.security import key_fingerprint

    assert key_fingerprint(NEXT_KEY) in logged  # which key was used is traceable, the key is not


def _use_every_key(client) -> None:
    for key in (KEY, NEXT_KEY):
        assert client.get("/api/v1/jobs", headers={"X-API-Key": key}).status_code == 200
        login = client.post("/api/v1/auth/session", json={"api_key": key})
        assert login.status_code == 200 and login.json()["authenticated"] is True
        client.cookies.clear()
    assert client.get("/api/v1/jobs", headers={"X-API-Key": f"{KEY},{NEXT_KEY}"}).status_code == 401


def test_sessions_are_signed_with_the_session_secret_not_an_api_key(client, keyed):
    from data_extract.api import security

    login = client.post("/api/v1/auth/session", json={"api_key": KEY})
    token = login.cookies["data_extract_session"]
    assert security.verify_token("session-signing-secret-0123456789", token, now=0) is not None
    assert security.verify_token(KEY, token, now=0) is None
    client.cookies.clear()
    forged, _ = security.issue_token(KEY, now=2_000_000_000, ttl=900)  # signed with a key: worthless
    client.cookies.set("data_extract_session", forged)
    assert client.get("/api/v1/jobs").status_code == 401


def test_a_session_secret_equal_to_an_api_key_is_not_used(aws, monkeypatch):
    from data_extract.api import deps
    from data_extract.settings import get_settings

    monkeypatch.setenv("DATA_EXTRACT_API_KEY", KEY)
    monkeypatch.setenv("DATA_EXTRACT_API_SESSION_SECRET", KEY)
    get_settings.cache_clear()
    deps.reset_auth_cache()
    assert deps.session_secret() not in (KEY, "")
    get_settings.cache_clear()
    deps.reset_auth_cache()


def test_keys_and_session_secret_can_come_from_secrets_manager(aws, monkeypatch):
    from data_extract.api import deps
    from data_extract.settings import get_settings

    sm = boto3.client("secretsmanager", region_name="us-east-1")
    keys = sm.create_secret(Name="data-extract/api-keys", SecretString=f"{KEY}\n{NEXT_KEY}\n")["ARN"]
    session = sm.create_secret(Name="stack/session-secret", SecretString="generated-session-secret-abc")["ARN"]
    monkeypatch.setenv("DATA_EXTRACT_API_KEY_SECRET_ID", keys)
    monkeypatch.setenv("DATA_EXTRACT_API_SESSION_SECRET_ID", session)
    get_settings.cache_clear()
    deps.reset_auth_cache()
    assert deps.api_keys() == (KEY, NEXT_KEY)
    assert deps.session_secret() == "generated-session-secret-abc"
    get_settings.cache_clear()
    deps.reset_auth_cache()


@pytest.mark.parametrize("cookie", ["abc.é", "é.é", "abc.\u2603", "a" * 600 + ".é"])
def test_a_non_ascii_session_cookie_is_401_not_500(client, keyed, cookie):
    header = {"Cookie": f"data_extract_session={cookie}".encode()}
    for path in ("/api/v1/jobs", "/api/v1/config/presets", "/api/v1/sessions", "/api/v1/uploads"):
        resp = client.request("POST" if path.endswith("uploads") else "GET", path, headers=header)
        assert resp.status_code == 401, (path, resp.text)
    assert client.get("/api/v1/auth/session", headers=header).json()["authenticated"] is False
    assert client.delete("/api/v1/auth/session", headers=header).status_code == 200


def test_the_template_gives_the_api_a_generated_session_secret_it_alone_may_read():
    from infra.local.template import load_template
    from tests.conftest import REPO

    template = load_template(REPO / "template.yaml", parameter_overrides={"ApiKeySecretId": "data-extract/keys"})
    resources = template.document["Resources"]
    secret = resources["SessionSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret" and "GenerateSecretString" in secret["Properties"]
    resolver = template.resolver(region="eu-west-1", account_id="111122223333", stack_name="prod")
    env = template.functions["ApiFunction"].environment
    assert resolver.resolve(env["DATA_EXTRACT_API_SESSION_SECRET_ID"]) == "prod/session-secret"
    policies = resolver.resolve([p for p in resources["ApiFunction"]["Properties"]["Policies"] if "Fn::If" in p])
    statements = [s for p in policies if isinstance(p, dict) for s in p.get("Statement", [])]
    read = next(s for s in statements if s.get("Sid") == "ReadSessionSecret")
    assert read["Resource"] == "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/session-secret-??????"


# ---------------------------------------------------------------- headers


def test_security_headers_on_every_kind_of_answer(client, keyed):
    authed = client.get("/api/v1/jobs", headers={"X-API-Key": KEY})
    login = client.post("/api/v1/auth/session", json={"api_key": KEY})
    refused = client.get("/api/v1/jobs", headers={"X-API-Key": "wrong"})
    for resp in (authed, login, refused):
        assert resp.headers["cache-control"] == "no-store"
        assert resp.headers["x-content-type-options"] == "nosniff"
    for resp in (client.get("/api/v1/health"), client.get("/openapi.json"), client.get("/no/such/page")):
        assert resp.headers["x-content-type-options"] == "nosniff"


def test_uploaded_html_and_svg_download_as_inert_attachments(client, keyed, pump):
    job_id = _upload(
        client,
        [
            (
                "files",
                (
                    "page.html",
                    b"<html><body><p>Visible words.</p><script>alert(1)</script></body></html>",
                    "text/html",
                ),
            ),
            (
                "files",
                (
                    "logo.svg",
                    b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
                    "image/svg+xml",
                ),
            ),
            ("files", ("notes.txt", b"Plain words.", "text/plain")),
        ],
    )
    pump.run()
    expected = {
        "inputs/page.html": "application/octet-stream",
        "inputs/logo.svg": "application/octet-stream",
        "inputs/notes.txt": "text/plain; charset=utf-8",
        "outputs/page.html.json": "application/json",
    }
    for path, content_type in expected.items():
        resp = client.get(f"/api/v1/jobs/{job_id}/artifacts/{path}", headers={"X-API-Key": KEY})
        assert resp.status_code == 200, path
        assert resp.headers["content-type"] == content_type, path
        assert resp.headers["content-disposition"].startswith("attachment;"), path
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in resp.headers["content-security-policy"]


def test_only_the_services_own_semantic_report_downloads_as_html_and_it_runs_no_script(client, keyed, pump, aws):
    import boto3

    job_id = _upload(client, [("files", ("page.html", b"<html><body><p>Words.</p></body></html>", "text/html"))])
    pump.run()
    s3 = boto3.client("s3", region_name="us-east-1")
    report = b"<!doctype html><html><head><style>p{color:red}</style></head><body><p>Topics</p></body></html>"
    for key in (f"jobs/{job_id}/semantic/semantic_report.html", f"jobs/{job_id}/outputs/report.html"):
        s3.put_object(Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=key, Body=report)

    served = client.get(f"/api/v1/jobs/{job_id}/artifacts/semantic/semantic_report.html", headers={"X-API-Key": KEY})
    other = client.get(f"/api/v1/jobs/{job_id}/artifacts/outputs/report.html", headers={"X-API-Key": KEY})

    assert served.status_code == 200 and served.headers["content-type"] == "text/html; charset=utf-8"
    policy = served.headers["content-security-policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy and "script" not in policy
    assert other.headers["content-type"] == "application/octet-stream"


def test_the_405_allow_header_names_every_method_of_the_path(client, keyed):
    cases = {
        "/api/v1/auth/session": "DELETE, GET, POST",
        "/api/v1/jobs/abc/artifacts": "DELETE, GET",
        "/api/v1/jobs/abc/artifacts/outputs/a.json": "GET",
        "/api/v1/uploads": "POST",
    }
    for path, allowed in cases.items():
        resp = client.request("PUT", path, headers={"X-API-Key": KEY})
        assert resp.status_code == 405, path
        assert resp.headers["allow"] == allowed, path


# ---------------------------------------------------------------- artifact paths


def test_listed_names_with_percent_escapes_download_as_listed(client, keyed, pump):
    # "50%25off.txt" is a real file name; curl sends a '"' in a name as %22 (HTML's multipart rule).
    job_id = _upload(
        client,
        [
            ("files", ("50%25off.txt", b"Half price today.", "text/plain")),
            ("files", ("q%22x.txt", b"Quoted name.", "text/plain")),
        ],
    )
    pump.run()
    listed = client.get(f"/api/v1/jobs/{job_id}/artifacts", headers={"X-API-Key": KEY}).json()["artifacts"]
    paths = {a["path"] for a in listed}
    assert {"inputs/50%25off.txt", "inputs/q%22x.txt", "outputs/50%25off.txt.json", "outputs/q%22x.txt.json"} <= paths
    contents = {"inputs/50%25off.txt": b"Half price today.", "inputs/q%22x.txt": b"Quoted name."}
    for path in paths:
        # What the list shows, percent-encoded like any path segment, downloads that very file.
        resp = client.get(f"/api/v1/jobs/{job_id}/artifacts/{quote(path)}", headers={"X-API-Key": KEY})
        assert resp.status_code == 200, (path, resp.text)
        if path in contents:
            assert resp.content == contents[path], path
        # The same with every '/' sent as %2F.
        slashed = client.get(f"/api/v1/jobs/{job_id}/artifacts/{quote(path, safe='')}", headers={"X-API-Key": KEY})
        assert slashed.status_code == 200 and slashed.content == resp.content, path


def test_names_that_differ_only_by_an_escape_each_download_their_own_file(keyed, pump):
    # Starlette's TestClient decodes a path twice; httpx's ASGI transport decodes once, as uvicorn does.
    import asyncio

    import httpx

    from data_extract.api.app import create_app

    async def scenario() -> dict[str, bytes]:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(
            transport=transport, base_url="https://testserver", headers={"X-API-Key": KEY}
        ) as c:
            resp = await c.post(
                "/api/v1/jobs/process",
                files=[
                    ("files", ("50%25off.txt", b"Half price today.", "text/plain")),
                    ("files", ("50%off.txt", b"A different file.", "text/plain")),
                ],
            )
            assert resp.status_code == 202, resp.text
            job_id = resp.json()["job_id"]
            got = {}
            for name in ("50%25off.txt", "50%off.txt"):
                download = await c.get(f"/api/v1/jobs/{job_id}/artifacts/inputs/{quote(name)}")
                assert download.status_code == 200, (name, download.text)
                got[name] = download.content
            return got

    loop = asyncio.new_event_loop()  # not asyncio.run: it would unset the loop Mangum later asks for
    try:
        got = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert got == {"50%25off.txt": b"Half price today.", "50%off.txt": b"A different file."}


def test_a_listed_name_pasted_unencoded_still_downloads(asgi, pump):
    job_id = _upload(asgi, [("files", ("50%25off.txt", b"Half price today.", "text/plain"))])
    pump.run()
    resp = asgi.get(f"/api/v1/jobs/{job_id}/artifacts/inputs/50%25off.txt")
    assert resp.status_code == 200 and resp.content == b"Half price today."


def test_an_overlong_artifact_path_is_400_before_any_storage_call(client, keyed, pump, monkeypatch):
    from data_extract.store.objects import ObjectStore

    job_id = _upload(client, [("files", ("a.txt", b"Some text.", "text/plain"))])
    pump.run()
    calls: list[str] = []
    for name in ("head", "list", "get_bytes", "presign_get"):
        original = getattr(ObjectStore, name)
        monkeypatch.setattr(
            ObjectStore, name, lambda self, *a, _n=name, _o=original, **k: (calls.append(_n), _o(self, *a, **k))[1]
        )
    for length in (64_000, 1003):  # httpx itself refuses URLs over 64 KiB
        resp = client.get(f"/api/v1/jobs/{job_id}/artifacts/{'a' * length}", headers={"X-API-Key": KEY})
        assert resp.status_code == 400, length
        assert "longer than 1002 bytes" in resp.json()["detail"]
    assert calls == []
    near = client.get(f"/api/v1/jobs/{job_id}/artifacts/{'a' * 1002}", headers={"X-API-Key": KEY})
    assert near.status_code == 404  # as long as a key can be: looked up, and not there


@pytest.mark.parametrize(
    "path,reason",
    [
        ("outputs/a.json%00", "control characters"),
        ("outputs\\a.json", "backslash"),
        ("outputs//a.json", "segments"),
        ("outputs/%2E/a.json", "segments"),
        ("outputs/", "segments"),
    ],
)
def test_artifact_path_errors_say_what_is_wrong(asgi, path, reason):
    job_id = _upload(asgi, [("files", ("a.txt", b"Some text.", "text/plain"))])
    resp = asgi.get(f"/api/v1/jobs/{job_id}/artifacts/{path}")
    assert resp.status_code == 400 and reason in resp.json()["detail"]


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("size", [True, "12", 1.0, -1, None])
def test_upload_sizes_are_strict_integers(asgi, size):
    resp = asgi.post("/api/v1/uploads", json={"files": [{"name": "a.txt", "size_bytes": size}]})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "files", 0, "size_bytes"]
    assert asgi.post("/api/v1/uploads", json={"files": [{"name": "a.txt", "size_bytes": 12}]}).status_code == 201


def test_login_errors_never_echo_the_input(client, keyed):
    big = "k" * 1_000_000
    resp = client.post("/api/v1/auth/session", json={"api_key": big})
    assert resp.status_code == 422
    assert len(resp.content) < 1000 and "kkkk" not in resp.text
    wrong_type = client.post("/api/v1/auth/session", json={"api_key": 12345})
    assert wrong_type.status_code == 422 and "12345" not in wrong_type.text


def test_validation_errors_echo_only_short_inputs(asgi):
    long_name = "n" * 5000
    resp = asgi.post("/api/v1/uploads", json={"files": [{"name": long_name, "size_bytes": 1}]})
    assert resp.status_code == 422 and long_name not in resp.text and len(resp.content) < 2000
    short = asgi.post("/api/v1/uploads", json={"files": [{"name": "a.txt", "size_bytes": "12"}]})
    assert short.json()["detail"][0]["input"] == "12"


@pytest.mark.parametrize("path", ["incoming/a\u0000b.txt", "incoming/a\nb.txt", "s3://bucket/x\u0007"])
def test_control_characters_in_input_path_get_their_own_message(asgi, path):
    resp = asgi.post("/api/v1/jobs/process", json={"input_path": path})
    assert resp.status_code == 422
    assert "control characters" in resp.text and ".." not in resp.text


def test_upload_names_too_long_get_a_precise_message(asgi):
    header_overflow = asgi.post("/api/v1/jobs/process", files=[("files", ("n" * 5000 + ".txt", b"x", "text/plain"))])
    assert header_overflow.status_code == 400
    assert "900 bytes" in header_overflow.json()["detail"]
    too_long = asgi.post("/api/v1/jobs/process", files=[("files", ("n" * 1000 + ".txt", b"x", "text/plain"))])
    assert too_long.status_code == 400 and "longer than 900 bytes" in too_long.json()["detail"]
    presigned = asgi.post("/api/v1/uploads", json={"files": [{"name": "é" * 500, "size_bytes": 1}]})
    assert presigned.status_code == 400 and "longer than 900 bytes" in presigned.json()["detail"]


def test_a_deeply_nested_json_file_fails_as_corrupt_not_internal_error(asgi, pump):
    files = [
        ("files", ("deep.json", b"[" * 100_000 + b"]" * 100_000, "application/json")),
        ("files", ("deep-head.json", b'{"a":' * 4000 + b"1" + b"}" * 4000, "application/json")),
        ("files", ("deep.ndjson", b"[" * 50_000 + b"]" * 50_000 + b"\n[1]\n", "application/x-ndjson")),
        ("files", ("fine.txt", b"Still processed.", "text/plain")),
    ]
    job_id = _upload(asgi, files)
    pump.run()
    by_path = {f["source_path"]: f for f in job(asgi, job_id)["files"]}
    for name in ("deep.json", "deep.ndjson"):
        assert (by_path[name]["status"], by_path[name]["error_type"]) == ("failed", "corrupt"), by_path[name]
        assert "nested too deeply" in by_path[name]["error_message"]
    assert by_path["deep-head.json"]["status"] == "processed"
    assert by_path["fine.txt"]["status"] == "processed"


# ---------------------------------------------------------------- presigned uploads


def _create_upload(asgi, files):
    resp = asgi.post("/api/v1/uploads", json={"files": files})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _put(aws, upload_id, name, body):
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=aws["DATA_EXTRACT_BUCKET_NAME"], Key=f"uploads/{upload_id}/{name}", Body=body
    )


def test_presigned_urls_sign_the_declared_size(asgi):
    upload = _create_upload(asgi, [{"name": "a.txt", "size_bytes": 12, "content_type": "text/plain"}])
    target = upload["files"][0]
    assert "content-length" in target["url"].split("X-Amz-SignedHeaders=", 1)[1].split("&", 1)[0]
    assert target["headers"] == {"Content-Type": "text/plain", "Content-Length": "12"}
    assert target["size_bytes"] == 12 and target["method"] == "PUT"


@pytest.mark.parametrize(
    "put,message",
    [
        ({"a.txt": b"twelve bytes", "b.txt": b"too long!"}, "declared as 5 bytes but 9 bytes"),
        ({"a.txt": b"twelve bytes"}, "incomplete; PUT these files first: b.txt"),
        ({"a.txt": b"twelve bytes", "b.txt": b"five!", "extra.txt": b"x"}, "never declared: extra.txt"),
    ],
)
def test_an_upload_that_differs_from_its_declaration_creates_no_job(asgi, keyed, aws, put, message):
    upload = _create_upload(asgi, [{"name": "a.txt", "size_bytes": 12}, {"name": "b.txt", "size_bytes": 5}])
    for name, body in put.items():
        _put(aws, upload["upload_id"], name, body)
    resp = asgi.post("/api/v1/jobs/process", json={"upload_id": upload["upload_id"]})
    assert resp.status_code == 400 and message in resp.json()["detail"]
    assert asgi.get("/api/v1/jobs").json() == []


def test_an_upload_matching_its_declaration_runs(asgi, aws, pump):
    upload = _create_upload(asgi, [{"name": "docs/a.txt", "size_bytes": 12}])
    _put(aws, upload["upload_id"], "docs/a.txt", b"twelve bytes")
    resp = asgi.post("/api/v1/jobs/process", json={"upload_id": upload["upload_id"]})
    assert resp.status_code == 202, resp.text
    pump.run()
    assert job(asgi, resp.json()["job_id"])["status"] == "completed"


def test_an_upload_id_never_created_is_refused(asgi, aws):
    _put(aws, "feedbeef00", "a.txt", b"planted without the API")
    resp = asgi.post("/api/v1/jobs/process", json={"upload_id": "feedbeef00"})
    assert resp.status_code == 400 and "Unknown upload_id" in resp.json()["detail"]


# ---------------------------------------------------------------- the document states the rules


def test_the_openapi_document_states_the_rules_the_api_enforces(asgi):
    import re

    doc = asgi.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    process = schemas["ProcessJobRequest"]
    assert {"required": ["input_path"], "properties": {"input_path": {"type": "string"}}} in process["oneOf"]
    assert {"required": ["upload_id"], "properties": {"upload_id": {"type": "string"}}} in process["oneOf"]
    assert "pattern" in process["properties"]["upload_id"]["anyOf"][0]
    assert process["properties"]["input_path"]["pattern"] == "^[^\\x00-\\x1f\\x7f]*$"
    assert "pattern" in process["properties"]["preset"]
    name = schemas["UploadFileSpec"]["properties"]["name"]
    assert name["maxLength"] == 1024 and "pattern" in name and "900 bytes" in name["description"]

    def param(path: str, method: str, name: str) -> dict:
        return next(p for p in doc["paths"][path][method]["parameters"] if p["name"] == name)

    preset = param("/api/v1/config/presets/{name}/preview", "get", "name")["schema"]["pattern"]
    for candidate, status in [("rag-optimized", 404), ("a..b", 400), ("-lead", 400), ("a b", 400), ("v1.2_x", 404)]:
        assert bool(re.match(preset, candidate)) is (status == 404), candidate
        assert asgi.get(f"/api/v1/config/presets/{quote(candidate)}/preview").status_code in (status, 200)

    artifact = param("/api/v1/jobs/{job_id}/artifacts/{artifact_path}", "get", "artifact_path")["schema"]
    assert artifact["maxLength"] == 1002
    job_id = _upload(asgi, [("files", ("a.txt", b"Some text.", "text/plain"))])
    for candidate in [
        "outputs/a.json",
        "50%25off.txt",
        "a/.b",
        "/etc/passwd",
        "a//b",
        "../x",
        "a/..",
        "a\\b",
        "a/",
        "x\x01y",
    ]:
        # Dots encoded too: an HTTP client would otherwise resolve '..' before sending.
        resp = asgi.get(f"/api/v1/jobs/{job_id}/artifacts/{quote(candidate).replace('.', '%2E')}")
        assert (resp.status_code != 400) is bool(re.match(artifact["pattern"], candidate)), (candidate, resp.text)

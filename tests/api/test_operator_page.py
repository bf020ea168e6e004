"""The operator page's HTTP side: served at "/" by ASGI and through API Gateway (v1, v2, named stages)."""

from __future__ import annotations

import re

import httpx
import pytest

from data_extract.api.routers import ui

ASSETS = {
    "app.js": "text/javascript",
    "api.js": "text/javascript",
    "upload.js": "text/javascript",
    "dom.js": "text/javascript",
    "app.css": "text/css",
    "favicon.svg": "image/svg+xml",
}


def _base_href(html: str) -> str:
    match = re.search(r'<base href="([^"]*)">', html)
    assert match, html[:400]
    return match.group(1)


def test_page_and_assets_are_served_without_auth_and_with_a_strict_policy(client, aws, monkeypatch):
    monkeypatch.setenv("DATA_EXTRACT_API_KEY", "page-key")
    from data_extract.api.deps import reset_auth_cache

    reset_auth_cache()
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    transport = getattr(client, "transport_under_test", None)
    # A REST API (v1) URL always carries its stage (tests/events: "prod"); ASGI and the HTTP API's $default do not.
    base = "/prod/" if transport is not None and transport.version == "1.0" else "/"
    assert _base_href(page.text) == base
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    # Fetches may reach the bucket too (presigned uploads, redirected downloads), and nothing else.
    bucket = aws["DATA_EXTRACT_BUCKET_NAME"]
    connect = next(d for d in policy.split("; ") if d.startswith("connect-src"))
    assert f"https://{bucket}.s3.amazonaws.com" in connect.split()
    assert all(
        src == "'self'" or bucket in src or re.fullmatch(r"https://s3(\.[a-z0-9-]+)?\.amazonaws\.com", src)
        for src in connect.split()[1:]
    ), connect
    assert page.headers["x-content-type-options"] == "nosniff"
    # Every script and style the page names is one of ours, relative to <base>: no CDN, no absolute URL.
    referenced = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert referenced and all(ref.startswith("ui/") or ref == base for ref in referenced), referenced
    for name, media_type in ASSETS.items():
        asset = client.get(f"/ui/{name}")
        assert asset.status_code == 200, name
        assert asset.headers["content-type"].startswith(media_type)
        assert asset.content == (ui.STATIC_DIR / name).read_bytes()
    # The page itself holds no data; the API behind it still needs the key.
    assert client.get("/api/v1/jobs").status_code == 401


def test_module_imports_resolve_to_shipped_files():
    for path in ui.STATIC_DIR.glob("*.js"):
        for target in re.findall(r'from "\./([^"]+)"', path.read_text()):
            assert (ui.STATIC_DIR / target).is_file(), f"{path.name} imports missing {target}"


def test_assets_answer_304_to_a_matching_etag_and_404_to_unknown_names(client):
    first = client.get("/ui/app.js")
    etag = first.headers["etag"]
    again = client.get("/ui/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/ui/missing.js").status_code == 404
    assert client.get("/ui/index.html").status_code == 404  # only at "/", where its <base> is filled in
    assert client.get("/ui/..%2Ftemplate.yaml").status_code == 404
    page_etag = client.get("/").headers["etag"]
    assert client.get("/", headers={"If-None-Match": page_etag}).status_code == 304


@pytest.mark.parametrize("version", ["2.0", "1.0"])
def test_behind_a_named_stage_the_page_points_at_the_stage(aws, version):
    from data_extract.handlers import api as api_handler
    from tests.support.apigw import ApiGatewayTransport

    stage = "prod"
    transport = ApiGatewayTransport(api_handler.lambda_handler, version=version, stage=stage)
    with httpx.Client(transport=transport, base_url="https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com") as c:
        page = c.get("/")
        assert page.status_code == 200
        # REST API events carry their stage ("prod" in tests/events) in requestContext.path.
        assert _base_href(page.text) == f"/{stage}/"
        script = c.get("/ui/app.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert "import" in script.text  # text, not base64


def test_http_api_default_stage_serves_the_page_at_the_root(aws):
    from data_extract.handlers import api as api_handler
    from tests.support.apigw import ApiGatewayTransport

    transport = ApiGatewayTransport(api_handler.lambda_handler, version="2.0")
    with httpx.Client(transport=transport, base_url="https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com") as c:
        assert _base_href(c.get("/").text) == "/"


class _Request:
    def __init__(self, scope: dict, path: str) -> None:
        self.scope = scope
        self.url = httpx.URL(f"https://example.test{path}")


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ({"root_path": ""}, ""),
        ({"root_path": "/ops/"}, "/ops"),
        ({"aws.event": {"version": "2.0", "rawPath": "/prod"}}, "/prod"),
        ({"aws.event": {"version": "2.0", "rawPath": "/prod/"}}, "/prod"),
        ({"aws.event": {"version": "1.0", "requestContext": {"path": "/v1-stage/"}}}, "/v1-stage"),
        # Anything that could make <base> name another origin or climb out falls back to the root.
        ({"aws.event": {"version": "2.0", "rawPath": "//evil.example/"}}, ""),
        ({"aws.event": {"version": "2.0", "rawPath": "/a/../"}}, ""),
        ({"aws.event": {"version": "2.0", "rawPath": '/x"><script>/'}}, ""),
        ({"root_path": "https://evil.example"}, ""),
    ],
)
def test_public_prefix(scope, expected):
    assert ui.public_prefix(_Request(scope, "/")) == expected

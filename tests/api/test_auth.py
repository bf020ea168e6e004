"""Auth: API key header, signed cookie sessions that logout really ends."""

from __future__ import annotations

import pytest


@pytest.fixture
def keyed(aws, monkeypatch):
    from data_extract.api.deps import reset_auth_cache
    from data_extract.settings import get_settings

    monkeypatch.setenv("DATA_EXTRACT_API_KEY", "s3cret-key-for-tests-0123456789abcdef")
    get_settings.cache_clear()
    reset_auth_cache()
    yield "s3cret-key-for-tests-0123456789abcdef"
    get_settings.cache_clear()
    reset_auth_cache()


def test_without_a_key_everything_is_open(client):
    assert client.get("/api/v1/jobs").status_code == 200
    status = client.get("/api/v1/auth/session").json()
    assert status == {"authenticated": True, "api_key_configured": False, "expires_at": None}


def test_protected_routes_need_the_key(client, keyed):
    assert client.get("/api/v1/jobs").status_code == 401
    assert client.get("/api/v1/jobs").json() == {"detail": "Unauthorized"}
    assert client.get("/api/v1/jobs", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/api/v1/jobs", headers={"X-API-Key": keyed}).status_code == 200
    assert client.get("/api/v1/health").status_code == 200  # basic health stays public
    assert client.get("/api/v1/health", params={"detailed": "true"}).status_code == 401
    assert client.get("/api/v1/config/presets").status_code == 401


def test_login_sets_a_secure_httponly_strict_cookie_and_logout_revokes_it(client, keyed):
    bad = client.post("/api/v1/auth/session", json={"api_key": "nope"})
    assert bad.status_code == 401
    resp = client.post("/api/v1/auth/session", json={"api_key": keyed})
    assert resp.status_code == 200
    body = resp.json()
    assert body["authenticated"] is True and body["expires_at"].endswith("Z")
    cookie_header = resp.headers["set-cookie"].lower()
    for attr in ("httponly", "samesite=strict", "path=/", "secure", "max-age=900"):
        assert attr in cookie_header
    token = resp.cookies["data_extract_session"]

    assert client.get("/api/v1/jobs").status_code == 200  # cookie jar sends it
    assert client.get("/api/v1/auth/session").json()["authenticated"] is True

    out = client.delete("/api/v1/auth/session")
    assert out.json() == {"authenticated": False, "api_key_configured": True, "expires_at": None}
    # A copy of the token taken before logout no longer works.
    client.cookies.clear()
    client.cookies.set("data_extract_session", token)
    assert client.get("/api/v1/jobs").status_code == 401


def test_forged_or_expired_tokens_are_refused(client, keyed):
    from data_extract.api import security

    forged, _ = security.issue_token("another-secret", 1_000, 900)
    client.cookies.set("data_extract_session", forged)
    assert client.get("/api/v1/jobs").status_code == 401
    assert security.verify_token(keyed, security.issue_token(keyed, 1_000, 10)[0], now=2_000) is None


def test_detailed_health_never_discloses_secrets(client, keyed):
    resp = client.get("/api/v1/health", params={"detailed": "true"}, headers={"X-API-Key": keyed})
    assert resp.status_code == 200
    assert keyed not in resp.text
    assert "length" not in resp.text
    security = resp.json()["security"]
    assert all(isinstance(v, bool) for v in security.values())

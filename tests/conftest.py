"""Shared fixtures: moto in-process with the template's resources, the app through ASGI and API Gateway."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Credentials and region before boto3 or moto load anything.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "DataExtractTests")
os.environ.setdefault("POWERTOOLS_DEV", "false")
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from moto import mock_aws

REPO = Path(__file__).resolve().parents[1]


def corpus_dir() -> Path | None:
    configured = os.environ.get("DATA_EXTRACT_CORPUS_DIR")
    path = Path(configured) if configured else REPO.parent / "shared" / "corpus"
    return path if (path / "MANIFEST.tsv").is_file() else None


@pytest.fixture
def corpus() -> Path:
    path = corpus_dir()
    if path is None:
        pytest.skip("document corpus not found at ../shared/corpus (set DATA_EXTRACT_CORPUS_DIR)")
    return path


def _reset_singletons() -> None:
    from data_extract.api.deps import reset_auth_cache
    from data_extract.handlers.notifier import signing_secret
    from data_extract.jobs.readiness import forget_readiness_report
    from data_extract.settings import get_settings
    from data_extract.store.clients import reset_clients

    get_settings.cache_clear()
    reset_clients()
    reset_auth_cache()
    forget_readiness_report()
    signing_secret.cache_clear()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """moto with every table, bucket and queue of template.yaml; the functions' environment set."""
    from infra.local.resources import create_resources
    from infra.local.template import load_template

    with mock_aws():
        import boto3

        env = create_resources(boto3.session.Session(region_name="us-east-1"), load_template(REPO / "template.yaml"))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv(
            "DATA_EXTRACT_API_ALLOWED_INPUT_ROOTS", f"s3://{env['DATA_EXTRACT_BUCKET_NAME']}/incoming/"
        )
        monkeypatch.delenv("DATA_EXTRACT_API_KEY", raising=False)
        _reset_singletons()
        yield env
        _reset_singletons()


@pytest.fixture
def store(aws: dict[str, str]):
    from data_extract.settings import get_settings
    from data_extract.store import Store

    return Store.from_settings(get_settings())


@pytest.fixture(params=["asgi", "apigw-v2", "apigw-v1"])
def client(request: pytest.FixtureRequest, aws: dict[str, str]) -> Iterator[Any]:
    """The API three ways: ASGI, and the Lambda handler with HTTP API (v2) and REST API (v1) events."""
    import httpx
    from fastapi.testclient import TestClient

    from data_extract.api.app import create_app

    if request.param == "asgi":
        with TestClient(create_app(), base_url="https://testserver") as c:
            yield c
        return
    from data_extract.handlers import api as api_handler
    from tests.support.apigw import ApiGatewayTransport

    transport = ApiGatewayTransport(
        api_handler.lambda_handler, version="2.0" if request.param == "apigw-v2" else "1.0"
    )
    with httpx.Client(transport=transport, base_url="https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com") as c:
        c.transport_under_test = transport  # type: ignore[attr-defined]
        yield c


@pytest.fixture
def pump(aws: dict[str, str]):
    """Deliver queued SQS messages to the worker, dead-letter and finalize handlers until the queues are empty."""
    from tests.support.sqs import QueuePump

    return QueuePump(aws)

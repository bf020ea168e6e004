"""Schema fuzzing: schemathesis drives every operation of the app's own OpenAPI document, with auth on.

Valid and invalid inputs alike must never answer 5xx, and every answer must be one the document lists, with the
documented content type, headers and body schema. The number of examples per operation is bounded so the whole
module stays near a minute; FUZZ_EXAMPLES raises it for a deeper run on demand.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

API_KEY = "fuzz-key-0123456789abcdef"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _app():
    # Building the app and its document touches no AWS service: the schema loads at collection time.
    from data_extract.api.app import create_app

    return create_app()


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@pytest.fixture
def keyed_stack(aws, monkeypatch):
    from data_extract.api.deps import reset_auth_cache
    from data_extract.settings import get_settings

    monkeypatch.setenv("DATA_EXTRACT_API_KEY", API_KEY)
    get_settings.cache_clear()
    reset_auth_cache()
    yield aws
    get_settings.cache_clear()
    reset_auth_cache()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
def test_every_operation_answers_as_documented(case, keyed_stack):
    case.call_and_validate(headers={"X-API-Key": API_KEY}, checks=CHECKS)


def test_the_fuzzer_sees_every_operation():
    operations = {(op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations())}
    assert ("POST", "/api/v1/jobs/process") in operations
    assert ("GET", "/api/v1/jobs/{job_id}/artifacts/{artifact_path}") in operations
    assert ("POST", "/api/v1/uploads") in operations
    assert len(operations) >= 19

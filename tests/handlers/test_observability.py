"""Logs carry job_id / unit_id / run on every line of every function; metrics go out as EMF with known names.

The handlers run with real SQS events from moto (the pump) and the API through API Gateway events; their stdout
is what CloudWatch Logs would receive: Powertools JSON log lines and EMF metric records.
"""

from __future__ import annotations

import copy
import io
import json
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from tests.support.apigw import load_event
from tests.support.jobs import submit_upload
from tests.support.lambda_context import LambdaContext

NAMESPACE = "DataExtract"  # template.yaml Globals, which the aws fixture applies


@pytest.fixture
def log_lines():
    """The JSON lines the functions' Powertools handler writes during the test (all handlers share it)."""
    from data_extract.handlers import api, dead_letter, finalize, worker  # noqa: F401 - each routes package logs

    handler = worker.logger.registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer)

    def read() -> list[dict[str, Any]]:
        """The lines written since the last read."""
        lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]
        buffer.seek(0)
        buffer.truncate()
        return lines

    yield read
    handler.setStream(previous)


def _emf(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith('{"_aws"')]


def _metrics(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """metric name -> the EMF records that carry it."""
    out: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        for directive in record["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE
            for metric in directive["Metrics"]:
                out.setdefault(metric["Name"], []).append(record)
    return out


def _value(raw: Any) -> float:
    """EMF values are a number or a list of numbers."""
    return sum(raw) if isinstance(raw, list) else raw


def _dimension_sets(record: dict[str, Any]) -> list[list[str]]:
    return record["_aws"]["CloudWatchMetrics"][0]["Dimensions"]


@pytest.fixture
def asgi(aws):
    from fastapi.testclient import TestClient

    from data_extract.api.app import create_app

    with TestClient(create_app(), base_url="https://testserver") as client:
        yield client


def test_worker_and_finalize_lines_carry_the_correlation_keys_and_emit_the_metrics(asgi, pump, log_lines, capsys):
    job_id = submit_upload(asgi)["job_id"]  # three text files and one unsupported .xyz
    capsys.readouterr()
    pump.run()
    stdout = capsys.readouterr().out
    lines = log_lines()

    done = [line for line in lines if line["message"] == "file unit done"]
    assert len(done) == 4
    for line in done:
        assert line["job_id"] == job_id and line["run"] == 1 and line["unit_id"], line
        assert line["function_name"] == "data-extract-function"  # Lambda context keys stay too
    assert len({line["unit_id"] for line in done}) == 4
    finalized = [line for line in lines if line["message"] == "run finalize"]
    assert len(finalized) == 1 and finalized[0]["job_id"] == job_id and finalized[0]["run"] == 1
    assert "unit_id" not in finalized[0]  # a run has no single unit

    metrics = _metrics(_emf(stdout))
    processed = metrics["FilesProcessed"]
    assert len(processed) == 3
    assert all(r["format"] in ("txt", "md") for r in processed)
    assert _dimension_sets(processed[0]) == [["service"], ["service", "format"]]
    skipped = metrics["FilesSkipped"]
    assert len(skipped) == 1 and skipped[0]["error_type"] == "unsupported_format"
    assert ["service", "format", "error_type"] in _dimension_sets(skipped[0])
    for name in (
        "InputBytes",
        "QueueWaitMs",
        "ExtractMs",
        "ChunkMs",
        "UnitsReceived",
        "RunsFinalized",
        "FinalizeQueueWaitMs",
        "JobsCompleted",
        "JobDurationMs",
    ):
        assert name in metrics, (name, sorted(metrics))
    assert sum(_value(r["InputBytes"]) for r in processed) > 0
    assert _value(metrics["JobDurationMs"][0]["JobDurationMs"]) >= 0


def test_a_retry_run_is_measured_on_its_own(asgi, pump, log_lines, capsys):
    files = [
        ("files", ("good.txt", b"Readable text for the job.", "text/plain")),
        ("files", ("bad.json", b"{not json", "application/json")),
    ]
    job_id = submit_upload(asgi, files=files)["job_id"]
    pump.run()
    assert asgi.post(f"/api/v1/jobs/{job_id}/retry-failures").status_code == 202
    capsys.readouterr()
    log_lines()
    pump.run()
    metrics = _metrics(_emf(capsys.readouterr().out))
    failed = metrics["FilesFailed"]
    assert len(failed) == 1 and failed[0]["error_type"] and failed[0]["format"]
    assert "RetryRunDurationMs" in metrics and "JobDurationMs" not in metrics
    assert "JobsPartial" in metrics
    retried = [line for line in log_lines() if line["message"] == "file unit done"]
    assert [line["run"] for line in retried] == [2] and retried[0]["job_id"] == job_id


def test_module_loggers_of_the_package_get_the_keys_too(aws, log_lines):
    """A line from data_extract.jobs.units (a plain logging.getLogger) carries the record's keys."""
    from data_extract.handlers import worker

    event = copy.deepcopy(load_event("sqs_work_unit.json"))
    event["Records"][0]["body"] = json.dumps({"job_id": "nosuchjob123", "unit_id": "00007", "run": 3})
    assert worker.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    unknown = [line for line in log_lines() if line["message"] == "unit message for an unknown job or unit"]
    assert len(unknown) == 1
    line = unknown[0]
    assert (line["job_id"], line["unit_id"], line["run"]) == ("nosuchjob123", "00007", 3)
    # The keys end with the record: the invocation's later lines do not inherit them.
    assert "job_id" not in worker.logger.thread_safe_get_current_keys()


def test_dead_letter_lines_carry_the_keys(aws, log_lines):
    from data_extract.handlers import dead_letter

    event = copy.deepcopy(load_event("sqs_work_unit.json"))
    event["Records"][0]["body"] = json.dumps({"job_id": "gonejob", "unit_id": "00002", "run": 1})
    assert dead_letter.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    handled = [line for line in log_lines() if line["message"] == "dead-lettered message handled"]
    assert [(h["job_id"], h["unit_id"], h["run"], h["outcome"]) for h in handled] == [
        ("gonejob", "00002", 1, "unit_already_done")
    ]


def test_api_lines_about_a_job_carry_its_id(aws, log_lines, monkeypatch):
    from data_extract.handlers import api as api_handler
    from data_extract.jobs import query
    from tests.support.apigw import ApiGatewayTransport

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(query, "job_detail", broken)
    transport = ApiGatewayTransport(api_handler.lambda_handler, version="2.0")
    with httpx.Client(transport=transport, base_url="https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com") as c:
        response = c.get("/api/v1/jobs/abc123def")
    assert response.status_code == 500 and "simulated" not in response.text
    errors = [line for line in log_lines() if line["message"] == "unhandled error"]
    assert len(errors) == 1
    assert errors[0]["job_id"] == "abc123def"
    assert "simulated bug" in errors[0]["exception"]


def test_storage_calls_are_traced_by_name(aws, monkeypatch):
    from data_extract.store import get_store, tracing

    names: list[str] = []

    @contextmanager
    def in_subsegment(name: str):
        names.append(name)
        yield None

    monkeypatch.setattr(tracing.tracer.provider, "in_subsegment", in_subsegment)
    store = get_store()
    store.table.get_job("nosuchjob")
    store.objects.reachable()
    store.queues.depth(store.queues.work_url)
    assert names == ["## Table.get_job", "## ObjectStore.reachable", "## Queues.depth"]

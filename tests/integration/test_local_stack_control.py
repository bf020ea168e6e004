"""Cancel, completion notices, sweeping and faults on the local stack, as a user meets them: over HTTP, with the
stack's AWS calls throttled and timing out (``--fault``), duplicated and reordered SQS deliveries sent to its
real queues, and a callback receiver on 127.0.0.1."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

import boto3
import httpx
import pytest

from tests.support.local_stack import free_port, running_stack, stack_environment
from tests.support.receiver import Receiver, verify

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
FAULTS = [
    "dynamodb:TransactWriteItems:throttle:4",
    "dynamodb:GetItem:timeout:9",
    "s3:GetObject:timeout:3",
    "s3:PutObject:throttle:5",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    port, moto_port = free_port(), free_port()
    log_path = tmp_path_factory.mktemp("stack") / "stack.log"
    env = stack_environment(PORT=str(port), MOTO_PORT=str(moto_port), DATA_EXTRACT_CALLBACK_BACKOFF_SECONDS="1")
    args = [sys.executable, "-m", "infra.local.stack", "--schedule-interval", "2"]
    for fault in FAULTS:
        args += ["--fault", fault]
    with running_stack(args, port=port, env=env, log_path=log_path, stop_seconds=60) as (base, _):
        aws = {
            "endpoint_url": f"http://127.0.0.1:{moto_port}",
            "region_name": "us-east-1",
            "aws_access_key_id": "local",
            "aws_secret_access_key": "local",
        }
        yield {"api": f"{base}/api/v1", "aws": aws, "log": log_path}


def _wait(http: httpx.Client, api: str, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail = http.get(f"{api}/jobs/{job_id}", params={"event_limit": 5000}).json()
        if detail["status"] in ("completed", "partial", "failed", "cancelled"):
            return detail
        time.sleep(0.5)
    pytest.fail(f"job {job_id} did not end: {json.dumps(detail)[:2000]}")


def _files(n: int, prefix: str = "f") -> list:
    return [
        ("files", (f"{prefix}{i:02d}.txt", f"File {i}. It says something short.".encode(), "text/plain"))
        for i in range(n)
    ]


def _assert_counted_once(detail: dict) -> None:
    events = Counter(e["payload"]["unit_id"] for e in detail["events"] if e["event_type"] == "file")
    assert set(events.values()) == {1}, events
    assert len(events) == detail["progress"]["total"] == len(detail["files"])
    assert detail["progress"]["pending"] == 0
    result = detail["result_payload"]
    progress = detail["progress"]
    assert (result["processed_count"], result["failed_count"], result["skipped_count"]) == (
        progress["processed"],
        progress["failed"],
        progress["skipped"],
    )


def test_jobs_finish_with_right_counts_while_aws_calls_are_throttled_and_time_out(stack):
    with httpx.Client(timeout=60) as http:
        ids = [http.post(f"{stack['api']}/jobs/process", files=_files(4, f"t{j}")).json()["job_id"] for j in range(3)]
        for job_id in ids:
            detail = _wait(http, stack["api"], job_id)
            assert detail["status"] == "completed", [(f["source_path"], f["error_type"]) for f in detail["files"]]
            _assert_counted_once(detail)
    assert "fault injection on" in stack["log"].read_text()


def test_duplicated_and_reordered_deliveries_on_the_real_queue_count_once(stack):
    sqs = boto3.client("sqs", **stack["aws"])
    work = sqs.get_queue_url(QueueName="data-extract-local-WorkQueue")["QueueUrl"]
    with httpx.Client(timeout=60) as http:
        job_id = http.post(f"{stack['api']}/jobs/process", files=_files(5, "d")).json()["job_id"]
        units = [f["file_id"] for f in http.get(f"{stack['api']}/jobs/{job_id}").json()["files"]]
        for unit_id in sorted(units, reverse=True):  # every unit again, last first, twice
            for _ in range(2):
                sqs.send_message(
                    QueueUrl=work, MessageBody=json.dumps({"job_id": job_id, "unit_id": unit_id, "run": 1})
                )
        detail = _wait(http, stack["api"], job_id)
        time.sleep(3)  # let the copies that arrive after the end be delivered too
        detail = http.get(f"{stack['api']}/jobs/{job_id}", params={"event_limit": 5000}).json()

    assert detail["status"] == "completed"
    _assert_counted_once(detail)
    assert len([e for e in detail["events"] if e["event_type"] == "finished"]) == 1


def test_cancel_over_http_ends_the_job_cancelled_and_refuses_once_ended(stack):
    with httpx.Client(timeout=60) as http:
        job_id = http.post(f"{stack['api']}/jobs/process", files=_files(30, "c")).json()["job_id"]
        cleanup = http.delete(f"{stack['api']}/jobs/{job_id}/artifacts")  # still queued or running
        first = http.post(f"{stack['api']}/jobs/{job_id}/cancel")
        again = http.post(f"{stack['api']}/jobs/{job_id}/cancel")
        detail = _wait(http, stack["api"], job_id)
        ended = http.post(f"{stack['api']}/jobs/{job_id}/cancel")
        cleaned = http.delete(f"{stack['api']}/jobs/{job_id}/artifacts")

    assert cleanup.status_code == 409
    assert first.status_code == 202 and first.json()["status"] in ("cancelling", "cancelled")
    # The cancel request skips the queued files itself, so the run can end before the second request arrives:
    # a repeat is the same accepted cancel while the job is cancelling, and a 409 once it has ended (the
    # in-process tests hold a job in "cancelling" to check the repeat deterministically).
    if again.status_code == 202:
        assert again.json()["cancel_requested_at"] == first.json()["cancel_requested_at"]
    else:
        assert again.status_code == 409 and "already ended" in again.json()["detail"]
    assert detail["status"] == "cancelled"
    _assert_counted_once(detail)
    assert detail["progress"]["skipped"] >= 1
    assert {f["error_type"] for f in detail["files"] if f["status"] == "skipped"} == {"cancelled"}
    assert ended.status_code == 409 and "already ended" in ended.json()["detail"]
    assert cleaned.status_code == 200


def test_a_callback_receiver_on_loopback_gets_the_signed_notice_after_a_retry(stack):
    secrets = boto3.client("secretsmanager", **stack["aws"])
    (arn,) = [s["ARN"] for s in secrets.list_secrets()["SecretList"] if "CallbackSigningSecret" in s["Name"]]
    secret = secrets.get_secret_value(SecretId=arn)["SecretString"]
    with Receiver(statuses=[500, 200]) as receiver, httpx.Client(timeout=60) as http:
        job_id = http.post(
            f"{stack['api']}/jobs/process", files=_files(1, "n"), data={"callback_url": receiver.url}
        ).json()["job_id"]
        _wait(http, stack["api"], job_id)
        deadline = time.monotonic() + 60
        while len(receiver.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(1)
        detail = http.get(f"{stack['api']}/jobs/{job_id}", params={"event_limit": 5000}).json()

    assert len(receiver.received) == 2
    assert all(verify(secret, n.headers, n.body) for n in receiver.received)
    assert {n.json["job_id"] for n in receiver.received} == {job_id}
    attempts = [
        (e["event_type"], e["payload"]["status"]) for e in detail["events"] if e["event_type"].startswith("callback_")
    ]
    assert attempts == [("callback_failed", 500), ("callback_delivered", 200)]


def test_the_sweeper_runs_on_its_schedule(stack):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if '"message":"sweep done"' in stack["log"].read_text():
            return
        time.sleep(0.5)
    pytest.fail("the sweeper never ran")

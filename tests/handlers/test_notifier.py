"""Completion notices: signed POSTs from the notifier's own queue, bounded retries with backoff, one event per
attempt, the same notice on EventBridge, and callback URLs checked (scheme, allow-list, resolved address)."""

from __future__ import annotations

import json
import socket
import time

import boto3
import pytest

from tests.support.jobs import job, submit_upload
from tests.support.receiver import Receiver, verify
from tests.support.sqs import as_lambda

FILES = [
    ("files", ("a.txt", b"A short text to extract.", "text/plain")),
    ("files", ("b.xyz", b"\x00\x01 not a document", "application/octet-stream")),
]


@pytest.fixture
def client(aws):
    """The API over ASGI only: what is under test here is the notifier, not the API Gateway adapters."""
    from fastapi.testclient import TestClient

    from data_extract.api.app import create_app

    with TestClient(create_app(), base_url="https://testserver") as c:
        yield c


@pytest.fixture
def local_mode(aws, monkeypatch):
    """As on the local stack: callbacks may go to a receiver on 127.0.0.1 over http; retries without delay."""
    from data_extract.settings import get_settings

    monkeypatch.setenv("DATA_EXTRACT_CALLBACK_LOCAL_MODE", "true")
    monkeypatch.setenv("DATA_EXTRACT_CALLBACK_BACKOFF_SECONDS", "0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _run_all(pump) -> None:
    from data_extract.handlers import finalize, notifier, worker

    env = pump.env
    for _ in range(10):
        moved = pump.drain(env["DATA_EXTRACT_WORK_QUEUE_URL"], as_lambda(worker.lambda_handler), batch_size=5)
        moved += pump.drain(env["DATA_EXTRACT_FINALIZE_QUEUE_URL"], as_lambda(finalize.lambda_handler), batch_size=1)
        moved += pump.drain(env["DATA_EXTRACT_NOTIFY_QUEUE_URL"], as_lambda(notifier.lambda_handler), batch_size=5)
        if not moved:
            return


def _secret(aws) -> str:
    return boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(
        SecretId=aws["DATA_EXTRACT_CALLBACK_SECRET_ID"]
    )["SecretString"]


def _events(detail: dict, *kinds: str) -> list[dict]:
    return [e for e in detail["events"] if e["event_type"] in kinds]


def test_given_a_callback_url_when_the_job_ends_then_a_signed_notice_is_posted_once(client, pump, aws, local_mode):
    with Receiver() as receiver:
        job_id = submit_upload(client, files=FILES, callback_url=receiver.url)["job_id"]
        _run_all(pump)

    (notice,) = receiver.received
    assert notice.path == "/hooks/data-extract"
    assert notice.headers["content-type"] == "application/json"
    assert notice.headers["webhook-id"] == f"notice_{job_id}_1"
    assert abs(int(notice.headers["webhook-timestamp"]) - time.time()) < 60
    assert verify(_secret(aws), notice.headers, notice.body)
    assert not verify("another-secret", notice.headers, notice.body)
    body = notice.json
    assert body == {
        "id": f"notice_{job_id}_1",
        "type": "job.finished",
        "job_id": job_id,
        "run": 1,
        "status": "completed",
        "processed_count": 1,
        "failed_count": 0,
        "skipped_count": 1,
        "finished_at": body["finished_at"],
        "result_path": f"s3://{aws['DATA_EXTRACT_BUCKET_NAME']}/records/jobs/{job_id}/result-001.json",
    }
    detail = job(client, job_id)
    (delivered,) = _events(detail, "callback_delivered", "callback_failed")
    assert delivered["event_type"] == "callback_delivered"
    assert delivered["payload"]["status"] == 200 and delivered["payload"]["attempt"] == 1
    assert body["finished_at"] == detail["finished_at"]


def test_given_a_failing_receiver_when_notified_then_attempts_back_off_and_each_is_an_event(
    client, pump, aws, local_mode
):
    with Receiver(statuses=[500, 503, 200]) as receiver:
        job_id = submit_upload(client, files=FILES[:1], callback_url=receiver.url)["job_id"]
        _run_all(pump)

    assert len(receiver.received) == 3
    assert len({n.headers["webhook-id"] for n in receiver.received}) == 1  # receivers can drop duplicates
    assert all(verify(_secret(aws), n.headers, n.body) for n in receiver.received)
    attempts = [
        (e["event_type"], e["payload"]["status"], e["payload"]["attempt"])
        for e in _events(job(client, job_id), "callback_delivered", "callback_failed")
    ]
    assert attempts == [("callback_failed", 500, 1), ("callback_failed", 503, 2), ("callback_delivered", 200, 3)]


def test_given_a_receiver_that_never_answers_2xx_when_notified_then_it_gives_up_after_the_bound(
    client, pump, aws, local_mode, monkeypatch
):
    from data_extract.settings import get_settings

    monkeypatch.setenv("DATA_EXTRACT_CALLBACK_MAX_ATTEMPTS", "3")
    get_settings.cache_clear()
    with Receiver(statuses=[502]) as receiver:
        job_id = submit_upload(client, files=FILES[:1], callback_url=receiver.url)["job_id"]
        _run_all(pump)

    assert len(receiver.received) == 3
    failed = _events(job(client, job_id), "callback_failed")
    assert [e["payload"]["will_retry"] for e in failed] == [True, True, False]
    assert "giving up" in failed[-1]["message"]
    assert pump.messages_waiting(aws["DATA_EXTRACT_NOTIFY_QUEUE_URL"]) == 0


def test_given_a_receiver_that_is_down_when_notified_then_the_retry_waits_with_exponential_backoff(
    client, pump, aws, monkeypatch
):
    from data_extract.handlers import notifier
    from data_extract.jobs.notify import retry_delay_seconds
    from data_extract.settings import Settings, get_settings

    monkeypatch.setenv("DATA_EXTRACT_CALLBACK_LOCAL_MODE", "true")
    get_settings.cache_clear()
    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    job_id = submit_upload(client, files=FILES[:1], callback_url=dead_url)["job_id"]
    pump.run()
    pump.drain(aws["DATA_EXTRACT_NOTIFY_QUEUE_URL"], notifier.lambda_handler)

    (failed,) = _events(job(client, job_id), "callback_failed")
    assert failed["payload"]["status"] is None and failed["payload"]["error"] == "ConnectionRefusedError"
    assert failed["payload"]["retry_in_seconds"] == 30
    attrs = boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=aws["DATA_EXTRACT_NOTIFY_QUEUE_URL"], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"  # the next attempt, delayed
    settings = Settings(callback_backoff_seconds=30)
    assert [retry_delay_seconds(settings, a) for a in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]


def test_given_a_job_ending_when_notified_then_the_same_notice_is_a_job_finished_event_on_the_bus(client, pump, aws):
    events = boto3.client("events", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    bus = aws["DATA_EXTRACT_EVENT_BUS_NAME"]
    subscriber = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=subscriber, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="finished-jobs",
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["data-extract"], "detail-type": ["Job Finished"]}),
    )
    events.put_targets(Rule="finished-jobs", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])

    job_id = submit_upload(client, files=FILES)["job_id"]  # no callback_url: the event is published anyway
    _run_all(pump)

    (message,) = sqs.receive_message(QueueUrl=subscriber, MaxNumberOfMessages=10)["Messages"]
    event = json.loads(message["Body"])
    assert (event["source"], event["detail-type"]) == ("data-extract", "Job Finished")
    assert event["detail"]["id"] == f"notice_{job_id}_1"
    assert (event["detail"]["status"], event["detail"]["processed_count"]) == ("completed", 1)
    assert not _events(job(client, job_id), "callback_delivered", "callback_failed")


def test_given_the_notice_queue_refusing_when_finalized_then_the_redelivered_finalize_sends_it(
    client, pump, aws, local_mode, monkeypatch
):
    from data_extract.store import Queues

    real = Queues.send_notice
    refusals = []

    def refuse_once(self, message, delay_seconds=0):
        if not refusals:
            refusals.append(message)
            raise RuntimeError("SQS throttled")
        return real(self, message, delay_seconds)

    monkeypatch.setattr(Queues, "send_notice", refuse_once)
    with Receiver() as receiver:
        job_id = submit_upload(client, files=FILES[:1], callback_url=receiver.url)["job_id"]
        _run_all(pump)

    assert refusals and len(receiver.received) == 1
    detail = job(client, job_id)
    assert detail["status"] == "completed" and len(_events(detail, "finished")) == 1
    assert len(_events(detail, "callback_delivered")) == 1


# ---------------------------------------------------------------- callback URL checks


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "must use https"),
        ("https://127.0.0.1/x", "non-public address"),
        ("https://10.1.2.3/x", "non-public address"),
        ("https://169.254.169.254/latest/meta-data", "non-public address"),
        ("https://[::1]/x", "non-public address"),
        ("https://[::ffff:127.0.0.1]/x", "non-public address"),
        ("https://100.64.0.7/x", "non-public address"),
        ("https://localhost:8443/x", "localhost"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("ftp://hooks.example.com/x", "must use https"),
    ],
)
def test_given_a_deployed_stack_when_a_job_names_a_bad_callback_url_then_submit_answers_400(client, url, reason):
    resp = client.post("/api/v1/jobs/process", files=FILES[:1], data={"callback_url": url})

    assert resp.status_code == 400, resp.text
    assert resp.json()["detail"].startswith("Invalid callback_url:") and reason in resp.json()["detail"]


def test_given_an_allow_list_when_a_job_names_another_host_then_it_is_refused(client, aws, monkeypatch):
    from data_extract.settings import get_settings

    monkeypatch.setenv("DATA_EXTRACT_CALLBACK_ALLOWED_HOSTS", "hooks.example.com,.partner.example")
    get_settings.cache_clear()

    refused = client.post("/api/v1/jobs/process", files=FILES[:1], data={"callback_url": "https://evil.example/x"})
    exact = client.post("/api/v1/jobs/process", files=FILES[:1], data={"callback_url": "https://hooks.example.com/x"})
    sub = client.post("/api/v1/jobs/process", files=FILES[:1], data={"callback_url": "https://a.partner.example/x"})

    assert refused.status_code == 400 and "not in the allowed callback hosts" in refused.json()["detail"]
    assert exact.status_code == 202 and sub.status_code == 202
    get_settings.cache_clear()


def _fake_dns(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    """getaddrinfo answering from ``answers`` (each lookup pops the next address list); records the lookups."""
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            lookups.append(host)
            address = answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_given_a_public_name_resolving_to_a_private_address_when_delivering_then_it_is_refused(monkeypatch):
    from data_extract.jobs.notify import CallbackRefused, check_callback_url, resolve_callback
    from data_extract.settings import Settings

    _fake_dns(monkeypatch, {"hooks.example.com": ["10.0.0.8"], "rebind.example.com": ["169.254.169.254"]})
    settings = Settings()

    for host in ("hooks.example.com", "rebind.example.com"):
        with pytest.raises(CallbackRefused, match="resolves to a non-public address"):
            resolve_callback(check_callback_url(f"https://{host}/x", settings), settings)


def test_given_a_name_whose_answer_changes_when_delivering_then_the_checked_address_is_the_one_connected(
    client,
    pump,
    aws,
    local_mode,
    monkeypatch,
):
    # First answer: the receiver on loopback (allowed in local mode). Any later lookup would answer an address
    # nothing listens on; the notice arrives only if the connection uses the address that was checked.
    lookups = _fake_dns(monkeypatch, {"hooks.example.test": ["127.0.0.1", "192.0.2.1"]})
    with Receiver() as receiver:
        url = f"http://hooks.example.test:{receiver.port}/pinned"
        job_id = submit_upload(client, files=FILES[:1], callback_url=url)["job_id"]
        _run_all(pump)

    (notice,) = receiver.received
    assert notice.headers["host"] == f"hooks.example.test:{receiver.port}"
    assert lookups == ["hooks.example.test"]
    assert _events(job(client, job_id), "callback_delivered")


def test_given_a_refused_address_when_delivering_then_the_attempt_is_a_failed_event_without_retry(
    client, pump, aws, monkeypatch
):
    from data_extract.handlers import notifier

    _fake_dns(monkeypatch, {"hooks.example.com": ["10.9.8.7"]})
    job_id = submit_upload(client, files=FILES[:1], callback_url="https://hooks.example.com/x")["job_id"]
    pump.run()
    pump.drain(aws["DATA_EXTRACT_NOTIFY_QUEUE_URL"], notifier.lambda_handler)

    (failed,) = _events(job(client, job_id), "callback_failed")
    assert failed["payload"]["error"] == "refused" and failed["payload"]["will_retry"] is False
    assert "10.9.8.7" in failed["message"]
    assert pump.messages_waiting(aws["DATA_EXTRACT_NOTIFY_QUEUE_URL"]) == 0


def test_given_the_notice_event_when_invoked_from_the_events_file_then_the_handler_reads_it(aws):
    from data_extract.handlers import notifier
    from tests.support.apigw import load_event
    from tests.support.lambda_context import LambdaContext

    result = notifier.lambda_handler(load_event("sqs_job_notice.json"), LambdaContext())

    assert result == {"batchItemFailures": []}  # published to the bus; its job is unknown here, so no callback


def test_given_a_host_that_does_not_resolve_now_when_delivering_then_the_attempt_fails_and_is_retried(
    client, pump, aws, monkeypatch
):
    from data_extract.handlers import notifier

    real = socket.getaddrinfo

    def no_answer(host, *args, **kwargs):
        if host == "hooks.example.com":
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_answer)
    job_id = submit_upload(client, files=FILES[:1], callback_url="https://hooks.example.com/x")["job_id"]
    pump.run()
    pump.drain(aws["DATA_EXTRACT_NOTIFY_QUEUE_URL"], notifier.lambda_handler)

    (failed,) = _events(job(client, job_id), "callback_failed")
    assert failed["payload"]["error"] == "CallbackUnresolved" and failed["payload"]["will_retry"] is True

"""The local stack's AWS call log: every call of a hooked client is counted once, under the thread's function."""

from __future__ import annotations

import json
import threading

import boto3
import pytest
from moto import mock_aws

from infra.local import awscalls


@pytest.fixture
def call_log():
    awscalls.reset()
    awscalls.install()
    yield awscalls
    awscalls.uninstall()
    awscalls.reset()


def test_given_calls_from_a_poller_thread_and_the_api_when_logged_then_each_is_counted_under_its_caller(call_log):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="call-log-test")

        def worker() -> None:
            s3.put_object(Bucket="call-log-test", Key="k", Body=b"x")
            s3.get_object(Bucket="call-log-test", Key="k")["Body"].read()

        thread = threading.Thread(target=worker, name="poller-WorkerFunction-WorkQueue")
        thread.start()
        thread.join()
        with pytest.raises(s3.exceptions.NoSuchKey):  # a call that fails was a round trip too
            s3.get_object(Bucket="call-log-test", Key="missing")

    calls = {(c["caller"], c["operation"]): c for c in call_log.snapshot()}
    assert calls[("ApiFunction", "CreateBucket")]["calls"] == 1
    assert calls[("WorkerFunction", "PutObject")]["calls"] == 1
    assert calls[("WorkerFunction", "GetObject")]["calls"] == 1
    assert calls[("ApiFunction", "GetObject")]["calls"] == 1
    assert all(c["service"] == "s3" and c["ms"] >= 0 for c in calls.values())


@pytest.mark.parametrize(
    ("thread_name", "operation", "caller"),
    [
        pytest.param(
            "poller-WorkerFunction-WorkQueue",
            "ReceiveMessage",
            "WorkerFunction:EventSourceMapping",
            id="poller-receive-is-the-mapping",
        ),
        pytest.param(
            "poller-WorkerFunction-WorkQueue", "SendMessage", "WorkerFunction", id="poller-send-is-the-function"
        ),
        pytest.param("AnyIO worker thread", "Query", "ApiFunction", id="api-thread-is-the-api"),
    ],
)
def test_given_the_event_source_mappings_own_calls_when_logged_then_they_are_not_billed_to_the_function(
    thread_name, operation, caller
):
    assert awscalls.caller_of(thread_name, operation) == caller


def test_given_the_environment_variable_when_installed_then_the_log_is_written_per_process(
    call_log, tmp_path, monkeypatch
):
    monkeypatch.setenv(awscalls.ENV_VARIABLE, str(tmp_path / "calls"))
    path = awscalls.install_from_environment()
    with mock_aws():
        boto3.client("sqs", region_name="us-east-1").list_queues()

    awscalls.write(path)

    written = json.loads(path.read_text())
    assert path.parent == tmp_path / "calls" and str(written["pid"]) in path.name
    assert {(c["service"], c["operation"]) for c in written["calls"]} == {("sqs", "ListQueues")}

"""The local SQS event source mapping: real-shaped records, partial failures, redelivery and dead-lettering."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel
from moto import mock_aws

from infra.local.poller import LambdaContext, SqsPoller, failed_message_ids, import_handler
from infra.local.resources import provision
from infra.local.template import load_template

# The handler under test, named by the template below as tests.unit.test_poller.handle_batch.
DELIVERED: list[dict[str, Any]] = []


def handle_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Reports records whose body asks to fail; raises for a body that asks to raise."""
    DELIVERED.append(
        {
            "event": event,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "function_name": context.function_name,
        }
    )
    failures = []
    for record in event["Records"]:
        instruction = json.loads(record["body"]).get("then")
        if instruction == "raise":
            raise RuntimeError("the handler broke")
        if instruction == "fail":
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.13
    Timeout: 20
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 1
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt JobsDeadLetters.Arn
        maxReceiveCount: 2
  JobsDeadLetters:
    Type: AWS::SQS::Queue
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      Handler: tests.unit.test_poller.handle_batch
      MemorySize: 256
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 5
            MaximumBatchingWindowInSeconds: 1
            FunctionResponseTypes: [ReportBatchItemFailures]
"""


@pytest.fixture
def queue_stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    template = load_template(tmp_path / "template.yaml")
    DELIVERED.clear()
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        resources = provision(session, template, stack_name="poller-test")
        sqs = session.client("sqs")
        function = template.functions["Consumer"]
        stop = threading.Event()
        poller = SqsPoller(
            sqs,
            function,
            function.sqs_events[0],
            queue_url=resources.queue_url("Jobs"),
            queue_arn=resources.queue_arn("Jobs"),
            function_name="poller-test-Consumer",
            stop=stop,
        )
        yield {"sqs": sqs, "poller": poller, "resources": resources, "stop": stop}
        stop.set()


def _send(sqs: Any, url: str, *bodies: dict[str, Any]) -> list[str]:
    ids = []
    for body in bodies:
        ids.append(
            sqs.send_message(
                QueueUrl=url,
                MessageBody=json.dumps(body),
                MessageAttributes={
                    "kind": {"DataType": "String", "StringValue": "unit"},
                    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
                },
            )["MessageId"]
        )
    return ids


def _counts(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of the queue."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _poll_until_delivered(poller: SqsPoller, attempts: int = 40):
    """poll_once until a batch arrives (the failed messages become visible again after 1 s)."""
    for _ in range(attempts):
        outcome = poller.poll_once()
        if outcome is not None:
            return outcome
    raise AssertionError("no batch was delivered")


def test_given_queued_messages_when_polled_then_handler_gets_lambda_shaped_sqs_records(queue_stack):
    sqs, poller, resources = queue_stack["sqs"], queue_stack["poller"], queue_stack["resources"]
    ids = _send(sqs, resources.queue_url("Jobs"), {"n": 1}, {"n": 2})

    outcome = poller.poll_once()

    assert outcome is not None and sorted(outcome.message_ids) == sorted(ids)
    event = DELIVERED[0]["event"]
    parsed = SqsModel.model_validate(event)  # Powertools' model of the Lambda SQS event
    assert [r.messageId for r in parsed.Records] == outcome.message_ids
    record = event["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == resources.queue_arn("Jobs")
    assert record["awsRegion"] == "us-east-1"
    assert json.loads(record["body"]) in ({"n": 1}, {"n": 2})
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "unit",
        "binaryValue": None,
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AAE="  # base64 of b"\x00\x01"
    assert DELIVERED[0]["function_name"] == "poller-test-Consumer"
    assert 0 < DELIVERED[0]["remaining_ms"] <= 20_000


def test_given_one_reported_failure_when_polled_then_only_the_successes_are_deleted(queue_stack):
    sqs, poller, url = queue_stack["sqs"], queue_stack["poller"], queue_stack["resources"].queue_url("Jobs")
    ok_id, failing_id, other_ok_id = _send(sqs, url, {"then": "succeed"}, {"then": "fail"}, {"then": "succeed"})

    outcome = poller.poll_once()

    assert outcome.failed == {failing_id}
    assert len(DELIVERED[0]["event"]["Records"]) == 3
    # The failure stays on the queue (until its visibility timeout, then visible again); the successes are gone.
    assert sum(_counts(sqs, url)) == 1
    redelivered = _poll_until_delivered(poller)
    assert redelivered.message_ids == [failing_id]
    assert DELIVERED[-1]["event"]["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert ok_id not in redelivered.message_ids and other_ok_id not in redelivered.message_ids


def test_given_a_raising_handler_when_polled_then_no_message_of_the_batch_is_deleted(queue_stack):
    sqs, poller, url = queue_stack["sqs"], queue_stack["poller"], queue_stack["resources"].queue_url("Jobs")
    ids = _send(sqs, url, {"then": "succeed"}, {"then": "raise"})

    outcome = poller.poll_once()

    assert outcome.failed == set(ids)
    assert outcome.error == "RuntimeError: the handler broke"
    assert sum(_counts(sqs, url)) == 2


def test_given_a_message_that_always_fails_when_polled_repeatedly_then_it_lands_in_the_dead_letter_queue(
    queue_stack,
):
    sqs, poller, resources = queue_stack["sqs"], queue_stack["poller"], queue_stack["resources"]
    (poison_id,) = _send(sqs, resources.queue_url("Jobs"), {"then": "fail", "name": "poison"})
    dead_letters_url = resources.queue_url("JobsDeadLetters")

    moved = []
    for _ in range(60):
        poller.poll_once()
        moved = sqs.receive_message(
            QueueUrl=dead_letters_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if moved:
            break

    assert [m["MessageId"] for m in moved] == [poison_id]
    assert json.loads(moved[0]["Body"]) == {"then": "fail", "name": "poison"}
    deliveries = [r for d in DELIVERED for r in d["event"]["Records"] if r["messageId"] == poison_id]
    # maxReceiveCount is 2: the handler saw it twice, the third receive moved it.
    assert [r["attributes"]["ApproximateReceiveCount"] for r in deliveries] == ["1", "2"]
    assert _counts(sqs, resources.queue_url("Jobs")) == (0, 0)


def test_given_messages_within_the_batching_window_when_polled_then_they_arrive_in_one_invocation(queue_stack):
    sqs, poller, url = queue_stack["sqs"], queue_stack["poller"], queue_stack["resources"].queue_url("Jobs")
    _send(sqs, url, *({"n": i} for i in range(7)))

    first = poller.poll_once()
    second = poller.poll_once()

    assert len(first.message_ids) == 5  # BatchSize
    assert len(second.message_ids) == 2
    assert _counts(sqs, url) == (0, 0)


def test_given_a_running_poller_when_stop_is_set_then_the_thread_ends_after_delivering(queue_stack):
    sqs, poller, url = queue_stack["sqs"], queue_stack["poller"], queue_stack["resources"].queue_url("Jobs")
    _send(sqs, url, {"n": 1})

    poller.start()
    for _ in range(100):
        if DELIVERED:
            break
        time.sleep(0.05)
    queue_stack["stop"].set()
    poller.join(timeout=10)

    assert not poller.is_alive()
    assert len(DELIVERED) == 1
    assert _counts(sqs, url) == (0, 0)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": None}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        # Lambda fails the whole batch when the response is malformed.
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b"}),
        ({"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}, {"a", "b"}),
        ({"batchItemFailures": [{"id": "b"}]}, {"a", "b"}),
        ("ok", {"a", "b"}),
    ],
)
def test_given_a_handler_response_when_interpreted_then_lambda_partial_batch_rules_apply(response, expected):
    assert failed_message_ids(response, ["a", "b"], reports_batch_item_failures=True) == expected


def test_given_no_report_batch_item_failures_when_the_handler_returns_then_the_whole_batch_succeeded():
    response = {"batchItemFailures": [{"itemIdentifier": "b"}]}

    assert failed_message_ids(response, ["a", "b"], reports_batch_item_failures=False) == set()


def test_given_a_template_handler_string_when_imported_then_it_is_the_function():
    assert import_handler("tests.unit.test_poller.handle_batch") is handle_batch
    with pytest.raises(ValueError):
        import_handler("handle_batch")


def test_given_a_context_when_created_then_it_describes_the_function_like_lambda():
    context = LambdaContext(
        function_name="stack-Worker",
        memory_limit_in_mb=2048,
        timeout_seconds=180,
        region="eu-west-1",
        account_id="111122223333",
    )

    assert context.invoked_function_arn == "arn:aws:lambda:eu-west-1:111122223333:function:stack-Worker"
    assert context.log_group_name == "/aws/lambda/stack-Worker"
    assert 170_000 < context.get_remaining_time_in_millis() <= 180_000
    assert context.aws_request_id != LambdaContext("f", 128, 3).aws_request_id

"""The local stack's resources come from template.yaml: table, bucket and queues as deployed, in moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.local.resources import LocalResources, UnsupportedProperty, create_resources, provision, resource_variables
from infra.local.template import NO_VALUE, Resolver, UnresolvedReference, load_template, parse_template_text

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(REPO / "template.yaml")


@pytest.fixture
def session() -> Iterator[boto3.session.Session]:
    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")


@pytest.fixture
def local(session: boto3.session.Session) -> LocalResources:
    return provision(session, TEMPLATE)


def test_given_the_template_when_provisioned_then_the_table_has_its_keys_gsi_ttl_and_backups(session, local):
    dynamodb = session.client("dynamodb")
    name = local.references["Table"]

    table = dynamodb.describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert sorted(indexes) == ["GSI1", "GSI2"]
    assert [k["AttributeName"] for k in indexes["GSI1"]["KeySchema"]] == ["GSI1PK", "GSI1SK"]
    assert indexes["GSI1"]["Projection"]["ProjectionType"] == "ALL"
    assert [k["AttributeName"] for k in indexes["GSI2"]["KeySchema"]] == ["GSI2PK", "GSI2SK"]
    assert indexes["GSI2"]["Projection"]["ProjectionType"] == "KEYS_ONLY"
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_given_the_template_when_provisioned_then_the_bucket_is_private_encrypted_and_expires_old_data(
    session, local
):
    s3 = session.client("s3")
    bucket = local.references["Bucket"]

    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(
        block[k] for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    lifecycle = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert lifecycle["expire-uploads"]["Filter"] == {"Prefix": "uploads/"}
    assert lifecycle["expire-uploads"]["Expiration"] == {"Days": 7}
    assert lifecycle["expire-jobs"]["Expiration"] == {"Days": 30}  # RetentionDays' default
    assert lifecycle["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": 1
    }
    (cors,) = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert set(cors["AllowedMethods"]) == {"GET", "PUT", "HEAD"}


@pytest.mark.parametrize(
    ("queue", "dead_letters", "visibility"),
    [
        ("WorkQueue", "WorkDeadLetterQueue", "1200"),
        ("FinalizeQueue", "FinalizeDeadLetterQueue", "1800"),
        ("NotifyQueue", "NotifyDeadLetterQueue", "360"),
    ],
)
def test_given_the_template_when_provisioned_then_each_queue_redrives_to_its_dead_letter_queue(
    session,
    local,
    queue,
    dead_letters,
    visibility,
):
    attributes = session.client("sqs").get_queue_attributes(QueueUrl=local.queue_url(queue), AttributeNames=["All"])[
        "Attributes"
    ]

    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": local.queue_arn(dead_letters),
        "maxReceiveCount": 5,
    }
    assert attributes["VisibilityTimeout"] == visibility
    assert attributes["SqsManagedSseEnabled"] == "true"


def test_given_the_template_when_provisioned_then_the_environment_names_the_created_resources(session):
    env = create_resources(session, TEMPLATE)
    sqs = session.client("sqs")

    assert session.client("dynamodb").describe_table(TableName=env["DATA_EXTRACT_TABLE_NAME"])
    assert session.client("s3").head_bucket(Bucket=env["DATA_EXTRACT_BUCKET_NAME"])
    work = sqs.get_queue_attributes(QueueUrl=env["DATA_EXTRACT_WORK_QUEUE_URL"], AttributeNames=["RedrivePolicy"])
    dlq_arn = sqs.get_queue_attributes(QueueUrl=env["DATA_EXTRACT_WORK_DLQ_URL"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    assert json.loads(work["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"] == dlq_arn
    assert env["DATA_EXTRACT_FINALIZE_QUEUE_URL"].endswith("-FinalizeQueue")
    # Parameters arrive as their defaults, as strings.
    assert env["DATA_EXTRACT_RETENTION_DAYS"] == "30"
    assert env["POWERTOOLS_SERVICE_NAME"] == "data-extract"


def test_given_the_function_environment_when_classified_then_resource_variables_are_known():
    assert resource_variables(TEMPLATE) == {
        "DATA_EXTRACT_TABLE_NAME",
        "DATA_EXTRACT_BUCKET_NAME",
        "DATA_EXTRACT_WORK_QUEUE_URL",
        "DATA_EXTRACT_FINALIZE_QUEUE_URL",
        "DATA_EXTRACT_WORK_DLQ_URL",
        "DATA_EXTRACT_SECRETS_KEY_ID",
        "DATA_EXTRACT_NOTIFY_QUEUE_URL",
        "DATA_EXTRACT_CALLBACK_SECRET_ID",
        "DATA_EXTRACT_EVENT_BUS_NAME",
        "DATA_EXTRACT_SEMANTIC_QUEUE_URL",
        "DATA_EXTRACT_DISPATCH_QUEUE_URL",
    }


def test_given_a_clients_mapping_instead_of_a_session_when_provisioned_then_the_same_resources_exist(session):
    clients = {name: session.client(name) for name in ("sqs", "dynamodb", "s3", "kms", "secretsmanager", "events")}

    env = create_resources(clients, TEMPLATE, stack_name="mapped")

    assert env["DATA_EXTRACT_TABLE_NAME"] == "mapped-Table"
    assert (
        clients["sqs"].get_queue_url(QueueName="mapped-WorkQueue")["QueueUrl"] == env["DATA_EXTRACT_WORK_QUEUE_URL"]
    )


def _template_with(tmp_path: Path, resources: str) -> Any:
    path = tmp_path / "template.yaml"
    path.write_text("Resources:\n" + resources)
    return load_template(path)


def test_given_a_property_the_local_stack_does_not_create_when_provisioned_then_it_stops_with_its_name(
    session,
    tmp_path,
):
    template = _template_with(
        tmp_path,
        """
  Archive:
    Type: AWS::S3::Bucket
    Properties:
      ObjectLockEnabled: true
""",
    )

    with pytest.raises(UnsupportedProperty, match="ObjectLockEnabled"):
        provision(session, template)


def test_given_a_function_environment_naming_a_resource_not_created_locally_when_provisioned_then_it_fails(
    session,
    tmp_path,
):
    template = _template_with(
        tmp_path,
        """
  Topic:
    Type: AWS::SNS::Topic
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: a.b
      Environment:
        Variables:
          TOPIC_ARN: !Ref Topic
""",
    )

    with pytest.raises(UnresolvedReference, match="Fn environment TOPIC_ARN"):
        provision(session, template)


def test_given_short_form_tags_when_loaded_then_they_become_the_long_form():
    document = parse_template_text("""
Resources:
  A:
    Type: X
    Properties:
      Arn: !GetAtt Queue.Arn
      Name: !Sub "${AWS::StackName}-${Suffix}"
      Picked: !Select [1, !Split [",", !Ref List]]
""")

    assert document["Resources"]["A"]["Properties"] == {
        "Arn": {"Fn::GetAtt": ["Queue", "Arn"]},
        "Name": {"Fn::Sub": "${AWS::StackName}-${Suffix}"},
        "Picked": {"Fn::Select": [1, {"Fn::Split": [",", {"Ref": "List"}]}]},
    }


def _resolver() -> Resolver:
    return Resolver(
        parameters={"Stage": "prod", "Roots": "a,b"},
        conditions={
            "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
            "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
        },
        references={"Queue": "https://queue"},
        attributes={("Queue", "Arn"): "arn:aws:sqs:us-east-1:123456789012:q"},
    )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param(
            {"Fn::Sub": "${Stage}/${Queue.Arn}/${!Literal}"},
            "prod/arn:aws:sqs:us-east-1:123456789012:q/${Literal}",
            id="sub-with-parameter-attribute-and-escaped-literal",
        ),
        pytest.param(
            {"Fn::Sub": ["${X}-${AWS::Region}", {"X": {"Ref": "Queue"}}]},
            "https://queue-us-east-1",
            id="sub-with-its-own-variables-and-a-pseudo-parameter",
        ),
        pytest.param({"Fn::If": ["IsDev", "dev", {"Ref": "AWS::NoValue"}]}, NO_VALUE, id="if-false-gives-no-value"),
        pytest.param(
            [{"Fn::If": ["IsDev", "dev", {"Ref": "AWS::NoValue"}]}, "kept"], ["kept"], id="no-value-leaves-a-list"
        ),
        pytest.param({"Fn::Select": [1, {"Fn::Split": [",", {"Ref": "Roots"}]}]}, "b", id="select-of-split"),
        pytest.param({"Fn::Join": ["-", ["x", {"Ref": "Stage"}]]}, "x-prod", id="join"),
    ],
)
def test_given_intrinsic_functions_when_resolved_then_they_evaluate_as_cloudformation_does(expression, expected):
    assert _resolver().resolve(expression) == expected  # NO_VALUE defines no __eq__: == is identity for it


def test_given_a_reference_to_nothing_known_when_resolved_then_unresolved_reference():
    with pytest.raises(UnresolvedReference):
        _resolver().resolve({"Ref": "Missing"})


def test_given_the_template_when_provisioned_then_the_secrets_key_encrypts_and_decrypts(session):
    env = create_resources(session, TEMPLATE, stack_name="keyed")
    kms = session.client("kms")
    key_id = env["DATA_EXTRACT_SECRETS_KEY_ID"]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"pw", EncryptionContext={"job_id": "j"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"job_id": "j"})["Plaintext"] == b"pw"


def test_given_the_template_when_provisioned_then_the_signing_secret_and_event_bus_exist(session, local):
    secret = session.client("secretsmanager").get_secret_value(SecretId=local.references["CallbackSigningSecret"])
    buses = session.client("events").list_event_buses()["EventBuses"]

    # GenerateSecretString: 48 characters, no punctuation, generated like CloudFormation does.
    assert len(secret["SecretString"]) == 48 and secret["SecretString"].isalnum()
    assert local.references["JobEventBus"] == "data-extract-local-jobs"
    assert "data-extract-local-jobs" in {b["Name"] for b in buses}
    assert local.environment["DATA_EXTRACT_CALLBACK_SECRET_ID"] == local.references["CallbackSigningSecret"]
    assert local.environment["DATA_EXTRACT_EVENT_BUS_NAME"] == "data-extract-local-jobs"

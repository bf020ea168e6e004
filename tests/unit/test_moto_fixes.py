"""The local stack's moto fix: a cancelled transaction undoes its own writes, item by item, and nothing else."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from infra.local.moto_fixes import install


@pytest.fixture
def table():
    install()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        )
        yield client


def _item(client, pk: str) -> dict | None:
    return client.get_item(TableName="t", Key={"PK": {"S": pk}, "SK": {"S": "x"}}).get("Item")


def test_given_a_cancelled_transaction_when_rolled_back_then_only_its_items_return_to_their_state(table):
    table.put_item(TableName="t", Item={"PK": {"S": "counter"}, "SK": {"S": "x"}, "n": {"N": "1"}})
    table.put_item(TableName="t", Item={"PK": {"S": "other"}, "SK": {"S": "x"}, "v": {"S": "kept"}})

    with pytest.raises(ClientError) as caught:
        table.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": "t",
                        "Key": {"PK": {"S": "counter"}, "SK": {"S": "x"}},
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Put": {"TableName": "t", "Item": {"PK": {"S": "new"}, "SK": {"S": "x"}}}},
                {
                    "ConditionCheck": {
                        "TableName": "t",
                        "Key": {"PK": {"S": "other"}, "SK": {"S": "x"}},
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )

    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _item(table, "counter")["n"] == {"N": "1"}
    assert _item(table, "new") is None
    assert _item(table, "other")["v"] == {"S": "kept"}


def test_given_a_transaction_that_succeeds_when_applied_then_every_item_is_written(table):
    table.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "t", "Item": {"PK": {"S": "a"}, "SK": {"S": "x"}}}},
            {"Put": {"TableName": "t", "Item": {"PK": {"S": "b"}, "SK": {"S": "x"}}}},
        ]
    )

    assert _item(table, "a") and _item(table, "b")

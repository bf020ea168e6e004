"""Create template.yaml's tables, buckets and queues in moto, and give the functions their environment.

Every property the template sets is translated into the API call CloudFormation would make; a property this module
does not know stops the stack with an error instead of being silently skipped, so the local resources cannot drift
from the deployed ones. Used by the local stack (moto server) and by the tests (``moto.mock_aws``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.local.template import Resolver, Template, UnresolvedReference

DEFAULT_STACK_NAME = "data-extract-local"
# moto's default account.
LOCAL_ACCOUNT_ID = "123456789012"


class UnsupportedProperty(NotImplementedError):
    """template.yaml sets a property the local stack does not create; map it here before using it."""


@dataclass
class LocalResources:
    """What CloudFormation would report after creating the stack: Ref values and attributes per logical id."""

    region: str
    account_id: str
    stack_name: str
    references: dict[str, Any] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)

    def queue_url(self, logical_id: str) -> str:
        return self.references[logical_id]

    def queue_arn(self, logical_id: str) -> str:
        return self.attributes[(logical_id, "Arn")]


def _client_factory(session_or_clients: Any):
    """A boto3 Session (anything with ``.client(name)``) or a mapping of service name to client."""
    if isinstance(session_or_clients, Mapping):
        return lambda service: session_or_clients[service]
    return session_or_clients.client


def physical_name(stack_name: str, logical_id: str, *, lowercase: bool = False) -> str:
    name = f"{stack_name}-{logical_id}"
    return name.lower() if lowercase else name


def provision(
    session_or_clients: Any,
    template: Template,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    region: str | None = None,
) -> LocalResources:
    """Create every queue, table and bucket of the template; resolve every function's environment."""
    client = _client_factory(session_or_clients)
    sqs, dynamodb, s3 = client("sqs"), client("dynamodb"), client("s3")
    region = region or sqs.meta.region_name
    created = LocalResources(region=region, account_id=LOCAL_ACCOUNT_ID, stack_name=stack_name)

    def resolver() -> Resolver:
        return template.resolver(
            references=created.references,
            attributes=created.attributes,
            region=region,
            account_id=created.account_id,
            stack_name=stack_name,
        )

    # A queue names its dead-letter queue by ARN, so dead-letter queues come first.
    pending = dict(template.queues)
    while pending:
        ready = [
            q for q in pending.values() if q.dead_letter_queue is None or q.dead_letter_queue in created.references
        ]
        if not ready:
            raise ValueError(f"queues whose dead-letter queues are not in the template: {sorted(pending)}")
        for queue in ready:
            _create_queue(sqs, queue.logical_id, queue.properties, resolver(), created)
            del pending[queue.logical_id]
    for logical_id, properties in template.tables.items():
        _create_table(dynamodb, logical_id, properties, resolver(), created)
    for logical_id, properties in template.buckets.items():
        _create_bucket(s3, logical_id, properties, resolver(), created)
    for logical_id, properties in template.kms_keys.items():
        _create_kms_key(client("kms"), logical_id, properties, resolver(), created)
    for logical_id, properties in template.secrets.items():
        _create_secret(client("secretsmanager"), logical_id, properties, resolver(), created)
    for logical_id, properties in template.event_buses.items():
        _create_event_bus(client("events"), logical_id, properties, resolver(), created)
    # Bucket policies are not applied locally: moto evaluates them without condition support, so the
    # template's TLS-only Deny (aws:SecureTransport = false) would deny every request, even over HTTPS.
    # template.py still parses them, and tests/unit/test_template.py checks the policy itself.

    created.environment = function_environment(template, resolver())
    return created


def create_resources(
    session_or_clients: Any,
    template: Template,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
) -> dict[str, str]:
    """Create the template's resources; return the environment variables the functions get (one merged dict)."""
    return provision(session_or_clients, template, stack_name=stack_name).environment


def function_environment(template: Template, resolver: Resolver) -> dict[str, str]:
    """Every function's variables, resolved. Locally all functions share one process, so they must agree."""
    environment: dict[str, str] = {}
    for function in template.functions.values():
        for name, expression in function.environment.items():
            try:
                value = _env_string(resolver.resolve(expression))
            except UnresolvedReference as exc:
                raise UnresolvedReference(f"{function.logical_id} environment {name}: {exc}") from None
            if environment.get(name, value) != value:
                raise ValueError(f"functions disagree on {name}: {environment[name]!r} != {value!r}")
            environment[name] = value
    return environment


def resource_variables(template: Template) -> set[str]:
    """Names of the variables whose value names a template resource (table, bucket, queue URL, ...)."""
    resources = set(template.document["Resources"])
    names = set()
    for function in template.functions.values():
        for name, expression in function.environment.items():
            if _mentions(expression, resources):
                names.add(name)
    return names


def _mentions(expression: Any, resources: set[str]) -> bool:
    if isinstance(expression, dict):
        for key, argument in expression.items():
            if key == "Ref" and argument in resources:
                return True
            if key == "Fn::GetAtt" and argument[0] in resources:
                return True
            if key == "Fn::Sub":
                text = argument[0] if isinstance(argument, list) else argument
                if any(f"${{{r}}}" in text or f"${{{r}." in text for r in resources):
                    return True
            if _mentions(argument, resources):
                return True
    if isinstance(expression, list):
        return any(_mentions(item, resources) for item in expression)
    return False


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _take(properties: dict[str, Any], known: set[str], where: str) -> dict[str, Any]:
    unknown = set(properties) - known
    if unknown:
        raise UnsupportedProperty(f"{where}: {sorted(unknown)} not created locally (infra/local/resources.py)")
    return properties


# ---------------------------------------------------------------- SQS

_QUEUE_ATTRIBUTES = {
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
}


def _create_queue(
    sqs: Any, logical_id: str, raw: dict[str, Any], resolver: Resolver, created: LocalResources
) -> None:
    properties = _take(resolver.resolve(raw), _QUEUE_ATTRIBUTES | {"QueueName", "Tags"}, f"queue {logical_id}")
    name = properties.get("QueueName") or physical_name(created.stack_name, logical_id)
    if properties.get("FifoQueue") and not name.endswith(".fifo"):
        name += ".fifo"
    attributes = {
        key: json.dumps(value) if isinstance(value, dict) else _env_string(value)
        for key, value in properties.items()
        if key in _QUEUE_ATTRIBUTES
    }
    kwargs: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
    if properties.get("Tags"):
        kwargs["tags"] = {tag["Key"]: tag["Value"] for tag in properties["Tags"]}
    url = sqs.create_queue(**kwargs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    created.references[logical_id] = url
    created.attributes.update(
        {(logical_id, "Arn"): arn, (logical_id, "QueueName"): name, (logical_id, "QueueUrl"): url}
    )


# ---------------------------------------------------------------- DynamoDB

_INDEX_KEYS = {"IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput"}


def _create_table(
    dynamodb: Any, logical_id: str, raw: dict[str, Any], resolver: Resolver, created: LocalResources
) -> None:
    properties = _take(
        resolver.resolve(raw),
        {
            "TableName",
            "AttributeDefinitions",
            "KeySchema",
            "BillingMode",
            "ProvisionedThroughput",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
            "StreamSpecification",
            "SSESpecification",
            "TimeToLiveSpecification",
            "PointInTimeRecoverySpecification",
            "DeletionProtectionEnabled",
            "TableClass",
            "Tags",
        },
        f"table {logical_id}",
    )
    name = properties.get("TableName") or physical_name(created.stack_name, logical_id)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties.get("BillingMode", "PROVISIONED"),
    }
    for key in ("ProvisionedThroughput", "DeletionProtectionEnabled", "TableClass", "Tags"):
        if key in properties:
            kwargs[key] = properties[key]
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if key in properties:
            kwargs[key] = [_take(index, _INDEX_KEYS, f"table {logical_id} {key}") for index in properties[key]]
    if "StreamSpecification" in properties:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
    if "SSESpecification" in properties:
        sse = properties["SSESpecification"]
        kwargs["SSESpecification"] = {
            "Enabled": bool(sse.get("SSEEnabled")),
            **{k: sse[k] for k in ("SSEType", "KMSMasterKeyId") if k in sse},
        }
    description = dynamodb.create_table(**kwargs)["TableDescription"]
    if "TimeToLiveSpecification" in properties:
        ttl = properties["TimeToLiveSpecification"]
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])},
        )
    if "PointInTimeRecoverySpecification" in properties:
        enabled = bool(properties["PointInTimeRecoverySpecification"].get("PointInTimeRecoveryEnabled"))
        dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": enabled}
        )
    created.references[logical_id] = name
    created.attributes[(logical_id, "Arn")] = description["TableArn"]
    if "LatestStreamArn" in description:
        created.attributes[(logical_id, "StreamArn")] = description["LatestStreamArn"]


# ---------------------------------------------------------------- S3

_LIFECYCLE_RULE_KEYS = {
    "Id",
    "Status",
    "Prefix",
    "ExpirationInDays",
    "AbortIncompleteMultipartUpload",
    "NoncurrentVersionExpiration",
}
_CORS_RULE_KEYS = {"Id", "AllowedHeaders", "AllowedMethods", "AllowedOrigins", "ExposedHeaders", "MaxAge"}


def _create_bucket(
    s3: Any, logical_id: str, raw: dict[str, Any], resolver: Resolver, created: LocalResources
) -> None:
    properties = _take(
        resolver.resolve(raw),
        {
            "BucketName",
            "BucketEncryption",
            "PublicAccessBlockConfiguration",
            "OwnershipControls",
            "LifecycleConfiguration",
            "CorsConfiguration",
            "VersioningConfiguration",
            "Tags",
        },
        f"bucket {logical_id}",
    )
    name = properties.get("BucketName") or physical_name(created.stack_name, logical_id, lowercase=True)
    if created.region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": created.region})

    if "BucketEncryption" in properties:
        rules = []
        for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]:
            entry: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
            if "BucketKeyEnabled" in rule:
                entry["BucketKeyEnabled"] = rule["BucketKeyEnabled"]
            rules.append(entry)
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in properties:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"]
        )
    if "OwnershipControls" in properties:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=properties["OwnershipControls"])
    if "VersioningConfiguration" in properties:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=properties["VersioningConfiguration"])
    if "LifecycleConfiguration" in properties:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name,
            LifecycleConfiguration={
                "Rules": [_lifecycle_rule(rule, logical_id) for rule in properties["LifecycleConfiguration"]["Rules"]]
            },
        )
    if "CorsConfiguration" in properties:
        s3.put_bucket_cors(
            Bucket=name,
            CORSConfiguration={
                "CORSRules": [_cors_rule(rule, logical_id) for rule in properties["CorsConfiguration"]["CorsRules"]]
            },
        )
    if properties.get("Tags"):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": properties["Tags"]})

    created.references[logical_id] = name
    created.attributes.update(
        {
            (logical_id, "Arn"): f"arn:aws:s3:::{name}",
            (logical_id, "DomainName"): f"{name}.s3.amazonaws.com",
            (logical_id, "RegionalDomainName"): f"{name}.s3.{created.region}.amazonaws.com",
        }
    )


def _create_kms_key(
    kms: Any, logical_id: str, raw: dict[str, Any], resolver: Resolver, created: LocalResources
) -> None:
    properties = _take(
        resolver.resolve(raw),
        {"Description", "EnableKeyRotation", "KeyPolicy", "KeyUsage", "KeySpec", "Tags"},
        f"KMS key {logical_id}",
    )
    request: dict[str, Any] = {
        "Description": properties.get("Description", logical_id),
        "KeyUsage": properties.get("KeyUsage", "ENCRYPT_DECRYPT"),
        "KeySpec": properties.get("KeySpec", "SYMMETRIC_DEFAULT"),
    }
    if "KeyPolicy" in properties:
        request["Policy"] = json.dumps(properties["KeyPolicy"])
    key = kms.create_key(**request)["KeyMetadata"]
    if properties.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    created.references[logical_id] = key["KeyId"]
    created.attributes[(logical_id, "Arn")] = key["Arn"]
    created.attributes[(logical_id, "KeyId")] = key["KeyId"]


# ---------------------------------------------------------------- Secrets Manager and EventBridge

_GENERATE_SECRET_KEYS = {
    "PasswordLength",
    "ExcludePunctuation",
    "ExcludeCharacters",
    "ExcludeLowercase",
    "ExcludeUppercase",
    "ExcludeNumbers",
    "IncludeSpace",
    "RequireEachIncludedType",
}


def _create_secret(
    secrets: Any, logical_id: str, raw: dict[str, Any], resolver: Resolver, created: LocalResources
) -> None:
    properties = _take(
        resolver.resolve(raw),
        {"Name", "Description", "SecretString", "GenerateSecretString", "KmsKeyId", "Tags"},
        f"secret {logical_id}",
    )
    name = properties.get("Name") or physical_name(created.stack_name, logical_id)
    if "SecretString" in properties:
        value = properties["SecretString"]
    else:
        generate = _take(
            properties.get("GenerateSecretString", {}),
            _GENERATE_SECRET_KEYS,
            f"secret {logical_id} GenerateSecretString",
        )
        # What CloudFormation does: Secrets Manager's GetRandomPassword with the same options.
        value = secrets.get_random_password(**generate)["RandomPassword"]
    request: dict[str, Any] = {"Name": name, "SecretString": value}
    for key in ("Description", "KmsKeyId", "Tags"):
        if key in properties:
            request[key] = properties[key]
    arn = secrets.create_secret(**request)["ARN"]
    created.references[logical_id] = arn  # Ref of a secret is its ARN
    created.attributes[(logical_id, "Id")] = arn


def _create_event_bus(
    events: Any, logical_id: str, raw: dict[str, Any], resolver: Resolver, created: LocalResources
) -> None:
    properties = _take(resolver.resolve(raw), {"Name", "Description", "Tags"}, f"event bus {logical_id}")
    name = properties["Name"]
    request: dict[str, Any] = {"Name": name}
    if "Description" in properties:
        request["Description"] = properties["Description"]
    if properties.get("Tags"):
        request["Tags"] = properties["Tags"]
    arn = events.create_event_bus(**request)["EventBusArn"]
    created.references[logical_id] = name  # Ref of an event bus is its name
    created.attributes.update({(logical_id, "Arn"): arn, (logical_id, "Name"): name})


def _lifecycle_rule(rule: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """CloudFormation's lifecycle rule shape -> the S3 API's."""
    _take(rule, _LIFECYCLE_RULE_KEYS, f"bucket {logical_id} lifecycle rule")
    converted: dict[str, Any] = {"Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "Id" in rule:
        converted["ID"] = rule["Id"]
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        converted["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
        }
    if "NoncurrentVersionExpiration" in rule:
        converted["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
        }
    return converted


def _cors_rule(rule: dict[str, Any], logical_id: str) -> dict[str, Any]:
    _take(rule, _CORS_RULE_KEYS, f"bucket {logical_id} CORS rule")
    renamed = {"Id": "ID", "ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds"}
    return {renamed.get(key, key): int(value) if key == "MaxAge" else value for key, value in rule.items()}

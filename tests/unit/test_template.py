"""template.yaml: what a deployment needs to be correct, checked without AWS.

The layers install what pyproject.toml declares, every handler exists, every queue has a dead-letter queue and a
visibility timeout its consumer cannot outlive, the table and bucket are set up as the code expects, and every
environment variable a function gets is one the settings read.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from data_extract.settings import Settings
from infra.local.template import load_template, parse_template_text

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO / "template.yaml"
DOCUMENT = parse_template_text(TEMPLATE_PATH.read_text(encoding="utf-8"))
RESOURCES: dict[str, Any] = DOCUMENT["Resources"]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def _functions() -> dict[str, dict[str, Any]]:
    """Each function's properties with SAM's Globals applied (what the deployed function gets)."""
    globals_ = DOCUMENT.get("Globals", {}).get("Function", {})
    return {
        name: {**globals_, **r.get("Properties", {})} for name, r in _of_type("AWS::Serverless::Function").items()
    }


def _layer_requirements(layer: dict[str, Any]) -> list[Requirement]:
    path = REPO / layer["Properties"]["ContentUri"] / "requirements.txt"
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith("#")]


LAYERS = _of_type("AWS::Serverless::LayerVersion")
# Layers pip builds from a pinned requirements.txt (the Tesseract layer is compiled by its Makefile instead).
DEPENDENCY_LAYERS = {
    name: layer
    for name, layer in LAYERS.items()
    if (REPO / layer["Properties"]["ContentUri"] / "requirements.txt").is_file()
}


# ---------------------------------------------------------------- dependencies


@pytest.mark.parametrize("layer_id", sorted(DEPENDENCY_LAYERS))
def test_given_a_layer_when_compared_with_pyproject_then_it_installs_exactly_the_declared_packages(layer_id):
    layer = LAYERS[layer_id]
    group = Path(layer["Properties"]["ContentUri"]).name  # infra/layers/<group>/ builds pyproject's extra <group>
    declared = [Requirement(r) for r in PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"][group]]

    pinned = _layer_requirements(layer)

    assert sorted(canonicalize_name(r.name) for r in pinned) == sorted(canonicalize_name(r.name) for r in declared)
    ranges = {canonicalize_name(r.name): r.specifier for r in declared}
    for requirement in pinned:
        (pin,) = requirement.specifier  # exactly one "==" pin: layer builds are reproducible
        assert pin.operator == "==", f"{requirement} is not pinned"
        assert ranges[canonicalize_name(requirement.name)].contains(pin.version), (
            f"{layer_id} pins {requirement}, outside pyproject's {ranges[canonicalize_name(requirement.name)]}"
        )


@pytest.mark.parametrize("layer_id", sorted(DEPENDENCY_LAYERS))
def test_given_a_layer_when_built_then_sam_builds_it_for_the_functions_runtime_and_architecture(layer_id):
    layer = LAYERS[layer_id]
    functions = _functions()
    users = [f for f in functions.values() if {"Ref": layer_id} in f.get("Layers", [])]

    assert users, f"{layer_id} is used by no function"
    if layer["Metadata"]["BuildMethod"] == "makefile":
        # A layer that must be trimmed to fit builds with its own Makefile: the same runtime and architecture.
        makefile = (REPO / layer["Properties"]["ContentUri"] / "Makefile").read_text(encoding="utf-8")
        assert re.search(rf"^build-{layer_id}:", makefile, re.MULTILINE)
        assert "--python-version 3.13" in makefile and "-r requirements.txt" in makefile
        assert "x86_64" in makefile and layer["Metadata"]["BuildArchitecture"] == "x86_64"
    else:
        assert layer["Metadata"]["BuildMethod"] == "python3.13"
    for function in users:
        assert function["Runtime"] == "python3.13"
        assert function["Architectures"] == layer["Properties"]["CompatibleArchitectures"]
        assert layer["Metadata"]["BuildArchitecture"] in function["Architectures"]


def test_given_the_layers_when_listed_then_each_is_a_dependency_layer_or_the_tesseract_layer():
    assert set(LAYERS) - set(DEPENDENCY_LAYERS) == {"TesseractLayer"}


def test_given_the_worker_when_deployed_then_it_gets_the_tesseract_layer_the_template_builds_unless_one_is_given():
    worker = _functions()["WorkerFunction"]
    layer = LAYERS["TesseractLayer"]

    assert {"Fn::If": ["HasOcrLayer", {"Ref": "OcrLayerArn"}, {"Ref": "TesseractLayer"}]} in worker["Layers"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "x86_64"}
    assert layer["Properties"]["CompatibleRuntimes"] == [worker["Runtime"]]
    assert layer["Properties"]["CompatibleArchitectures"] == worker["Architectures"]
    # Nothing to configure: Lambda puts /opt/bin on PATH, and tesseract is built with prefix /opt.
    assert "TESSERACT_CMD" not in worker.get("Environment", {}).get("Variables", {})


def test_given_the_tesseract_layer_when_sam_builds_it_then_its_makefile_runs_the_pinned_build_script():
    content = REPO / LAYERS["TesseractLayer"]["Properties"]["ContentUri"]
    makefile = (content / "Makefile").read_text(encoding="utf-8")
    script = (content / "build.sh").read_text(encoding="utf-8")

    assert re.search(r"^build-TesseractLayer:\n\tbash \./build\.sh \"\$\(ARTIFACTS_DIR\)\"$", makefile, re.M)
    assert "prefix=/opt" in script  # tessdata found at /opt/share/tessdata without TESSDATA_PREFIX
    fetches = re.findall(r"^\s*fetch \S+", script, re.M)
    pins = re.findall(r"^[A-Z_]+_SHA256=[0-9a-f]{64}$", script, re.M)
    assert len(fetches) == 4 and len(pins) == 4  # every download is checked against a pinned SHA-256


def test_given_the_api_function_when_deployed_then_its_layer_carries_no_extraction_packages():
    api_layer = [layer for layer in _functions()["ApiFunction"]["Layers"] if isinstance(layer, dict)]
    (layer_ref,) = api_layer
    names = {canonicalize_name(r.name) for r in _layer_requirements(LAYERS[layer_ref["Ref"]])}

    heavy = {canonicalize_name(r) for r in ("pypdfium2", "lxml", "pillow", "python-calamine", "scikit-learn")}
    assert not names & heavy


def test_given_the_function_code_directory_when_built_then_it_holds_code_only():
    code_uris = {f["CodeUri"] for f in _functions().values()}

    assert code_uris == {"functions/"}
    assert not (REPO / "functions" / "requirements.txt").exists()


# ---------------------------------------------------------------- functions


@pytest.mark.parametrize("function_id", sorted(_functions()))
def test_given_a_function_when_its_handler_is_resolved_then_the_module_and_package_exist(function_id):
    function = _functions()[function_id]
    module, _, attribute = function["Handler"].rpartition(".")
    module_file = REPO / function["CodeUri"] / Path(*module.split(".")).with_suffix(".py")

    assert attribute == "lambda_handler"
    assert module_file.is_file(), f"{function['Handler']}: {module_file} does not exist"
    source = module_file.read_text(encoding="utf-8")
    assert re.search(rf"^(def {attribute}\b|{attribute}\s*=)", source, re.MULTILINE), (
        f"{module_file} defines no {attribute}"
    )


def _settings_variables() -> set[str]:
    prefix = Settings.model_config["env_prefix"]
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(field.validation_alias if isinstance(field.validation_alias, str) else f"{prefix}{name}".upper())
    return names


@pytest.mark.parametrize("function_id", sorted(_functions()))
def test_given_a_function_environment_when_read_then_every_variable_is_a_setting(function_id):
    globals_env = DOCUMENT["Globals"]["Function"]["Environment"]["Variables"]
    own_env = (_functions()[function_id].get("Environment") or {}).get("Variables", {})
    known = _settings_variables()

    unknown = {
        name for name in {**globals_env, **own_env} if name not in known and not name.startswith("POWERTOOLS_")
    }

    assert not unknown, f"{function_id} gets variables no setting reads: {sorted(unknown)}"


def test_given_the_api_function_when_behind_http_api_then_it_finishes_within_the_integration_timeout():
    api = _functions()["ApiFunction"]
    events = api["Events"].values()

    assert [e["Type"] for e in events] == ["HttpApi"]
    assert api["Timeout"] <= 29  # API Gateway HTTP APIs end an integration at 30 s


# ---------------------------------------------------------------- queues


def _queue_properties(queue_id: str) -> dict[str, Any]:
    return RESOURCES[queue_id].get("Properties", {})


def _dead_letter_targets() -> set[str]:
    return {
        p["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for p in (r.get("Properties", {}) for r in _of_type("AWS::SQS::Queue").values())
        if "RedrivePolicy" in p
    }


@pytest.mark.parametrize("queue_id", sorted(set(_of_type("AWS::SQS::Queue")) - _dead_letter_targets()))
def test_given_a_queue_when_messages_keep_failing_then_they_move_to_a_dead_letter_queue(queue_id):
    redrive = _queue_properties(queue_id)["RedrivePolicy"]
    target = redrive["deadLetterTargetArn"]["Fn::GetAtt"]

    assert RESOURCES[target[0]]["Type"] == "AWS::SQS::Queue" and target[1] == "Arn"
    assert redrive["maxReceiveCount"] >= 5
    # A dead letter must outlive its original, or it expires before anyone looks at it.
    assert _queue_properties(target[0])["MessageRetentionPeriod"] >= _queue_properties(queue_id).get(
        "MessageRetentionPeriod", 345600
    )


@pytest.mark.parametrize("queue_id", sorted(_of_type("AWS::SQS::Queue")))
def test_given_a_queue_when_created_then_messages_are_encrypted_at_rest(queue_id):
    properties = _queue_properties(queue_id)

    assert properties.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in properties


def test_given_each_consumed_queue_when_its_consumer_runs_to_its_timeout_then_the_message_stays_invisible():
    template = load_template(TEMPLATE_PATH)
    consumed = 0
    for queue in template.queues.values():
        for function, event in template.consumers_of(queue.logical_id):
            consumed += 1
            needed = 6 * function.timeout_seconds + event.maximum_batching_window_seconds
            assert queue.visibility_timeout_seconds >= needed, (
                f"{queue.logical_id}: visibility {queue.visibility_timeout_seconds} s < 6 x {function.logical_id} "
                f"timeout + batching window = {needed} s"
            )
            assert event.reports_batch_item_failures, f"{function.logical_id} fails whole batches"
    # work -> worker, finalize -> finalize, semantic -> semantic, the three dead-letter queues -> dead-letter,
    # notices -> notifier, dispatch -> dispatch
    assert consumed == 8


def test_given_the_work_queue_when_polled_then_batches_are_sized_for_extraction():
    template = load_template(TEMPLATE_PATH)
    ((worker, event),) = template.consumers_of("WorkQueue")
    ((finalize, finalize_event),) = template.consumers_of("FinalizeQueue")
    ((dead_letter, _),) = template.consumers_of("WorkDeadLetterQueue")

    assert worker.handler == "data_extract.handlers.worker.lambda_handler"
    assert (event.batch_size, event.maximum_batching_window_seconds) == (5, 2)
    assert event.maximum_concurrency == int(DOCUMENT["Parameters"]["WorkerMaxConcurrency"]["Default"])
    assert finalize.handler == "data_extract.handlers.finalize.lambda_handler"
    assert finalize_event.batch_size == 1
    assert dead_letter.handler == "data_extract.handlers.dead_letter.lambda_handler"


def test_given_the_semantic_queue_when_polled_then_one_run_per_invocation_and_failures_end_in_dead_letter():
    template = load_template(TEMPLATE_PATH)
    ((semantic, event),) = template.consumers_of("SemanticQueue")
    ((dead_letter, _),) = template.consumers_of("SemanticDeadLetterQueue")

    assert semantic.handler == "data_extract.handlers.semantic.lambda_handler"
    assert event.batch_size == 1
    assert semantic.timeout_seconds == 900  # Lambda's longest: a 100,000-chunk analysis needs minutes
    assert dead_letter.handler == "data_extract.handlers.dead_letter.lambda_handler"
    # finalize hands runs over to the semantic queue, so it may send there.
    finalize_policies = RESOURCES["FinalizeFunction"]["Properties"]["Policies"]
    assert {
        "SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["SemanticQueue", "QueueName"]}}
    } in finalize_policies


def test_given_the_layers_when_assigned_then_only_the_semantic_function_carries_the_numerical_stack():
    numerical = {canonicalize_name(r) for r in ("numpy", "scipy", "scikit-learn")}
    for function_id, function in _functions().items():
        names = set()
        for layer in function.get("Layers", []):
            if isinstance(layer, dict) and "Ref" in layer:
                names |= {canonicalize_name(r.name) for r in _layer_requirements(LAYERS[layer["Ref"]])}
        if function_id == "SemanticFunction":
            assert numerical <= names
            assert not names & {canonicalize_name(r) for r in ("pypdfium2", "lxml", "pillow", "python-calamine")}
        else:
            assert not names & numerical, f"{function_id} carries the semantic stack"


# ---------------------------------------------------------------- table and bucket


def test_given_the_table_when_created_then_it_has_the_keys_index_ttl_and_backups_the_store_uses():
    (table,) = _of_type("AWS::DynamoDB::Table").values()
    properties = table["Properties"]

    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    index, active = properties["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "GSI1"
    assert index["KeySchema"] == [
        {"AttributeName": "GSI1PK", "KeyType": "HASH"},
        {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    # The sweeper's index of active jobs: keys only, it reads each job it inspects anyway.
    assert active["IndexName"] == "GSI2"
    assert active["KeySchema"] == [
        {"AttributeName": "GSI2PK", "KeyType": "HASH"},
        {"AttributeName": "GSI2SK", "KeyType": "RANGE"},
    ]
    assert active["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]} == {
        "PK": "S",
        "SK": "S",
        "GSI1PK": "S",
        "GSI1SK": "S",
        "GSI2PK": "S",
        "GSI2SK": "S",
    }
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"


def test_given_the_bucket_when_created_then_it_is_private_encrypted_and_tls_only():
    ((bucket_id, bucket),) = _of_type("AWS::S3::Bucket").items()
    properties = bucket["Properties"]
    (policy,) = _of_type("AWS::S3::BucketPolicy").values()

    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert policy["Properties"]["Bucket"] == {"Ref": bucket_id}
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_given_the_bucket_lifecycle_when_applied_then_uploads_jobs_and_multipart_leftovers_expire():
    (bucket,) = _of_type("AWS::S3::Bucket").values()
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]

    by_prefix = {r.get("Prefix"): r for r in rules}
    assert by_prefix["uploads/"]["ExpirationInDays"] == 7
    assert by_prefix["jobs/"]["ExpirationInDays"] == {"Ref": "RetentionDays"}
    assert by_prefix["records/"]["ExpirationInDays"] == {"Ref": "RetentionDays"}
    assert any(r.get("AbortIncompleteMultipartUpload") == {"DaysAfterInitiation": 1} for r in rules)
    assert all(r["Status"] == "Enabled" for r in rules)


# ---------------------------------------------------------------- parameters drive IAM


def _resolved(resource_id: str, prop: str, **overrides: str) -> Any:
    """One property of a resource as CloudFormation would deploy it with these parameter values."""
    template = load_template(TEMPLATE_PATH, parameter_overrides=overrides)
    resolver = template.resolver(region="eu-west-1", account_id="111122223333")
    return resolver, resolver.resolve(RESOURCES[resource_id]["Properties"][prop])


def test_given_allowed_input_roots_when_deployed_then_read_access_covers_exactly_those_roots():
    resolver, policy = _resolved(
        "InputRootsReadPolicy", "PolicyDocument", AllowedInputRoots="s3://in-a/reports/,s3://in-b"
    )
    statements = {s["Sid"]: s for s in policy["Statement"]}

    assert resolver.condition(RESOURCES["InputRootsReadPolicy"]["Condition"])
    assert statements["ListInputRootBuckets"]["Resource"] == ["arn:aws:s3:::in-a", "arn:aws:s3:::in-b"]
    assert statements["ReadInputRootObjects"]["Resource"] == ["arn:aws:s3:::in-a/reports/*", "arn:aws:s3:::in-b*"]


def test_given_no_allowed_input_roots_when_deployed_then_no_input_read_policy_exists():
    template = load_template(TEMPLATE_PATH)

    assert not template.resolver().condition(RESOURCES["InputRootsReadPolicy"]["Condition"])


def test_given_allowed_input_roots_when_validated_then_the_pattern_admits_what_iam_can_express():
    pattern = re.compile(DOCUMENT["Parameters"]["AllowedInputRoots"]["AllowedPattern"])

    assert pattern.fullmatch("")
    assert pattern.fullmatch("s3://bucket-a/prefix/,s3://bucket.b,s3://c-bucket/x")
    assert not pattern.fullmatch("s3://a1/x,s3://b1/y,s3://c1/z,s3://d1/w")  # a fourth root gets no grant
    assert not pattern.fullmatch("s3://bucket/a, s3://other/b")  # spaces would become part of the ARN
    assert not pattern.fullmatch("/srv/inputs")


def _api_key_statement(**overrides: str) -> dict[str, Any] | None:
    template = load_template(TEMPLATE_PATH, parameter_overrides=overrides)
    resolver = template.resolver(region="eu-west-1", account_id="111122223333")
    # The conditional policies only: the others name resources, which only a stack resolves.
    policies = resolver.resolve([p for p in RESOURCES["ApiFunction"]["Properties"]["Policies"] if "Fn::If" in p])
    statements = [s for p in policies if isinstance(p, dict) and "Statement" in p for s in p["Statement"]]
    return next((s for s in statements if s.get("Sid") == "ReadApiKey"), None)


@pytest.mark.parametrize(
    ("secret_id", "resource"),
    [
        ("data-extract/api-key", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:data-extract/api-key-??????"),
        (
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:key-AbCdEf",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:key-AbCdEf",
        ),
    ],
)
def test_given_an_api_key_secret_when_deployed_then_the_api_may_read_that_secret_only(secret_id, resource):
    statement = _api_key_statement(ApiKeySecretId=secret_id)

    assert statement == {
        "Sid": "ReadApiKey",
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": resource,
    }


def test_given_no_api_key_secret_when_deployed_then_the_api_reads_no_secret():
    assert _api_key_statement() is None


# ---------------------------------------------------------------- notices and sweeping


def test_given_the_notifier_when_deployed_then_it_reads_its_queue_signs_with_its_secret_and_publishes_to_the_bus():
    notifier = _functions()["NotifierFunction"]
    template = load_template(TEMPLATE_PATH)
    ((function, event),) = template.consumers_of("NotifyQueue")

    assert function.logical_id == "NotifierFunction" and event.reports_batch_item_failures
    assert RESOURCES["NotifyQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["NotifyDeadLetterQueue", "Arn"]
    }
    variables = notifier["Environment"]["Variables"]
    assert variables["DATA_EXTRACT_CALLBACK_SECRET_ID"] == {"Ref": "CallbackSigningSecret"}
    assert variables["DATA_EXTRACT_EVENT_BUS_NAME"] == {"Ref": "JobEventBus"}
    assert RESOURCES["CallbackSigningSecret"]["Type"] == "AWS::SecretsManager::Secret"
    assert RESOURCES["JobEventBus"]["Type"] == "AWS::Events::EventBus"
    policies = notifier["Policies"]
    assert {"EventBridgePutEventsPolicy": {"EventBusName": {"Ref": "JobEventBus"}}} in policies
    assert {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "CallbackSigningSecret"}}} in policies
    # Only the notifier may read the signing key; the API function never sees it.
    others = {name: f for name, f in _functions().items() if name != "NotifierFunction"}
    assert not any("CallbackSigningSecret" in str(f.get("Policies")) for f in others.values())


def test_given_the_sweeper_when_deployed_then_a_schedule_runs_it_and_it_can_redispatch_and_hand_over():
    sweeper = _functions()["SweeperFunction"]
    (schedule,) = [e for e in sweeper["Events"].values() if e["Type"] == "Schedule"]
    template = load_template(TEMPLATE_PATH, parameter_overrides={"SweepScheduleMinutes": "10"})

    assert template.functions["SweeperFunction"].schedule_events[0].rate_seconds == 600
    assert "SweepScheduleMinutes" in str(schedule["Properties"]["Schedule"])
    queues = {
        p["SQSSendMessagePolicy"]["QueueName"]["Fn::GetAtt"][0]
        for p in sweeper["Policies"]
        if "SQSSendMessagePolicy" in p
    }
    assert queues == {"WorkQueue", "FinalizeQueue"}


@pytest.mark.parametrize("function_id", ["FinalizeFunction", "DeadLetterFunction"])
def test_given_a_function_that_ends_jobs_when_deployed_then_it_may_queue_their_notices(function_id):
    queues = {
        p["SQSSendMessagePolicy"]["QueueName"]["Fn::GetAtt"][0]
        for p in _functions()[function_id]["Policies"]
        if isinstance(p, dict) and "SQSSendMessagePolicy" in p
    }

    assert "NotifyQueue" in queues

"""Read template.yaml, the one description of every function, queue, table and bucket.

The local stack and the tests build their AWS resources and wire their functions from what this module returns, so
local runs and deployments cannot drift apart. CloudFormation's short tags (``!Ref``, ``!GetAtt``, ``!Sub``, ...)
load as their long form (``{"Ref": ...}``), and :class:`Resolver` evaluates them against the local resources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

# SAM's defaults for a function that sets neither the property nor a global.
SAM_DEFAULT_TIMEOUT_SECONDS = 3
SAM_DEFAULT_MEMORY_MB = 128
# Lambda's defaults for an SQS event source mapping.
SQS_DEFAULT_BATCH_SIZE = 10
# SQS's default for a queue without VisibilityTimeout.
SQS_DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30


# ---------------------------------------------------------------- YAML with CloudFormation tags


def parse_template_text(text: str) -> dict[str, Any]:
    """The template as plain dicts, lists and strings, short tags in their long form (``{"Ref": ...}``).

    cfn-lint's loader reads the tags exactly as CloudFormation does (``!GetAtt Queue.Arn`` is
    ``{"Fn::GetAtt": ["Queue", "Arn"]}``); its nodes carry line marks, so they are copied into plain values.
    """
    from cfnlint.decode.cfn_yaml import loads

    document = json.loads(json.dumps(loads(text)))
    if not isinstance(document, dict) or "Resources" not in document:
        raise ValueError("not a CloudFormation template: no Resources section")
    return document


# ---------------------------------------------------------------- evaluating intrinsic functions


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class UnresolvedReference(LookupError):
    """The expression names a resource or attribute the resolver was not given."""


@dataclass
class Resolver:
    """Evaluates CloudFormation intrinsic functions the way CloudFormation does at deploy time.

    ``references`` maps a resource's logical id to what ``Ref`` returns; ``attributes`` maps
    ``(logical id, attribute)`` to what ``Fn::GetAtt`` returns.
    """

    parameters: Mapping[str, Any]
    conditions: Mapping[str, Any]
    mappings: Mapping[str, Any] = field(default_factory=dict)
    references: Mapping[str, Any] = field(default_factory=dict)
    attributes: Mapping[tuple[str, str], Any] = field(default_factory=dict)
    region: str = "us-east-1"
    account_id: str = "123456789012"
    stack_name: str = "data-extract-local"
    _condition_values: dict[str, bool] = field(default_factory=dict, init=False, repr=False)

    def pseudo_parameters(self) -> dict[str, Any]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local",
            "AWS::NoValue": NO_VALUE,
        }

    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            if name not in self.conditions:
                raise UnresolvedReference(f"unknown condition {name!r}")
            self._condition_values[name] = bool(self.resolve(self.conditions[name]))
        return self._condition_values[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            handler = self._FUNCTIONS.get(key)
            if handler is not None:
                return handler(self, argument)
            if key.startswith("Fn::"):
                raise NotImplementedError(f"intrinsic function {key} is not supported locally")
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        pseudo = self.pseudo_parameters()
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.references:
            return self.references[name]
        raise UnresolvedReference(f"Ref {name!r}: no such parameter or local resource")

    def _get_att(self, argument: Any) -> Any:
        logical_id, attribute = (self.resolve(part) for part in argument)
        try:
            return self.attributes[(logical_id, attribute)]
        except KeyError:
            raise UnresolvedReference(f"GetAtt {logical_id}.{attribute}: not a local resource attribute") from None

    _SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {k: self.resolve(v) for k, v in argument[1].items()}
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is the literal text ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] not in self.parameters:
                return str(self._get_att(name.split(".", 1)))
            return str(self._ref(name))

        return self._SUB_VARIABLE.sub(replace, text)

    def _join(self, argument: Any) -> str:
        delimiter, items = argument
        return str(delimiter).join(str(item) for item in self.resolve(items))

    def _select(self, argument: Any) -> Any:
        index, items = argument
        return self.resolve(items)[int(self.resolve(index))]

    def _split(self, argument: Any) -> list[str]:
        delimiter, text = argument
        return str(self.resolve(text)).split(delimiter)

    def _if(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _equals(self, argument: Any) -> bool:
        left, right = (self.resolve(item) for item in argument)
        return str(left) == str(right)

    def _find_in_map(self, argument: Any) -> Any:
        map_name, top, second = (self.resolve(item) for item in argument)
        return self.mappings[map_name][top][second]

    _FUNCTIONS: ClassVar[dict[str, Callable[[Any, Any], Any]]] = {
        "Ref": lambda self, a: self._ref(self.resolve(a)),
        "Fn::GetAtt": _get_att,
        "Fn::Sub": _sub,
        "Fn::Join": _join,
        "Fn::Select": _select,
        "Fn::Split": _split,
        "Fn::If": _if,
        "Fn::Equals": _equals,
        "Fn::Not": lambda self, a: not self.resolve(a[0]),
        "Fn::And": lambda self, a: all(self.resolve(item) for item in a),
        "Fn::Or": lambda self, a: any(self.resolve(item) for item in a),
        "Condition": lambda self, a: self.condition(a),
        "Fn::FindInMap": _find_in_map,
        "Fn::ToJsonString": lambda self, a: json.dumps(self.resolve(a), separators=(",", ":")),
    }


def _logical_id_of(expression: Any) -> str:
    """The resource an ARN/URL expression points at: `!GetAtt Queue.Arn` or `!Ref Queue` -> "Queue"."""
    if isinstance(expression, dict) and len(expression) == 1:
        ((key, argument),) = expression.items()
        if key == "Fn::GetAtt":
            return argument[0]
        if key == "Ref":
            return argument
    raise ValueError(f"expected !GetAtt <Resource>.Arn or !Ref <Resource>, got {expression!r}")


# ---------------------------------------------------------------- what the template declares


@dataclass(frozen=True)
class SqsEventSource:
    """One SQS event of a function: what Lambda's event source mapping is configured with."""

    name: str
    queue: str  # logical id of the queue
    batch_size: int
    maximum_batching_window_seconds: int
    function_response_types: tuple[str, ...]
    maximum_concurrency: int | None
    enabled: bool

    @property
    def reports_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


@dataclass(frozen=True)
class ScheduleEventSource:
    """One Schedule event of a function: EventBridge invokes it every ``rate_seconds``."""

    name: str
    rate_seconds: int
    enabled: bool


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_RATE_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def parse_rate(expression: str) -> int:
    """``rate(5 minutes)`` -> 300. Cron expressions are not run locally."""
    match = _RATE.match(expression.strip())
    if not match:
        raise ValueError(f"schedule {expression!r}: only rate(N minutes|hours|days) runs locally")
    return int(match.group(1)) * _RATE_UNIT_SECONDS[match.group(2).rstrip("s")]


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str
    code_uri: str | None  # a local directory (what `sam build` packages), or None for an S3 location
    timeout_seconds: int
    memory_mb: int
    # Globals and function variables merged as SAM merges them; values are unresolved expressions.
    environment: dict[str, Any]
    sqs_events: tuple[SqsEventSource, ...]
    schedule_events: tuple[ScheduleEventSource, ...] = ()


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    properties: dict[str, Any]
    visibility_timeout_seconds: int
    dead_letter_queue: str | None  # logical id of the redrive target
    max_receive_count: int | None


@dataclass(frozen=True)
class Template:
    path: Path
    document: dict[str, Any]
    parameters: dict[str, Any]  # parameter values (defaults, then overrides)
    functions: dict[str, FunctionSpec]
    queues: dict[str, QueueSpec]
    tables: dict[str, dict[str, Any]]  # logical id -> Properties
    buckets: dict[str, dict[str, Any]]
    bucket_policies: dict[str, dict[str, Any]]
    kms_keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    event_buses: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resolver(self, **kwargs: Any) -> Resolver:
        return Resolver(
            parameters=self.parameters,
            conditions=self.document.get("Conditions", {}),
            mappings=self.document.get("Mappings", {}),
            **kwargs,
        )

    def consumers_of(self, queue: str) -> Iterator[tuple[FunctionSpec, SqsEventSource]]:
        for function in self.functions.values():
            for event in function.sqs_events:
                if event.queue == queue:
                    yield function, event


def _parameter_values(document: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    declared = document.get("Parameters", {})
    unknown = set(overrides) - set(declared)
    if unknown:
        raise ValueError(f"unknown template parameters: {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        value = overrides.get(name, spec.get("Default"))
        if value is None:
            raise ValueError(f"template parameter {name} has no default; pass a value")
        if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = value.split(",")
        values[name] = value
    return values


def _merged_function_properties(globals_: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """SAM's Globals: maps merge (function wins), lists concatenate, scalars are replaced."""
    merged = dict(globals_)
    for key, value in properties.items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict):
            merged[key] = _merge_maps(base, value)
        elif isinstance(base, list) and isinstance(value, list):
            merged[key] = base + value
        else:
            merged[key] = value
    return merged


def _merge_maps(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = _merge_maps(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_template(
    path: str | Path = DEFAULT_TEMPLATE,
    parameter_overrides: Mapping[str, Any] | None = None,
) -> Template:
    path = Path(path)
    document = parse_template_text(path.read_text(encoding="utf-8"))
    parameters = _parameter_values(document, parameter_overrides or {})
    # Numbers and flags may come from parameters; nothing here may depend on a resource.
    static = Resolver(
        parameters=parameters, conditions=document.get("Conditions", {}), mappings=document.get("Mappings", {})
    )
    globals_ = document.get("Globals", {}).get("Function", {})

    functions: dict[str, FunctionSpec] = {}
    queues: dict[str, QueueSpec] = {}
    tables: dict[str, dict[str, Any]] = {}
    buckets: dict[str, dict[str, Any]] = {}
    bucket_policies: dict[str, dict[str, Any]] = {}
    kms_keys: dict[str, dict[str, Any]] = {}
    secrets: dict[str, dict[str, Any]] = {}
    event_buses: dict[str, dict[str, Any]] = {}
    for logical_id, resource in document["Resources"].items():
        if "Condition" in resource and not static.condition(resource["Condition"]):
            continue
        kind = resource["Type"]
        properties = resource.get("Properties", {})
        if kind == "AWS::Serverless::Function":
            merged = _merged_function_properties(globals_, properties)
            functions[logical_id] = _function_spec(logical_id, merged, static)
        elif kind == "AWS::SQS::Queue":
            queues[logical_id] = _queue_spec(logical_id, properties, static)
        elif kind == "AWS::DynamoDB::Table":
            tables[logical_id] = properties
        elif kind == "AWS::S3::Bucket":
            buckets[logical_id] = properties
        elif kind == "AWS::S3::BucketPolicy":
            bucket_policies[logical_id] = properties
        elif kind == "AWS::KMS::Key":
            kms_keys[logical_id] = properties
        elif kind == "AWS::SecretsManager::Secret":
            secrets[logical_id] = properties
        elif kind == "AWS::Events::EventBus":
            event_buses[logical_id] = properties
    return Template(
        path,
        document,
        parameters,
        functions,
        queues,
        tables,
        buckets,
        bucket_policies,
        kms_keys,
        secrets,
        event_buses,
    )


def _function_spec(logical_id: str, properties: dict[str, Any], static: Resolver) -> FunctionSpec:
    events = []
    schedules = []
    for name, event in (properties.get("Events") or {}).items():
        if event.get("Type") == "Schedule":
            props = event.get("Properties", {})
            schedules.append(
                ScheduleEventSource(
                    name=name,
                    rate_seconds=parse_rate(str(static.resolve(props["Schedule"]))),
                    enabled=bool(static.resolve(props.get("Enabled", True))),
                )
            )
            continue
        if event.get("Type") != "SQS":
            continue
        props = event.get("Properties", {})
        scaling = static.resolve(props.get("ScalingConfig", {}))
        events.append(
            SqsEventSource(
                name=name,
                queue=_logical_id_of(props["Queue"]),
                batch_size=int(static.resolve(props.get("BatchSize", SQS_DEFAULT_BATCH_SIZE))),
                maximum_batching_window_seconds=int(static.resolve(props.get("MaximumBatchingWindowInSeconds", 0))),
                function_response_types=tuple(static.resolve(props.get("FunctionResponseTypes", []))),
                maximum_concurrency=int(scaling["MaximumConcurrency"]) if "MaximumConcurrency" in scaling else None,
                enabled=bool(static.resolve(props.get("Enabled", True))),
            )
        )
    return FunctionSpec(
        logical_id=logical_id,
        handler=static.resolve(properties["Handler"]),
        code_uri=code_uri if isinstance(code_uri := properties.get("CodeUri"), str) else None,
        timeout_seconds=int(static.resolve(properties.get("Timeout", SAM_DEFAULT_TIMEOUT_SECONDS))),
        memory_mb=int(static.resolve(properties.get("MemorySize", SAM_DEFAULT_MEMORY_MB))),
        environment=dict((properties.get("Environment") or {}).get("Variables", {})),
        sqs_events=tuple(events),
        schedule_events=tuple(schedules),
    )


def _queue_spec(logical_id: str, properties: dict[str, Any], static: Resolver) -> QueueSpec:
    redrive = properties.get("RedrivePolicy")
    if isinstance(redrive, str):
        redrive = json.loads(redrive)
    return QueueSpec(
        logical_id=logical_id,
        properties=properties,
        visibility_timeout_seconds=int(
            static.resolve(properties.get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY_TIMEOUT_SECONDS))
        ),
        dead_letter_queue=_logical_id_of(redrive["deadLetterTargetArn"]) if redrive else None,
        max_receive_count=int(static.resolve(redrive["maxReceiveCount"])) if redrive else None,
    )

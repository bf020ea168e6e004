"""template.yaml's alarms and dashboard: they watch what an operator must see, and read metrics that exist.

The service's own metric names come from data_extract.observability, the module the handlers emit them with
(tests/handlers/test_observability.py checks that they do).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from data_extract import observability
from infra.local.template import parse_template_text

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = parse_template_text((REPO / "template.yaml").read_text(encoding="utf-8"))
RESOURCES: dict[str, Any] = DOCUMENT["Resources"]
GLOBAL_ENV = DOCUMENT["Globals"]["Function"]["Environment"]["Variables"]
FUNCTIONS = sorted(n for n, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function")
ALARMS = {n: r["Properties"] for n, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def _metric_stats(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    if "MetricName" in alarm:
        return [
            {
                "Namespace": alarm["Namespace"],
                "MetricName": alarm["MetricName"],
                "Dimensions": alarm.get("Dimensions", []),
            }
        ]
    return [m["MetricStat"]["Metric"] for m in alarm.get("Metrics", []) if "MetricStat" in m]


def _alarms_on(namespace: str, metric: str) -> dict[str, dict[str, Any]]:
    return {
        name: alarm
        for name, alarm in ALARMS.items()
        if any(s["Namespace"] == namespace and s["MetricName"] == metric for s in _metric_stats(alarm))
    }


def _dimension_refs(alarm: dict[str, Any]) -> set[str]:
    refs = set()
    for stat in _metric_stats(alarm):
        for dimension in stat["Dimensions"]:
            value = dimension["Value"]
            if isinstance(value, dict):
                refs.add(value.get("Ref") or value["Fn::GetAtt"][0])
    return refs


@pytest.mark.parametrize("queue", ["WorkDeadLetterQueue", "FinalizeDeadLetterQueue"])
def test_a_message_in_a_dead_letter_queue_raises_an_alarm(queue):
    alarms = [
        a for a in _alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible").values() if queue in _dimension_refs(a)
    ]
    assert len(alarms) == 1
    alarm = alarms[0]
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["EvaluationPeriods"] == 1 and alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("queue", ["WorkQueue", "FinalizeQueue"])
def test_work_that_waits_too_long_raises_an_alarm(queue):
    alarms = [
        a for a in _alarms_on("AWS/SQS", "ApproximateAgeOfOldestMessage").values() if queue in _dimension_refs(a)
    ]
    assert len(alarms) == 1 and alarms[0]["Threshold"] == {"Ref": "OldestMessageAlarmSeconds"}


def test_error_rates_cover_the_api_and_every_queue_consumer():
    api = _alarms_on("AWS/ApiGateway", "5xx")
    assert len(api) == 1 and "HttpApi" in _dimension_refs(next(iter(api.values())))
    errors = _alarms_on("AWS/Lambda", "Errors")
    covered = set().union(*(_dimension_refs(a) for a in errors.values()))
    assert covered == set(FUNCTIONS) - {"ApiFunction"}  # the API answers its own errors with 500 (see above)
    for alarm in [*api.values(), *errors.values()]:
        assert alarm["Threshold"] == {"Ref": "ErrorRateAlarmPercent"}
        assert sum(1 for m in alarm["Metrics"] if m.get("ReturnData")) == 1  # one expression decides


def test_any_throttle_of_any_function_raises_an_alarm():
    throttles = _alarms_on("AWS/Lambda", "Throttles")
    assert len(throttles) == 1
    alarm = next(iter(throttles.values()))
    assert _dimension_refs(alarm) == set(FUNCTIONS)
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_every_alarm_notifies_the_alarm_topic_when_it_fires_and_when_it_clears():
    assert RESOURCES["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    assert len(ALARMS) >= 7
    for name, alarm in ALARMS.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["AlarmDescription"], name


def _dashboard() -> tuple[dict[str, Any], str]:
    """The dashboard body with every ${...} filled in (as CloudFormation would), parsed."""
    body, variables = RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = re.findall(r"\$\{([^}]+)\}", body)
    unknown = [
        n
        for n in names
        if n not in variables
        and n.split(".")[0] not in RESOURCES
        and not n.startswith("AWS::")
        and n not in DOCUMENT["Parameters"]
    ]
    assert unknown == []
    filled = re.sub(r"\$\{([^}]+)\}", lambda m: str(variables.get(m.group(1), f"filled-{m.group(1)}")), body)
    return json.loads(filled), body


def test_the_dashboard_reads_the_metrics_the_service_emits():
    dashboard, raw = _dashboard()
    variables = RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"][1]
    assert variables["Namespace"] == GLOBAL_ENV["POWERTOOLS_METRICS_NAMESPACE"]
    assert variables["Service"] == GLOBAL_ENV["POWERTOOLS_SERVICE_NAME"]

    emitted = {value for name, value in vars(observability).items() if name.isupper() and isinstance(value, str)}
    emitted |= set(observability.STAGE_MS.values()) | set(observability.JOB_STATUS_METRICS.values())
    emitted -= {observability.PACKAGE_LOGGER}
    shown: set[str] = set()  # metric names the dashboard reads from the service's namespace
    for widget in dashboard["widgets"]:
        namespace = None
        for row in widget["properties"].get("metrics", []):
            for item in row:
                if isinstance(item, dict) and "expression" in item:
                    shown.update(re.findall(r'MetricName="(\w+)"', item["expression"]))
            strings = [item for item in row if isinstance(item, str)]
            if not strings or strings[0] == "...":
                continue  # no metric, or the previous row's metric with other dimension values
            if strings[0] != ".":
                namespace = strings[0]  # "." repeats the previous row's namespace
            if namespace == variables["Namespace"] and strings[1] != ".":
                shown.add(strings[1])
    assert shown and shown <= emitted, shown - emitted
    for needed in (
        "FilesProcessed",
        "FilesFailed",
        "Pages",
        "InputBytes",
        "ExtractMs",
        "QueueWaitMs",
        "JobDurationMs",
    ):
        assert needed in shown, needed
    # Failures by error type and files by format read the dimension sets the worker emits.
    assert "{${Namespace},service,format,error_type}" in raw and "{${Namespace},service,format}" in raw
    for function in FUNCTIONS:
        assert "${" + function + "}" in raw, function
    assert sum(1 for w in dashboard["widgets"] if w["type"] == "alarm") == 1
    alarm_widget = next(w for w in dashboard["widgets"] if w["type"] == "alarm")
    assert len(alarm_widget["properties"]["alarms"]) == len(ALARMS)

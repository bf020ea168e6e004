"""Evaluate a finished run against a governance policy.

A policy (``policies/<policy_id>.json``) is data: verdict thresholds and weighted milestones,
each a list of weighted checks ``metric <operator> target``, some of them critical. The
evaluator computes the metrics from the run's result payload (``processed_files``,
``failed_files``, counts, ``stage_totals_ms``, ``semantic``), scores every check, and returns
a ``GovernanceEvaluationOutcome`` (the shape existing clients read).

Scoring:

- ``bool_true`` / ``equals`` / ``in``: 100 when passed, else 0.
- ``gte``: ``min(100, observed / target * 100)`` (a target <= 0 gives 100 or 0).
- ``lte``: 100 when passed, else ``max(0, 100 - (observed - target) / max(|target|, 1) * 100)``.
- A metric that cannot be observed (``None``) fails its check with score 0.
- Milestone score: weighted mean of its checks; overall: weighted mean of the milestones that
  were not skipped (so a skipped milestone's weight is redistributed), rounded to 4 decimals.
- Verdict: ``bad`` on any failed critical check, else ``good`` at ``good_min`` or more,
  ``watch`` at ``watch_min`` or more, else ``bad``.

What a serverless run measures differently from a process with a local disk:

- ``existing_outputs`` replaces ``Path.exists``: the caller lists the run's artifacts in
  storage. A processed file counts as having its output only when its ``output_path`` is in
  that set and no other processed file claims the same path (two files writing one artifact
  means one of them was overwritten: a plain existence check would not see it).
  ``output.output_dir_exists`` becomes "at least one artifact of the run is stored", since an
  object store has no directories.
- A stage ran for a file when the file records a timing for it (0 ms included: fast stages
  round to 0). A run-level stage is present when its total is above 0 or any processed file
  records it.
- Counts reconcile when processed + failed + skipped equals ``total_files``, the
  ``processed_files`` list has ``processed_count`` entries, and ``failed_files`` lists the
  failed files (alone, or with the skipped ones when the result has no ``skipped_files``
  list; when it has one, that list must match ``skipped_count``). A redelivered message that
  double-counts a file therefore fails the critical ``extract_count_reconciled`` check.
- Ratios over an empty set cannot be observed and are ``None``. An empty run (no files) thus
  fails the critical coverage checks and its verdict is ``bad``: a run that produced nothing
  has nothing to vouch for.
- The semantic milestone is skipped for the semantic statuses the policy lists (``disabled``,
  i.e. not requested; a result without a ``semantic`` block counts as ``disabled``). A
  ``skipped`` status means the stage was requested but could not run, so the milestone is
  evaluated and its critical check fails.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache
from importlib import resources
from typing import Any

OPERATORS = frozenset({"bool_true", "equals", "in", "gte", "lte"})
VERDICT_GOOD, VERDICT_WATCH, VERDICT_BAD = "good", "watch", "bad"
# Evidence entries naming individual files, per check; the first entry (the metric) is extra.
MAX_FILE_EVIDENCE = 20

_POLICY_SUFFIX = ".json"


class UnknownPolicy(LookupError):
    """No policy with this id is shipped with the service."""


class InvalidPolicy(ValueError):
    """A policy file does not describe a usable policy (a packaging error, not a client error)."""


@dataclass(frozen=True)
class PolicyCheck:
    check_id: str
    metric: str
    operator: str
    target: Any
    critical: bool
    weight: int | float
    reason_code: str


@dataclass(frozen=True)
class PolicyMilestone:
    milestone_id: str
    title: str
    weight: int | float
    checks: tuple[PolicyCheck, ...]
    skip_when_semantic_status: frozenset[str]


@dataclass(frozen=True)
class Policy:
    policy_id: str
    version: str
    good_min: int | float
    watch_min: int | float
    milestones: tuple[PolicyMilestone, ...]


def _policy_files() -> dict[str, Any]:
    directory = resources.files(__package__).joinpath("policies")
    return {
        entry.name[: -len(_POLICY_SUFFIX)]: entry
        for entry in directory.iterdir()
        if entry.name.endswith(_POLICY_SUFFIX) and entry.is_file()
    }


@lru_cache(maxsize=1)
def _available() -> tuple[str, ...]:
    return tuple(sorted(_policy_files()))


def available_policies() -> list[str]:
    """Ids of the policies shipped with the service, sorted."""
    return list(_available())


@cache
def load_policy(policy_id: str) -> Policy:
    """The parsed, validated policy; ``UnknownPolicy`` when no such policy is shipped."""
    # Looking the id up among the shipped files (never building a path from it) keeps ids
    # such as "../x" from reaching the filesystem.
    if policy_id not in _available():
        raise UnknownPolicy(f"Evaluation policy not found: {policy_id} (available: {', '.join(_available())})")
    payload = json.loads(_policy_files()[policy_id].read_text(encoding="utf-8"))
    try:
        return _parse_policy(payload, policy_id)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidPolicy(f"Evaluation policy {policy_id} is invalid: {exc}") from exc


def _parse_policy(payload: Mapping[str, Any], policy_id: str) -> Policy:
    if payload["policy_id"] != policy_id:
        raise ValueError(f"file declares policy_id {payload['policy_id']!r}")
    milestones = []
    for raw_milestone in payload["milestones"]:
        checks = []
        for raw_check in raw_milestone["checks"]:
            operator = str(raw_check["operator"]).strip().lower()
            if operator not in OPERATORS:
                raise ValueError(f"check {raw_check['check_id']}: unknown operator {operator!r}")
            weight = _positive(raw_check.get("weight", 1), f"check {raw_check['check_id']} weight")
            checks.append(
                PolicyCheck(
                    check_id=str(raw_check["check_id"]),
                    metric=str(raw_check["metric"]),
                    operator=operator,
                    target=raw_check["target"],
                    critical=bool(raw_check.get("critical", False)),
                    weight=weight,
                    reason_code=str(raw_check["reason_code"]),
                )
            )
        weight = _positive(raw_milestone["weight"], f"milestone {raw_milestone['milestone_id']} weight")
        if not checks:
            raise ValueError(f"milestone {raw_milestone['milestone_id']} has no checks")
        milestones.append(
            PolicyMilestone(
                milestone_id=str(raw_milestone["milestone_id"]),
                title=str(raw_milestone.get("title", raw_milestone["milestone_id"])),
                weight=weight,
                checks=tuple(checks),
                skip_when_semantic_status=frozenset(
                    str(s).lower() for s in raw_milestone.get("skip_when_semantic_status", ())
                ),
            )
        )
    thresholds = payload["thresholds"]
    good_min, watch_min = thresholds["good_min"], thresholds["watch_min"]
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in (good_min, watch_min)) or not (
        0 <= watch_min <= good_min <= 100
    ):
        raise ValueError("thresholds need 0 <= watch_min <= good_min <= 100")
    return Policy(
        policy_id=policy_id,
        version=str(payload["version"]),
        good_min=good_min,
        watch_min=watch_min,
        milestones=tuple(milestones),
    )


def _positive(value: Any, name: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


# --------------------------------------------------------------------------- metrics


def _number(value: Any) -> float | None:
    """A finite, non-negative number (Decimal included), else None; bools are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def _count(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number.is_integer() else None


def _ratio(numerator: int, denominator: int | None) -> float | None:
    return numerator / denominator if denominator else None


def _entries(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def semantic_status(result: Mapping[str, Any]) -> str:
    semantic = result.get("semantic")
    if not isinstance(semantic, Mapping):
        return "disabled"
    return str(semantic.get("status") or "disabled").strip().lower()


@dataclass(frozen=True)
class _FileEvidence:
    field_path: str
    artifact_path: str | None
    value: Any


@dataclass(frozen=True)
class _RunCounts:
    """The result's file counts, when all four are known."""

    total: int
    processed: int
    failed: int
    skipped: int

    @classmethod
    def of(cls, result: Mapping[str, Any]) -> _RunCounts | None:
        counts = [
            _count(result.get(key)) for key in ("total_files", "processed_count", "failed_count", "skipped_count")
        ]
        total, processed, failed, skipped = counts
        if total is None or processed is None or failed is None or skipped is None:
            return None
        return cls(total, processed, failed, skipped)


def _counts_reconciled(
    counts: _RunCounts | None,
    processed_files: list[Mapping[str, Any]],
    failed_files: list[Mapping[str, Any]],
    skipped_files: Any,
) -> bool:
    """processed + failed + skipped is the total and the file lists have the counted entries (module docstring)."""
    if counts is None:
        return False
    if counts.processed + counts.failed + counts.skipped != counts.total or len(processed_files) != counts.processed:
        return False
    if isinstance(skipped_files, list):
        return len(failed_files) == counts.failed and len(skipped_files) == counts.skipped
    return len(failed_files) in (counts.failed, counts.failed + counts.skipped)


def _stage_timing(entry: Mapping[str, Any], stage: str) -> float | None:
    timings = entry.get("stage_timings_ms")
    return _number(timings.get(stage)) if isinstance(timings, Mapping) else None


def _offenders(processed_files: list[Mapping[str, Any]], existing: set[str]) -> dict[str, list[_FileEvidence]]:
    """Per ratio metric, the processed files that count against it."""
    claims = Counter(entry.get("output_path") for entry in processed_files)

    def has_own_output(entry: Mapping[str, Any]) -> bool:
        path = entry.get("output_path")
        return isinstance(path, str) and bool(path) and claims[path] == 1 and path in existing

    return {
        "normalize.stage_timing_coverage": [
            _FileEvidence(f"processed_files[{i}].stage_timings_ms.normalize", entry.get("output_path"), None)
            for i, entry in enumerate(processed_files)
            if _stage_timing(entry, "normalize") is None
        ],
        "chunk.nonzero_chunk_ratio": [
            _FileEvidence(f"processed_files[{i}].chunk_count", entry.get("output_path"), entry.get("chunk_count"))
            for i, entry in enumerate(processed_files)
            if not (_count(entry.get("chunk_count")) or 0) > 0
        ],
        "output.output_exists_ratio": [
            _FileEvidence(f"processed_files[{i}].output_path", entry.get("output_path"), entry.get("output_path"))
            for i, entry in enumerate(processed_files)
            if not has_own_output(entry)
        ],
    }


def _stage_present(result: Mapping[str, Any], processed_files: list[Mapping[str, Any]], stage: str) -> bool:
    """A run-level stage ran: its total is above 0 or any processed file records a timing for it."""
    stage_totals = result.get("stage_totals_ms")
    total_ms = _number(stage_totals.get(stage)) if isinstance(stage_totals, Mapping) else None
    if total_ms is not None and total_ms > 0:
        return True
    return any(_stage_timing(entry, stage) is not None for entry in processed_files)


def collect_metrics(
    result: Mapping[str, Any], existing_outputs: Iterable[str]
) -> tuple[dict[str, Any], dict[str, list[_FileEvidence]]]:
    """The policy metrics of a result payload, and per metric the files that count against it."""
    existing = set(existing_outputs)
    counts = _RunCounts.of(result)
    processed_files = _entries(result.get("processed_files"))
    reconciled = _counts_reconciled(
        counts, processed_files, _entries(result.get("failed_files")), result.get("skipped_files")
    )
    offenders = _offenders(processed_files, existing)
    semantic = result.get("semantic")
    summary = semantic.get("summary") if isinstance(semantic, Mapping) else None
    files_processed = len(processed_files)

    def covered(metric: str) -> float | None:
        return _ratio(files_processed - len(offenders[metric]), files_processed)

    metrics: dict[str, Any] = {
        "extract.counts_reconciled": reconciled,
        "extract.processed_ratio": _ratio(counts.processed, counts.total) if counts else None,
        "normalize.stage_timing_coverage": covered("normalize.stage_timing_coverage"),
        "normalize.failure_ratio": _ratio(counts.failed, counts.total) if counts else None,
        "chunk.nonzero_chunk_ratio": covered("chunk.nonzero_chunk_ratio"),
        "chunk.stage_present": _stage_present(result, processed_files, "chunk"),
        "semantic.required_status_ok": semantic_status(result) == "completed",
        "semantic.summary_present": bool(summary),
        "output.output_exists_ratio": covered("output.output_exists_ratio"),
        "output.stage_present": _stage_present(result, processed_files, "output"),
        "output.output_dir_exists": bool(existing),
    }
    return metrics, offenders


# --------------------------------------------------------------------------- scoring


def score_check(observed: Any, operator: str, target: Any) -> tuple[bool, float]:
    """``(passed, score 0..100)`` of one observation against one target."""
    if observed is None:
        return False, 0.0
    if operator == "bool_true":
        passed = bool(observed)
        return passed, 100.0 if passed else 0.0
    if operator == "equals":
        passed = observed == target
        return passed, 100.0 if passed else 0.0
    if operator == "in":
        passed = observed in (target or [])
        return passed, 100.0 if passed else 0.0
    try:
        observed_value, target_value = float(observed), float(target)
    except (TypeError, ValueError):
        return False, 0.0
    if operator == "gte":
        passed = observed_value >= target_value
        if target_value <= 0:
            return passed, 100.0 if passed else 0.0
        return passed, round(min(100.0, max(0.0, observed_value / target_value * 100.0)), 4)
    if operator == "lte":
        if observed_value <= target_value:
            return True, 100.0
        penalty = (observed_value - target_value) / max(abs(target_value), 1.0)
        return False, round(max(0.0, 100.0 - penalty * 100.0), 4)
    raise ValueError(f"unknown operator {operator!r}")


def _dedupe_stable(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _verdict(policy: Policy, overall_score: float, critical_failure: bool) -> str:
    if critical_failure:
        return VERDICT_BAD
    if overall_score >= policy.good_min:
        return VERDICT_GOOD
    if overall_score >= policy.watch_min:
        return VERDICT_WATCH
    return VERDICT_BAD


def evaluate(
    result: Mapping[str, Any], *, policy_id: str = "baseline_v1", existing_outputs: Iterable[str]
) -> dict[str, Any]:
    """Score a run's result payload against ``policy_id``.

    ``existing_outputs``: the artifact paths of the run that exist in storage, in the same
    form as the result's ``output_path`` values. Raises ``UnknownPolicy`` for an id that
    ``available_policies()`` does not list.
    """
    policy = load_policy(policy_id)
    metrics, offenders = collect_metrics(result, existing_outputs)
    status = semantic_status(result)

    milestones: list[dict[str, Any]] = []
    failed_critical_checks: list[str] = []
    reason_codes: list[str] = []
    weighted_sum = 0.0
    weight_total = 0.0
    for milestone in policy.milestones:
        if status in milestone.skip_when_semantic_status:
            milestones.append(_skipped_milestone(milestone))
            continue
        outcome, score = _evaluate_milestone(milestone, metrics, offenders)
        milestones.append(outcome)
        failed_critical_checks.extend(c["check_id"] for c in outcome["checks"] if c["critical"] and not c["passed"])
        reason_codes.extend(outcome["reason_codes"])
        weighted_sum += score * milestone.weight
        weight_total += milestone.weight

    overall_score = round(weighted_sum / weight_total, 4) if weight_total else 0.0
    failed_critical_checks = _dedupe_stable(failed_critical_checks)
    return {
        "policy_id": policy.policy_id,
        "policy_version": policy.version,
        "overall_score": overall_score,
        "verdict": _verdict(policy, overall_score, bool(failed_critical_checks)),
        "milestones": milestones,
        "failed_critical_checks": failed_critical_checks,
        "reason_codes": _dedupe_stable(reason_codes),
        "metadata": {
            "semantic_status": status,
            "thresholds": {"good_min": policy.good_min, "watch_min": policy.watch_min},
        },
    }


def _skipped_milestone(milestone: PolicyMilestone) -> dict[str, Any]:
    return {
        "milestone_id": milestone.milestone_id,
        "title": milestone.title,
        "weight": milestone.weight,
        "status": "skipped",
        "score": None,
        "skipped": True,
        "critical_failed": False,
        "checks": [],
        "reason_codes": [],
    }


def _evaluate_milestone(
    milestone: PolicyMilestone, metrics: Mapping[str, Any], offenders: Mapping[str, list[_FileEvidence]]
) -> tuple[dict[str, Any], float]:
    """The milestone's outcome, and its unrounded score (the weighted mean of its checks)."""
    checks = [_evaluate_check(check, metrics, offenders) for check in milestone.checks]
    score = sum(c["score"] * check.weight for c, check in zip(checks, milestone.checks, strict=True)) / sum(
        check.weight for check in milestone.checks
    )
    critical_failed = any(c["critical"] and not c["passed"] for c in checks)
    return {
        "milestone_id": milestone.milestone_id,
        "title": milestone.title,
        "weight": milestone.weight,
        "status": "passed" if all(c["passed"] for c in checks) else "failed",
        "score": round(score, 4),
        "skipped": False,
        "critical_failed": critical_failed,
        "checks": checks,
        "reason_codes": _dedupe_stable(c["reason_code"] for c in checks if not c["passed"]),
    }, score


def _evaluate_check(
    check: PolicyCheck, metrics: Mapping[str, Any], offenders: Mapping[str, list[_FileEvidence]]
) -> dict[str, Any]:
    observed = metrics.get(check.metric)
    passed, score = score_check(observed, check.operator, check.target)
    evidence = [{"artifact_path": None, "field_path": f"metrics.{check.metric}", "value_snapshot": observed}]
    if not passed:
        # Name the files behind a failed ratio, so a reviewer can go straight to them.
        evidence.extend(
            {"artifact_path": item.artifact_path, "field_path": item.field_path, "value_snapshot": item.value}
            for item in offenders.get(check.metric, [])[:MAX_FILE_EVIDENCE]
        )
    return {
        "check_id": check.check_id,
        "metric": check.metric,
        "critical": check.critical,
        "weight": check.weight,
        "operator": check.operator,
        "target": check.target,
        "observed": observed,
        "passed": passed,
        "score": score,
        "reason_code": None if passed else check.reason_code,
        "evidence": evidence,
    }

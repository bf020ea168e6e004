"""Governance evaluation of a finished run against the baseline_v1 policy."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

import data_extract.governance.evaluate as governance
from data_extract.governance.evaluate import UnknownPolicy, available_policies, evaluate, score_check

SUMMARY = {"total_chunks": 12, "vocabulary_size": 80, "n_components": 5, "n_clusters": 2}


def processed_entry(index: int, **overrides: Any) -> dict[str, Any]:
    entry = {
        "path": f"inputs/doc{index}.pdf",
        "output_path": f"outputs/doc{index}.pdf.json",
        "chunk_count": 3,
        "stage_timings_ms": {"extract": 12.5, "normalize": 1.25, "chunk": 2.0, "semantic": 0.0, "output": 3.5},
    }
    entry.update(overrides)
    return entry


def make_result(processed: int, failed: int = 0, skipped: int = 0, semantic: Any = "disabled") -> dict[str, Any]:
    processed_files = [processed_entry(i) for i in range(processed)]
    result: dict[str, Any] = {
        "job_id": "job-1",
        "status": "completed",
        "total_files": processed + failed + skipped,
        "processed_count": processed,
        "failed_count": failed,
        "skipped_count": skipped,
        "processed_files": processed_files,
        "failed_files": [
            {"path": f"inputs/bad{i}.pdf", "error_type": "corrupt", "error_message": "x", "retry_count": 0}
            for i in range(failed)
        ],
        "stage_totals_ms": {
            stage: sum(f["stage_timings_ms"][stage] for f in processed_files)
            for stage in ("extract", "normalize", "chunk", "semantic", "output")
        },
    }
    if semantic == "disabled":
        result["semantic"] = {"status": "disabled", "message": "Semantic stage not requested."}
    elif semantic == "completed":
        result["semantic"] = {"status": "completed", "summary": dict(SUMMARY)}
    else:
        result["semantic"] = semantic
    return result


def outputs_of(result: dict[str, Any]) -> set[str]:
    return {f["output_path"] for f in result["processed_files"]}


def run(result: dict[str, Any], existing: set[str] | None = None) -> dict[str, Any]:
    return evaluate(result, existing_outputs=outputs_of(result) if existing is None else existing)


def milestone(outcome: dict[str, Any], milestone_id: str) -> dict[str, Any]:
    return next(m for m in outcome["milestones"] if m["milestone_id"] == milestone_id)


def check(outcome: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for m in outcome["milestones"] for c in m["checks"] if c["check_id"] == check_id)


# --- the policy as data --------------------------------------------------------------------


def test_given_the_shipped_policies_then_baseline_v1_is_available_with_the_original_rules():
    assert available_policies() == ["baseline_v1"]
    policy = json.loads(
        resources.files("data_extract.governance").joinpath("policies", "baseline_v1.json").read_text("utf-8")
    )

    assert policy["thresholds"] == {"good_min": 85, "watch_min": 70}
    assert [(m["milestone_id"], m["weight"]) for m in policy["milestones"]] == [
        ("extract", 25),
        ("normalize", 20),
        ("chunk", 20),
        ("semantic", 20),
        ("output", 15),
    ]
    rules = [
        (c["check_id"], c["operator"], c["target"], c["critical"], c["reason_code"])
        for m in policy["milestones"]
        for c in m["checks"]
    ]
    assert rules == [
        ("extract_count_reconciled", "equals", True, True, "CRITICAL_EXTRACT_COUNT_MISMATCH"),
        ("extract_processed_ratio", "gte", 0.8, False, "LOW_EXTRACT_PROCESSED_RATIO"),
        ("normalize_stage_coverage", "gte", 1.0, True, "CRITICAL_NORMALIZE_STAGE_INCOMPLETE"),
        ("normalize_failure_ratio", "lte", 0.2, False, "HIGH_NORMALIZE_FAILURE_RATIO"),
        ("chunk_nonzero_ratio", "gte", 1.0, True, "CRITICAL_CHUNK_EMPTY_OUTPUT"),
        ("chunk_stage_present", "bool_true", True, False, "LOW_CHUNK_STAGE_RELIABILITY"),
        ("semantic_stage_completed", "bool_true", True, True, "CRITICAL_SEMANTIC_STAGE_FAILED"),
        ("semantic_summary_present", "bool_true", True, False, "LOW_SEMANTIC_SUMMARY_COMPLETENESS"),
        ("output_exists_ratio", "gte", 1.0, True, "CRITICAL_OUTPUT_ARTIFACT_MISSING"),
        ("output_stage_present", "bool_true", True, False, "LOW_OUTPUT_STAGE_RELIABILITY"),
        ("output_dir_exists", "bool_true", True, False, "LOW_OUTPUT_DIRECTORY_INTEGRITY"),
    ]


@pytest.mark.parametrize("policy_id", ["baseline_v2", "../baseline_v1", "policies/baseline_v1", "", "BASELINE_V1"])
def test_given_an_unknown_policy_id_then_unknown_policy_is_raised(policy_id):
    with pytest.raises(UnknownPolicy, match="baseline_v1"):
        evaluate(make_result(1), policy_id=policy_id, existing_outputs=set())


# --- verdicts ------------------------------------------------------------------------------


def test_given_four_of_five_processed_then_the_run_is_good_at_100_as_the_policy_allows():
    outcome = run(make_result(processed=4, failed=1))

    assert outcome["verdict"] == "good"
    assert outcome["overall_score"] == 100.0
    assert outcome["reason_codes"] == []
    assert outcome["failed_critical_checks"] == []
    assert check(outcome, "extract_processed_ratio")["observed"] == 0.8
    assert check(outcome, "normalize_failure_ratio")["observed"] == 0.2
    assert outcome["policy_id"] == "baseline_v1" and outcome["policy_version"] == "1.0"


def test_given_three_of_five_processed_then_partial_scores_follow_the_gte_and_lte_formulas():
    outcome = run(make_result(processed=3, failed=2))

    assert check(outcome, "extract_processed_ratio")["score"] == 75.0  # 0.6 / 0.8
    assert check(outcome, "normalize_failure_ratio")["score"] == 80.0  # 100 - (0.4 - 0.2) / 1 * 100
    assert milestone(outcome, "extract")["score"] == 87.5
    assert milestone(outcome, "normalize")["score"] == 90.0
    # Semantic disabled: (87.5*25 + 90*20 + 100*20 + 100*15) / 80
    assert outcome["overall_score"] == 93.5938
    assert outcome["verdict"] == "good"
    assert outcome["reason_codes"] == ["LOW_EXTRACT_PROCESSED_RATIO", "HIGH_NORMALIZE_FAILURE_RATIO"]
    assert milestone(outcome, "extract")["status"] == "failed"
    assert milestone(outcome, "extract")["critical_failed"] is False


def test_given_one_of_five_processed_then_the_verdict_is_watch():
    outcome = run(make_result(processed=1, failed=4))

    # extract (100 + 25) / 2, normalize (100 + 40) / 2: (62.5*25 + 70*20 + 100*35) / 80
    assert outcome["overall_score"] == 80.7812
    assert outcome["verdict"] == "watch"


def test_given_one_of_three_processed_then_every_score_is_rounded_to_four_decimals():
    outcome = run(make_result(processed=1, failed=2))

    assert check(outcome, "extract_processed_ratio")["score"] == 41.6667
    assert check(outcome, "normalize_failure_ratio")["score"] == 53.3333
    assert milestone(outcome, "extract")["score"] == 70.8333
    scores = [outcome["overall_score"]] + [m["score"] for m in outcome["milestones"] if m["score"] is not None]
    scores += [c["score"] for m in outcome["milestones"] for c in m["checks"]]
    assert all(round(s, 4) == s for s in scores)


def test_given_all_files_failed_then_the_run_is_bad_with_critical_failures():
    outcome = run(make_result(processed=0, failed=3))

    assert outcome["verdict"] == "bad"
    assert outcome["failed_critical_checks"] == [
        "normalize_stage_coverage",
        "chunk_nonzero_ratio",
        "output_exists_ratio",
    ]
    assert check(outcome, "extract_processed_ratio")["observed"] == 0.0
    assert check(outcome, "normalize_stage_coverage")["observed"] is None
    assert "LOW_OUTPUT_DIRECTORY_INTEGRITY" in outcome["reason_codes"]


def test_given_an_empty_run_then_nothing_divides_by_zero_and_the_verdict_is_bad():
    outcome = run(make_result(processed=0))

    assert outcome["verdict"] == "bad"
    assert check(outcome, "extract_count_reconciled")["passed"] is True
    for ratio_check in ("extract_processed_ratio", "normalize_failure_ratio", "normalize_stage_coverage"):
        assert check(outcome, ratio_check)["observed"] is None
        assert check(outcome, ratio_check)["score"] == 0.0
    # extract scores 50 (reconciled only); every other evaluated milestone scores 0: 50*25/80.
    assert outcome["overall_score"] == 15.625


# --- critical checks -----------------------------------------------------------------------


def test_given_a_missing_output_artifact_then_the_output_check_fails_critically_and_names_it():
    result = make_result(processed=3)
    existing = outputs_of(result) - {"outputs/doc1.pdf.json"}

    outcome = run(result, existing)

    assert outcome["verdict"] == "bad"
    assert outcome["failed_critical_checks"] == ["output_exists_ratio"]
    assert outcome["reason_codes"] == ["CRITICAL_OUTPUT_ARTIFACT_MISSING"]
    failed = check(outcome, "output_exists_ratio")
    assert failed["observed"] == pytest.approx(2 / 3)
    assert failed["score"] == pytest.approx(66.6667)
    assert failed["evidence"][0] == {
        "artifact_path": None,
        "field_path": "metrics.output.output_exists_ratio",
        "value_snapshot": failed["observed"],
    }
    assert failed["evidence"][1:] == [
        {
            "artifact_path": "outputs/doc1.pdf.json",
            "field_path": "processed_files[1].output_path",
            "value_snapshot": "outputs/doc1.pdf.json",
        }
    ]
    assert milestone(outcome, "output")["critical_failed"] is True


def test_given_two_processed_files_sharing_one_output_path_then_the_overwrite_counts_as_missing():
    result = make_result(processed=2)
    result["processed_files"][1]["output_path"] = result["processed_files"][0]["output_path"]

    outcome = run(result)

    assert check(outcome, "output_exists_ratio")["observed"] == 0.0
    assert "CRITICAL_OUTPUT_ARTIFACT_MISSING" in outcome["reason_codes"]


def test_given_no_stored_artifacts_then_the_output_location_check_fails_too():
    outcome = run(make_result(processed=2), existing=set())

    assert check(outcome, "output_dir_exists")["passed"] is False
    assert outcome["reason_codes"] == ["CRITICAL_OUTPUT_ARTIFACT_MISSING", "LOW_OUTPUT_DIRECTORY_INTEGRITY"]


def test_given_counts_that_do_not_add_up_then_the_count_mismatch_is_critical():
    result = make_result(processed=4, failed=1)
    result["total_files"] = 4

    outcome = run(result)

    assert outcome["verdict"] == "bad"
    assert "extract_count_reconciled" in outcome["failed_critical_checks"]
    assert outcome["reason_codes"][0] == "CRITICAL_EXTRACT_COUNT_MISMATCH"


def test_given_a_file_listed_twice_after_a_redelivery_then_the_count_mismatch_is_critical():
    result = make_result(processed=3)
    result["processed_files"].append(dict(result["processed_files"][0]))

    outcome = run(result)

    assert outcome["failed_critical_checks"][0] == "extract_count_reconciled"
    assert outcome["verdict"] == "bad"


def test_given_skipped_files_listed_beside_failed_ones_then_counts_still_reconcile():
    result = make_result(processed=3, failed=1, skipped=1)
    result["failed_files"].append({"path": "inputs/empty.txt", "error_type": "empty"})
    assert check(run(result), "extract_count_reconciled")["passed"] is True

    result["skipped_files"] = [{"path": "inputs/empty.txt", "error_type": "empty"}]
    assert check(run(result), "extract_count_reconciled")["passed"] is False  # listed twice now
    result["failed_files"].pop()
    assert check(run(result), "extract_count_reconciled")["passed"] is True


def test_given_a_file_without_normalize_timing_then_coverage_fails_and_names_the_file():
    result = make_result(processed=2)
    del result["processed_files"][1]["stage_timings_ms"]["normalize"]

    outcome = run(result)

    coverage = check(outcome, "normalize_stage_coverage")
    assert coverage["observed"] == 0.5 and coverage["passed"] is False
    assert coverage["evidence"][1]["field_path"] == "processed_files[1].stage_timings_ms.normalize"
    assert "normalize_stage_coverage" in outcome["failed_critical_checks"]


def test_given_a_stage_that_rounded_to_zero_milliseconds_then_it_still_counts_as_run():
    result = make_result(processed=2)
    for entry in result["processed_files"]:
        entry["stage_timings_ms"].update(normalize=0, chunk=0)
    result["stage_totals_ms"].update(normalize=0, chunk=0)

    outcome = run(result)

    assert check(outcome, "normalize_stage_coverage")["passed"] is True
    assert check(outcome, "chunk_stage_present")["passed"] is True
    assert outcome["verdict"] == "good"


def test_given_a_processed_file_with_no_chunks_then_the_chunk_check_fails_critically():
    result = make_result(processed=2)
    result["processed_files"][0]["chunk_count"] = 0

    outcome = run(result)

    assert check(outcome, "chunk_nonzero_ratio")["observed"] == 0.5
    assert outcome["failed_critical_checks"] == ["chunk_nonzero_ratio"]
    assert outcome["verdict"] == "bad"


# --- the semantic milestone ----------------------------------------------------------------


@pytest.mark.parametrize("semantic", ["disabled", None])
def test_given_semantic_not_requested_then_its_milestone_is_skipped_and_weights_renormalize(semantic):
    outcome = run(make_result(processed=3, failed=2, semantic=semantic))

    skipped = milestone(outcome, "semantic")
    assert skipped["status"] == "skipped" and skipped["skipped"] is True
    assert skipped["score"] is None and skipped["checks"] == []
    assert outcome["metadata"] == {"semantic_status": "disabled", "thresholds": {"good_min": 85, "watch_min": 70}}
    # Same run with the semantic stage completed: its 100 now weighs 20 out of 100.
    with_semantic = run(make_result(processed=3, failed=2, semantic="completed"))
    assert outcome["overall_score"] == 93.5938  # (87.5*25 + 90*20 + 100*35) / 80
    assert with_semantic["overall_score"] == 94.875  # (87.5*25 + 90*20 + 100*55) / 100
    assert milestone(with_semantic, "semantic")["score"] == 100.0


def test_given_semantic_failed_then_the_critical_semantic_check_fails():
    semantic = {"status": "failed", "message": "boom", "summary": None}

    outcome = run(make_result(processed=2, semantic=semantic))

    assert outcome["verdict"] == "bad"
    assert outcome["failed_critical_checks"] == ["semantic_stage_completed"]
    assert outcome["reason_codes"] == ["CRITICAL_SEMANTIC_STAGE_FAILED", "LOW_SEMANTIC_SUMMARY_COMPLETENESS"]
    assert outcome["metadata"]["semantic_status"] == "failed"


def test_given_semantic_requested_but_skipped_then_it_is_evaluated_and_fails():
    semantic = {"status": "skipped", "reason_code": "no_chunks", "message": "No semantic-ready chunks found."}

    outcome = run(make_result(processed=2, semantic=semantic))

    assert milestone(outcome, "semantic")["skipped"] is False
    assert "semantic_stage_completed" in outcome["failed_critical_checks"]


def test_given_semantic_completed_without_summary_then_only_the_soft_check_fails():
    outcome = run(make_result(processed=2, semantic={"status": "completed", "summary": {}}))

    assert outcome["failed_critical_checks"] == []
    assert outcome["reason_codes"] == ["LOW_SEMANTIC_SUMMARY_COMPLETENESS"]
    assert milestone(outcome, "semantic")["score"] == 50.0
    assert outcome["overall_score"] == 90.0  # (100*80 + 50*20) / 100
    assert outcome["verdict"] == "good"


# --- output shape and reason codes ---------------------------------------------------------


def test_given_any_evaluation_then_checks_carry_the_full_outcome_shape():
    outcome = run(make_result(processed=2, failed=1, semantic="completed"))

    assert set(outcome) == {
        "policy_id",
        "policy_version",
        "overall_score",
        "verdict",
        "milestones",
        "failed_critical_checks",
        "reason_codes",
        "metadata",
    }
    for item in outcome["milestones"]:
        assert set(item) == {
            "milestone_id",
            "title",
            "weight",
            "status",
            "score",
            "skipped",
            "critical_failed",
            "checks",
            "reason_codes",
        }
        for entry in item["checks"]:
            assert set(entry) == {
                "check_id",
                "metric",
                "critical",
                "weight",
                "operator",
                "target",
                "observed",
                "passed",
                "score",
                "reason_code",
                "evidence",
            }
            assert (entry["reason_code"] is None) == entry["passed"]
    json.dumps(outcome)  # storable as-is in result.json


def test_given_checks_sharing_reason_codes_then_codes_are_deduped_in_stable_order(monkeypatch):
    def shared(check_id: str, metric: str, reason: str, critical: bool = False) -> governance.PolicyCheck:
        return governance.PolicyCheck(check_id, metric, "bool_true", True, critical, 1, reason)

    policy = governance.Policy(
        policy_id="baseline_v1",
        version="test",
        good_min=85,
        watch_min=70,
        milestones=(
            governance.PolicyMilestone(
                "first",
                "First",
                1,
                (
                    shared("a", "chunk.stage_present", "CODE_B"),
                    shared("b", "output.stage_present", "CODE_A", critical=True),
                    shared("c", "output.output_dir_exists", "CODE_B"),
                ),
                frozenset(),
            ),
            governance.PolicyMilestone(
                "second",
                "Second",
                1,
                (shared("d", "semantic.summary_present", "CODE_A", critical=True),),
                frozenset(),
            ),
        ),
    )
    monkeypatch.setattr(governance, "load_policy", lambda policy_id: policy)

    outcome = evaluate(make_result(processed=0), existing_outputs=set())

    assert milestone(outcome, "first")["reason_codes"] == ["CODE_B", "CODE_A"]
    assert outcome["reason_codes"] == ["CODE_B", "CODE_A"]
    assert outcome["failed_critical_checks"] == ["b", "d"]


# --- scoring rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "operator", "target", "expected"),
    [
        (None, "gte", 0.8, (False, 0.0)),
        (True, "bool_true", True, (True, 100.0)),
        (False, "bool_true", True, (False, 0.0)),
        (True, "equals", True, (True, 100.0)),
        (False, "equals", True, (False, 0.0)),
        ("completed", "in", ["completed", "skipped"], (True, 100.0)),
        ("failed", "in", ["completed", "skipped"], (False, 0.0)),
        (0.4, "gte", 0.8, (False, 50.0)),
        (1.2, "gte", 0.8, (True, 100.0)),
        (0.0, "gte", 0.0, (True, 100.0)),
        (-1.0, "gte", 0.0, (False, 0.0)),
        (0.1, "lte", 0.2, (True, 100.0)),
        (0.5, "lte", 0.2, (False, 70.0)),
        (5.0, "lte", 2.0, (False, 0.0)),  # (5 - 2) / 2 * 100 = 150 -> floored at 0
        (3.0, "lte", 2.0, (False, 50.0)),
        ("n/a", "gte", 0.8, (False, 0.0)),
    ],
)
def test_given_an_observation_then_it_scores_by_the_original_formulas(observed, operator, target, expected):
    passed, score = score_check(observed, operator, target)

    assert (passed, pytest.approx(score)) == expected

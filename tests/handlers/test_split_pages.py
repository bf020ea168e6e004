"""Big PDFs across workers, in-process with moto: the split decision, its idempotence on redelivery, the merge in
page order (equal to the unsplit result of the same file), and a failing page range."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.jobs import job, submit_upload
from tests.support.long_pdf import text_pdf

PDF_PAGES = 11


@pytest.fixture
def split_at(monkeypatch: pytest.MonkeyPatch, aws: dict[str, str]):
    """Set the pages per unit of text PDFs (the settings object is read again)."""
    from data_extract.settings import get_settings

    def apply(pages: int) -> None:
        monkeypatch.setenv("DATA_EXTRACT_SPLIT_TEXT_PAGES_PER_UNIT", str(pages))
        get_settings.cache_clear()

    return apply


def _outputs(store: Any, detail: dict[str, Any]) -> dict[str, Any]:
    entry = detail["result_payload"]["processed_files"][0]
    return json.loads(store.objects.get_bytes(entry["output_path"]))


def _chunks(output: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Each chunk's id, index, text and metadata (the two jobs differ only in when they ran)."""
    return [
        (c["chunk_id"], c["position_index"], c["text"], {**c["metadata"], "processing_timestamp": None})
        for c in output["chunks"]
    ]


def _untimed(output: dict[str, Any]) -> Any:
    stamp = output["chunks"][0]["metadata"]["processing_timestamp"]
    return json.loads(json.dumps(output).replace(stamp, "<when>"))


def _submit(client: Any, data: bytes, name: str = "long.pdf", **fields: Any) -> str:
    files = [("files", (name, data, "application/pdf"))]
    return str(submit_upload(client, files=files, chunk_size=64, **fields)["job_id"])


@pytest.mark.parametrize("client", ["asgi"], indirect=True)
def test_a_split_pdf_merges_to_the_result_of_one_worker(client, pump, store, split_at):
    data = text_pdf(PDF_PAGES, table_across=4)
    split_at(1000)
    whole = _submit(client, data)
    pump.run()
    split_at(4)
    split = _submit(client, data)
    pump.run()

    whole_detail, split_detail = job(client, whole), job(client, split)
    assert whole_detail["status"] == split_detail["status"] == "completed"
    events = [e for e in split_detail["events"] if e["event_type"] == "split"]
    assert len(events) == 1 and events[0]["payload"]["ranges"] == 3
    assert not [e for e in whole_detail["events"] if e["event_type"] == "split"]

    whole_out, split_out = _outputs(store, whole_detail), _outputs(store, split_detail)
    assert len(_chunks(split_out)) > PDF_PAGES  # chunks run across page and range boundaries
    assert _chunks(split_out) == _chunks(whole_out)
    # The table on pages 4-5 runs across the boundary of the first two ranges: the merge still links its halves.
    assert [t["continued_from"] for t in split_out["tables"]] == [None, "t1"]
    # Everything else of the per-file output too (document metadata, tables, warnings), but when it ran.
    assert _untimed(split_out) == _untimed(whole_out)
    pages = [p for c in split_out["chunks"] for p in c["metadata"]["pages"]]
    assert sorted(set(pages)) == list(range(1, PDF_PAGES + 1)) and pages == sorted(pages)
    for key in ("processed_count", "failed_count", "skipped_count", "total_files"):
        assert split_detail["result_payload"][key] == whole_detail["result_payload"][key]
    w_entry, s_entry = (d["result_payload"]["processed_files"][0] for d in (whole_detail, split_detail))
    assert s_entry["chunk_count"] == w_entry["chunk_count"] == len(whole_out["chunks"])
    assert [f["status"] for f in split_detail["files"]] == ["processed"]


def _units_of_run(store: Any, job_id: str, unit_id: str) -> list[dict[str, Any]]:
    return store.table.list_unit_ranges(job_id, unit_id)


@pytest.mark.parametrize("client", ["asgi"], indirect=True)
def test_a_redelivered_message_of_a_split_unit_never_splits_it_twice(client, pump, store, split_at):
    from data_extract.jobs.units import UnitMessage, process_unit
    from data_extract.settings import get_settings

    split_at(4)
    job_id = _submit(client, text_pdf(PDF_PAGES))
    unit_id = job(client, job_id)["files"][0]["file_id"]
    msg = UnitMessage(job_id, unit_id, 1)
    first = process_unit(store, get_settings(), msg)
    again = process_unit(store, get_settings(), msg)
    assert (first.status, first.page_count, again.status) == ("split", PDF_PAGES, "duplicate")
    ranges = _units_of_run(store, job_id, unit_id)
    assert [(r["first_page"], r["last_page"], r["status"]) for r in ranges] == [
        (1, 4, "queued"),
        (5, 8, "queued"),
        (9, 11, "queued"),
    ]
    # The ranges stand for the file in the run's count: raised once, by the split's own transaction.
    assert store.table.get_run(job_id, 1)["total_units"] == 3
    pump.run()
    detail = job(client, job_id)
    assert detail["status"] == "completed"
    assert [e["event_type"] for e in detail["events"]].count("split") == 1
    assert [e["event_type"] for e in detail["events"]].count("file") == 1
    assert [r["status"] for r in _units_of_run(store, job_id, unit_id)] == ["processed"] * 3
    entry = detail["result_payload"]["processed_files"][0]
    assert entry["chunk_count"] > 0 and len(entry["output_files"]) == 1


@pytest.mark.parametrize("client", ["asgi"], indirect=True)
def test_a_failing_range_fails_its_file_only_and_a_retry_splits_it_again(client, pump, store, split_at, monkeypatch):
    from data_extract.pipeline import run
    from data_extract.pipeline.run import FileResult

    split_at(4)
    real = run.extract_range

    def middle_range_times_out(data: bytes, **kwargs: Any) -> Any:
        if kwargs["options"].page_range == (5, 8):
            failed = FileResult("failed", "", error_type="timeout", error_message="Extraction exceeded 120 s.")
            return failed, None, None
        return real(data, **kwargs)

    monkeypatch.setattr(run, "extract_range", middle_range_times_out)
    files = [
        ("files", ("long.pdf", text_pdf(PDF_PAGES), "application/pdf")),
        ("files", ("short.txt", b"A short note that is processed on its own.", "text/plain")),
    ]
    job_id = str(submit_upload(client, files=files)["job_id"])
    pump.run()
    detail = job(client, job_id)
    assert detail["status"] == "partial"
    result = detail["result_payload"]
    assert [f["path"] for f in result["processed_files"]] == ["short.txt"]
    (failed,) = result["failed_files"]
    assert (failed["path"], failed["error_type"]) == ("long.pdf", "timeout")
    assert failed["error_message"] == "Pages 5-8: Extraction exceeded 120 s."
    outputs = [key for key in _keys(store, job_id) if key.startswith(f"jobs/{job_id}/outputs/")]
    assert [key.rsplit("/", 1)[-1].split(".")[0] for key in outputs] == ["short"]

    monkeypatch.setattr(run, "extract_range", real)
    assert client.post(f"/api/v1/jobs/{job_id}/retry-failures").status_code == 202
    pump.run()
    detail = job(client, job_id)
    assert detail["status"] == "completed"
    assert [e["event_type"] for e in detail["events"]].count("split") == 2
    unit_id = next(f["file_id"] for f in detail["files"] if f["source_path"] == "long.pdf")
    assert {(r["run"], r["status"]) for r in _units_of_run(store, job_id, unit_id)} == {(2, "processed")}


def _keys(store: Any, job_id: str) -> list[str]:
    return [o.key for o in store.objects.list(f"jobs/{job_id}/")]


@pytest.mark.parametrize("client", ["asgi"], indirect=True)
def test_a_range_that_reaches_the_dead_letter_queue_fails_its_file(client, store, split_at):
    from data_extract.jobs.finalize import FinalizeMessage, finalize_run
    from data_extract.jobs.units import UnitMessage, fail_unit_from_dead_letter, process_unit
    from data_extract.settings import get_settings

    split_at(4)
    job_id = _submit(client, text_pdf(PDF_PAGES))
    unit_id = job(client, job_id)["files"][0]["file_id"]
    assert process_unit(store, get_settings(), UnitMessage(job_id, unit_id, 1)).status == "split"
    # The file's own message dead-lettered after the split counts nothing: its ranges do.
    assert not fail_unit_from_dead_letter(store, UnitMessage(job_id, unit_id, 1), 6)
    for first in (1, 5):
        assert process_unit(store, get_settings(), UnitMessage(job_id, unit_id, 1, first)).status == "range"
    assert fail_unit_from_dead_letter(store, UnitMessage(job_id, unit_id, 1, 9), 6)
    assert not fail_unit_from_dead_letter(store, UnitMessage(job_id, unit_id, 1, 9), 6)
    assert finalize_run(store, FinalizeMessage(job_id, 1)) == "finalized"
    (failed,) = job(client, job_id)["result_payload"]["failed_files"]
    assert failed["error_type"] == "delivery_exhausted" and failed["error_message"].startswith("Pages 9-11: ")


@pytest.mark.parametrize("client", ["asgi"], indirect=True)
def test_a_cancel_between_ranges_skips_the_split_file(client, pump, store, split_at):
    from data_extract.jobs.units import UnitMessage, process_unit
    from data_extract.settings import get_settings

    split_at(4)
    job_id = _submit(client, text_pdf(PDF_PAGES))
    unit_id = job(client, job_id)["files"][0]["file_id"]
    assert process_unit(store, get_settings(), UnitMessage(job_id, unit_id, 1)).status == "split"
    assert process_unit(store, get_settings(), UnitMessage(job_id, unit_id, 1, 1)).status == "range"
    assert client.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 202
    pump.run()
    detail = job(client, job_id)
    assert detail["status"] == "cancelled"
    (skipped,) = detail["result_payload"]["skipped_files"]
    assert skipped["error_type"] == "cancelled" and skipped["error_message"].startswith("Pages 5-8: ")
    assert [r["status"] for r in _units_of_run(store, job_id, unit_id)] == ["processed", "skipped", "skipped"]


def _event(template: str, body: dict[str, Any]) -> dict[str, Any]:
    import copy

    from tests.support.apigw import load_event

    event = copy.deepcopy(load_event(template))
    event["Records"][0]["body"] = json.dumps(body)
    return event


@pytest.mark.parametrize("client", ["asgi"], indirect=True)
def test_the_worker_handler_takes_page_range_records_and_an_abandoned_run_fails_its_unmerged_file(
    client, store, split_at
):
    from data_extract.handlers import worker
    from data_extract.jobs.finalize import FinalizeMessage, abandon_run
    from tests.support.lambda_context import LambdaContext

    split_at(4)
    job_id = _submit(client, text_pdf(PDF_PAGES))
    unit_id = job(client, job_id)["files"][0]["file_id"]
    body = {"job_id": job_id, "unit_id": unit_id, "run": 1}
    assert worker.lambda_handler(_event("sqs_work_unit.json", body), LambdaContext()) == {"batchItemFailures": []}
    for first in (1, 5, 9):
        event = _event("sqs_work_page_range.json", {**body, "first_page": first})
        assert worker.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert [r["status"] for r in _units_of_run(store, job_id, unit_id)] == ["processed"] * 3
    assert store.table.get_run(job_id, 1)["finalize_state"] == "claimed"
    # Finalize never manages the merge: the run is abandoned, and the file counts as failed in it.
    assert abandon_run(store, FinalizeMessage(job_id, 1), 6) == "abandoned"
    detail = job(client, job_id)
    assert detail["status"] == "failed"
    assert [(f["status"], f["error_type"]) for f in detail["files"]] == [("failed", "internal_error")]


@pytest.mark.parametrize("client", ["asgi"], indirect=True)
def test_a_range_running_past_its_lease_is_failed_by_the_sweeper_and_the_split_file_itself_is_left_to_finalize(
    client, pump, store, split_at
):
    from datetime import timedelta

    from data_extract.contract import utc_now
    from data_extract.jobs.sweep import sweep
    from data_extract.jobs.units import UnitMessage, process_unit
    from data_extract.settings import get_settings

    split_at(4)
    job_id = _submit(client, text_pdf(PDF_PAGES))
    unit_id = job(client, job_id)["files"][0]["file_id"]
    assert process_unit(store, get_settings(), UnitMessage(job_id, unit_id, 1)).status == "split"
    for first in (1, 5):
        assert process_unit(store, get_settings(), UnitMessage(job_id, unit_id, 1, first)).status == "range"
    # Pages 9-11: a worker took the range long ago and vanished with it.
    assert store.table.claim_range(job_id, unit_id, 9, 1, "2026-01-01T00:00:00.000Z")

    # Past the lease of the split file too: it is running (until finalize merges it) but its ranges hold the leases.
    later = utc_now() + timedelta(seconds=get_settings().unit_lease_seconds + 400)
    assert sweep(store, get_settings(), now=later) == {"lease_expired": 1, "finalize_handed_over": 1}
    pump.run()

    detail = job(client, job_id)
    assert detail["status"] == "failed"
    (failed,) = detail["result_payload"]["failed_files"]
    assert failed["error_type"] == "lease_expired" and failed["error_message"].startswith("Pages 9-11: ")
    assert store.table.get_run(job_id, 1)["done_units"] == 3  # the three ranges, each counted once

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
    return [(c["chunk_id"], c["position_index"], c["text"], c["metadata"].get("pages")) for c in output["chunks"]]


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
    pages = [p for c in split_out["chunks"] for p in c["metadata"]["pages"]]
    assert sorted(set(pages)) == list(range(1, PDF_PAGES + 1)) and pages == sorted(pages)
    for key in ("processed_count", "failed_count", "skipped_count", "total_files"):
        assert split_detail["result_payload"][key] == whole_detail["result_payload"][key]
    w_entry, s_entry = (d["result_payload"]["processed_files"][0] for d in (whole_detail, split_detail))
    assert s_entry["chunk_count"] == w_entry["chunk_count"] == len(whole_out["chunks"])
    assert [f["status"] for f in split_detail["files"]] == ["processed"]

"""Big PDFs on the local stack: a generated multi-range text PDF and a scan, split by the worker into page-range
units, read by two worker processes and merged by finalize; the merged result is the unsplit one."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import httpx
import pytest

from data_extract.contract import DEFAULT_DELIMITER
from data_extract.pipeline import ocr
from data_extract.pipeline.output import OutputOptions
from data_extract.pipeline.run import PipelineLimits, process_file
from data_extract.pipeline.types import ExtractOptions
from tests.support.local_stack import free_port, running_stack, stack_environment
from tests.support.long_pdf import scanned_pdf, text_pdf

pytestmark = pytest.mark.integration

TEXT_PAGES, TEXT_PER_UNIT = 120, 25  # 5 ranges
SCAN_PAGES, SCAN_PER_UNIT = 6, 2  # 3 ranges, read with OCR


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    port = free_port()
    env = stack_environment(
        PORT=str(port),
        DATA_EXTRACT_SPLIT_TEXT_PAGES_PER_UNIT=str(TEXT_PER_UNIT),
        DATA_EXTRACT_SPLIT_OCR_PAGES_PER_UNIT=str(SCAN_PER_UNIT),
    )
    with running_stack(
        [sys.executable, "-m", "infra.local.stack", "--worker-loops", "2"],
        port=port,
        env=env,
        log_path=tmp_path_factory.mktemp("stack") / "stack.log",
    ) as (base, _):
        yield f"{base}/api/v1"


def _finished(http: httpx.Client, api: str, job_id: str, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    detail: dict[str, Any] = {}
    while time.monotonic() < deadline:
        detail = http.get(f"{api}/jobs/{job_id}").json()
        if detail["status"] in ("completed", "partial", "failed", "cancelled"):
            return detail
        time.sleep(0.5)
    raise AssertionError(json.dumps(detail, indent=1)[:3000])


def _output(http: httpx.Client, api: str, job_id: str, name: str) -> dict[str, Any]:
    resp = http.get(f"{api}/jobs/{job_id}/artifacts/outputs/{name}.json")
    assert resp.status_code == 200, resp.text
    output: dict[str, Any] = resp.json()
    return output


def _unsplit(data: bytes, name: str) -> dict[str, Any]:
    """The same file through the whole-file pipeline, as one worker reads it."""
    result = process_file(
        data,
        source_path=name,
        options=OutputOptions(output_format="json", chunk_size=256, overlap=32, delimiter=DEFAULT_DELIMITER),
        extract_options=ExtractOptions(ocr=True, max_pages=10_000),
        limits=PipelineLimits(1 << 30, 600.0, 2048),
        processing_timestamp="unsplit",
    )
    assert result.status == "processed", result.error_message
    return json.loads(result.outputs[0].data)


def _chunks(output: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(c["chunk_id"], c["position_index"], c["text"], c["metadata"]["pages"]) for c in output["chunks"]]


def test_a_multi_range_text_pdf_merges_to_the_unsplit_result(stack):
    data = text_pdf(TEXT_PAGES, table_across=TEXT_PER_UNIT)
    with httpx.Client(timeout=60) as http:
        resp = http.post(
            f"{stack}/jobs/process",
            files=[("files", ("long.pdf", data, "application/pdf"))],
            data={"chunk_size": "256", "chunk_overlap": "32"},
        )
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["job_id"]
        detail = _finished(http, stack, job_id, 300)
        assert detail["status"] == "completed", json.dumps(detail, indent=1)[:3000]
        (split,) = [e for e in detail["events"] if e["event_type"] == "split"]
        assert split["payload"]["ranges"] == -(-TEXT_PAGES // TEXT_PER_UNIT)
        merged = _output(http, stack, job_id, "long.pdf")
    whole = _unsplit(data, "long.pdf")
    assert _chunks(merged) == _chunks(whole)
    assert merged["tables"][1]["continued_from"] == "t1"  # the table across the first range boundary
    entry = detail["result_payload"]["processed_files"][0]
    assert entry["chunk_count"] == len(whole["chunks"]) and detail["result_payload"]["processed_count"] == 1


@pytest.mark.skipif(not ocr.tesseract_available(), reason="Tesseract is not installed")
def test_a_scan_is_read_with_ocr_range_by_range_in_page_order(stack):
    data = scanned_pdf(SCAN_PAGES)
    with httpx.Client(timeout=60) as http:
        resp = http.post(f"{stack}/jobs/process", files=[("files", ("scan.pdf", data, "application/pdf"))])
        assert resp.status_code == 202, resp.text
        detail = _finished(http, stack, resp.json()["job_id"], 300)
        assert detail["status"] == "completed", json.dumps(detail, indent=1)[:3000]
        (split,) = [e for e in detail["events"] if e["event_type"] == "split"]
        assert split["payload"]["ranges"] == -(-SCAN_PAGES // SCAN_PER_UNIT)
        merged = _output(http, stack, detail["job_id"], "scan.pdf")
    text = " ".join(c["text"] for c in merged["chunks"]).lower()  # OCR may read a capital as small
    positions = [text.find(f"scanned page {n}") for n in range(1, SCAN_PAGES + 1)]
    assert -1 not in positions and positions == sorted(positions), text[:2000]
    assert {kind for c in merged["chunks"] for kind in c["metadata"]["block_kinds"]} == {"ocr"}
    pages = [page for c in merged["chunks"] for page in c["metadata"]["pages"]]
    assert pages == sorted(pages) and set(pages) == set(range(1, SCAN_PAGES + 1))

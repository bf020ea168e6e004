"""The semantic stage as a user runs it: the local stack over HTTP, corpus files of four formats with one file
uploaded twice, and the HTML report rendered by headless Chromium.

The screenshot is kept at ``.test-artifacts/semantic_report.png`` (or under ``DATA_EXTRACT_TEST_ARTIFACTS``) for a
person to look at; the test checks that the page rendered (a PNG of the full report, not a blank page) and that
the report names the twin files in one duplicate group.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.test_local_stack import stack  # noqa: F401 - the module-scoped local stack fixture
from tests.support.chromium import chromium_path, screenshot

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = chromium_path()
pytestmark = [pytest.mark.integration, pytest.mark.corpus]

SOURCES = {
    "memo.pdf": "pdf/fake-memo.pdf",
    "papers/layout-parser.pdf": "pdf/layout-parser-paper-fast.pdf",
    "emphasized.docx": "docx/fake-doc-emphasized-text.docx",
    "page-breaks.docx": "docx/page-breaks.docx",
    "deck.pptx": "pptx/fake-power-point.pptx",
    "wiki.md": "text/wiki.md",
    "norwich-city.txt": "text/norwich-city.txt",
    "copies/norwich-city (copy).txt": "text/norwich-city.txt",  # the same file under another name
}


def artifacts_dir() -> Path:
    path = Path(os.environ.get("DATA_EXTRACT_TEST_ARTIFACTS") or REPO / ".test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _wait(http: httpx.Client, api: str, job_id: str, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    detail: dict = {}
    while time.monotonic() < deadline:
        detail = http.get(f"{api}/jobs/{job_id}").json()
        if detail["status"] in ("completed", "partial", "failed"):
            return detail
        time.sleep(1)
    pytest.fail(f"job still {detail.get('status')} after {seconds} s: {json.dumps(detail)[:2000]}")


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (apt-get install chromium): the HTML "
    "report cannot be rendered; the rest of the stage is tested in-process",
)
def test_semantic_job_over_http_renders_its_html_report_in_chromium(stack, corpus):  # noqa: F811 - stack is the imported fixture
    base, _ = stack
    api = f"{base}/api/v1"
    files = [
        ("files", (name, (corpus / rel).read_bytes(), "application/octet-stream")) for name, rel in SOURCES.items()
    ]
    with httpx.Client(timeout=60) as http:
        resp = http.post(
            f"{api}/jobs/process",
            files=files,
            data={"include_semantic": "true", "semantic_report_format": "html", "semantic_export_graph": "true"},
        )
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["job_id"]
        detail = _wait(http, api, job_id, 600)

        assert detail["status"] == "completed", json.dumps(detail["files"], indent=1)
        semantic = detail["result_payload"]["semantic"]
        assert semantic["status"] == "completed", semantic
        summary = http.get(f"{api}/jobs/{job_id}/artifacts/semantic/semantic_summary.json").json()
        assert summary["topics"] and summary["clusters"]["details"]
        for name in SOURCES:
            output = http.get(f"{api}/jobs/{job_id}/artifacts/outputs/{name}.json").json()
            assert output["chunks"] and all("quality_score" in c and "quality_flag" in c for c in output["chunks"])
        twin_ids = [
            http.get(f"{api}/jobs/{job_id}/artifacts/outputs/{name}.json").json()["chunks"]
            for name in ("norwich-city.txt", "copies/norwich-city (copy).txt")
        ]
        groups = [set(g) for g in summary["similarity"]["duplicate_groups"]]
        for original, copy_ in zip(*twin_ids, strict=True):
            assert any({original["id"], copy_["id"]} <= g for g in groups)
        graph = http.get(f"{api}/jobs/{job_id}/artifacts/semantic/similarity_graph.json").json()
        assert graph["edges"]

        report = http.get(f"{api}/jobs/{job_id}/artifacts/semantic/semantic_report.html")
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    page = report.text
    assert "copies/norwich-city (copy).txt" in page and "norwich-city.txt" in page and "<svg" in page

    out = artifacts_dir()
    html_path = out / "semantic_report.html"
    png_path = out / "semantic_report.png"
    html_path.write_text(page, encoding="utf-8")
    png_path.unlink(missing_ok=True)
    screenshot(html_path, png_path)

    from PIL import Image

    with Image.open(png_path) as image:
        # The whole page, not just the first screenful: the report is longer than one viewport.
        assert image.size[0] == 1280 and image.size[1] > 900, image.size
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50, "the screenshot is blank"
    print(f"\nsemantic report screenshot: {png_path}")

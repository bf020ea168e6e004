"""The operator page as an operator uses it, in headless Chromium against the local stack.

Sign in, upload a folder of three corpus files (one encrypted, so it fails), watch the job end, see the failure
with its error type and message, retry it, download an artifact, clean up, look at sessions and presets, sign
out. Each step leaves a screenshot (see conftest.py).
"""

from __future__ import annotations

import json
import re
import shutil

import httpx
import pytest

from tests.browser.conftest import API_KEY

pytestmark = pytest.mark.browser

SAMPLE = {  # corpus path -> what the job makes of it
    "text/fake-text.txt": "processed",
    "csv/csv-comma-in-cell.csv": "processed",
    "xlsx/password_protected.xlsx": "failed",
}
FOLDER = "corpus-sample"
JOB_TIMEOUT_MS = 180_000


@pytest.fixture
def sample_folder(corpus, tmp_path):
    """The three corpus files in one folder (a temporary copy, outside the project), as an operator would pick."""
    folder = tmp_path / FOLDER
    folder.mkdir()
    for rel in SAMPLE:
        shutil.copyfile(corpus / rel, folder / rel.split("/")[-1])
    return folder


def _row(page, file_name):
    return page.locator("#files-table tbody tr", has_text=file_name)


def _wait_for_job_status(page, statuses):
    pattern = "|".join(statuses)
    page.locator("#job-status .badge").filter(has_text=re.compile(f"^({pattern})$")).wait_for(timeout=JOB_TIMEOUT_MS)


def test_operator_signs_in_uploads_retries_downloads_and_cleans_up(stack, page, shot, sample_folder, tmp_path):
    page.goto(stack + "/")
    sign_in = page.locator("#sign-in")
    sign_in.wait_for()
    assert page.locator("#app").is_hidden()
    shot("sign-in")

    # A wrong key is refused with a message, and no session cookie is set.
    page.fill("#api-key", "not-the-key")
    page.click("#sign-in-button")
    page.locator("#sign-in-error", has_text="not accepted").wait_for()
    assert not [c for c in page.context.cookies() if c["name"] == "data_extract_session"]
    shot("wrong-key-refused")

    page.fill("#api-key", API_KEY)
    page.click("#sign-in-button")
    page.locator("#app").wait_for()
    cookie = next(c for c in page.context.cookies() if c["name"] == "data_extract_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.locator("#health", has_text=re.compile(r"^(ok|degraded)")).wait_for()
    shot("signed-in")

    # A whole folder, picked with the folder picker: relative paths are kept.
    page.set_input_files("#folder-input", str(sample_folder))
    page.locator("#selection-summary", has_text="3 file(s)").wait_for()
    listed = page.locator("#selected-files .path").all_inner_texts()
    assert listed == sorted(f"{FOLDER}/{rel.split('/')[-1]}" for rel in SAMPLE)
    page.select_option("#output-format", "json")
    shot("folder-selected")

    page.click("#submit-job")
    message = page.locator("#submit-message", has_text=re.compile(r"^Job \S+ queued\.$"))
    message.wait_for()
    job_id = message.inner_text().split()[1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", job_id)
    page.locator("#job-title", has_text=job_id).wait_for()
    page.locator("#jobs-table tbody tr", has_text=job_id).wait_for()
    shot("submitted")

    # Live progress until the job ends: two processed, the encrypted workbook failed.
    _wait_for_job_status(page, ["partial"])
    assert page.locator("#job-counts").inner_text().startswith("2 processed")
    failed = _row(page, "password_protected.xlsx")
    assert failed.locator(".badge").inner_text() == "failed"
    assert failed.locator(".error-type").inner_text() == "encrypted"
    assert failed.locator(".error-message").inner_text().strip()
    for rel, status in SAMPLE.items():
        assert _row(page, rel.split("/")[-1]).locator(".badge").inner_text() == status
    page.locator("#artifacts a", has_text="result.json").wait_for()
    shot("failure-shown")

    # Retry: only the failed file runs again (still encrypted), its retry count goes up, the job ends again.
    page.click("#retry-job")
    page.locator("#job-message", has_text="requeued").wait_for()
    _wait_for_job_status(page, ["partial"])
    page.locator("#files-table tbody tr", has_text="password_protected.xlsx").locator("td.num").nth(1) \
        .filter(has_text=re.compile("^1$")).wait_for()
    assert _row(page, "fake-text.txt").locator("td.num").nth(1).inner_text() == "0"
    shot("retried")

    # Download an artifact through its link, as a person clicks it.
    artifact = f"outputs/{FOLDER}/fake-text.txt.json"
    link = page.locator("#artifacts a", has_text=artifact)
    link.wait_for()
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    saved = tmp_path / "downloaded.json"
    download.save_as(saved)
    assert download.suggested_filename == "fake-text.txt.json"
    assert "Hamburgers are delicious" in json.dumps(json.loads(saved.read_text()))
    shot("artifact-downloaded")

    # Sessions: one per run (the first and the retry).
    page.click("#tab-sessions")
    rows = page.locator("#sessions-table tbody tr", has_text=job_id)
    rows.nth(1).wait_for()
    assert rows.count() == 2
    rows.first.click()
    page.locator("#session-detail").wait_for()
    shot("sessions")

    # Presets: listed, previewed.
    page.click("#tab-presets")
    page.locator("#presets-table tbody tr[data-preset='rag-optimized']").get_by_role("button", name="Preview").click()
    page.locator("#preset-preview-title", has_text="rag-optimized").wait_for()
    assert json.loads(page.locator("#preset-config").inner_text())
    shot("presets")

    # Clean up: the first click asks, the second deletes; the job then lists no artifacts.
    page.click("#tab-jobs")
    page.locator("#jobs-table tbody tr", has_text=job_id).click()
    page.locator("#cleanup-job").click()
    page.locator("#cleanup-job", has_text="Click again").wait_for()
    page.locator("#cleanup-job").click()
    page.locator("#job-message", has_text=re.compile(r"^Removed \d+ artifact")).wait_for()
    page.locator("#artifacts-empty", has_text="No artifacts.").wait_for()
    assert page.locator("#cleanup-job").is_hidden()
    shot("cleaned-up")

    # Sign out: the page asks for the key again and the old cookie opens nothing.
    stale_cookie = next(c for c in page.context.cookies() if c["name"] == "data_extract_session")["value"]
    page.click("#sign-out")
    page.locator("#sign-in").wait_for()
    shot("signed-out")
    assert httpx.get(f"{stack}/api/v1/jobs", cookies={"data_extract_session": stale_cookie}).status_code == 401
    assert page.js_errors == []

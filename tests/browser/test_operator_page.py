"""The operator page as an operator uses it, in headless Chromium against the local stack.

Sign in, upload a folder of three corpus files (one encrypted, so it fails), watch the job end, see the failure
with its error type and message, retry it, download an artifact, clean up, look at sessions and presets, sign
out. Each step leaves a screenshot (see conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.browser.conftest import API_KEY

# Assertions that retry until the page has settled (Playwright: up to 5 s) instead of reading it once.
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)").expect

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
    page.locator("#files-table tbody tr", has_text="password_protected.xlsx").locator("td.num").nth(1).filter(
        has_text=re.compile("^1$")
    ).wait_for()
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
    # The page re-renders the job after the artifact list: wait for that render, not just the first one.
    expect(page.locator("#cleanup-job")).to_be_hidden()
    expect(page.locator("#retry-job")).to_be_hidden()  # its inputs are gone: nothing left to retry
    shot("cleaned-up")

    # Sign out: the page asks for the key again and the old cookie opens nothing.
    stale_cookie = next(c for c in page.context.cookies() if c["name"] == "data_extract_session")["value"]
    page.click("#sign-out")
    page.locator("#sign-in").wait_for()
    shot("signed-out")
    assert httpx.get(f"{stack}/api/v1/jobs", cookies={"data_extract_session": stale_cookie}).status_code == 401
    assert page.js_errors == []


EXECUTE_API = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"


def test_page_works_behind_an_api_gateway_stage_prefix(aws, pump, page, shot, tmp_path, monkeypatch):
    """Every request of the page goes through the Lambda handler as an HTTP API event of stage "prod"."""
    from data_extract.api.deps import reset_auth_cache
    from data_extract.handlers import api as api_handler
    from tests.support.apigw import ApiGatewayTransport

    monkeypatch.setenv("DATA_EXTRACT_API_KEY", API_KEY)
    reset_auth_cache()
    transport = ApiGatewayTransport(api_handler.lambda_handler, version="2.0", stage="prod")
    paths_seen: list[str] = []
    elsewhere: list[str] = []

    def through_api_gateway(route):
        url = httpx.URL(route.request.url)
        path = url.raw_path.decode("ascii")
        paths_seen.append(path)
        if not path.startswith("/prod"):
            route.fulfill(status=404, body="not under the stage")  # what API Gateway answers outside the stage
            return
        headers = {
            k: v
            for k, v in route.request.all_headers().items()
            if not k.startswith(":") and k not in ("content-length", "host")
        }
        inner = httpx.Request(
            route.request.method,
            EXECUTE_API + (path[len("/prod") :] or "/"),
            headers=headers,
            content=route.request.post_data_buffer or b"",
        )
        # Mangum runs its own event loop; Playwright's is already running in this thread.
        answer = lambda_thread.submit(transport.handle_request, inner).result()
        route.fulfill(
            status=answer.status_code,
            body=answer.content,
            headers={k: v for k, v in answer.headers.items() if k != "content-length"},
        )

    def nowhere_else(route):
        elsewhere.append(route.request.url)
        route.abort()

    # Lambda runs the handler in its main thread, which has an event loop for Mangum; so does this one.
    lambda_thread = ThreadPoolExecutor(
        max_workers=1, initializer=lambda: asyncio.set_event_loop(asyncio.new_event_loop())
    )
    page.route("**/*", nowhere_else)
    page.route(EXECUTE_API + "/**", through_api_gateway)

    # The stage URL without its trailing slash, as people type it.
    page.goto(EXECUTE_API + "/prod")
    page.locator("#sign-in").wait_for()
    assert page.evaluate("document.baseURI") == EXECUTE_API + "/prod/"
    page.fill("#api-key", API_KEY)
    page.click("#sign-in-button")
    page.locator("#app").wait_for()
    shot("stage-signed-in")

    # Dropped onto the drop zone (a DataTransfer as a drag from the desktop carries it).
    page.evaluate(
        """(text) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text], "stage-note.txt", { type: "text/plain" }));
      document.getElementById("dropzone").dispatchEvent(
        new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }""",
        "Stage prefix check. The controls were tested in October.\n",
    )
    page.locator("#selection-summary", has_text="1 file(s)").wait_for()
    page.click("#submit-job")
    message = page.locator("#submit-message", has_text=re.compile(r"^Job \S+ queued\.$"))
    message.wait_for()
    job_id = message.inner_text().split()[1]
    assert transport.last_event is not None and transport.last_event["rawPath"].startswith("/prod/api/v1/")

    pump.run()
    _wait_for_job_status(page, ["completed"])
    link = page.locator("#artifacts a", has_text="outputs/stage-note.txt.json")
    link.wait_for()
    assert link.get_attribute("href") is not None
    assert (
        page.evaluate("(a) => a.href", link.element_handle())
        == f"{EXECUTE_API}/prod/api/v1/jobs/{job_id}/artifacts/outputs/stage-note.txt.json"
    )
    # Downloads by click are covered against the local stack; here the link's URL is fetched with the session.
    body = page.evaluate(
        "(a) => fetch(a.href, { credentials: 'same-origin' }).then((r) => r.text())", link.element_handle()
    )
    assert "tested in October" in json.dumps(json.loads(body))
    shot("stage-job-completed")

    assert paths_seen and all(p.startswith("/prod/") or p == "/prod" for p in paths_seen), paths_seen
    assert {"/prod", "/prod/ui/app.js", "/prod/ui/api.js", "/prod/ui/app.css"} <= set(paths_seen)
    lambda_thread.shutdown()
    assert elsewhere == []  # nothing from any other origin: no CDN
    assert page.js_errors == []


def test_cancel_and_semantic_report(stack, page, shot, corpus, sample_folder):
    """Cancel from the page, and the semantic stage's HTML report (semantic/semantic_report.html) opened in it."""
    page.goto(stack + "/")
    page.fill("#api-key", API_KEY)
    page.click("#sign-in-button")
    page.locator("#app").wait_for()

    # Semantic analysis on: the job's report opens inside the page, in a frame that runs no script.
    page.set_input_files("#folder-input", str(sample_folder))
    page.select_option("#output-format", "json")
    page.check("#include-semantic")
    page.click("#submit-job")
    page.locator("#submit-message", has_text=re.compile(r"^Job \S+ queued\.$")).wait_for()
    _wait_for_job_status(page, ["completed", "partial"])
    page.locator("#artifacts a", has_text="semantic/semantic_report.html").wait_for()
    page.click("#open-report")
    page.locator("#report-dialog").wait_for()
    assert page.locator("#report-frame").get_attribute("sandbox") == ""
    frame = page.frame_locator("#report-frame")
    frame.locator("body").wait_for()
    assert frame.locator("body").inner_text().strip()
    shot("semantic-report")
    page.click("#close-report")

    # Cancel a job of many documents right after submitting it.
    page.set_input_files("#folder-input", str(corpus / "docx"))
    page.uncheck("#include-semantic")
    page.click("#submit-job")
    page.locator("#submit-message", has_text=re.compile(r"^Job \S+ queued\.$")).wait_for()
    page.locator("#cancel-job").click()
    page.locator("#job-message", has_text="Cancellation requested").wait_for()
    _wait_for_job_status(page, ["cancelled"])
    expect(page.locator("#cancel-job")).to_be_hidden()
    shot("cancelled")


def test_a_selection_over_the_request_limit_goes_through_presigned_uploads(stack, page, shot, tmp_path):
    """Above 4 MB the page PUTs the files to presigned S3 URLs, then submits the upload_id; a large artifact
    downloads through the presigned redirect."""
    big = tmp_path / "big-ledger.txt"
    line = "The ledger entry for account {n} was reconciled and approved by the controller.\n"
    big.write_text("".join(line.format(n=n) for n in range(64_000)))
    assert big.stat().st_size > 4 * 1024 * 1024

    page.goto(stack + "/")
    page.fill("#api-key", API_KEY)
    page.click("#sign-in-button")
    page.locator("#app").wait_for()
    page.set_input_files("#file-input", str(big))
    page.locator("#selection-summary", has_text="presigned uploads").wait_for()
    with page.expect_request(lambda r: r.method == "PUT" and "/uploads/" in r.url) as put:
        page.click("#submit-job")
    assert not put.value.url.startswith(stack)  # straight to S3 (moto), not through the API
    page.locator("#submit-message", has_text=re.compile(r"^Job \S+ queued\.$")).wait_for()
    _wait_for_job_status(page, ["completed"])
    assert _row(page, "big-ledger.txt").locator(".badge").inner_text() == "processed"
    shot("presigned-upload-completed")

    # Its output is too big to pass through the API: the link follows the redirect to a presigned URL.
    link = page.locator("#artifacts a", has_text="outputs/big-ledger.txt.json")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert not download.url.startswith(stack)
    assert download.suggested_filename == "big-ledger.txt.json"
    saved = tmp_path / "big.json"
    download.save_as(saved)
    assert "account 63999 was reconciled" in saved.read_text()
    assert page.js_errors == []

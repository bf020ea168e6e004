"""Real headless Chromium (Debian's `chromium`, driven by Playwright) against the local stack.

`make test` installs the browser (the `browser` target, apt-get as root) and Playwright (the dev extra). Playwright
never downloads a browser here: it launches the system binary by path. Every test gets a fresh profile
(--user-data-dir) and a `shot(name)` helper that saves a numbered full-page screenshot of the step into
build/browser-screenshots/<test>/ (or DATA_EXTRACT_SCREENSHOT_DIR), which the run leaves for people and CI to see.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
API_KEY = "browser-test-key-7f3a9c"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = pytest.mark.browser


def chromium_path() -> str | None:
    configured = os.environ.get("DATA_EXTRACT_CHROMIUM")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot_root() -> Path:
    configured = os.environ.get("DATA_EXTRACT_SCREENSHOT_DIR")
    return Path(configured) if configured else REPO / "build" / "browser-screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[str]:
    """The local stack as `make run` starts it, with authentication on. Yields its base URL."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("stack") / "stack.log"
    log = log_path.open("w")
    env = {**os.environ, "PORT": str(port), "PYTHONUNBUFFERED": "1", "DATA_EXTRACT_API_KEY": API_KEY,
           "UVICORN_LOG_LEVEL": "warning"}
    for key in ("AWS_ENDPOINT_URL", "DATA_EXTRACT_TABLE_NAME", "DATA_EXTRACT_BUCKET_NAME",
                "DATA_EXTRACT_WORK_QUEUE_URL", "DATA_EXTRACT_FINALIZE_QUEUE_URL", "DATA_EXTRACT_WORK_DLQ_URL"):
        env.pop(key, None)
    proc = subprocess.Popen([sys.executable, "-m", "infra.local.stack"], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            pytest.fail(f"local stack exited early:\n{log_path.read_text()[-5000:]}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"local stack did not answer within 90 s:\n{log_path.read_text()[-5000:]}")
        time.sleep(0.3)
    yield base
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
    if chromium_path() is None:
        pytest.skip("chromium is not installed (`make test` installs Debian's chromium when run as root)")
    with sync_api.sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser_context(playwright_driver, tmp_path) -> Iterator[Any]:
    """A fresh Chromium profile per test; downloads accepted."""
    context = playwright_driver.chromium.launch_persistent_context(
        user_data_dir=str(tmp_path / "profile"),
        executable_path=chromium_path(),
        headless=True,
        args=CHROMIUM_FLAGS,
        accept_downloads=True,
        viewport={"width": 1360, "height": 900},
    )
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context) -> Any:
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    errors: list[str] = []
    # Uncaught exceptions only: Chromium also logs every 4xx answer (a refused key) as a console error.
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors  # type: ignore[attr-defined]
    return page


@pytest.fixture
def shot(page, request) -> Any:
    """shot("sign-in") saves build/browser-screenshots/<test>/01-sign-in.png."""
    folder = screenshot_root() / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    counter = {"n": 0}

    def take(name: str) -> Path:
        counter["n"] += 1
        path = folder / f"{counter['n']:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    take.folder = folder  # type: ignore[attr-defined]
    return take

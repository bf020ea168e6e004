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
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.chromium import CHROMIUM_FLAGS, chromium_path
from tests.support.local_stack import free_port, running_stack, stack_environment

REPO = Path(__file__).resolve().parents[2]
API_KEY = "browser-test-key-7f3a9c"

pytestmark = pytest.mark.browser


def screenshot_root() -> Path:
    configured = os.environ.get("DATA_EXTRACT_SCREENSHOT_DIR")
    return Path(configured) if configured else REPO / "build" / "browser-screenshots"


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[str]:
    """The local stack as `make run` starts it, with authentication on. Yields its base URL."""
    port = free_port()
    env = stack_environment(PORT=str(port), DATA_EXTRACT_API_KEY=API_KEY, UVICORN_LOG_LEVEL="warning")
    with running_stack(
        [sys.executable, "-m", "infra.local.stack"],
        port=port,
        env=env,
        log_path=tmp_path_factory.mktemp("stack") / "stack.log",
    ) as (base, _):
        yield base


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

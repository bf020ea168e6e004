"""Debian's Chromium for the tests, always driven through Playwright.

Playwright launches the system binary by path (it never downloads a browser here), bounds every step with a
timeout, and on close ends the browser with all of its helper processes. A bare ``chromium --screenshot``
subprocess is not used: when it stalls, its zygote and crash handler keep the captured pipes open, so even a
``subprocess.run(timeout=...)`` waits for them forever.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Containers often give /dev/shm only 64 MB; Chromium then crashes or stalls rendering tall pages.
    "--disable-dev-shm-usage",
]
# Milliseconds for a launch and for each page step.
STEP_TIMEOUT_MS = 30_000


def chromium_path() -> str | None:
    configured = os.environ.get("DATA_EXTRACT_CHROMIUM")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot(html_path: Path, png_path: Path, *, width: int = 1280) -> None:
    """A full-page PNG of a local HTML file, rendered by headless Chromium."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        with sync_playwright() as driver:
            context = driver.chromium.launch_persistent_context(
                user_data_dir=profile,
                executable_path=executable,
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": width, "height": 900},
                timeout=STEP_TIMEOUT_MS,
            )
            try:
                context.set_default_timeout(STEP_TIMEOUT_MS)
                page = context.pages[0] if context.pages else context.new_page()
                page.goto(html_path.resolve().as_uri(), wait_until="load")
                page.screenshot(path=str(png_path), full_page=True)
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)

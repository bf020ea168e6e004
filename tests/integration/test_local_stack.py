"""The local stack as a user runs it: a subprocess with moto server, the API and the SQS pollers."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.jobs import text_files
from tests.support.local_stack import free_port, running_stack, stack_environment

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    port = free_port()
    env = stack_environment(PORT=str(port))
    with running_stack(
        [sys.executable, "-m", "infra.local.stack"],
        port=port,
        env=env,
        log_path=tmp_path_factory.mktemp("stack") / "stack.log",
    ) as (base, proc):
        yield base, proc


def test_upload_processes_to_completed_and_artifacts_download(stack):
    base, _ = stack
    api = f"{base}/api/v1"
    with httpx.Client(timeout=30) as http:
        resp = http.post(f"{api}/jobs/process", files=text_files())
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["job_id"]

        deadline = time.monotonic() + 120
        detail = {}
        while time.monotonic() < deadline:
            detail = http.get(f"{api}/jobs/{job_id}").json()
            if detail["status"] in ("completed", "partial", "failed"):
                break
            time.sleep(0.5)
        assert detail["status"] == "completed", json.dumps(detail, indent=1)[:3000]
        statuses = {f["source_path"]: f["status"] for f in detail["files"]}
        assert statuses == {
            "alpha.txt": "processed",
            "notes/beta.md": "processed",
            "gamma.txt": "processed",
            "delta.xyz": "skipped",
        }

        artifacts = {a["path"] for a in http.get(f"{api}/jobs/{job_id}/artifacts").json()["artifacts"]}
        assert "outputs/gamma.txt.json" in artifacts and "result.json" in artifacts
        download = http.get(f"{api}/jobs/{job_id}/artifacts/outputs/gamma.txt.json")
        assert download.status_code == 200
        assert "The controls were tested in October." in download.json()["content"]


def test_sigterm_stops_the_stack_cleanly(stack):
    _, proc = stack
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0

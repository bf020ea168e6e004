"""The local stack as a user runs it: a subprocess with moto server, the API and the SQS pollers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.jobs import text_files

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    port = _free_port()
    log_path = tmp_path_factory.mktemp("stack") / "stack.log"
    log = log_path.open("w")
    env = {**os.environ, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    for key in ("AWS_ENDPOINT_URL", "DATA_EXTRACT_API_KEY", "DATA_EXTRACT_TABLE_NAME", "DATA_EXTRACT_BUCKET_NAME",
                "DATA_EXTRACT_WORK_QUEUE_URL", "DATA_EXTRACT_FINALIZE_QUEUE_URL", "DATA_EXTRACT_WORK_DLQ_URL",
                "DATA_EXTRACT_SEMANTIC_QUEUE_URL"):
        env.pop(key, None)
    # Logs go to a file: a pipe nobody reads would block the stack once it filled up.
    proc = subprocess.Popen([sys.executable, "-m", "infra.local.stack"], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"local stack exited early:\n{log_path.read_text()[-5000:]}")
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"local stack did not answer within 60 s:\n{log_path.read_text()[-5000:]}")
    yield base, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("local stack did not stop within 30 s of SIGTERM")
    log.close()


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
        assert statuses == {"alpha.txt": "processed", "notes/beta.md": "processed", "gamma.txt": "processed",
                            "delta.xyz": "skipped"}

        artifacts = {a["path"] for a in http.get(f"{api}/jobs/{job_id}/artifacts").json()["artifacts"]}
        assert "outputs/gamma.txt.json" in artifacts and "result.json" in artifacts
        download = http.get(f"{api}/jobs/{job_id}/artifacts/outputs/gamma.txt.json")
        assert download.status_code == 200
        assert "The controls were tested in October." in download.json()["content"]


def test_sigterm_stops_the_stack_cleanly(stack):
    _, proc = stack
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0

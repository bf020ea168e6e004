"""The local stack with several worker processes, as Lambda runs several containers of the worker."""

from __future__ import annotations

import json
import sys
import time

import httpx
import pytest

from tests.support.local_stack import free_port, running_stack, stack_environment

pytestmark = pytest.mark.integration


def test_given_two_worker_loops_when_a_job_is_submitted_then_both_processes_take_batches_and_the_job_completes(
    tmp_path,
):
    port = free_port()
    calls_dir = tmp_path / "calls"
    env = stack_environment(PORT=str(port), DATA_EXTRACT_LOCAL_AWS_CALL_LOG=str(calls_dir))
    log_path = tmp_path / "stack.log"
    with running_stack(
        [sys.executable, "-m", "infra.local.stack", "--worker-loops", "2"],
        port=port,
        env=env,
        log_path=log_path,
        start_seconds=60,
        stop_seconds=60,
    ) as (base, proc):
        api = f"{base}/api/v1"
        files = [
            ("files", (f"note-{i:02d}.txt", f"Note {i}: the controls were tested.".encode(), "text/plain"))
            for i in range(30)
        ]
        job_id = httpx.post(f"{api}/jobs/process", files=files, timeout=60).json()["job_id"]
        deadline = time.monotonic() + 120
        detail: dict = {}
        while time.monotonic() < deadline:
            detail = httpx.get(f"{api}/jobs/{job_id}", params={"file_limit": 100}, timeout=30).json()
            if detail["status"] in ("completed", "partial", "failed"):
                break
            time.sleep(0.3)
        assert detail["status"] == "completed", json.dumps(detail)[:2000]
        assert [f["status"] for f in detail["files"]] == ["processed"] * 30
    assert proc.returncode == 0, log_path.read_text()[-5000:]

    # Each process wrote its own call log when it stopped: both recorded the results of units they processed.
    results_by_process = {}
    for path in calls_dir.glob("aws-calls-*.json"):
        calls = json.loads(path.read_text())["calls"]
        results_by_process[path.name] = sum(
            c["calls"] for c in calls if c["caller"] == "WorkerFunction" and c["operation"] == "TransactWriteItems"
        )
    assert len(results_by_process) == 2, (results_by_process, log_path.read_text()[-3000:])
    assert all(count > 0 for count in results_by_process.values()), results_by_process
    # 30 unit results, plus the job's "running" mark (a transaction too) tried by the first units of the run.
    assert sum(results_by_process.values()) >= 30

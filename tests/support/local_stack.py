"""Start the local stack as a subprocess for a test module, wait until it answers, and stop it with SIGTERM (a
stack that does not stop in time fails the test)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
# What the stack sets for itself: values left in the test process's environment must not leak into it.
STACK_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "DATA_EXTRACT_API_KEY",
    "DATA_EXTRACT_TABLE_NAME",
    "DATA_EXTRACT_BUCKET_NAME",
    "DATA_EXTRACT_WORK_QUEUE_URL",
    "DATA_EXTRACT_FINALIZE_QUEUE_URL",
    "DATA_EXTRACT_WORK_DLQ_URL",
    "DATA_EXTRACT_SEMANTIC_QUEUE_URL",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack_environment(*drop: str, **values: str) -> dict[str, str]:
    """This process's environment without the stack's own variables (and ``drop``), plus ``values``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for key in (*STACK_VARIABLES, *drop):
        env.pop(key, None)
    env.update(values)
    return env


@contextmanager
def running_stack(
    command: Sequence[str],
    *,
    port: int,
    env: dict[str, str],
    log_path: Path,
    name: str = "local stack",
    start_seconds: float = 90,
    stop_seconds: float = 30,
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Yields the stack's base URL and process once ``/api/v1/health`` answers 200; its output goes to
    ``log_path`` (a pipe nobody reads would block the stack once it filled up)."""
    with log_path.open("w") as log:
        proc = subprocess.Popen(list(command), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + start_seconds
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited early:\n{log_path.read_text()[-5000:]}")
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"{name} did not answer within {start_seconds:.0f} s:\n{log_path.read_text()[-5000:]}")
            time.sleep(0.3)
        try:
            yield base, proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=stop_seconds)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    pytest.fail(
                        f"{name} did not stop within {stop_seconds:.0f} s of SIGTERM:\n{log_path.read_text()[-5000:]}"
                    )

"""The data-extract command over HTTP, as a user runs it: `data-extract local --seed DIR` starts the stack, then
submit --wait, artifacts --download (through presigned S3 redirects), presigned uploads, and the exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.local_stack import free_port, running_stack, stack_environment

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
COMMAND = [sys.executable, "-m", "data_extract.cli"]


def _documents(root: Path) -> Path:
    docs = root / "docs"
    (docs / "notes").mkdir(parents=True)
    (docs / "alpha.txt").write_text("Alpha report. The first control passed review.\n\nSecond paragraph here.")
    (docs / "notes" / "beta.md").write_text("# Beta\n\nUmlauts: Grüße aus Köln. " + "More words here. " * 400)
    (docs / "table.csv").write_text("name,amount\nalpha,1\nbeta,2\n")
    return docs


def _environment(**extra: str) -> dict[str, str]:
    return stack_environment("DATA_EXTRACT_URL", "DATA_EXTRACT_PROFILE", COLUMNS="200", **extra)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("cli-stack")
    seed_dir = _documents(work / "seed")
    port = free_port()
    # Artifacts over 2000 bytes answer with a redirect to a presigned S3 URL, as large ones do in Lambda.
    env = _environment(DATA_EXTRACT_API_INLINE_DOWNLOAD_MAX_BYTES="2000")
    log_path = work / "stack.log"
    with running_stack(
        [*COMMAND, "local", "--port", str(port), "--seed", str(seed_dir)],
        port=port,
        env=env,
        log_path=log_path,
        name="data-extract local",
    ) as (base, proc):
        yield base, proc, log_path, work


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd,
        env=env or _environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_seed_submits_the_folder_and_prints_where_the_artifacts_are(stack):
    base, _, log_path, _ = stack
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and "download them with" not in log_path.read_text():
        time.sleep(0.5)
    log = log_path.read_text()
    assert "seed: job" in log and "submitted with 3 file(s)" in log, log[-3000:]
    assert "completed; " in log
    assert f"{base}/api/v1/jobs/" in log and "/artifacts/outputs/docs/alpha.txt.json" in log


def test_submit_wait_and_download_over_http(stack):
    base, _, _, work = stack
    docs = _documents(work / "mine")
    (docs / "broken.json").write_bytes(b'{"truncated": [1, 2')

    submitted = _cli("submit", str(docs), "--wait", "--json", "--url", base, "--poll-interval", "0.3", cwd=work)
    assert submitted.returncode == 1, submitted.stderr  # partial: the broken file failed
    job = json.loads(submitted.stdout)
    assert job["status"] == "partial"
    assert {f["source_path"]: f["status"] for f in job["files"]} == {
        "docs/alpha.txt": "processed",
        "docs/notes/beta.md": "processed",
        "docs/table.csv": "processed",
        "docs/broken.json": "failed",
    }

    out = work / "downloads"
    downloaded = _cli("artifacts", job["job_id"], "--download", str(out), "--url", base, cwd=work)
    assert downloaded.returncode == 0, downloaded.stderr
    beta = json.loads((out / "outputs" / "docs" / "notes" / "beta.md.json").read_text())  # > 2000 bytes: via S3
    assert "Grüße aus Köln" in beta["content"]
    assert json.loads((out / "result.json").read_text())["job_id"] == job["job_id"]
    assert (out / "inputs" / "docs" / "alpha.txt").read_text().startswith("Alpha report")


def test_presigned_uploads_over_http(stack):
    base, _, _, work = stack
    docs = _documents(work / "presigned")
    result = _cli(
        "submit",
        str(docs),
        "--upload",
        "presigned",
        "--wait",
        "--json",
        "--url",
        base,
        "--poll-interval",
        "0.3",
        cwd=work,
    )
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["input_path"].startswith("upload:") and job["progress"]["processed"] == 3


def test_plain_output_and_exit_codes_over_http(stack):
    base, _, _, work = stack
    listed = _cli("jobs", "list", "--url", base, cwd=work)
    assert listed.returncode == 0 and "completed" in listed.stdout
    assert _cli("health", "--url", base, cwd=work).returncode == 0
    missing = _cli("jobs", "show", "nosuchjob", "--url", base, cwd=work)
    assert missing.returncode == 2 and "404 from the server" in missing.stderr
    closed = _cli("health", "--url", f"http://127.0.0.1:{free_port()}", cwd=work)
    assert closed.returncode == 4 and "cannot reach" in closed.stderr

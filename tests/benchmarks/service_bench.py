"""Service benchmark: what a job costs and how long it takes, end to end, on the local stack.

Run from the repository root with the project venv (``make bench`` runs it after the extraction benchmark)::

    .venv/bin/python tests/benchmarks/service_bench.py [--write] [--sections e2e,api,cold,memory,size,cost]
        [--loops 1,2,4] [--batch 100] [--whole-corpus] [--api-requests 200] [--repeat 7] [--memory-files 1000]
        [--corpus DIR]

Sections (one table each; ratios are measured in the same run):

* ``e2e``: the local stack (``python -m infra.local.stack --worker-loops N``, a moto server on loopback) gets a
  mixed batch of corpus files (``--batch``, chosen round-robin over the MANIFEST kinds, so every format is in it)
  as one multipart job, and with ``--whole-corpus`` the whole corpus too, for each N of ``--loops``: submit to
  ``completed`` wall time, files/min, PDF pages/s (MANIFEST page counts of the PDFs processed), p50/p99 per-file
  latency (the job's creation to the unit's result), and where a file unit's time goes: S3, DynamoDB and SQS (the
  worker's own calls, timed by a botocore hook in every stack process, see ``infra/local/awscalls.py``), the
  pipeline (the units' ``stage_timings_ms``), and the rest of its latency (waiting in the queue).
* round trips (from the same runs): AWS calls per file unit and per job, by service and operation, for the worker,
  finalize and the API (the API's include the benchmark's own status polls, listed apart).
* ``api``: p50/p99 latency of ``GET /jobs/{id}``, ``GET /jobs``, ``POST /jobs/process`` (JSON with an upload id, and
  multipart of 10 small files): in-process through the Mangum handler with API Gateway v2 events (moto in-process),
  and over HTTP on the local stack with 1 and 16 concurrent clients.
* ``cold``: a fresh interpreter's import time of each Lambda handler module of template.yaml, and the API's first
  request after import (median of ``--repeat``), beside ``import fastapi, mangum, boto3``.
* ``memory``: one worker process (``--isolated-workers``) takes ``--memory-files`` files (the mixed batch cycled,
  in jobs of ``--batch``, OCR off): its resident set after each job, and the growth per 1,000 files after the first.
* ``size``: each function's deployable code and layers, unzipped, as ``sam build`` leaves them in ``.aws-sam/build``
  (``make build`` first; the section says so when the build is missing).
* ``cost``: Lambda + SQS + DynamoDB + S3 request cost per 1,000 pages and per 1,000 files from the e2e run's
  measured time per unit at the template's memory sizes, beside the list prices of hosted alternatives.

``--write`` writes the report as Markdown to ``docs/service-benchmarks.md``, keeping the hand-written analysis below
its marker.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import csv
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))  # infra.local: the template reader
REPORT_PATH = REPO_ROOT / "docs" / "service-benchmarks.md"
ANALYSIS_MARKER = "<!-- analysis: written by hand, kept by --write -->"
API = "/api/v1"
TERMINAL = {"completed", "partial", "failed", "cancelled"}
PYTHON = sys.executable

# List prices, us-east-1, x86_64, on-demand, as published by each vendor on the date given (USD).
PRICES_AS_OF = "2025-06-01"
LAMBDA_GB_SECOND = 0.0000166667
LAMBDA_REQUEST = 0.20 / 1_000_000
SQS_REQUEST = 0.40 / 1_000_000  # standard queue, per 64 KB chunk
DYNAMODB_WRITE_UNIT = 0.625 / 1_000_000  # on-demand write request unit
DYNAMODB_READ_UNIT = 0.125 / 1_000_000  # on-demand read request unit
S3_PUT = 0.005 / 1_000  # PUT, COPY, POST, LIST
S3_GET = 0.0004 / 1_000  # GET and all other requests
HOSTED_PER_1000_PAGES = [
    ("Amazon Textract DetectDocumentText", 1.50, "first million pages a month"),
    ("Azure AI Document Intelligence, Read", 1.50, "0-1M pages, pay as you go"),
    ("LlamaParse, cost-effective mode", 3.00, "3 credits a page at $1 per 1,000 credits"),
    ("Unstructured Partition API, fast", 1.00, "$1 per 1,000 pages"),
]

# DynamoDB operations and the request units one call costs (items here are far below 1 KB/4 KB, so one each; a
# transaction costs double per item, and TransactWriteItems holds three items in the unit's result).
DYNAMODB_WRITES = {"PutItem": 1, "UpdateItem": 1, "DeleteItem": 1, "TransactWriteItems": 6, "BatchWriteItem": 1}
DYNAMODB_READS = {"GetItem": 1, "Query": 1, "BatchGetItem": 1, "TransactGetItems": 2, "Scan": 1}
S3_PUTS = {
    "PutObject",
    "CopyObject",
    "ListObjectsV2",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "DeleteObjects",
}


# ---------------------------------------------------------------- helpers


def corpus_dir(arg: str | None) -> Path:
    path = Path(arg or os.environ.get("DATA_EXTRACT_CORPUS_DIR") or REPO_ROOT.parent / "shared" / "corpus")
    if not (path / "MANIFEST.tsv").is_file():
        raise SystemExit(f"corpus not found at {path} (--corpus or DATA_EXTRACT_CORPUS_DIR)")
    return path


@dataclass
class CorpusFile:
    path: Path
    relative: str
    kind: str
    pages: int | None


def manifest(corpus: Path) -> list[CorpusFile]:
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    files = []
    for row in rows:
        pages = row.get("pages_or_sheets_or_slides") or ""
        files.append(
            CorpusFile(corpus / row["path"], row["path"], row["kind"], int(pages) if pages.isdigit() else None)
        )
    return [f for f in files if f.path.is_file()]


def mixed_batch(files: list[CorpusFile], size: int) -> list[CorpusFile]:
    """Round-robin over the kinds (sorted), so a batch of any size holds every format in proportion."""
    by_kind: dict[str, list[CorpusFile]] = defaultdict(list)
    for file in sorted(files, key=lambda f: f.relative):
        by_kind[file.kind].append(file)
    batch: list[CorpusFile] = []
    while len(batch) < size and any(by_kind.values()):
        for kind in sorted(by_kind):
            if by_kind[kind] and len(batch) < size:
                batch.append(by_kind[kind].pop(0))
    return batch


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def parse_time(value: str) -> float:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    """The local stack as a subprocess, with every process's AWS calls logged to ``call_log``."""

    def __init__(self, *, worker_loops: int, workdir: Path, isolated_workers: bool = False) -> None:
        self.port = free_port()
        self.call_log = workdir / f"calls-{worker_loops}-{self.port}"
        self.log_path = workdir / f"stack-{worker_loops}-{self.port}.log"
        env = {
            **os.environ,
            "PORT": str(self.port),
            "UVICORN_LOG_LEVEL": "warning",
            "DATA_EXTRACT_LOCAL_AWS_CALL_LOG": str(self.call_log),
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "OMP_THREAD_LIMIT": "1",
        }
        env.pop("DATA_EXTRACT_API_KEY", None)
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "infra.local.stack",
                "--worker-loops",
                str(worker_loops),
                *(["--isolated-workers"] if isolated_workers else []),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the local stack exited: see {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}{API}/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise SystemExit(f"the local stack did not answer within 120 s: see {self.log_path}")

    def stop(self) -> list[dict[str, Any]]:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        calls: list[dict[str, Any]] = []
        for path in sorted(self.call_log.glob("aws-calls-*.json")):
            calls.extend(json.loads(path.read_text())["calls"])
        return calls


def submit_multipart(client: httpx.Client, files: list[CorpusFile], **form: str) -> str:
    handles = [f.path.open("rb") for f in files]
    try:
        parts = [("files", (f.relative, h, "application/octet-stream")) for f, h in zip(files, handles, strict=True)]
        response = client.post(f"{API}/jobs/process", files=parts, data={"output_format": "json", **form})
    finally:
        for handle in handles:
            handle.close()
    if response.status_code not in (200, 202):
        raise SystemExit(f"submit answered {response.status_code}: {response.text[:500]}")
    return response.json()["job_id"]


def wait_for(client: httpx.Client, job_id: str, timeout: float = 1800, interval: float = 0.25) -> tuple[dict, int]:
    deadline = time.monotonic() + timeout
    polls = 0
    while time.monotonic() < deadline:
        polls += 1
        job = client.get(f"{API}/jobs/{job_id}", params={"file_limit": 1, "event_limit": 1}).json()
        if job["status"] in TERMINAL:
            return job, polls
        time.sleep(interval)
    raise SystemExit(f"job {job_id} did not end within {timeout:.0f} s")


# ---------------------------------------------------------------- e2e and round trips


@dataclass
class E2eRun:
    label: str
    loops: int
    files: int
    wall_s: float
    status: str
    counts: dict[str, int]
    pdf_pages: int
    latencies_ms: list[float]
    pipeline_ms_per_unit: float
    calls: list[dict[str, Any]] = field(default_factory=list)
    polls: int = 0

    def calls_by(self, caller: str) -> dict[tuple[str, str], tuple[int, float]]:
        totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0])
        for call in self.calls:
            if call["caller"] == caller:
                entry = totals[(call["service"], call["operation"])]
                entry[0] += call["calls"]
                entry[1] += call["ms"]
        return {key: (int(v[0]), v[1]) for key, v in sorted(totals.items())}

    def service_ms_per_unit(self, caller: str = "WorkerFunction") -> dict[str, float]:
        per_service: dict[str, float] = defaultdict(float)
        for (service, _), (_, ms) in self.calls_by(caller).items():
            per_service[service] += ms
        return {service: ms / max(1, self.files) for service, ms in per_service.items()}


def run_e2e(label: str, files: list[CorpusFile], loops: int, workdir: Path) -> E2eRun:
    stack = Stack(worker_loops=loops, workdir=workdir)
    try:
        with httpx.Client(base_url=stack.url, timeout=300) as client:
            started = time.perf_counter()
            job_id = submit_multipart(client, files)
            job, polls = wait_for(client, job_id)
            wall = time.perf_counter() - started
            detail = client.get(f"{API}/jobs/{job_id}", params={"file_limit": 5000, "event_limit": 1}).json()
    finally:
        calls = stack.stop()
    created = parse_time(detail["created_at"])
    pages_of = {f.relative: f.pages for f in files}
    units = detail["files"]
    latencies = [(parse_time(u["updated_at"]) - created) * 1000 for u in units if u.get("updated_at")]
    pipeline = [sum((u.get("stage_timings_ms") or {}).values()) for u in units]
    pdf_pages = sum(
        pages_of.get(u["source_path"]) or 0
        for u in units
        if u["status"] == "processed" and u["source_path"].lower().endswith(".pdf")
    )
    return E2eRun(
        label,
        loops,
        len(files),
        wall,
        job["status"],
        dict(Counter(u["status"] for u in units)),
        pdf_pages,
        latencies,
        statistics.fmean(pipeline) if pipeline else 0.0,
        calls,
        polls,
    )


def e2e_tables(runs: list[E2eRun]) -> list[str]:
    out = [
        "## End to end on the local stack",
        "",
        "One multipart job per row; submit to terminal status, polling `GET /jobs/{id}` every 250 ms.",
        "",
        "| batch | worker loops | files | status | wall s | files/min | PDF pages/s | p50 file ms | p99 file ms |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        out.append(
            f"| {run.label} | {run.loops} | {run.files} | {run.status} {run.counts} | {run.wall_s:.1f} | "
            f"{run.files / run.wall_s * 60:.0f} | {run.pdf_pages / run.wall_s:.0f} | "
            f"{percentile(run.latencies_ms, 50):.0f} | {percentile(run.latencies_ms, 99):.0f} |"
        )
    out += [
        "",
        "### Where a file unit's time goes (worker, ms per unit)",
        "",
        "| batch | loops | S3 | DynamoDB | SQS | other AWS | pipeline | round trips total | p50 latency |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        ms = run.service_ms_per_unit()
        known = {"s3", "dynamodb", "sqs"}
        other = sum(v for k, v in ms.items() if k not in known)
        total = sum(ms.values())
        out.append(
            f"| {run.label} | {run.loops} | {ms.get('s3', 0):.1f} | {ms.get('dynamodb', 0):.1f} | "
            f"{ms.get('sqs', 0):.1f} | {other:.1f} | {run.pipeline_ms_per_unit:.1f} | {total:.1f} | "
            f"{percentile(run.latencies_ms, 50):.0f} |"
        )
    out += [
        "",
        "The p50 latency is measured from the job's creation, so it includes the time a unit waited in the "
        "queue behind the others of its batch; with one loop that wait dominates.",
        "",
    ]
    return out


def round_trip_tables(run: E2eRun) -> list[str]:
    out = [
        f"## Round trips (AWS calls), {run.label}, {run.loops} worker loop(s)",
        "",
        f"{run.files} file units; the API's calls include the benchmark's {run.polls} status polls.",
        "",
        "| function | service | operation | calls | per file unit | ms per call |",
        "|---|---|---|---:|---:|---:|",
    ]
    for caller in (
        "WorkerFunction",
        "FinalizeFunction",
        "ApiFunction",
        "WorkerFunction:EventSourceMapping",
        "FinalizeFunction:EventSourceMapping",
    ):
        for (service, operation), (count, ms) in run.calls_by(caller).items():
            out.append(
                f"| {caller} | {service} | {operation} | {count} | {count / max(1, run.files):.2f} | "
                f"{ms / max(1, count):.1f} |"
            )
    worker = sum(c for c, _ in run.calls_by("WorkerFunction").values())
    finalize = sum(c for c, _ in run.calls_by("FinalizeFunction").values())
    api = sum(c for c, _ in run.calls_by("ApiFunction").values())
    out += [
        "",
        f"Per file unit: **{worker / max(1, run.files):.2f}** worker calls. Per job: {worker} worker, "
        f"{finalize} finalize, {api} API (submit + {run.polls} polls + final detail).",
        "",
    ]
    return out


# ---------------------------------------------------------------- API latency


def _time_requests(send, count: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def one(_: int) -> None:
        started = time.perf_counter()
        send()
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)

    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(count)))
    return latencies


def _small_files(n: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("files", (f"note-{i}.txt", f"Small note {i}: the quarterly figures were reviewed.".encode(), "text/plain"))
        for i in range(n)
    ]


def api_over_http(requests: int, workdir: Path) -> list[tuple[str, int, list[float]]]:
    stack = Stack(worker_loops=1, workdir=workdir)
    results: list[tuple[str, int, list[float]]] = []
    try:
        local = threading.local()

        def client() -> httpx.Client:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=stack.url, timeout=120)
            return local.client

        seed = httpx.post(f"{stack.url}{API}/jobs/process", files=_small_files(3), timeout=60).json()["job_id"]

        def check(response: httpx.Response, *ok: int) -> None:
            if response.status_code not in ok:
                raise SystemExit(f"{response.request.method} {response.request.url} -> {response.status_code}")

        def upload_and_submit() -> None:
            c = client()
            upload = c.post(f"{API}/uploads", json={"files": [{"name": "n.txt", "size_bytes": 40}]})
            check(upload, 200, 201)
            body = upload.json()
            target = body["files"][0]
            put = httpx.request(
                target.get("method", "PUT"), target["url"], content=b"x" * 40, headers=target.get("headers") or {}
            )
            check(put, 200)
            check(c.post(f"{API}/jobs/process", json={"upload_id": body["upload_id"]}), 200, 202)

        cases = {
            "GET /jobs/{id}": lambda: check(client().get(f"{API}/jobs/{seed}"), 200),
            "GET /jobs": lambda: check(client().get(f"{API}/jobs", params={"limit": 50}), 200),
            "POST /jobs/process (JSON, upload id; includes its upload)": upload_and_submit,
            "POST /jobs/process (multipart, 10 files)": lambda: check(
                client().post(f"{API}/jobs/process", files=_small_files(10)), 202
            ),
        }
        for name, send in cases.items():
            for concurrency in (1, 16):
                count = requests if "process" not in name else max(16, requests // 4)
                results.append((name, concurrency, _time_requests(send, count, concurrency)))
    finally:
        stack.stop()
    return results


def api_in_process(requests: int) -> list[tuple[str, int, list[float]]]:
    """Through the Lambda handler with API Gateway v2 events, against moto in this process."""
    code = f"""
import json, os, sys, time
sys.path[:0] = [{str(REPO_ROOT)!r}, {str(REPO_ROOT / "functions")!r}]
for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ[k] = "testing"
os.environ.update(AWS_DEFAULT_REGION="us-east-1", POWERTOOLS_TRACE_DISABLED="true",
                  POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING")
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("DATA_EXTRACT_API_KEY", None)
from moto import mock_aws
with mock_aws():
    import boto3, httpx
    from infra.local.resources import create_resources
    from infra.local.template import load_template
    os.environ.update(create_resources(boto3.session.Session(region_name="us-east-1"), load_template()))
    bucket = os.environ["DATA_EXTRACT_BUCKET_NAME"]
    os.environ["DATA_EXTRACT_API_ALLOWED_INPUT_ROOTS"] = "s3://" + bucket + "/"
    boto3.client("s3").put_object(Bucket=bucket, Key="in/a.txt", Body=b"hello")
    from tests.support.apigw import ApiGatewayTransport
    from data_extract.handlers.api import lambda_handler
    client = httpx.Client(transport=ApiGatewayTransport(lambda_handler), base_url="https://api.example.com")
    body = {{"input_path": "s3://" + bucket + "/in/"}}
    def check(r):
        assert r.status_code < 300, (r.request.url, r.status_code, r.text[:300])
    job = client.post("/api/v1/jobs/process", json=body).json()["job_id"]
    cases = {{
        "GET /jobs/{{id}}": lambda: check(client.get("/api/v1/jobs/" + job)),
        "GET /jobs": lambda: check(client.get("/api/v1/jobs", params={{"limit": 50}})),
        "POST /jobs/process (JSON, input_path)": lambda: check(client.post("/api/v1/jobs/process", json=body)),
        "POST /jobs/process (multipart, 10 files)": lambda: check(client.post("/api/v1/jobs/process", files=[
            ("files", ("n%d.txt" % i, b"Small note: the quarterly figures were reviewed.", "text/plain"))
            for i in range(10)])),
    }}
    out = {{}}
    for name, send in cases.items():
        times = []
        for _ in range({requests}):
            t = time.perf_counter()
            send()
            times.append((time.perf_counter() - t) * 1000)
        out[name] = times
    print(json.dumps(out))
"""
    done = subprocess.run(
        [PYTHON, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        return [(f"in-process run failed: {done.stderr.strip().splitlines()[-1] if done.stderr else '?'}", 1, [])]
    return [(name, 1, times) for name, times in json.loads(done.stdout.strip().splitlines()[-1]).items()]


def api_tables(in_process: list, over_http: list) -> list[str]:
    out = [
        "## API latency",
        "",
        "| path | where | clients | requests | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for where, rows in (("in-process (Mangum, moto in-process)", in_process), ("HTTP, local stack", over_http)):
        for name, concurrency, times in rows:
            out.append(
                f"| {name} | {where} | {concurrency} | {len(times)} | {percentile(times, 50):.1f} | "
                f"{percentile(times, 99):.1f} |"
            )
    return [*out, ""]


# ---------------------------------------------------------------- cold start


def handler_modules() -> dict[str, str]:
    from infra.local.template import load_template

    template = load_template()
    return {f.logical_id: f.handler.rpartition(".")[0] for f in template.functions.values()}


def _fresh_import_seconds(statement: str, env: dict[str, str]) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    done = subprocess.run(
        [PYTHON, "-c", code],
        cwd=REPO_ROOT / "functions",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{statement!r} failed: {done.stderr[-400:]}")
    return float(done.stdout.strip().splitlines()[-1])


FIRST_REQUEST = """
import json, sys, time
sys.path.insert(1, {root!r})
from infra.local.poller import LambdaContext
event = json.load(open({event!r}))
t = time.perf_counter()
import data_extract.handlers.api as h
imported = time.perf_counter()
r = h.lambda_handler(event, LambdaContext(function_name="api", memory_limit_in_mb=1024, timeout_seconds=29))
assert r["statusCode"] == 200, r
print(imported - t, time.perf_counter() - imported)
"""


def cold_start(repeat: int) -> list[str]:
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "DATA_EXTRACT_TABLE_NAME": "t",
        "DATA_EXTRACT_BUCKET_NAME": "b",
        "DATA_EXTRACT_WORK_QUEUE_URL": "q",
        "DATA_EXTRACT_FINALIZE_QUEUE_URL": "q",
    }
    baseline = statistics.median(_fresh_import_seconds("import fastapi, mangum, boto3", env) for _ in range(repeat))
    out = [
        f"## Cold start (fresh interpreter, median of {repeat})",
        "",
        "| module | import ms | x baseline |",
        "|---|---:|---:|",
        f"| `import fastapi, mangum, boto3` (baseline) | {baseline * 1000:.0f} | 1.00 |",
    ]
    for function, module in sorted(handler_modules().items()):
        seconds = statistics.median(_fresh_import_seconds(f"import {module}", env) for _ in range(repeat))
        out.append(f"| {function}: `{module}` | {seconds * 1000:.0f} | {seconds / baseline:.2f} |")
    event = REPO_ROOT / "tests" / "events" / "api_http_v2_get_health.json"
    firsts = []
    for _ in range(repeat):
        done = subprocess.run(
            [PYTHON, "-c", FIRST_REQUEST.format(root=str(REPO_ROOT), event=str(event))],
            cwd=REPO_ROOT / "functions",
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode == 0:
            firsts.append(float(done.stdout.split()[-1]))
    if firsts:
        out.append(
            f"| ApiFunction: first request after import (`GET /api/v1/health`) | "
            f"{statistics.median(firsts) * 1000:.0f} | |"
        )
    return [*out, ""]


# ---------------------------------------------------------------- memory


def _proc_status(pid: int | str) -> dict[str, str]:
    """``/proc/<pid>/status`` as a mapping of its fields."""
    lines = Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines()
    return {name: value.strip() for name, _, value in (line.partition(":") for line in lines) if value}


def _rss_kib(pid: int) -> tuple[int, int]:
    """The process's resident set now and at its peak (VmRSS, VmHWM), in KiB."""
    fields = _proc_status(pid)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _worker_pid(stack_pid: int) -> int:
    """The one worker process of an ``--isolated-workers`` stack: the stack's child running the worker loop."""
    for status in Path("/proc").glob("[0-9]*/status"):
        with contextlib.suppress(OSError, KeyError, ValueError):
            cmdline = (status.parent / "cmdline").read_bytes()
            if b"infra.local.worker_loop" in cmdline and int(_proc_status(status.parent.name)["PPid"]) == stack_pid:
                return int(status.parent.name)
    raise SystemExit(f"the local stack (pid {stack_pid}) runs no worker loop process")


def worker_memory(files: list[CorpusFile], total: int, job_size: int, workdir: Path) -> list[str]:
    """The worker process's RSS after each job of ``job_size`` files, until ``total`` files went through it.

    One worker process (as one Lambda container) takes every unit; the mixed batch is cycled with OCR off, so
    the run measures the worker's own memory across many files rather than Tesseract's time. Extraction runs
    in a forked child per file, which takes its memory with it when it exits; what could grow is the worker
    process itself (clients, caches, logs, metrics).
    """
    stack = Stack(worker_loops=1, workdir=workdir, isolated_workers=True)
    samples: list[tuple[int, int, int, float]] = []
    try:
        with httpx.Client(base_url=stack.url, timeout=300) as client:
            done = 0
            while done < total:
                batch = [files[(done + i) % len(files)] for i in range(min(job_size, total - done))]
                started = time.perf_counter()
                wait_for(client, submit_multipart(client, batch, ocr="false"))
                done += len(batch)
                rss, peak = _rss_kib(_worker_pid(stack.process.pid))
                samples.append((done, rss, peak, time.perf_counter() - started))
                print(f"memory: {done} files, worker RSS {rss / 1024:.1f} MiB (peak {peak / 1024:.1f})", flush=True)
    finally:
        stack.stop()
    out = [
        f"## Worker memory over {total:,} files (one worker process, OCR off)",
        "",
        f"{len(files)} corpus files cycled in jobs of {job_size}; the worker process's resident set after each job.",
        "",
        "| files | RSS MiB | peak RSS MiB | job s |",
        "|---:|---:|---:|---:|",
    ]
    out += [f"| {n:,} | {rss / 1024:.1f} | {peak / 1024:.1f} | {sec:.1f} |" for n, rss, peak, sec in samples]
    if len(samples) >= 3:
        # Over the second half of the run: the first jobs pay imports and fill caches once; a leak keeps growing.
        first, last = samples[len(samples) // 2 - 1], samples[-1]
        per_1000 = (last[1] - first[1]) / 1024 / max(1, last[0] - first[0]) * 1000
        out += ["", f"Growth from {first[0]:,} to {last[0]:,} files: {per_1000:+.1f} MiB per 1,000 files."]
    return [*out, ""]


# ---------------------------------------------------------------- size


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def package_sizes() -> list[str]:
    build = REPO_ROOT / ".aws-sam" / "build"
    out = ["## Deployable size (unzipped, `sam build`)", ""]
    if not build.is_dir():
        return [
            *out,
            "No `.aws-sam/build`: run `make build` first (its Tesseract layer needs Docker; sizes built resource by "
            'resource with `sam build <ResourceId>` are under "The targets, read").',
            "",
        ]
    from infra.local.template import parse_template_text

    document = parse_template_text((build / "template.yaml").read_text(encoding="utf-8"))
    resources = document["Resources"]
    out += ["| function | code MB | layers MB | total MB | of 250 MB |", "|---|---:|---:|---:|---:|"]
    for name, resource in sorted(resources.items()):
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        code = _tree_bytes(build / name) if (build / name).is_dir() else 0
        layers = 0
        for layer in resource["Properties"].get("Layers", []):
            if isinstance(layer, dict) and "Ref" in layer and (build / layer["Ref"]).is_dir():
                layers += _tree_bytes(build / layer["Ref"])
        total = (code + layers) / 1e6
        out.append(f"| {name} | {code / 1e6:.1f} | {layers / 1e6:.1f} | {total:.1f} | {total / 250:.0%} |")
    return [*out, ""]


# ---------------------------------------------------------------- cost


def cost_table(run: E2eRun, pdf_run_pages: int) -> list[str]:
    from infra.local.template import load_template

    template = load_template()
    memory_gb = {f.logical_id: f.memory_mb / 1024 for f in template.functions.values()}
    # Billed duration of a unit: its pipeline time plus its own AWS round trips (Lambda bills the invocation).
    worker_ms_per_unit = run.pipeline_ms_per_unit + sum(run.service_ms_per_unit().values())
    finalize_ms = sum(ms for _, ms in run.calls_by("FinalizeFunction").values())
    per_unit_lambda = worker_ms_per_unit / 1000 * memory_gb.get("WorkerFunction", 2) * LAMBDA_GB_SECOND
    # One invocation per batch of 5 units (the template's BatchSize), so request charges are shared.
    per_unit_lambda += LAMBDA_REQUEST / 5
    per_job_lambda = finalize_ms / 1000 * memory_gb.get("FinalizeFunction", 1) * LAMBDA_GB_SECOND + LAMBDA_REQUEST

    def requests_cost(caller: str) -> float:
        cost = 0.0
        for (service, operation), (count, _) in run.calls_by(caller).items():
            if service == "dynamodb":
                cost += count * (
                    DYNAMODB_WRITES.get(operation, 0) * DYNAMODB_WRITE_UNIT
                    + DYNAMODB_READS.get(operation, 0) * DYNAMODB_READ_UNIT
                )
            elif service == "s3":
                cost += count * (S3_PUT if operation in S3_PUTS else S3_GET)
            elif service == "sqs":
                cost += count * SQS_REQUEST
        return cost

    per_unit_requests = requests_cost("WorkerFunction") / max(1, run.files)
    per_job_requests = requests_cost("FinalizeFunction")
    per_file = per_unit_lambda + per_unit_requests + (per_job_lambda + per_job_requests) / max(1, run.files)
    per_1000_files = per_file * 1000
    pages_per_file = pdf_run_pages / max(1, run.files) if pdf_run_pages else 1
    per_1000_pages = per_1000_files / max(pages_per_file, 1e-9)
    out = [
        f"## Cost (list prices of {PRICES_AS_OF}, us-east-1, x86_64)",
        "",
        f"From the {run.label} run with {run.loops} loop(s): {worker_ms_per_unit:.0f} ms billed per file unit at "
        f"{memory_gb.get('WorkerFunction', 2) * 1024:.0f} MB, its measured AWS requests, and finalize once per "
        "job. The API request of the submit is left out (one per job).",
        "",
        "| what | USD per 1,000 files | USD per 1,000 pages |",
        "|---|---:|---:|",
        f"| data-extract on Lambda (this batch: {pages_per_file:.1f} pages per file) | {per_1000_files:.4f} | "
        f"{per_1000_pages:.4f} |",
    ]
    for name, price, note in HOSTED_PER_1000_PAGES:
        out.append(f"| {name} ({note}) | | {price:.2f} |")
    return [*out, ""]


# ---------------------------------------------------------------- report


def environment_lines() -> list[str]:
    return [
        f"- **date**: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- **machine**: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "- **stack**: moto server on loopback; every AWS call is a real HTTP round trip to it",
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", default="e2e,api,cold,memory,size,cost")
    parser.add_argument("--memory-files", type=int, default=1000)
    parser.add_argument("--loops", default="1,2,4")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--whole-corpus", action="store_true")
    parser.add_argument("--api-requests", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--corpus")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    sections = set(args.sections.split(","))
    workdir = Path(tempfile.mkdtemp(prefix="service-bench-"))
    lines = [
        "# Service benchmark",
        "",
        "`tests/benchmarks/service_bench.py` (see its docstring for the method).",
        "",
        *environment_lines(),
    ]
    runs: list[E2eRun] = []
    try:
        if "e2e" in sections or "cost" in sections:
            files = manifest(corpus_dir(args.corpus))
            batches = [(f"{args.batch}-file mixed batch", mixed_batch(files, args.batch))]
            if args.whole_corpus:
                batches.append((f"whole corpus ({len(files)} files)", files))
            for label, batch in batches:
                for loops in [int(n) for n in args.loops.split(",")]:
                    print(f"e2e: {label}, {loops} loop(s)...", flush=True)
                    runs.append(run_e2e(label, batch, loops, workdir))
            lines += e2e_tables(runs)
            lines += round_trip_tables(runs[0])
        if "api" in sections:
            print("api: in-process...", flush=True)
            in_process = api_in_process(args.api_requests)
            print("api: over HTTP...", flush=True)
            lines += api_tables(in_process, api_over_http(args.api_requests, workdir))
        if "cold" in sections:
            print("cold start...", flush=True)
            lines += cold_start(args.repeat)
        if "memory" in sections:
            corpus_files = manifest(corpus_dir(args.corpus))
            lines += worker_memory(mixed_batch(corpus_files, args.batch), args.memory_files, args.batch, workdir)
        if "size" in sections:
            lines += package_sizes()
        if "cost" in sections and runs:
            lines += cost_table(runs[0], runs[0].pdf_pages)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = "\n".join(lines)
    print(report)
    if args.write:
        analysis = ""
        if REPORT_PATH.exists():
            previous = REPORT_PATH.read_text(encoding="utf-8")
            if ANALYSIS_MARKER in previous:
                analysis = "\n" + previous[previous.index(ANALYSIS_MARKER) :]
        REPORT_PATH.write_text(report + "\n" + (analysis or f"\n{ANALYSIS_MARKER}\n"), encoding="utf-8")
        print(f"written to {REPORT_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load test against a running local stack: many clients submitting jobs of mixed corpus files, bounded.

    PORT=8000 make run                                   # in one shell
    .venv/bin/python tests/benchmarks/load_test.py [--jobs 500 --clients 50] [--write]

Submits ``--jobs`` jobs from ``--clients`` concurrent clients: each job holds one to three small corpus files
(every format of the corpus below ``--max-file-bytes``), sent as multipart or through a presigned upload (every
``--presigned-every``-th job); every ``--duplicate-every``-th submission repeats the previous one with the same
``Idempotency-Key`` (it must name the same job, 200 with ``Idempotent-Replayed: true``); every
``--cancel-every``-th job is cancelled right after it is submitted (202, or 409 when it had already ended). Then it
polls every job until it ends and checks: every job terminal, every file of every job accounted for (terminal,
none pending), duplicates named one job, and not a single 5xx. It prints throughput and p50/p99 submit and status
latencies; ``--write`` puts them into docs/benchmarks.md (its own section, kept by the extraction benchmark).

Bounded: the number of jobs is fixed, and ``--timeout`` ends the run (as a failure) if jobs are still running.
Loopback only: the API URL and every presigned URL must point at 127.0.0.1/localhost, or the script refuses.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
REPORT_PATH = REPO_ROOT / "docs" / "benchmarks.md"
SECTION_START = "<!-- load-test: written by tests/benchmarks/load_test.py --write -->"
SECTION_END = "<!-- load-test: end -->"
TERMINAL = {"completed", "partial", "failed", "cancelled"}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _require_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise SystemExit(f"refusing {url}: the load test only talks to loopback (127.0.0.1)")


def corpus_files(corpus: Path, max_bytes: int) -> list[Path]:
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    picked = [corpus / r["path"] for r in rows if int(r["bytes"]) <= max_bytes and (corpus / r["path"]).is_file()]
    if not picked:
        raise SystemExit(f"no corpus files of at most {max_bytes} bytes under {corpus}")
    return sorted(picked)


class RequestFailed(Exception):
    """A request got no HTTP answer (recorded as a problem)."""


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    submit_ms: list[float] = field(default_factory=list)
    status_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def record(self, what: str, response: httpx.Response, elapsed_ms: float) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            if what == "submit":
                self.submit_ms.append(elapsed_ms)
            elif what == "status":
                self.status_ms.append(elapsed_ms)
            if response.status_code >= 500:
                self.server_errors.append(
                    f"{what} {response.request.method} {response.request.url.path}: "
                    f"{response.status_code} {response.text[:200]}"
                )

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)


@dataclass
class Submitted:
    index: int
    job_id: str
    files: list[str]
    cancelled: bool = False
    replay_of: int | None = None
    key: str = ""
    paths: list[Path] = field(default_factory=list)
    upload_id: str | None = None


class LoadTest:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.api = args.base_url.rstrip("/") + "/api/v1"
        self.headers = {"X-API-Key": args.api_key} if args.api_key else {}
        self.files = corpus_files(args.corpus, args.max_file_bytes)
        self.stats = Stats()
        self.local = threading.local()

    def http(self) -> httpx.Client:
        if not hasattr(self.local, "client"):
            self.local.client = httpx.Client(headers=self.headers, timeout=self.args.request_timeout)
        return self.local.client

    def _call(self, what: str, method: str, url: str, **kwargs) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = self.http().request(method, url, **kwargs)
        except httpx.TransportError as exc:  # no answer within the timeout, connection reset: a failed request
            self.stats.problem(
                f"{what} {method} {urlsplit(url).path}: {type(exc).__name__} after "
                f"{time.perf_counter() - started:.0f} s"
            )
            with self.stats.lock:
                self.stats.statuses["no answer"] += 1
            raise RequestFailed from exc
        self.stats.record(what, response, (time.perf_counter() - started) * 1000)
        return response

    def _pick(self, index: int) -> list[Path]:
        rng = random.Random(self.args.seed * 100_003 + index)
        return rng.sample(self.files, rng.randint(1, min(3, len(self.files))))

    def _names(self, paths: list[Path]) -> list[str]:
        return [f"{i}-{p.name}" for i, p in enumerate(paths)]  # distinct names within a job

    def _submit_multipart(self, paths: list[Path], key: str) -> httpx.Response:
        parts = [
            ("files", (name, p.read_bytes(), "application/octet-stream"))
            for name, p in zip(self._names(paths), paths, strict=True)
        ]
        return self._call("submit", "POST", f"{self.api}/jobs/process", files=parts, headers={"Idempotency-Key": key})

    def _upload(self, paths: list[Path]) -> str | None:
        """The presigned flow: ask for URLs, upload each file straight to S3 (moto); returns the upload_id."""
        spec = {
            "files": [
                {"name": n, "size_bytes": p.stat().st_size, "content_type": "application/octet-stream"}
                for n, p in zip(self._names(paths), paths, strict=True)
            ]
        }
        upload = self._call("upload", "POST", f"{self.api}/uploads", json=spec)
        if upload.status_code != 201:
            self.stats.problem(f"POST /uploads answered {upload.status_code}: {upload.text[:200]}")
            return None
        body = upload.json()
        for target, path in zip(body["files"], paths, strict=True):
            _require_loopback(target["url"])
            data = path.read_bytes()
            if target.get("method", "PUT").upper() == "POST":  # presigned POST: form fields, then the file
                put = httpx.post(
                    target["url"],
                    data=target.get("fields") or {},
                    files={"file": (target["name"], data)},
                    timeout=120,
                )
            else:
                put = httpx.put(target["url"], content=data, headers=target.get("headers") or {}, timeout=120)
            if put.status_code >= 300:
                self.stats.problem(f"presigned upload of {target['name']} answered {put.status_code}")
        return body["upload_id"]

    def _submit_upload_id(self, upload_id: str, key: str, what: str = "submit") -> httpx.Response:
        return self._call(
            what, "POST", f"{self.api}/jobs/process", json={"upload_id": upload_id}, headers={"Idempotency-Key": key}
        )

    def submit(self, index: int, last: Submitted | None) -> Submitted | None:
        """Job ``index``; a replay of ``last`` (this client's previous submission) every duplicate_every-th time."""
        args = self.args
        if last is not None and index % args.duplicate_every == 0:
            response = (
                self._submit_upload_id(last.upload_id, last.key)
                if last.upload_id
                else self._submit_multipart(last.paths, last.key)
            )
            if response.status_code != 200 or response.headers.get("Idempotent-Replayed") != "true":
                self.stats.problem(
                    f"job {index}: replay answered {response.status_code} "
                    f"(Idempotent-Replayed: {response.headers.get('Idempotent-Replayed')})"
                )
                return None
            return Submitted(
                index,
                response.json()["job_id"],
                last.files,
                replay_of=last.index,
                key=last.key,
                paths=last.paths,
                upload_id=last.upload_id,
            )
        key, paths = f"load-{uuid.uuid4().hex}", self._pick(index)
        started = time.perf_counter()
        upload_id = None
        if index % args.presigned_every == 0:
            upload_id = self._upload(paths)
            if upload_id is None:
                return None
            response = self._submit_upload_id(upload_id, key, what="submit-upload-id")
            with self.stats.lock:  # the user waits for the whole flow: it counts as the submit
                self.stats.submit_ms.append((time.perf_counter() - started) * 1000)
        else:
            response = self._submit_multipart(paths, key)
        if response.status_code != 202:
            self.stats.problem(f"job {index}: submit answered {response.status_code}: {response.text[:200]}")
            return None
        job = Submitted(
            index, response.json()["job_id"], self._names(paths), key=key, paths=paths, upload_id=upload_id
        )
        if index % args.cancel_every == 3:
            cancel = self._call("cancel", "POST", f"{self.api}/jobs/{job.job_id}/cancel")
            if cancel.status_code not in (202, 409):
                self.stats.problem(f"job {index}: cancel answered {cancel.status_code}: {cancel.text[:200]}")
            job.cancelled = cancel.status_code == 202
        return job

    def poll(self, job: Submitted, deadline: float) -> dict | None:
        while time.monotonic() < deadline:
            try:
                response = self._call(
                    "status", "GET", f"{self.api}/jobs/{job.job_id}", params={"file_limit": 10, "event_limit": 1}
                )
            except RequestFailed:
                continue
            if response.status_code == 200 and response.json()["status"] in TERMINAL:
                return response.json()
            time.sleep(self.args.poll_interval)
        self.stats.problem(f"job {job.index} ({job.job_id}) still running at the deadline")
        return None

    def run(self) -> dict:
        args = self.args
        started = time.monotonic()
        deadline = started + args.timeout
        # Each client submits its share in order, so a replay follows the job it repeats.
        chunks = [list(range(c, args.jobs, args.clients)) for c in range(args.clients)]

        def client_run(indices: list[int]) -> list[Submitted]:
            done: list[Submitted] = []
            for i in indices:
                try:
                    sub = self.submit(i, done[-1] if done else None)
                except RequestFailed:
                    continue
                if sub is not None:
                    done.append(sub)
            return done

        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            submitted = [s for batch in pool.map(client_run, chunks) for s in batch]
        submit_seconds = time.monotonic() - started
        # Fewer pollers than submitters: on the local stack the API, moto and the workers share one process, and
        # fifty clients polling without pause would mostly measure their own load.
        with ThreadPoolExecutor(max_workers=args.poll_clients) as pool:
            finals = list(pool.map(lambda s: (s, self.poll(s, deadline)), submitted))
        total_seconds = time.monotonic() - started

        by_job: dict[str, list[Submitted]] = {}
        for s in submitted:
            by_job.setdefault(s.job_id, []).append(s)
        outcome = Counter()
        files_total = 0
        for s, detail in finals:
            if detail is None:
                continue
            outcome[detail["status"]] += 1
            progress = detail["progress"]
            if progress["total"] != len(s.files) or progress["pending"]:
                self.stats.problem(f"job {s.index}: {progress} for {len(s.files)} submitted files")
            if progress["processed"] + progress["failed"] + progress["skipped"] != progress["total"]:
                self.stats.problem(f"job {s.index}: counts do not add up: {progress}")
            if s.replay_of is None:
                files_total += progress["total"]
            if s.cancelled and detail["status"] not in ("cancelled", "completed", "partial", "failed"):
                self.stats.problem(f"job {s.index}: cancelled but {detail['status']}")
        replays = [s for s in submitted if s.replay_of is not None]
        for s in replays:
            original = next((o for o in submitted if o.index == s.replay_of), None)
            if original is not None and original.job_id != s.job_id:
                self.stats.problem(f"job {s.index}: replay named {s.job_id}, not {original.job_id}")
        distinct = len(by_job)
        return {
            "jobs_submitted": len(submitted),
            "distinct_jobs": distinct,
            "replays": len(replays),
            "cancel_requests": sum(1 for s in submitted if s.cancelled),
            "files": files_total,
            "outcomes": dict(sorted(outcome.items())),
            "submit_seconds": submit_seconds,
            "total_seconds": total_seconds,
            "submit_rate": len(submitted) / submit_seconds,
            "file_rate": files_total / total_seconds,
            "job_rate": distinct / total_seconds,
            "submit_p50": _percentile(self.stats.submit_ms, 50),
            "submit_p99": _percentile(self.stats.submit_ms, 99),
            "status_p50": _percentile(self.stats.status_ms, 50),
            "status_p99": _percentile(self.stats.status_ms, 99),
            "status_requests": len(self.stats.status_ms),
            "http_statuses": dict(sorted(self.stats.statuses.items())),
            "server_errors": len(self.stats.server_errors),
            "problems": list(self.stats.problems),
            "corpus_files": len(self.files),
        }


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(pct) - 1] if pct < 100 else max(values)


def render(report: dict, args: argparse.Namespace) -> str:
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
            ).stdout.strip()
            or "unknown"
        )
    except OSError:
        commit = "unknown"
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    verdict = "passed" if not report["problems"] and not report["server_errors"] else "FAILED"
    lines = [
        SECTION_START,
        "## Load test (local stack)",
        "",
        "Generated by `tests/benchmarks/load_test.py --write` against `make run` on loopback (see its docstring). "
        "The local stack runs each function one invocation at a time, so throughput here is a floor for one "
        "machine, not what Lambda's concurrency gives.",
        "",
        f"- **date**: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {commit}; "
        f"python {platform.python_version()}; {os.cpu_count()} cores, load average {load[0]:.2f} at the end",
        f"- **run**: {args.jobs} submissions from {args.clients} concurrent clients; 1-3 corpus files per job "
        f"({report['corpus_files']} corpus files of at most {args.max_file_bytes} bytes, mixed formats); every "
        f"{args.presigned_every}th job presigned, every {args.duplicate_every}th submission an idempotent replay, "
        f"every {args.cancel_every}th job cancelled; then {args.poll_clients} clients read job status every "
        f"{args.poll_interval:g} s until every job ended",
        f"- **verdict**: {verdict}: {report['distinct_jobs']} jobs all terminal ({_outcomes(report['outcomes'])}), "
        f"{report['files']} files accounted for, {report['replays']} replays named their original job, "
        f"{report['server_errors']} responses 5xx",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| submissions / s (while submitting) | {report['submit_rate']:.1f} |",
        f"| jobs finished / s (submit to last terminal) | {report['job_rate']:.2f} |",
        f"| files finished / s | {report['file_rate']:.2f} |",
        f"| submit latency p50 / p99 ms | {report['submit_p50']:.0f} / {report['submit_p99']:.0f} |",
        f"| status latency p50 / p99 ms ({report['status_requests']} requests) | {report['status_p50']:.0f} / "
        f"{report['status_p99']:.0f} |",
        f"| wall time s (submitting / total) | {report['submit_seconds']:.1f} / {report['total_seconds']:.1f} |",
        f"| HTTP statuses | {', '.join(f'{k}: {v}' for k, v in report['http_statuses'].items())} |",
        "",
        f"Command: `.venv/bin/python tests/benchmarks/load_test.py --base-url {args.base_url} --jobs {args.jobs} "
        f"--clients {args.clients} --max-file-bytes {args.max_file_bytes} --poll-interval {args.poll_interval:g} "
        f"--poll-clients {args.poll_clients} --write` with `PORT={urlsplit(args.base_url).port} make run`.",
        SECTION_END,
    ]
    return "\n".join(lines) + "\n"


def _outcomes(outcomes: dict) -> str:
    return ", ".join(f"{v} {k}" for k, v in outcomes.items()) or "none"


def write_section(section: str) -> None:
    text = REPORT_PATH.read_text(encoding="utf-8") if REPORT_PATH.exists() else ""
    if SECTION_START in text and SECTION_END in text:
        before = text[: text.index(SECTION_START)]
        after = text[text.index(SECTION_END) + len(SECTION_END) :].lstrip("\n")
        text = before + section + ("\n" + after if after else "")
    else:
        # At the end, below the extraction report's hand-written analysis, which its --write keeps.
        text = text.rstrip("\n") + "\n\n" + section
    REPORT_PATH.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}")
    parser.add_argument("--api-key", default=os.environ.get("DATA_EXTRACT_API_KEY", ""))
    parser.add_argument("--corpus", type=Path, default=REPO_ROOT.parent / "shared" / "corpus")
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--max-file-bytes", type=int, default=150_000)
    parser.add_argument("--presigned-every", type=int, default=4)
    parser.add_argument("--duplicate-every", type=int, default=10)
    parser.add_argument("--cancel-every", type=int, default=10)
    parser.add_argument("--poll-interval", type=float, default=3.0, help="seconds between two status reads of a job")
    parser.add_argument("--poll-clients", type=int, default=5, help="concurrent clients reading job status")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before the run ends as a failure")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--request-timeout", type=float, default=300.0, help="seconds one request may take")
    parser.add_argument("--write", action="store_true", help=f"write the numbers into {REPORT_PATH.name}")
    args = parser.parse_args(argv)
    if not 1 <= args.jobs <= 5000 or not 1 <= args.clients <= 200:
        raise SystemExit("--jobs must be 1..5000 and --clients 1..200 (bounded on purpose)")
    _require_loopback(args.base_url)
    if httpx.get(f"{args.base_url}/api/v1/health", timeout=10).status_code != 200:
        raise SystemExit(f"no local stack answers at {args.base_url}")

    report = LoadTest(args).run()
    for key in (
        "jobs_submitted",
        "distinct_jobs",
        "replays",
        "cancel_requests",
        "files",
        "outcomes",
        "http_statuses",
        "server_errors",
    ):
        print(f"{key:>18}: {report[key]}")
    print(
        f"{'throughput':>18}: {report['submit_rate']:.1f} submissions/s, {report['job_rate']:.2f} jobs/s, "
        f"{report['file_rate']:.2f} files/s"
    )
    print(f"{'submit latency':>18}: p50 {report['submit_p50']:.0f} ms, p99 {report['submit_p99']:.0f} ms")
    print(f"{'status latency':>18}: p50 {report['status_p50']:.0f} ms, p99 {report['status_p99']:.0f} ms")
    print(f"{'wall time':>18}: {report['submit_seconds']:.1f} s submitting, {report['total_seconds']:.1f} s in all")
    for problem in report["problems"][:50]:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    if args.write:
        write_section(render(report, args))
        print(f"wrote {REPORT_PATH.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 1 if report["problems"] or report["server_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""A worker process of the local stack killed with SIGKILL while it extracts a file: the stack starts another, the
file's message comes back after the work queue's visibility timeout, and the job ends with every file processed
exactly once.

The stack runs a copy of template.yaml in which the work queue's visibility timeout is seconds instead of twenty
minutes, so the redelivery happens within the test; the worker's timeout, the extraction's and the batch size
change with it (see ``short_redelivery_template``). ``--isolated-workers`` keeps the work off the stack's own
process: every worker is a loop process (a child of the stack) that logs ``START``/``END`` lines with its pid and
the messages it holds, so the test knows which process to kill and when.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import boto3
import httpx
import pytest

from infra.local.template import parse_template_text
from tests.support.local_stack import free_port, running_stack, stack_environment

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

# Redelivery within the test: a message a dead process held is visible again this long after it was received.
WORK_VISIBILITY_SECONDS = 30
# AWS requires a queue's visibility timeout of at least its consumer's timeout; the extraction's own bound stays
# below the function's, as the template's 120 s does below 180 s.
WORKER_TIMEOUT_SECONDS = 30
EXTRACT_TIMEOUT_SECONDS = 25
FILES = 6
# Text of this size takes seconds to split into sentences and chunks, long enough to kill a process inside it.
FILE_BYTES = 3 * 1024 * 1024
# The kill goes to a process whose START line was logged this long ago (and whose file is running): the
# extraction that follows the claim takes longer than the window's end, so the kill lands mid-file.
KILL_AFTER_START_SECONDS = (0.3, 1.5)

STARTED = re.compile(r"WorkerFunction: worker process (\d+) started")
KILLED = re.compile(r"WorkerFunction: worker process (\d+) was killed by SIGKILL")
START = re.compile(r"START RequestId: (\S+) Version: \S+ Process: (\d+) Records: (.*)")
END = re.compile(r"END RequestId: (\S+) Process: (\d+)")
RECORD = re.compile(r"(\S+) \(receive (\d+)\)")
BUCKET = re.compile(r"^\s+bucket\s+(\S+)", re.MULTILINE)
TABLE = re.compile(r"^\s+table\s+(\S+)", re.MULTILINE)


def short_redelivery_template(directory: Path) -> Path:
    """template.yaml with the work queue redelivering after seconds; written as JSON (a template form
    CloudFormation reads too), with the code directory made absolute since the copy lives elsewhere."""
    template = parse_template_text((REPO / "template.yaml").read_text())
    resources = template["Resources"]
    resources["WorkQueue"]["Properties"]["VisibilityTimeout"] = WORK_VISIBILITY_SECONDS
    worker = resources["WorkerFunction"]["Properties"]
    worker["Timeout"] = WORKER_TIMEOUT_SECONDS
    # One file per invocation: the process killed mid-batch is killed mid-file, and no other file of its batch
    # waits behind the visibility timeout with it.
    worker["Events"]["WorkQueue"]["Properties"]["BatchSize"] = 1
    template["Globals"]["Function"]["CodeUri"] = str(REPO / template["Globals"]["Function"]["CodeUri"])
    path = directory / "template.json"
    path.write_text(json.dumps(template, indent=1))
    return path


def text_file(seed: int) -> bytes:
    rng = random.Random(seed)
    words = [
        "the",
        "audit",
        "tested",
        "each",
        "control",
        "and",
        "found",
        "the",
        "revenue",
        "report",
        "complete",
        "while",
        "the",
        "board",
        "reviewed",
        "every",
        "finding",
        "of",
        "the",
        "quarter",
        "before",
        "the",
        "filing",
    ]
    parts: list[str] = []
    size = 0
    while size < FILE_BYTES:
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(8, 20))).capitalize() + ". "
        if rng.random() < 0.1:
            sentence += "\n\n"
        parts.append(sentence)
        size += len(sentence)
    return "".join(parts).encode()


@dataclass
class Invocation:
    pid: int
    records: dict[str, int]  # message id -> ApproximateReceiveCount
    started_at: float  # time.time() of its START line
    ended: bool = False


class StackLog:
    """The stack's output: plain lines and the JSON lines of the functions' loggers."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[tuple[float | None, str]]:
        """(when it was logged, if the line says, message) for each line."""
        lines = []
        for line in self.path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    pass
                else:
                    # Powertools' timestamp: "2026-12-01 14:00:19,306+0000"
                    logged = (
                        datetime.strptime(record["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z").timestamp()
                        if "timestamp" in record
                        else None
                    )
                    lines.append((logged, str(record.get("message", ""))))
                    continue
            lines.append((None, line))
        return lines

    def messages(self) -> list[str]:
        return [message for _, message in self.lines()]

    def started_pids(self) -> list[int]:
        return [int(m.group(1)) for m in map(STARTED.search, self.messages()) if m]

    def invocations(self) -> dict[str, Invocation]:
        found: dict[str, Invocation] = {}
        for logged, message in self.lines():
            if (start := START.search(message)) and logged is not None:
                records = {m.group(1): int(m.group(2)) for m in RECORD.finditer(start.group(3))}
                found[start.group(1)] = Invocation(int(start.group(2)), records, logged)
            elif (end := END.search(message)) and end.group(1) in found:
                found[end.group(1)].ended = True
        return found


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state; the name may hold spaces


def wait_for(condition, what: str, seconds: float, log: StackLog):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what} within {seconds:.0f} s:\n" + "\n".join(log.messages()[-60:]))


def test_given_a_worker_process_killed_mid_file_when_its_message_returns_then_each_file_is_processed_once(tmp_path):
    port, moto_port = free_port(), free_port()
    env = stack_environment(
        PORT=str(port), MOTO_PORT=str(moto_port), DATA_EXTRACT_EXTRACT_TIMEOUT_SECONDS=str(EXTRACT_TIMEOUT_SECONDS)
    )
    command = [
        sys.executable,
        "-m",
        "infra.local.stack",
        "--template",
        str(short_redelivery_template(tmp_path)),
        "--worker-loops",
        "2",
        "--isolated-workers",
    ]
    log = StackLog(tmp_path / "stack.log")
    aws = {
        "endpoint_url": f"http://127.0.0.1:{moto_port}",
        "region_name": "us-east-1",
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }

    with (
        running_stack(command, port=port, env=env, log_path=log.path, start_seconds=120, stop_seconds=90) as (
            base,
            stack,
        ),
        httpx.Client(base_url=f"{base}/api/v1", timeout=120) as http,
    ):
        first_pids = wait_for(
            lambda: len(log.started_pids()) == 2 and log.started_pids(), "two worker processes started", 30, log
        )
        assert all(parent_of(pid) == stack.pid for pid in first_pids), (first_pids, stack.pid)
        names = [f"long-{i}.txt" for i in range(FILES)]
        job_id = http.post(
            "/jobs/process", files=[("files", (name, text_file(i), "text/plain")) for i, name in enumerate(names)]
        ).json()["job_id"]

        # A process mid-file: its START is recent, and as many files are running as processes hold one (one file
        # per invocation), read between two identical reads of the log.
        deadline = time.monotonic() + 180
        victim: tuple[str, Invocation] | None = None
        while victim is None:
            assert time.monotonic() < deadline, "no worker process was seen mid-file:\n" + "\n".join(
                log.messages()[-60:]
            )
            before = log.invocations()
            files = http.get(f"/jobs/{job_id}", params={"file_limit": 100}).json()["files"]
            after = log.invocations()
            now = time.time()
            held = {rid: inv for rid, inv in after.items() if not inv.ended}
            running = {f["file_id"] for f in files if f["status"] == "running"}
            if before == after and held and len(running) >= len(held):
                victim = next(
                    (
                        (rid, inv)
                        for rid, inv in held.items()
                        if inv.pid in first_pids
                        and KILL_AFTER_START_SECONDS[0] <= now - inv.started_at <= KILL_AFTER_START_SECONDS[1]
                    ),
                    None,
                )
            if victim is None:
                time.sleep(0.1)
        victim_request, victim_invocation = victim
        killed_pid = victim_invocation.pid
        os.kill(killed_pid, signal.SIGKILL)
        running_at_kill = running

        # The stack notices and starts another process in its place.
        wait_for(
            lambda: any(int(m.group(1)) == killed_pid for m in map(KILLED.search, log.messages()) if m),
            f"the stack logging that worker process {killed_pid} was killed",
            30,
            log,
        )
        replacements = wait_for(
            lambda: [p for p in log.started_pids() if p not in first_pids], "a replacement worker process", 30, log
        )
        assert len(replacements) == 1 and parent_of(replacements[0]) == stack.pid, (replacements, stack.pid)

        def ended_job() -> dict | None:
            detail = http.get(f"/jobs/{job_id}", params={"file_limit": 100, "event_limit": 5000}).json()
            return detail if detail["status"] in ("completed", "partial", "failed", "cancelled") else None

        detail = wait_for(ended_job, f"job {job_id} ending", WORK_VISIBILITY_SECONDS + 150, log)
        invocations = log.invocations()
        banner = log.path.read_text()
        bucket, table = BUCKET.search(banner).group(1), TABLE.search(banner).group(1)
        outputs = [
            o["Key"]
            for page in boto3.client("s3", **aws)
            .get_paginator("list_objects_v2")
            .paginate(Bucket=bucket, Prefix=f"jobs/{job_id}/outputs/")
            for o in page.get("Contents", [])
        ]
        units = boto3.client("dynamodb", **aws).query(
            TableName=table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :file)",
            ExpressionAttributeValues={":pk": {"S": f"JOB#{job_id}"}, ":file": {"S": "FILE#"}},
        )["Items"]
        assert stack.poll() is None, "the stack died"

    assert stack.returncode == 0, "\n".join(log.messages()[-60:])
    assert len(log.started_pids()) == 3, "a worker process was started while the stack stopped"

    # The job ended completed, every file processed, and the counts add up.
    progress = detail["progress"]
    assert detail["status"] == "completed", json.dumps(detail)[:3000]
    assert progress["total"] == FILES and progress["pending"] == 0
    assert progress["processed"] + progress["failed"] + progress["skipped"] == progress["total"]
    assert progress["processed"] == FILES
    result = detail["result_payload"]
    assert (result["processed_count"], result["failed_count"], result["skipped_count"]) == (
        progress["processed"],
        progress["failed"],
        progress["skipped"],
    )
    assert sorted(f["source_path"] for f in detail["files"]) == names
    assert {f["status"] for f in detail["files"]} == {"processed"}
    # One result per file: one file event each, one record each, one output each.
    file_events = Counter(e["payload"]["unit_id"] for e in detail["events"] if e["event_type"] == "file")
    assert len(file_events) == FILES and set(file_events.values()) == {1}, file_events
    assert len(units) == FILES and {u["status"]["S"] for u in units} == {"processed"}
    assert len(outputs) == FILES, outputs

    # The killed file was claimed twice (the killed process's claim, then the redelivery's) and only that one;
    # every other file once.
    attempts = {u["SK"]["S"].removeprefix("FILE#"): int(u["attempts"]["N"]) for u in units}
    claimed_twice = {unit for unit, count in attempts.items() if count == 2}
    assert len(claimed_twice) == 1 and claimed_twice <= running_at_kill, (attempts, running_at_kill)
    assert Counter(attempts.values()) == {1: FILES - 1, 2: 1}, attempts
    # SQS delivered the killed process's message again, to a live process, as its second receive.
    assert not invocations[victim_request].ended
    (message_id,) = victim_invocation.records
    redeliveries = [inv for rid, inv in invocations.items() if message_id in inv.records and rid != victim_request]
    assert [(inv.records[message_id], inv.ended) for inv in redeliveries] == [(2, True)], (victim, invocations)
    assert redeliveries[0].pid != killed_pid

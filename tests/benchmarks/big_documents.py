"""Big documents across workers: wall time of a long text PDF and a long scan on the local stack.

Run from the repository root with the project venv::

    .venv/bin/python tests/benchmarks/big_documents.py [--text-pages 3000] [--scan-pages 300] [--worker-loops 2]

It generates the documents itself (``tests/support/long_pdf.py``: 30 lines of text per page; a scan is one
rendered image of two lines of large text per page), starts the local stack (``python -m infra.local.stack
--worker-loops N`` with the settings' default page-range sizes), submits each document as a job of its own
(multipart), and polls ``GET /jobs/{id}`` every 500 ms until the job ends. The wall time runs from the submit
request to the first poll that sees the job ended (split, every range read, the merge in finalize). It prints one
Markdown table row per document: pages, page-range units (from the job's ``split`` event), worker loops, status,
chunks, wall time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "functions")]

from tests.support.local_stack import free_port, running_stack, stack_environment  # noqa: E402 - after sys.path
from tests.support.long_pdf import scanned_pdf, text_pdf  # noqa: E402 - after sys.path


def _run_job(http: httpx.Client, api: str, name: str, data: bytes, timeout_s: float) -> dict[str, Any]:
    started = time.perf_counter()
    resp = http.post(f"{api}/jobs/process", files=[("files", (name, data, "application/pdf"))])
    resp.raise_for_status()
    job_id = resp.json()["job_id"]
    detail: dict[str, Any] = {}
    while time.perf_counter() - started < timeout_s:
        detail = http.get(f"{api}/jobs/{job_id}").json()
        if detail["status"] in ("completed", "partial", "failed", "cancelled"):
            break
        time.sleep(0.5)
    wall = time.perf_counter() - started
    split = [e for e in detail.get("events", []) if e["event_type"] == "split"]
    processed = (detail.get("result_payload") or {}).get("processed_files") or [{}]
    return {
        "status": detail.get("status"),
        "ranges": split[0]["payload"]["ranges"] if split else 1,
        "chunks": processed[0].get("chunk_count"),
        "wall_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text-pages", type=int, default=3000)
    parser.add_argument("--scan-pages", type=int, default=300)
    parser.add_argument("--worker-loops", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds one job may take")
    args = parser.parse_args()
    started = time.perf_counter()
    documents = [
        (f"text-{args.text_pages}.pdf", args.text_pages, text_pdf(args.text_pages)),
        (f"scan-{args.scan_pages}.pdf", args.scan_pages, scanned_pdf(args.scan_pages)),
    ]
    print(f"generated in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="big-documents-")) / "stack.log"
    command = [sys.executable, "-m", "infra.local.stack", "--worker-loops", str(args.worker_loops)]
    with running_stack(command, port=port, env=stack_environment(PORT=str(port)), log_path=log) as (base, _):
        print("| document | pages | bytes | units | worker loops | status | chunks | wall s |")
        print("|---|---:|---:|---:|---:|---|---:|---:|")
        with httpx.Client(timeout=120) as http:
            for name, pages, data in documents:
                row = _run_job(http, f"{base}/api/v1", name, data, args.timeout)
                print(
                    f"| {name} | {pages} | {len(data)} | {row['ranges']} | {args.worker_loops} | {row['status']} "
                    f"| {row['chunks']} | {row['wall_s']} |",
                    flush=True,
                )
    print(f"stack log: {log}", file=sys.stderr)


if __name__ == "__main__":
    main()

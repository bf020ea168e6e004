"""Through the local stack, as the original service's clients use it: its web client's multipart form and JSON
path-mode body, then polling, listing and downloading; incremental runs over an S3 prefix, also concurrently."""

from __future__ import annotations

import hashlib
import re
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import boto3
import httpx
import pytest

from tests.support.local_stack import free_port, running_stack, stack_environment

REPO = Path(__file__).resolve().parents[2]
INPUT_BUCKET = "local-inputs"
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    port, moto_port = free_port(), free_port()
    log_path = tmp_path_factory.mktemp("stack") / "stack.log"
    env = stack_environment(
        PORT=str(port),
        MOTO_PORT=str(moto_port),
        DATA_EXTRACT_API_ALLOWED_INPUT_ROOTS=f"s3://{INPUT_BUCKET}/incoming/",
    )
    with running_stack([sys.executable, "-m", "infra.local.stack"], port=port, env=env, log_path=log_path) as (
        base,
        _,
    ):
        table = re.search(r"^\s+table\s+(\S+)", log_path.read_text(), re.MULTILINE).group(1)
        aws = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
        endpoint = f"http://127.0.0.1:{moto_port}"
        s3 = aws.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=INPUT_BUCKET)
        yield {
            "api": f"{base}/api/v1",
            "s3": s3,
            "table": aws.resource("dynamodb", endpoint_url=endpoint).Table(table),
        }


def _wait(http: httpx.Client, api: str, job_id: str, timeout: float = 180) -> dict:
    """Poll as the original's client does: GET the detail until the status is terminal."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail = http.get(f"{api}/jobs/{job_id}", params={"file_limit": 2000, "event_limit": 2000}).json()
        if detail["status"] in ("completed", "partial", "failed"):
            return detail
        time.sleep(0.5)
    pytest.fail(f"job {job_id} did not finish in {timeout} s: {detail['status']}")


def _download_all(http: httpx.Client, api: str, job_id: str) -> dict[str, bytes]:
    """List, then download every artifact the way the original's client builds the URL (encodeURIComponent)."""
    listing = http.get(f"{api}/jobs/{job_id}/artifacts").json()
    assert listing["job_id"] == job_id
    out = {}
    for artifact in listing["artifacts"]:
        assert set(artifact) == {"path", "size_bytes", "modified_at"}
        resp = http.get(f"{api}/jobs/{job_id}/artifacts/{quote(artifact['path'], safe='')}")
        assert resp.status_code == 200, (artifact["path"], resp.text)
        assert len(resp.content) == artifact["size_bytes"]
        out[artifact["path"]] = resp.content
    return out


def test_the_original_web_client_submits_polls_lists_and_downloads(stack):
    api, s3 = stack["api"], stack["s3"]
    with httpx.Client(timeout=15) as http:
        # Upload mode: exactly the parts the original's New Run page posts.
        form = {
            "output_format": "json",
            "chunk_size": "512",
            "recursive": "true",
            "incremental": "false",
            "preset": "",
            "semantic": "true",
            "semantic_report": "true",
            "semantic_report_format": "html",
            "semantic_export_graph": "true",
            "semantic_graph_format": "json",
        }
        files = [
            ("files", ("reports/alpha.txt", b"Alpha report. The first control passed review.", "text/plain")),
            ("files", ("reports/q3/beta.md", b"# Beta\n\nThe second control failed.", "text/markdown")),
        ]
        resp = http.post(f"{api}/jobs/process", files=files, data=form)
        assert resp.status_code == 202, resp.text
        upload_job = resp.json()["job_id"]

        # Path mode: the JSON body it posts, with the same options as JSON types.
        s3.put_object(Bucket=INPUT_BUCKET, Key="incoming/web/a.txt", Body=b"Path mode text. One sentence.")
        s3.put_object(Bucket=INPUT_BUCKET, Key="incoming/web/sub/b.txt", Body=b"Nested path mode text.")
        body = {
            "input_path": f"s3://{INPUT_BUCKET}/incoming/web",
            "output_format": "json",
            "chunk_size": 512,
            "recursive": True,
            "incremental": False,
            "preset": None,
            "include_semantic": True,
            "semantic_report": True,
            "semantic_report_format": "html",
            "semantic_export_graph": True,
            "semantic_graph_format": "json",
            "non_interactive": True,
        }
        resp = http.post(f"{api}/jobs/process", json=body)
        assert resp.status_code == 202, resp.text
        path_job = resp.json()["job_id"]

        for job_id, expected in (
            (upload_job, {"reports/alpha.txt", "reports/q3/beta.md"}),
            (path_job, {"a.txt", "sub/b.txt"}),
        ):
            detail = _wait(http, api, job_id)
            assert detail["status"] == "completed", detail
            assert {f["source_path"] for f in detail["files"]} == expected
            assert {f["status"] for f in detail["files"]} == {"processed"}
            types = [e["event_type"] for e in detail["events"]]
            assert types[0] == "queued" and "running" in types and "finished" in types and "completed" in types
            assert detail["result_payload"]["processed_count"] == 2
            artifacts = _download_all(http, api, job_id)
            assert "result.json" in artifacts
            assert any(p.startswith("outputs/") and p.endswith(".json") for p in artifacts)
        assert set(detail["ignored_fields"]) == {"non_interactive"}  # the path-mode job

        listed = http.get(f"{api}/jobs", params={"limit": 200}).json()
        assert {upload_job, path_job} <= {j["job_id"] for j in listed}
        assert all(
            set(j) >= {"job_id", "status", "input_path", "output_dir", "created_at", "session_id"} for j in listed
        )


def _state(stack, source_id: str) -> dict[str, dict]:
    from boto3.dynamodb.conditions import Key

    digest = hashlib.sha256(source_id.encode()).hexdigest()[:32]
    items = stack["table"].query(
        KeyConditionExpression=Key("PK").eq(f"SOURCE#{digest}") & Key("SK").begins_with("PATH#")
    )["Items"]
    return {i["path"]: i for i in items}


def _submit(http: httpx.Client, api: str, **body) -> str:
    resp = http.post(f"{api}/jobs/process", json=body)
    assert resp.status_code == 202, resp.text
    return resp.json()["job_id"]


def test_incremental_runs_over_an_s3_prefix(stack):
    api, s3 = stack["api"], stack["s3"]
    root = f"s3://{INPUT_BUCKET}/incoming/inc/"
    bodies = {f"doc{i}.txt": f"Document {i}. It has a sentence about control {i}.".encode() for i in range(5)}
    for name, body in bodies.items():
        s3.put_object(Bucket=INPUT_BUCKET, Key=f"incoming/inc/{name}", Body=body)
    with httpx.Client(timeout=15) as http:
        run1 = _wait(http, api, _submit(http, api, input_path=root, incremental=True))
        assert [f["status"] for f in run1["files"]].count("processed") == 5

        s3.put_object(Bucket=INPUT_BUCKET, Key="incoming/inc/doc1.txt", Body=b"Document 1, revised.")
        s3.put_object(Bucket=INPUT_BUCKET, Key="incoming/inc/new.txt", Body=b"A new document.")
        s3.delete_object(Bucket=INPUT_BUCKET, Key="incoming/inc/doc4.txt")
        run2 = _wait(http, api, _submit(http, api, input_path=root, incremental=True))
        by_status = {}
        for f in run2["files"]:
            by_status.setdefault((f["status"], f["error_type"]), set()).add(f["source_path"])
        assert by_status == {
            ("processed", None): {"doc1.txt", "new.txt"},
            ("skipped", "unchanged"): {"doc0.txt", "doc2.txt", "doc3.txt"},
        }
        assert all(f["current_job_id"] == run1["job_id"] for f in run2["files"] if f["status"] == "skipped")
        result = run2["result_payload"]
        assert (result["processed_count"], result["skipped_count"], result["deleted_count"]) == (2, 3, 1)
        assert result["deleted_files"] == ["doc4.txt"]
        unchanged_output = next(f for f in run2["files"] if f["source_path"] == "doc0.txt")["current_output_path"]
        holder = http.get(f"{api}/jobs/{run1['job_id']}/artifacts/{unchanged_output.split('/', 2)[2]}")
        assert holder.status_code == 200 and "Document 0." in holder.json()["content"]

        run3 = _wait(http, api, _submit(http, api, input_path=root, incremental=True, force=True))
        assert [f["status"] for f in run3["files"]] == ["processed"] * 5
        assert {e["job_id"] for e in _state(stack, root).values()} == {run3["job_id"]}


def test_two_concurrent_incremental_runs_of_one_source(stack):
    api, s3 = stack["api"], stack["s3"]
    root = f"s3://{INPUT_BUCKET}/incoming/race/"
    for i in range(6):
        s3.put_object(Bucket=INPUT_BUCKET, Key=f"incoming/race/r{i}.txt", Body=f"Race file {i}.".encode())
    with httpx.Client(timeout=15) as http:
        base = _wait(http, api, _submit(http, api, input_path=root, incremental=True))["job_id"]
        for i in (0, 1, 2):
            s3.put_object(
                Bucket=INPUT_BUCKET, Key=f"incoming/race/r{i}.txt", Body=f"Race file {i}, changed.".encode()
            )
        s3.put_object(Bucket=INPUT_BUCKET, Key="incoming/race/r6.txt", Body=b"Race file 6, new.")
        s3.delete_object(Bucket=INPUT_BUCKET, Key="incoming/race/r5.txt")

        job_ids: list[str] = []
        barrier = threading.Barrier(2)

        def submit() -> None:
            with httpx.Client(timeout=15) as own:
                barrier.wait()
                job_ids.append(_submit(own, api, input_path=root, incremental=True))

        threads = [threading.Thread(target=submit) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        details = {j: _wait(http, api, j) for j in job_ids}
        assert all(d["status"] == "completed" for d in details.values())

    state = _state(stack, root)
    contents = {
        o["Key"].rsplit("/", 1)[1]: s3.get_object(Bucket=INPUT_BUCKET, Key=o["Key"])["Body"].read()
        for o in s3.list_objects_v2(Bucket=INPUT_BUCKET, Prefix="incoming/race/")["Contents"]
    }
    # Any serial order of the two runs leaves: every current file with its current content, the deleted one gone,
    assert {p: e["sha256"] for p, e in state.items()} == {
        p: hashlib.sha256(b).hexdigest() for p, b in contents.items()
    }
    # the untouched files still held by the base run, and every changed or new file held by one same run (the
    # first to commit; the second finds them unchanged).
    assert {state[f"r{i}.txt"]["job_id"] for i in (3, 4)} == {base}
    holders = {state[p]["job_id"] for p in ("r0.txt", "r1.txt", "r2.txt", "r6.txt")}
    assert len(holders) == 1 and holders <= set(job_ids)
    (holder,) = holders
    outputs = {f["source_path"]: f["output_path"] for f in details[holder]["files"]}
    assert all(state[p]["output_path"] == outputs[p] for p in ("r0.txt", "r1.txt", "r2.txt", "r6.txt"))

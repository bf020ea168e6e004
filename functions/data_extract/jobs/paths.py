"""Where things live in the bucket, and the guards that keep paths inside a job."""

from __future__ import annotations

import re
import secrets
from urllib.parse import unquote

from data_extract.jobs.errors import BadRequest

_DRIVE = re.compile(r"^[A-Za-z]:$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def new_job_id() -> str:
    return secrets.token_hex(8)


def new_session_id() -> str:
    return secrets.token_hex(4)


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/"


def input_key(job_id: str, rel_path: str) -> str:
    return f"jobs/{job_id}/inputs/{rel_path}"


def output_key(job_id: str, name: str) -> str:
    return f"jobs/{job_id}/outputs/{name}"


def result_artifact_key(job_id: str) -> str:
    # Outside outputs/, so no source file's output can ever collide with it.
    return f"jobs/{job_id}/result.json"


def result_record_key(job_id: str, run: int) -> str:
    # Records survive artifact cleanup: the job's result stays readable after DELETE /artifacts.
    return f"records/jobs/{job_id}/result-{run:03d}.json"


def chunk_record_key(job_id: str, unit_id: str) -> str:
    # The chunks of one processed file, kept for the corpus semantic stage (cleanup removes them with the job's
    # artifacts: they hold the documents' text).
    return f"{chunk_record_prefix(job_id)}{unit_id}.json.gz"


def chunk_record_prefix(job_id: str) -> str:
    return f"records/jobs/{job_id}/chunks/"


def semantic_record_key(job_id: str, run: int) -> str:
    # The semantic stage's outcome for a run; finalize reads it into the result.
    return f"records/jobs/{job_id}/semantic-{run:03d}.json"


def semantic_artifact_key(job_id: str, name: str) -> str:
    return f"jobs/{job_id}/semantic/{name}"


def session_record_key(session_id: str) -> str:
    return f"records/sessions/{session_id}.json"


SESSION_RECORD_PREFIX = "records/sessions/"


def upload_prefix(upload_id: str) -> str:
    return f"uploads/{upload_id}/"


def sanitize_upload_name(name: str) -> str | None:
    """A client-supplied file name -> a safe relative path, or None when nothing usable remains.

    Backslashes become slashes; empty, '.', '..' and drive-letter parts are dropped, so
    '/etc/passwd' -> 'etc/passwd' and '..\\..\\x\\a.txt' -> 'x/a.txt'.
    """
    if _CONTROL.search(name):
        raise BadRequest(f"Invalid upload filename: {name!r} contains control characters")
    parts = [p.strip() for p in name.replace("\\", "/").split("/")]
    kept = [p for p in parts if p not in ("", ".", "..") and not _DRIVE.match(p)]
    if not kept:
        return None
    rel = "/".join(kept)
    if len(rel.encode("utf-8")) > 900:
        raise BadRequest(f"Invalid upload filename: path longer than 900 bytes: {name[:80]!r}...")
    return rel


def validate_artifact_path(raw: str) -> str:
    """Reject any artifact path that could leave the job's prefix; return it unchanged otherwise.

    ``raw`` is the path as the router received it (already percent-decoded once).
    Anything still percent-encoded was double-encoded and is refused too.
    """
    if not raw or raw != raw.strip():
        raise BadRequest("Invalid artifact path")
    if "\x00" in raw or "\\" in raw or raw.startswith("/") or _CONTROL.search(raw):
        raise BadRequest("Invalid artifact path")
    if "%" in raw and unquote(raw) != raw:
        raise BadRequest("Invalid artifact path")
    segments = raw.split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        raise BadRequest("Invalid artifact path")
    return raw

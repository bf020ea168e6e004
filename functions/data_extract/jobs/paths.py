"""Where things live in the bucket, and the guards that keep paths inside a job."""

from __future__ import annotations

import re
import secrets

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


def upload_manifest_key(upload_id: str) -> str:
    # Beside the upload's prefix, not in it: never taken for one of the uploaded files.
    return f"uploads/{upload_id}.manifest.json"


def has_control_characters(text: str) -> bool:
    return _CONTROL.search(text) is not None


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


# S3 keys are at most 1024 bytes; no artifact path under a job's prefix can be longer than this, so a longer one is
# refused before any storage call.
MAX_ARTIFACT_PATH_BYTES = 1024 - len(job_prefix("0" * 16))
# What the OpenAPI document states for an artifact path (validate_artifact_path enforces the same).
ARTIFACT_PATH_PATTERN = r"^(?!/)(?!.*//)(?!(.*/)?\.{1,2}(/|$))[^\\\x00-\x1f\x7f]*[^/\\\x00-\x1f\x7f]$"


def validate_artifact_path(raw: str) -> str:
    """Reject any artifact path that could leave the job's prefix; return it unchanged otherwise.

    ``raw`` is the path as the router received it (percent-decoded once). It is used literally as the rest of an
    S3 key, never decoded again, so a '%' in it is an ordinary character: a file named ``50%25off.txt`` is
    downloaded as ``50%2525off.txt`` on the wire, like any other name.
    """
    if not raw:
        raise BadRequest("Invalid artifact path: empty")
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_ARTIFACT_PATH_BYTES:
        raise BadRequest(f"Invalid artifact path: longer than {MAX_ARTIFACT_PATH_BYTES} bytes (UTF-8)")
    if _CONTROL.search(raw):
        raise BadRequest("Invalid artifact path: control characters (NUL included) are not allowed")
    if "\\" in raw:
        raise BadRequest("Invalid artifact path: backslashes are not allowed")
    if raw.startswith("/"):
        raise BadRequest("Invalid artifact path: it must be relative to the job (no leading '/')")
    if any(seg in ("", ".", "..") for seg in raw.split("/")):
        raise BadRequest("Invalid artifact path: empty, '.' and '..' segments are not allowed")
    return raw

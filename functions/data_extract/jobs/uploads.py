"""Presigned uploads: what a client declares, what S3 lets it put, and what a job finally accepts.

Creating an upload records its manifest (each file's name and declared size) beside the upload's prefix and hands
out one presigned PUT per file with that size signed in (S3 refuses a body of any other length). Submitting the
upload re-checks what is really there against the manifest: every declared file present with exactly its declared
size, nothing undeclared, and the limits again on the real sizes, all before the job is created.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from data_extract.contract import UploadFileSpec, utc_now
from data_extract.jobs import paths
from data_extract.jobs.errors import BadRequest
from data_extract.settings import Settings
from data_extract.store import ObjectNotFound, Store
from data_extract.store.objects import ObjectInfo

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class UploadSlot:
    name: str
    size: int
    content_type: str
    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class CreatedUpload:
    upload_id: str
    expires_at: datetime
    slots: list[UploadSlot]


def create_upload(store: Store, settings: Settings, specs: list[UploadFileSpec]) -> CreatedUpload:
    from data_extract.jobs.submit import check_upload_limits

    declared: list[tuple[str, int, str]] = []
    seen: set[str] = set()
    for spec in specs:
        rel = paths.sanitize_upload_name(spec.name)
        if rel is None:
            raise BadRequest(f"Invalid upload filename: {spec.name[:200]!r} names no file (only '.', '..' or '/')")
        if rel in seen:
            raise BadRequest(f"Duplicate file name in upload: {rel}")
        seen.add(rel)
        declared.append((rel, spec.size_bytes, spec.content_type or "application/octet-stream"))
    check_upload_limits(settings, [(rel, size) for rel, size, _ in declared])

    upload_id = secrets.token_hex(12)
    ttl = settings.presigned_url_ttl_seconds
    expires_at = utc_now() + timedelta(seconds=ttl)
    # The manifest first: an upload whose URLs exist always has one.
    store.objects.put_json(
        paths.upload_manifest_key(upload_id),
        {
            "version": MANIFEST_VERSION,
            "upload_id": upload_id,
            "expires_at": expires_at.isoformat(),
            "files": [{"name": rel, "size_bytes": size, "content_type": ctype} for rel, size, ctype in declared],
        },
    )
    slots = []
    for rel, size, ctype in declared:
        url = store.objects.presign_put(paths.upload_prefix(upload_id) + rel, ttl, ctype, size)
        slots.append(UploadSlot(rel, size, ctype, url, {"Content-Type": ctype, "Content-Length": str(size)}))
    return CreatedUpload(upload_id, expires_at, slots)


def _manifest(store: Store, upload_id: str) -> dict[str, Any]:
    try:
        manifest = store.objects.get_json(paths.upload_manifest_key(upload_id))
    except ObjectNotFound:
        raise BadRequest(f"Unknown upload_id {upload_id}: create it with POST /api/v1/uploads first.") from None
    except ValueError:
        raise BadRequest(f"Upload {upload_id} has an unreadable manifest; create a new upload.") from None
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
        raise BadRequest(f"Upload {upload_id} has an unreadable manifest; create a new upload.")
    return manifest


def verify_uploaded(store: Store, upload_id: str, objects: list[ObjectInfo]) -> None:
    """Refuse the upload unless its objects are exactly the declared files at their declared sizes."""
    prefix = paths.upload_prefix(upload_id)
    manifest = _manifest(store, upload_id)
    declared = {f["name"]: int(f["size_bytes"]) for f in manifest.get("files", [])}
    present = {o.key[len(prefix) :]: o.size for o in objects}
    undeclared = sorted(set(present) - set(declared))
    if undeclared:
        raise BadRequest(f"Upload {upload_id} holds files that were never declared: {', '.join(undeclared[:20])}")
    missing = sorted(set(declared) - set(present))
    if missing:
        raise BadRequest(f"Upload {upload_id} is incomplete; PUT these files first: {', '.join(missing[:20])}")
    for name, size in sorted(present.items()):
        if size != declared[name]:
            raise BadRequest(
                f"File '{name}' of upload {upload_id} was declared as {declared[name]} bytes but "
                f"{size} bytes were uploaded; create a new upload with the real size."
            )

"""Presigned uploads: for files too big for an API Gateway request body."""

from __future__ import annotations

import secrets
from datetime import timedelta

from fastapi import APIRouter

from data_extract.api.deps import Authenticated, SettingsDep, StoreDep
from data_extract.api.responses import error_responses
from data_extract.contract import CreateUploadRequest, CreateUploadResponse, UploadTarget, utc_now
from data_extract.jobs import paths
from data_extract.jobs.errors import BadRequest
from data_extract.jobs.submit import check_upload_limits

router = APIRouter(prefix="/uploads", tags=["uploads"], dependencies=[Authenticated])


@router.post("", status_code=201, response_model=CreateUploadResponse,
             summary="Get presigned PUT URLs; then submit the job with this upload_id",
             responses=error_responses(400, 401, 413, 422))
def create_upload(body: CreateUploadRequest, store: StoreDep, settings: SettingsDep) -> CreateUploadResponse:
    names: list[tuple[str, str]] = []
    seen: set[str] = set()
    for spec in body.files:
        rel = paths.sanitize_upload_name(spec.name)
        if rel is None:
            raise BadRequest(f"Invalid upload filename: {spec.name}")
        if rel in seen:
            raise BadRequest(f"Duplicate file name in upload: {rel}")
        seen.add(rel)
        names.append((rel, spec.content_type or "application/octet-stream"))
    check_upload_limits(settings, [(paths.sanitize_upload_name(f.name) or f.name, f.size_bytes) for f in body.files])
    upload_id = secrets.token_hex(12)
    ttl = settings.presigned_url_ttl_seconds
    targets = [
        UploadTarget(name=rel, url=store.objects.presign_put(paths.upload_prefix(upload_id) + rel, ttl, ctype),
                     headers={"Content-Type": ctype})
        for rel, ctype in names
    ]
    return CreateUploadResponse(upload_id=upload_id, expires_at=utc_now() + timedelta(seconds=ttl), files=targets)

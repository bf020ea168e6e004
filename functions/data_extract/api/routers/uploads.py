"""Presigned uploads: for files too big for an API Gateway request body."""

from __future__ import annotations

from fastapi import APIRouter

from data_extract.api.deps import Authenticated, SettingsDep, StoreDep
from data_extract.api.responses import error_responses
from data_extract.contract import CreateUploadRequest, CreateUploadResponse, UploadTarget
from data_extract.jobs import uploads

router = APIRouter(prefix="/uploads", tags=["uploads"], dependencies=[Authenticated])


@router.post(
    "",
    status_code=201,
    response_model=CreateUploadResponse,
    summary="Get presigned PUT URLs; then submit the job with this upload_id",
    description="Each file gets a URL for a PUT of exactly its declared `size_bytes`, sent with the "
    "returned headers. Submitting the `upload_id` checks that every declared file is there "
    "with that size and nothing else is.",
    responses=error_responses(400, 401, 413, 422),
)
def create_upload(body: CreateUploadRequest, store: StoreDep, settings: SettingsDep) -> CreateUploadResponse:
    created = uploads.create_upload(store, settings, body.files)
    return CreateUploadResponse(
        upload_id=created.upload_id,
        expires_at=created.expires_at,
        files=[UploadTarget(name=s.name, url=s.url, headers=s.headers, size_bytes=s.size) for s in created.slots],
    )

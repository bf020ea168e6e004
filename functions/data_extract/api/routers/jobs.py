"""Jobs: submit (JSON or multipart), list, detail, retry, artifacts. HTTP concerns only."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from data_extract.api.deps import Authenticated, SettingsDep, StoreDep
from data_extract.api.responses import content_disposition, error_responses
from data_extract.contract import (
    ArtifactListResponse,
    CleanupResponse,
    EnqueueJobResponse,
    JobDetail,
    JobOptions,
    JobSummary,
    ProcessJobRequest,
)
from data_extract.jobs import cleanup, paths, query, retry, submit
from data_extract.jobs.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType

router = APIRouter(prefix="/jobs", tags=["jobs"], dependencies=[Authenticated])

_MULTIPART_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["files"],
    "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                  "description": "one part per file; the part's filename may be a relative path (dir/a.pdf)"},
        **{name: {"type": "string", "description": f"same meaning as the JSON field '{name}'"}
           for name in JobOptions.model_fields if name != "source_files"},
    },
}

_PROCESS_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ProcessJobRequest"}},
            "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
        },
    }
}

_LEGACY_FORM_ALIASES = {"semantic": "include_semantic"}


def _validation_error(exc: ValidationError) -> Unprocessable:
    # The same shape FastAPI gives its own validation errors.
    return Unprocessable([{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                          for e in exc.errors(include_url=False)])


async def _read_upload(part: UploadFile, name: str, settings) -> bytes:
    chunks, size = [], 0
    while block := await part.read(1024 * 1024):
        size += len(block)
        if size > settings.api_max_upload_file_bytes:
            raise PayloadTooLarge(
                f"File '{name}' exceeds per-file upload limit ({settings.api_max_upload_file_bytes} bytes)."
            )
        chunks.append(block)
    return b"".join(chunks)


async def _parse_multipart(request: Request, settings, store) -> tuple[JobOptions, submit.ResolvedInputs, dict]:
    try:
        form = await request.form(max_files=settings.api_max_upload_files + 1, max_fields=1000)
    except Exception as exc:  # noqa: BLE001 - the multipart parser's errors are client errors
        if "Too many files" in str(exc):
            raise PayloadTooLarge(f"Upload file count exceeds limit ({settings.api_max_upload_files}).") from None
        raise BadRequest(f"Malformed multipart body: {exc}") from None
    fields: dict[str, Any] = {}
    parts: list[UploadFile] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key == "files" and value.filename:
                parts.append(value)
            continue
        key = _LEGACY_FORM_ALIASES.get(key, key)
        if key == "export_graph":
            if value:
                fields["semantic_export_graph"] = "true"
                fields["semantic_graph_format"] = value
            continue
        if key == "source_files":
            fields.setdefault("source_files", []).append(value)
        elif value != "":
            fields[key] = value
    for ignored in ("input_path", "upload_id"):
        fields.pop(ignored, None)
    try:
        options = JobOptions.model_validate(fields)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    if not parts:
        raise BadRequest("Provide files upload or input_path")
    if len(parts) > settings.api_max_upload_files:
        raise PayloadTooLarge(f"Upload file count exceeds limit ({settings.api_max_upload_files}).")
    files: list[submit.InputFile] = []
    total = 0
    for part in parts:
        rel = paths.sanitize_upload_name(part.filename or "")
        if rel is None:
            continue
        data = await _read_upload(part, rel, settings)
        total += len(data)
        if total > settings.api_max_upload_total_bytes:
            raise PayloadTooLarge(f"Total upload payload exceeds limit ({settings.api_max_upload_total_bytes} bytes).")
        files.append(submit.InputFile(rel, store.objects.bucket, "", len(data), hashlib.sha256(data).hexdigest(),
                                      data=data, content_type=part.content_type or "application/octet-stream"))
    if not files:
        raise BadRequest("No usable file names in the upload")
    inputs = submit.ResolvedInputs(submit.dedupe_inputs(files), "upload")
    payload = {**options.model_dump(mode="json", exclude={"password"}), "input_path": "upload",
               "uploaded_files": [f.rel_path for f in inputs.files]}
    return options, inputs, payload


@router.post(
    "/process",
    status_code=202,
    response_model=EnqueueJobResponse,
    summary="Queue a new processing job",
    description="JSON `ProcessJobRequest` (input_path or upload_id) or multipart/form-data with `files` parts. "
                "202 for a new job; 200 with the existing job's real status for an idempotent replay.",
    openapi_extra=_PROCESS_OPENAPI,
    responses={200: {"model": EnqueueJobResponse, "description": "idempotent replay of an earlier submission"},
               **error_responses(400, 401, 409, 413, 415, 422, 503)},
)
async def process_job(
    request: Request,
    response: Response,
    settings: SettingsDep,
    store: StoreDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
) -> EnqueueJobResponse:
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        options, inputs, payload = await _parse_multipart(request, settings, store)
        source = submit.uploaded_source(inputs.files)

        def resolve() -> submit.ResolvedInputs:
            return inputs
    elif content_type.startswith("application/json") or not content_type:
        body = await request.body()
        try:
            req = ProcessJobRequest.model_validate_json(body or b"{}")
        except ValidationError as exc:
            raise _validation_error(exc) from None
        options = JobOptions.model_validate(req.model_dump(exclude={"input_path", "upload_id"},
                                                           exclude_unset=True))
        source = {"upload_id": req.upload_id} if req.upload_id else {"input_path": req.input_path}

        def resolve() -> submit.ResolvedInputs:
            if req.upload_id:
                return submit.resolve_upload_id(store, settings, req.upload_id)
            return submit.resolve_input_path(store, settings, req.input_path or "", options)
        payload = req.model_dump(mode="json", exclude={"password"})
    else:
        raise UnsupportedMediaType("Send application/json or multipart/form-data.")
    if idempotency_key:
        if options.idempotency_key and options.idempotency_key != idempotency_key:
            raise BadRequest("Idempotency-Key header and idempotency_key field differ")
        options = options.model_copy(update={"idempotency_key": idempotency_key})
        payload["idempotency_key"] = idempotency_key
    outcome = submit.submit_job(store, settings, options, source, resolve, payload)
    if not outcome.created:
        response.status_code = 200
    return EnqueueJobResponse(job_id=outcome.job_id, status=outcome.status)


@router.get("", response_model=list[JobSummary], summary="List jobs, newest first",
            responses=error_responses(401, 422))
def list_jobs(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[JobSummary]:
    return query.list_jobs(store, limit, offset)


JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="job id")]


@router.get("/{job_id}", response_model=JobDetail, summary="Job detail with files, events and live progress",
            responses=error_responses(401, 404, 422))
def get_job(
    job_id: JobId,
    store: StoreDep,
    file_limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    event_limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> JobDetail:
    return query.job_detail(store, job_id, file_limit, event_limit)


@router.post("/{job_id}/retry-failures", status_code=202, response_model=EnqueueJobResponse,
             summary="Requeue the failed file units of a finished job",
             responses=error_responses(401, 404, 409, 503))
def retry_failures(job_id: JobId, store: StoreDep, settings: SettingsDep) -> EnqueueJobResponse:
    status = retry.retry_failures(store, settings, job_id)
    return EnqueueJobResponse(job_id=job_id, status=status)


@router.delete("/{job_id}/artifacts", response_model=CleanupResponse,
               summary="Delete every artifact under the job's prefix",
               responses=error_responses(401, 404, 409))
def cleanup_artifacts(job_id: JobId, store: StoreDep) -> CleanupResponse:
    removed, count = cleanup.cleanup_artifacts(store, job_id)
    return CleanupResponse(job_id=job_id, removed=removed, removed_count=count)


@router.get("/{job_id}/artifacts", response_model=ArtifactListResponse, summary="List the job's artifacts",
            responses=error_responses(401, 404))
def list_artifacts(job_id: JobId, store: StoreDep) -> ArtifactListResponse:
    return ArtifactListResponse(job_id=job_id, artifacts=query.list_artifacts(store, job_id))


@router.get(
    "/{job_id}/artifacts/{artifact_path:path}",
    summary="Download an artifact",
    description="An output file of the job. The per-file JSON (`outputs/<source>.json`) holds `metadata`, "
    "`chunks`, `content` and `tables`: every table of the file as `{table_id, page | sheet | slide, bbox (PDF "
    "points, x0 y0 x1 y1 from the bottom left; null when unknown), n_rows, n_cols, header_rows, caption, "
    "continued_from (the table_id this one continues on the next page), cells: [{row, col, row_span, col_span, "
    "text, header}]}` with 0-based rows and columns; a table chunk's metadata names its `table_id`. With "
    "`table_csv` each table is also `outputs/<source>.tables/<table_id>.csv`.",
    response_class=Response,
    responses={
        200: {"description": "the artifact's bytes", "content": {"application/octet-stream": {}}},
        307: {"description": "too large to pass through: redirect to a short-lived presigned URL"},
        **error_responses(400, 401, 404),
    },
)
def download_artifact(job_id: JobId, artifact_path: str, store: StoreDep,
                      settings: SettingsDep) -> Response:
    paths.validate_artifact_path(artifact_path)
    found = query.locate_artifact(store, job_id, artifact_path)
    disposition = content_disposition(found.filename)
    # Binary bodies leave Lambda base64-encoded (4/3 larger); the response must stay under 6 MB.
    is_text = found.content_type.startswith(("text/", "application/json"))
    wire_size = found.size if is_text else (found.size * 4 + 2) // 3
    if wire_size > settings.api_inline_download_max_bytes:
        url = store.objects.presign_get(found.key, settings.presigned_url_ttl_seconds, disposition,
                                        found.content_type)
        return RedirectResponse(url, status_code=307)
    data = store.objects.get_bytes(found.key)
    return Response(content=data, media_type=found.content_type, headers={"Content-Disposition": disposition})

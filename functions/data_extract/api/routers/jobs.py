"""Jobs: submit (JSON or multipart), list, detail, retry, artifacts. HTTP concerns only."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from pydantic import PlainValidator, ValidationError
from starlette.datastructures import FormData, UploadFile

from data_extract.api.deps import Authenticated, SettingsDep, StoreDep
from data_extract.api.responses import content_disposition, error_responses
from data_extract.contract import (
    LEGACY_ALIAS_SCHEMA,
    ArtifactListResponse,
    CancelJobResponse,
    CleanupResponse,
    EnqueueJobResponse,
    JobDetail,
    JobOptions,
    JobSummary,
    ProcessJobRequest,
)
from data_extract.jobs import cancel, cleanup, paths, query, retry, submit
from data_extract.jobs.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from data_extract.settings import Settings
from data_extract.store import Store

router = APIRouter(prefix="/jobs", tags=["jobs"], dependencies=[Authenticated])

# Boolean option fields, and the alias of one of them (`semantic`).
FORM_BOOLEANS = frozenset(
    {name for name, f in JobOptions.model_fields.items() if f.annotation in (bool, bool | None)} | {"semantic"}
)

_MULTIPART_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["files"],
    "properties": {
        "files": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "one part per file; the part's filename may be a relative path (dir/a.pdf)",
        },
        **{
            name: {
                "type": "string",
                "description": (field.description or f"same meaning as the JSON field '{name}'")
                + (" (form booleans: 1/true/yes/on or 0/false/no/off)" if name in FORM_BOOLEANS else ""),
            }
            for name, field in JobOptions.model_fields.items()
            if name != "source_files"
        },
        "source_files": {
            "type": "array",
            "items": {"type": "string"},
            "description": "repeatable: process only these of the uploaded relative paths",
        },
        **LEGACY_ALIAS_SCHEMA,
    },
    "description": "Empty fields mean 'not given' (preset='' runs the applied default preset).",
}

# FastAPI documents the JSON media type from ``read_submission``'s body parameter; the multipart one joins it here.
_PROCESS_OPENAPI: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _MULTIPART_SCHEMA}}}
}

# Form booleans: true only for 1/true/yes/on, false for 0/false/no/off, anything else a 422 (a typo never flips an
# option silently).
_FORM_TRUE = frozenset({"1", "true", "yes", "on"})
_FORM_FALSE = frozenset({"0", "false", "no", "off"})


def _form_boolean(name: str, value: str) -> bool:
    text = value.strip().lower()
    if text in _FORM_TRUE:
        return True
    if text in _FORM_FALSE:
        return False
    raise Unprocessable(
        [
            {
                "loc": ["body", name],
                "type": "bool_parsing",
                "msg": f"Form boolean '{name}' must be 1/true/yes/on or 0/false/no/off, got {value!r}",
            }
        ]
    )


def _validation_error(exc: ValidationError) -> Unprocessable:
    # The same shape FastAPI gives its own validation errors.
    return Unprocessable(
        [{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors(include_url=False)]
    )


async def _read_upload(part: UploadFile, name: str, settings: Settings) -> bytes:
    chunks, size = [], 0
    while block := await part.read(1024 * 1024):
        size += len(block)
        if size > settings.api_max_upload_file_bytes:
            raise PayloadTooLarge(
                f"File '{name}' exceeds per-file upload limit ({settings.api_max_upload_file_bytes} bytes)."
            )
        chunks.append(block)
    return b"".join(chunks)


def _causes(exc: BaseException | None) -> Iterator[BaseException]:
    # Starlette raises its HTTPException while handling the parser's error: the reason is in the chain.
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


@dataclass(frozen=True)
class Submission:
    """A POST /jobs/process body, read and validated: what ``submit.submit_job`` takes."""

    options: JobOptions
    source: dict[str, Any]  # what the client sent, for the idempotency hash
    resolve: Callable[[], submit.ResolvedInputs]  # lists the files; called only for a new job
    payload: dict[str, Any]  # the request as the job records it (never the password)


async def _read_form(request: Request, settings: Settings) -> FormData:
    try:
        return await request.form(max_files=settings.api_max_upload_files + 1, max_fields=1000)
    except Exception as exc:
        if "Too many files" in str(exc):
            raise PayloadTooLarge(f"Upload file count exceeds limit ({settings.api_max_upload_files}).") from None
        if any("Maximum header size exceeded" in str(cause) for cause in _causes(exc)):
            # A part's header line holds its file name; only an absurdly long name makes it this large.
            raise BadRequest(
                "Malformed multipart body: a part's header is longer than 4 KB. File names (with "
                "their path) may be at most 900 bytes in UTF-8."
            ) from None
        raise BadRequest(f"Malformed multipart body: {exc}") from None


def _form_options(form: FormData) -> tuple[JobOptions, list[UploadFile]]:
    """The job options the form's fields give, and its file parts (in order)."""
    fields: dict[str, Any] = {}
    parts: list[UploadFile] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key == "files" and value.filename:
                parts.append(value)
            continue
        if key == "source_files":
            if value.strip():
                fields.setdefault("source_files", []).append(value)
        elif value.strip() == "":
            continue  # not given: the default applies (the applied preset for preset='')
        elif key in FORM_BOOLEANS:
            fields[key] = _form_boolean(key, value)
        else:
            fields[key] = value
    for ignored in ("input_path", "upload_id"):
        fields.pop(ignored, None)
    try:
        return JobOptions.model_validate(fields), parts
    except ValidationError as exc:
        raise _validation_error(exc) from None


async def _uploaded_files(parts: list[UploadFile], settings: Settings, store: Store) -> list[submit.InputFile]:
    """The parts' bytes within the upload limits; parts without a usable file name are left out."""
    files: list[submit.InputFile] = []
    total = 0
    for part in parts:
        rel = paths.sanitize_upload_name(part.filename or "")
        if rel is None:
            continue
        data = await _read_upload(part, rel, settings)
        total += len(data)
        if total > settings.api_max_upload_total_bytes:
            raise PayloadTooLarge(
                f"Total upload payload exceeds limit ({settings.api_max_upload_total_bytes} bytes)."
            )
        files.append(
            submit.InputFile(
                rel,
                store.objects.bucket,
                "",
                len(data),
                hashlib.sha256(data).hexdigest(),
                data=data,
                content_type=part.content_type or "application/octet-stream",
            )
        )
    return files


def _chosen_files(files: list[submit.InputFile], source_files: list[str] | None) -> list[submit.InputFile]:
    """The uploaded files ``source_files`` names (all of them when it names none)."""
    if not source_files:
        return files
    wanted = {paths.sanitize_upload_name(name) or name for name in source_files}
    missing = sorted(wanted - {f.rel_path for f in files})
    if missing:
        raise BadRequest(f"source_files not among the uploaded files: {', '.join(missing[:20])}")
    return [f for f in files if f.rel_path in wanted]


async def _multipart_submission(request: Request, settings: Settings, store: Store) -> Submission:
    options, parts = _form_options(await _read_form(request, settings))
    if not parts:
        raise BadRequest("Provide files upload or input_path")
    if len(parts) > settings.api_max_upload_files:
        raise PayloadTooLarge(f"Upload file count exceeds limit ({settings.api_max_upload_files}).")
    files = await _uploaded_files(parts, settings, store)
    if not files:
        raise BadRequest("No usable file names in the upload")
    inputs = submit.ResolvedInputs(submit.dedupe_inputs(_chosen_files(files, options.source_files)), "upload")
    payload = {
        **options.model_dump(mode="json", exclude={"password"}),
        "input_path": "upload",
        "uploaded_files": [f.rel_path for f in inputs.files],
    }
    return Submission(options, submit.uploaded_source(inputs.files), lambda: inputs, payload)


def _json_submission(body: bytes, settings: Settings, store: Store) -> Submission:
    try:
        req = ProcessJobRequest.model_validate_json(body or b"{}")
    except ValidationError as exc:
        raise _validation_error(exc) from None
    options = JobOptions.model_validate(req.model_dump(exclude={"input_path", "upload_id"}, exclude_unset=True))
    source: dict[str, Any] = {"upload_id": req.upload_id} if req.upload_id else {"input_path": req.input_path}

    def resolve() -> submit.ResolvedInputs:
        if req.upload_id:
            return submit.resolve_upload_id(store, settings, req.upload_id)
        return submit.resolve_input_path(store, settings, req.input_path or "", options)

    return Submission(options, source, resolve, req.model_dump(mode="json", exclude={"password"}))


def _with_idempotency_header(submission: Submission, key: str | None) -> Submission:
    """The Idempotency-Key header, when sent, is the submission's key (it must agree with the field)."""
    if not key:
        return submission
    if submission.options.idempotency_key and submission.options.idempotency_key != key:
        raise BadRequest("Idempotency-Key header and idempotency_key field differ")
    options = submission.options.model_copy(update={"idempotency_key": key})
    return replace(submission, options=options, payload={**submission.payload, "idempotency_key": key})


def _not_decoded_here(_: object) -> None:
    return None


# The JSON media type of the body, as the document shows it (FastAPI generates the ProcessJobRequest component
# from it). It carries no value: the route hands FastAPI the body undecoded (``_ReadsItsOwnBody``) and
# ``read_submission`` validates the bytes itself, so its errors are the same whichever way the body is wrong.
JsonBodyDocumented = Annotated[
    None,
    PlainValidator(_not_decoded_here, json_schema_input_type=ProcessJobRequest),
    Body(media_type="application/json"),
]


async def read_submission(
    request: Request,
    settings: SettingsDep,
    store: StoreDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)] = None,
    json_body: JsonBodyDocumented = None,
) -> Submission:
    """POST /jobs/process's body, by its content type: JSON (``ProcessJobRequest``) or multipart (``files`` parts
    and the ``JobOptions`` fields)."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        submission = await _multipart_submission(request, settings, store)
    elif content_type.startswith("application/json") or not content_type:
        submission = _json_submission(await request.body(), settings, store)
    else:
        raise UnsupportedMediaType("Send application/json or multipart/form-data.")
    return _with_idempotency_header(submission, idempotency_key)


class _UndecodedRequest(Request):
    """A request whose ``json()`` is its raw bytes: FastAPI decodes a JSON body before any dependency runs, and
    would answer a malformed one with its own error instead of the endpoint's."""

    async def json(self) -> Any:
        return await self.body()


class _ReadsItsOwnBody(APIRoute):
    """The route class of an endpoint that reads and validates its body itself (FastAPI's custom route class)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def undecoded(request: Request) -> Response:
            return await handle(_UndecodedRequest(request.scope, request.receive))

        return undecoded


async def process_job(
    submission: Annotated[Submission, Depends(read_submission)],
    response: Response,
    settings: SettingsDep,
    store: StoreDep,
) -> EnqueueJobResponse:
    outcome = submit.submit_job(
        store, settings, submission.options, submission.source, submission.resolve, submission.payload
    )
    if not outcome.created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return EnqueueJobResponse(job_id=outcome.job_id, status=outcome.status)


router.add_api_route(
    "/process",
    process_job,
    methods=["POST"],
    route_class_override=_ReadsItsOwnBody,
    status_code=202,
    response_model=EnqueueJobResponse,
    summary="Queue a new processing job",
    description="JSON `ProcessJobRequest` (input_path or upload_id) or multipart/form-data with `files` parts. "
    "202 for a new job; 200 with the existing job's real status for an idempotent replay.",
    openapi_extra=_PROCESS_OPENAPI,
    responses={
        200: {
            "model": EnqueueJobResponse,
            "description": "idempotent replay of an earlier submission",
            "headers": {
                "Idempotent-Replayed": {
                    "schema": {"type": "string", "enum": ["true"]},
                    "description": "set on replays only",
                }
            },
        },
        **error_responses(400, 401, 409, 413, 415, 422, 503),
    },
)


@router.get(
    "", response_model=list[JobSummary], summary="List jobs, newest first", responses=error_responses(401, 422)
)
def list_jobs(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[JobSummary]:
    return query.list_jobs(store, limit, offset)


JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="job id")]


@router.get(
    "/{job_id}",
    response_model=JobDetail,
    summary="Job detail with files, events and live progress",
    responses=error_responses(401, 404, 422),
)
def get_job(
    job_id: JobId,
    store: StoreDep,
    file_limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    event_limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> JobDetail:
    return query.job_detail(store, job_id, file_limit, event_limit)


@router.post(
    "/{job_id}/retry-failures",
    status_code=202,
    response_model=EnqueueJobResponse,
    summary="Requeue the failed file units of a finished job",
    responses=error_responses(401, 404, 409, 503),
)
def retry_failures(job_id: JobId, store: StoreDep, settings: SettingsDep) -> EnqueueJobResponse:
    status = retry.retry_failures(store, settings, job_id)
    return EnqueueJobResponse(job_id=job_id, status=status)


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    response_model=CancelJobResponse,
    summary="Cancel a queued or running job",
    description="Queued files are skipped without extraction, running ones stop at their next stage "
    "boundary; the job is `cancelling` until its run's finalize ends it `cancelled`. "
    "Idempotent while cancelling; 409 once the job has ended.",
    responses=error_responses(401, 404, 409),
)
def cancel_job(job_id: JobId, store: StoreDep) -> CancelJobResponse:
    outcome = cancel.cancel_job(store, job_id)
    return CancelJobResponse(job_id=job_id, status=outcome.status, cancel_requested_at=outcome.cancel_requested_at)


@router.delete(
    "/{job_id}/artifacts",
    response_model=CleanupResponse,
    summary="Delete every artifact under the job's prefix",
    responses=error_responses(401, 404, 409),
)
def cleanup_artifacts(job_id: JobId, store: StoreDep) -> CleanupResponse:
    removed, count = cleanup.cleanup_artifacts(store, job_id)
    return CleanupResponse(job_id=job_id, removed=removed, removed_count=count)


@router.get(
    "/{job_id}/artifacts",
    response_model=ArtifactListResponse,
    summary="List the job's artifacts",
    responses=error_responses(401, 404),
)
def list_artifacts(job_id: JobId, store: StoreDep) -> ArtifactListResponse:
    return ArtifactListResponse(job_id=job_id, artifacts=query.list_artifacts(store, job_id))


_DOWNLOAD_CSP = "default-src 'none'; sandbox"

ArtifactPath = Annotated[
    str,
    Path(
        description="the artifact's `path` exactly as the list shows it, percent-encoded like any URL path segment "
        "(`/` may be sent as `/` or `%2F`): relative, no empty, `.` or `..` segments, no backslash or "
        f"control characters, at most {paths.MAX_ARTIFACT_PATH_BYTES} bytes in UTF-8",
        json_schema_extra={"pattern": paths.ARTIFACT_PATH_PATTERN, "maxLength": paths.MAX_ARTIFACT_PATH_BYTES},
    ),
]


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
        200: {
            "description": "the artifact's bytes, as an attachment; anything a browser could run (HTML, SVG, "
            "scripts, unknown types) as application/octet-stream, except the service's own "
            "semantic report (semantic/*.html: text/html under a policy that runs no script)",
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in query.DOWNLOAD_MEDIA_TYPES},
        },
        307: {
            "description": "too large to pass through: redirect to a short-lived presigned URL",
            "headers": {"Location": {"schema": {"type": "string"}, "description": "presigned S3 URL"}},
        },
        **error_responses(400, 401, 404),
    },
)
def download_artifact(job_id: JobId, artifact_path: ArtifactPath, store: StoreDep, settings: SettingsDep) -> Response:
    paths.validate_artifact_path(artifact_path)
    found = query.locate_artifact(store, job_id, artifact_path)
    disposition = content_disposition(found.filename)
    # Binary bodies leave Lambda base64-encoded (4/3 larger); the response must stay under 6 MB.
    is_text = found.content_type.startswith(("text/", "application/json"))
    wire_size = found.size if is_text else (found.size * 4 + 2) // 3
    if wire_size > settings.api_inline_download_max_bytes:
        url = store.objects.presign_get(
            found.key, settings.presigned_url_ttl_seconds, disposition, found.content_type
        )
        return RedirectResponse(url, status_code=307)
    data = store.objects.get_bytes(found.key)
    # Opened directly anyway, the bytes get no script, no plugin and no origin of this API.
    csp = query.REPORT_CSP if found.content_type == query.REPORT_CONTENT_TYPE else _DOWNLOAD_CSP
    return Response(
        content=data,
        media_type=found.content_type,
        headers={"Content-Disposition": disposition, "Content-Security-Policy": csp},
    )

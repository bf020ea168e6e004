"""The per-file pipeline: bytes in, output files and a result out. Pure: no AWS, no HTTP.

detect -> extract (isolated: time and memory bounded) -> normalize -> chunk -> render outputs.
Every failure becomes a ``FileResult`` with a documented ``ErrorType``; nothing raises.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from data_extract.pipeline.output import OutputOptions
from data_extract.pipeline.types import Document, ErrorType, ExtractionError, ExtractOptions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineLimits:
    max_file_bytes: int
    timeout_s: float
    memory_mb: int
    isolate: bool = True  # run extraction in a child process (bounded time and memory)


@dataclass
class FileResult:
    status: str  # processed | failed | skipped
    file_hash: str
    detected_format: str | None = None
    chunk_count: int = 0
    outputs: list[Any] = field(default_factory=list)  # list[OutputFile]
    error_type: str | None = None
    error_message: str | None = None
    stage_timings_ms: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    page_count: int | None = None  # pages, slides or sheets the extractor read
    # The JSON object of every chunk (pipeline/output.py), kept for the corpus semantic stage.
    chunk_records: list[dict[str, Any]] = field(default_factory=list)


def chunk_source_key(source_path: str, file_hash: str, options: OutputOptions) -> str:
    """Deterministic per-file key for chunk ids: same path, bytes and chunk options -> same ids."""
    material = f"{source_path}\x00{file_hash}\x00{options.chunk_size}\x00{options.overlap}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


# Formats parsed by our own pure-Python code in time and memory linear in the (already size-limited)
# input: they run in-process. Everything else goes through native parsers (pdfium, libxml2, calamine,
# Pillow, Tesseract) and runs in a child process that a runaway parse cannot take down with it.
_IN_PROCESS_FORMATS = frozenset({"txt", "md", "log", "csv", "tsv"})


def _extract(data: bytes, filename: str, extract_options: ExtractOptions, limits: PipelineLimits) -> Document:
    from data_extract.pipeline.detect import detect_format
    from data_extract.pipeline.extract import get_extractor

    fmt = detect_format(data, filename)
    extractor = get_extractor(fmt)
    if not limits.isolate or fmt in _IN_PROCESS_FORMATS:
        return extractor(data, filename=filename, options=extract_options)
    from data_extract.pipeline.guard import run_isolated

    try:
        return run_isolated(
            extractor,
            data,
            filename=filename,
            options=extract_options,
            timeout_s=limits.timeout_s,
            memory_mb=limits.memory_mb,
        )
    except ExtractionError as exc:
        if exc.error_type is ErrorType.CORRUPT and "signal" in exc.details:
            # A native parser killed by a signal (SIGSEGV, SIGBUS, ...) is a bug in that parser, not proof that the
            # file is damaged: report it as ours. The guard has logged the crash.
            raise ExtractionError(
                ErrorType.INTERNAL_ERROR,
                f"The parser crashed on this file ({exc.details['signal']}); the crash has been logged.",
                **exc.details,
            ) from None
        raise


def _page_count(metadata: dict[str, Any]) -> int | None:
    for key in ("page_count", "slide_count", "sheet_count"):
        value = metadata.get(key)
        if isinstance(value, int) and value >= 0:
            return value
    return None


def process_file(
    data: bytes,
    *,
    source_path: str,
    options: OutputOptions,
    extract_options: ExtractOptions,
    limits: PipelineLimits,
    processing_timestamp: str,
) -> FileResult:
    result = FileResult(status="processed", file_hash=hashlib.sha256(data).hexdigest())
    with _failures_recorded(result, source_path):
        document = extract_document(data, source_path, extract_options, limits, result)
        _finish(document, result, source_path, options, processing_timestamp)
    return result


def extract_document(
    data: bytes, source_path: str, extract_options: ExtractOptions, limits: PipelineLimits, result: FileResult
) -> Document:
    """The extract stage alone (a page-range unit of a split PDF stops here); its facts go into ``result``."""
    if len(data) > limits.max_file_bytes:
        raise ExtractionError(
            ErrorType.TOO_LARGE, f"File is {len(data)} bytes; the per-file limit is {limits.max_file_bytes}."
        )
    started = time.perf_counter()
    document = _extract(data, source_path.rsplit("/", 1)[-1], extract_options, limits)
    result.stage_timings_ms["extract"] = _ms(started)
    result.detected_format = document.format
    result.warnings = list(document.warnings)
    result.page_count = _page_count(document.metadata)
    return document


def extract_range(
    data: bytes, *, source_path: str, options: ExtractOptions, limits: PipelineLimits
) -> tuple[FileResult, Document | None, ExtractionError | None]:
    """The extract stage over one page range of a split PDF: its document, or why its pages hold no text (not a
    failure of the file unless every range says so), or a failed result."""
    result = FileResult(status="processed", file_hash="")
    document, no_text = None, None
    with _failures_recorded(result, source_path):
        try:
            document = extract_document(data, source_path, options, limits, result)
        except ExtractionError as exc:
            if exc.error_type not in (ErrorType.EMPTY, ErrorType.NEEDS_OCR):
                raise
            no_text = exc
    return result, document, no_text


def process_document(
    document: Document,
    *,
    file_hash: str,
    source_path: str,
    options: OutputOptions,
    processing_timestamp: str,
    extract_ms: float,
) -> FileResult:
    """Normalize, chunk and render a document already extracted (the merged page ranges of a split PDF)."""
    result = FileResult(status="processed", file_hash=file_hash, detected_format=document.format)
    result.stage_timings_ms["extract"] = extract_ms
    result.warnings = list(document.warnings)
    result.page_count = _page_count(document.metadata)
    with _failures_recorded(result, source_path):
        _finish(document, result, source_path, options, processing_timestamp)
    return result


@contextmanager
def _failures_recorded(result: FileResult, source_path: str) -> Iterator[None]:
    """Every failure of the stages inside becomes the result's documented error; nothing raises."""
    try:
        yield
    except ExtractionError as exc:
        result.status = exc.status
        result.error_type = exc.error_type.value
        result.error_message = exc.message
    except MemoryError:
        result.status = "failed"
        result.error_type = ErrorType.MEMORY_LIMIT.value
        result.error_message = "Processing ran out of memory."
    except Exception:
        logger.exception("unexpected pipeline failure", extra={"source_path": source_path})
        result.status = "failed"
        result.error_type = ErrorType.INTERNAL_ERROR.value
        result.error_message = "Unexpected error while processing this file; it has been logged."


def _finish(
    document: Document, result: FileResult, source_path: str, options: OutputOptions, processing_timestamp: str
) -> None:
    """normalize -> chunk -> render, timing each stage into ``result``."""
    from data_extract.pipeline.chunk import chunk_document
    from data_extract.pipeline.normalize import normalize_document
    from data_extract.pipeline.output import chunk_records, render_records

    timings = result.stage_timings_ms
    started = time.perf_counter()
    document = normalize_document(document)
    timings["normalize"] = _ms(started)

    started = time.perf_counter()
    chunks = chunk_document(
        document,
        source_key=chunk_source_key(source_path, result.file_hash, options),
        chunk_size=options.chunk_size,
        overlap=options.overlap,
    )
    timings["chunk"] = _ms(started)
    if not chunks:
        raise ExtractionError(ErrorType.EMPTY, "The file contains no extractable text.")

    started = time.perf_counter()
    records = chunk_records(
        chunks,
        document=document,
        source_path=source_path,
        file_hash=result.file_hash,
        options=options,
        processing_timestamp=processing_timestamp,
    )
    result.outputs = render_records(
        records,
        document=document,
        source_path=source_path,
        file_hash=result.file_hash,
        options=options,
        processing_timestamp=processing_timestamp,
    )
    result.chunk_records = records
    timings["output"] = _ms(started)
    timings.setdefault("semantic", 0.0)
    result.chunk_count = len(chunks)

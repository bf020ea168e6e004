"""Every document of the shared corpus gets its documented outcome, and every EXPECT phrase is found.

The outcomes are documented in docs/formats.md; this table is the same list, checked.
"""

from __future__ import annotations

import csv
import json
import re
from functools import cache
from pathlib import Path

import pytest

from tests.conftest import corpus_dir

pytestmark = pytest.mark.corpus

CORPUS = corpus_dir()
if CORPUS is None:
    pytest.skip(
        "document corpus not found at ../shared/corpus (set DATA_EXTRACT_CORPUS_DIR)", allow_module_level=True
    )

# Files that must NOT be processed, with the error type they must report. Image-only documents need OCR:
# with Tesseract installed they are processed, without it they report needs_ocr.
EXPECTED_ERRORS = {
    "email/fake-encrypted.eml": "encrypted",
    "legacy/fake-power-point.ppt": "unsupported_format",
    "pdf/libreoffice-writer-password.pdf": "encrypted",
    "text/empty.txt": "empty",
    "text/fake-text-all-whitespace.txt": "empty",
    "xlsx/empty.xlsx": "empty",
    "xlsx/password_protected.xlsx": "encrypted",
}
NEEDS_OCR = {
    "images/bmp_24.bmp",
    "images/english-and-korean.png",
    "images/layout-parser-paper-combined.tiff",
    "images/layout-parser-paper-fast.jpg",
    "images/layout-parser-paper-fast.tiff",
    "images/layout-parser-paper-with-table.jpg",
    "images/page-23-Im2.png",
    "images/table-multi-row-column-cells.png",
    "pdf/audit-scan.pdf",
    "pdf/grayscale-image.pdf",
    "pdf/loremipsum-flat.pdf",
    "pdf/nemotron_multipage.pdf",
    "pdf/table-multi-row-column-cells.pdf",
}
# Images without any words in them: OCR runs but finds nothing to chunk (processed, or skipped as empty).
WORDLESS_IMAGES = {"images/page-23-Im2.png", "images/bmp_24.bmp", "pdf/grayscale-image.pdf"}


def _manifest() -> list[str]:
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8") as fh:
        return [row["path"] for row in csv.DictReader(fh, delimiter="\t")]


def _expectations() -> list[tuple[str, str]]:
    with (CORPUS / "EXPECT.tsv").open(encoding="utf-8") as fh:
        return [(row["path"], row["phrase"]) for row in csv.DictReader(fh, delimiter="\t")]


def _ocr_available() -> bool:
    from data_extract.pipeline.ocr import tesseract_available

    return tesseract_available()


@cache
def _process(path: str):
    from data_extract.pipeline.output import OutputOptions
    from data_extract.pipeline.run import PipelineLimits, process_file
    from data_extract.pipeline.types import ExtractOptions

    data = (CORPUS / path).read_bytes()
    return process_file(
        data,
        source_path=path,
        options=OutputOptions(chunk_size=512, overlap=128),
        extract_options=ExtractOptions(ocr=True),
        limits=PipelineLimits(max_file_bytes=200 * 2**20, timeout_s=300, memory_mb=1536),
        processing_timestamp="2026-01-01T00:00:00.000Z",
    )


@cache
def _document_text(path: str) -> str:
    from data_extract.pipeline.extract import extract_document
    from data_extract.pipeline.normalize import normalize_document
    from data_extract.pipeline.types import ExtractOptions

    doc = normalize_document(
        extract_document((CORPUS / path).read_bytes(), filename=Path(path).name, options=ExtractOptions(ocr=True))
    )
    return doc.text


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


@pytest.mark.parametrize("path", _manifest())
def test_every_corpus_file_has_its_documented_outcome(path):
    result = _process(path)
    if path in EXPECTED_ERRORS:
        assert (result.status, result.error_type) != ("processed", None), path
        assert result.error_type == EXPECTED_ERRORS[path], (path, result.error_type, result.error_message)
        assert result.error_message
    elif path in NEEDS_OCR and not _ocr_available():
        assert result.error_type == "needs_ocr", (path, result.error_type, result.error_message)
        assert result.status == "failed"
    elif path in WORDLESS_IMAGES:
        assert result.status in ("processed", "skipped"), (path, result.error_type, result.error_message)
    else:
        assert result.status == "processed", (path, result.error_type, result.error_message)
        assert result.chunk_count > 0 and result.outputs
        document = json.loads(result.outputs[0].data)
        assert document["metadata"]["chunk_count"] == result.chunk_count
        assert all(chunk["text"].strip() for chunk in document["chunks"])


def test_encrypted_pdf_opens_with_the_job_password():
    from data_extract.pipeline.output import OutputOptions
    from data_extract.pipeline.run import PipelineLimits, process_file
    from data_extract.pipeline.types import ExtractOptions

    result = process_file(
        (CORPUS / "pdf/libreoffice-writer-password.pdf").read_bytes(),
        source_path="p.pdf",
        options=OutputOptions(),
        extract_options=ExtractOptions(password="openpassword"),
        limits=PipelineLimits(200 * 2**20, 120, 1536),
        processing_timestamp="2026-01-01T00:00:00.000Z",
    )
    assert result.status == "processed", result.error_message


@pytest.mark.parametrize("path,phrase", _expectations())
def test_expected_phrases_are_extracted(path, phrase):
    if path in NEEDS_OCR and not _ocr_available():
        pytest.skip("Tesseract is not installed: image-only documents cannot be read")
    assert _squash(phrase) in _squash(_document_text(path)), f"{phrase!r} not found in {path}"

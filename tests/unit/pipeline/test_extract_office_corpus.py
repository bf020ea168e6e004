"""The office, web, mail and legacy extractors against the shared document corpus (skipped when it is absent).

Every corpus file of these formats must extract non-empty text or fail with its documented error type, every
EXPECT.tsv phrase of these files must be found, and sheet/slide counts must match the manifest.
"""

from __future__ import annotations

import csv
import functools
import os
import re
from pathlib import Path

import pytest

from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions, Table

pytestmark = pytest.mark.corpus

REPO = Path(__file__).resolve().parents[3]
EXTRACTORS = {
    "docx": ("docx", "extract_docx"),
    "xlsx": ("spreadsheet", "extract_spreadsheet"),
    "xlsm": ("spreadsheet", "extract_spreadsheet"),
    "xls": ("spreadsheet", "extract_spreadsheet"),
    "pptx": ("pptx", "extract_pptx"),
    "html": ("html", "extract_html"),
    "eml": ("email", "extract_eml"),
    "msg": ("email", "extract_msg"),
    "rtf": ("rtf", "extract_rtf"),
    "odt": ("opendocument", "extract_opendocument"),
    "epub": ("epub", "extract_epub"),
    "doc": ("legacy", "extract_legacy_office"),
    "ppt": ("legacy", "extract_legacy_office"),
}
# Files whose correct outcome is a documented failure or no content.
EXPECTED_OUTCOME: dict[str, ErrorType | str] = {
    "xlsx/password_protected.xlsx": ErrorType.ENCRYPTED,
    "email/fake-encrypted.eml": ErrorType.ENCRYPTED,
    "legacy/fake-power-point.ppt": ErrorType.UNSUPPORTED_FORMAT,
    "xlsx/empty.xlsx": "empty",
}


def _corpus_dir() -> Path | None:
    configured = os.environ.get("DATA_EXTRACT_CORPUS_DIR")
    path = Path(configured) if configured else REPO.parent / "shared" / "corpus"
    return path if (path / "MANIFEST.tsv").is_file() else None


def _rows(name: str) -> list[dict[str, str]]:
    corpus = _corpus_dir()
    if corpus is None:
        return []
    with (corpus / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


MANIFEST = [row for row in _rows("MANIFEST.tsv") if row["kind"] in EXTRACTORS]
KIND_OF = {row["path"]: row["kind"] for row in MANIFEST}
PHRASES = [(row["path"], row["phrase"]) for row in _rows("EXPECT.tsv") if row["path"] in KIND_OF]


@functools.cache
def _extract(path: str, kind: str):
    """Extract a corpus file once per test session (the documents are only read by the tests)."""
    import importlib

    module_name, function_name = EXTRACTORS[kind]
    function = getattr(importlib.import_module(f"data_extract.pipeline.extract.{module_name}"), function_name)
    corpus = _corpus_dir()
    assert corpus is not None
    return function((corpus / path).read_bytes(), filename=Path(path).name, options=ExtractOptions())


def _collapsed(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _require_corpus() -> None:
    if _corpus_dir() is None:
        pytest.skip("document corpus not found at ../shared/corpus (set DATA_EXTRACT_CORPUS_DIR)")


@pytest.mark.parametrize("row", MANIFEST or [None], ids=[r["path"] for r in MANIFEST] or ["no-corpus"])
def test_given_corpus_file_when_extracted_then_text_or_its_documented_error(row):
    _require_corpus()
    expected = EXPECTED_OUTCOME.get(row["path"])
    if isinstance(expected, ErrorType):
        with pytest.raises(ExtractionError) as caught:
            _extract(row["path"], row["kind"])
        assert caught.value.error_type == expected
        return
    document = _extract(row["path"], row["kind"])
    if expected == "empty":
        assert document.blocks == []
        return
    assert document.text.strip(), f"{row['path']} produced no text"
    assert all(block.text.strip() for block in document.blocks), "blocks must not be empty"
    declared = row["pages_or_sheets_or_slides"]
    if declared and row["kind"] in ("xlsx", "xlsm", "xls"):
        assert document.metadata["sheet_count"] == int(declared)
    if declared and row["kind"] == "pptx":
        assert document.metadata["slide_count"] == int(declared)


@pytest.mark.parametrize(
    ("path", "phrase"), PHRASES or [(None, None)], ids=[f"{p}:{q[:30]}" for p, q in PHRASES] or ["no-corpus"]
)
def test_given_expected_phrase_when_its_file_is_extracted_then_the_phrase_is_found(path, phrase):
    _require_corpus()
    document = _extract(path, KIND_OF[path])
    assert _collapsed(phrase) in _collapsed(document.text)


def test_given_nested_table_docx_when_extracted_then_inner_cells_stay_in_the_outer_cell():
    _require_corpus()
    document = _extract("docx/docx-tables.docx", "docx")
    nested = [b.table for b in document.blocks if b.kind == "table" and "a" in b.table.rows[0]]
    assert nested and nested[0].rows[1][1] == Table([["e", "f"], ["g&t", "h"]]).to_text()


def test_given_inflated_dimension_workbook_when_extracted_then_only_real_rows_are_read():
    _require_corpus()
    document = _extract("xlsx/xlsx_04_inflated.xlsx", "xlsx")
    assert document.metadata["row_count"] < 100


def test_given_group_shapes_deck_when_extracted_then_every_nested_shape_text_is_found():
    _require_corpus()
    document = _extract("pptx/group-shapes-nested.pptx", "pptx")
    assert sorted(b.text for b in document.blocks) == list("ABCDEFGHIJ")


def test_given_formula_workbook_without_cached_values_when_extracted_then_warned():
    _require_corpus()
    document = _extract("xlsx/with_formulas.xlsx", "xlsx")
    assert any("not cached" in warning for warning in document.warnings)


def test_given_malformed_deck_when_extracted_then_readable_text_is_recovered():
    _require_corpus()
    document = _extract("broken/fake-power-point-malformed.pptx", "pptx")
    assert "Test Slide" in document.text

"""Page ranges of a split PDF: the plan, the survey that decides it, a range's pages, and the merge in page order."""

from __future__ import annotations

import itertools
from dataclasses import asdict

import pytest

from data_extract.pipeline.extract.pdf import extract_pdf
from data_extract.pipeline.pages import (
    PageRange,
    PdfSurvey,
    RangePart,
    document_from_json,
    document_to_json,
    merge_parts,
    part_of,
    plan_ranges,
    survey_pdf,
)
from data_extract.pipeline.types import Document, ErrorType, ExtractionError, ExtractOptions
from tests.support.long_pdf import page_lines, scanned_pdf, text_pdf
from tests.unit.pipeline.pdf_builder import Page, build_pdf, text_grid

NO_OCR = ExtractOptions(ocr=False)


def _parts(data: bytes, ranges: list[PageRange], options: ExtractOptions = NO_OCR) -> list[RangePart]:
    """Each range read the way a page-range unit reads it."""
    parts = []
    for r in ranges:
        try:
            document = extract_pdf(
                data, filename="a.pdf", options=ExtractOptions(**{**asdict(options), "page_range": (r.first, r.last)})
            )
            parts.append(part_of(r, document))
        except ExtractionError as exc:
            assert exc.error_type in (ErrorType.EMPTY, ErrorType.NEEDS_OCR)
            parts.append(part_of(r, None, exc))
    return parts


def _blocks(document: Document) -> list[tuple[object, ...]]:
    return [(b.kind, b.text, b.page, b.table.continues_previous if b.table else None) for b in document.blocks]


def test_ranges_cover_every_page_once_in_order_and_stay_within_a_transaction():
    assert plan_ranges(11, 4, 97) == [PageRange(1, 4), PageRange(5, 8), PageRange(9, 11)]
    assert plan_ranges(8, 4, 97) == [PageRange(1, 4), PageRange(5, 8)]
    many = plan_ranges(10_000, 10, 97)
    assert len(many) <= 97 and many[0].first == 1 and many[-1].last == 10_000
    assert all(b.first == a.last + 1 for a, b in itertools.pairwise(many))


def test_a_page_range_reads_only_its_pages_and_keeps_the_document_page_count():
    options = ExtractOptions(ocr=False, page_range=(5, 8))
    assert list(options.page_indexes(11)) == [4, 5, 6, 7]
    assert list(ExtractOptions(page_range=(9, 12)).page_indexes(11)) == [8, 9, 10]
    assert list(ExtractOptions().page_indexes(3)) == [0, 1, 2]
    document = extract_pdf(text_pdf(11), filename="a.pdf", options=options)
    assert {b.page for b in document.blocks} == {5, 6, 7, 8}
    assert document.metadata["page_count"] == 11 and document.metadata["pages_with_text"] == 4
    assert document.blocks[0].text.startswith("Page 5 line 0")


def test_the_survey_counts_pages_and_tells_scans_from_text():
    assert survey_pdf(text_pdf(7), None) == PdfSurvey(7, scanned=False)
    assert survey_pdf(scanned_pdf(3), None) == PdfSurvey(3, scanned=True)
    assert survey_pdf(b"%PDF-1.7 not really", None) is None


def test_the_merged_parts_are_the_document_one_reader_gets_even_across_a_continued_table():
    data = text_pdf(11, table_across=4)
    whole = extract_pdf(data, filename="a.pdf", options=NO_OCR)
    merged = merge_parts(_parts(data, plan_ranges(11, 4, 97)), 11, 10**9)
    assert _blocks(merged) == _blocks(whole)
    assert [b.table.continues_previous for b in merged.blocks if b.table] == [False, True]
    assert merged.metadata == whole.metadata and merged.warnings == whole.warnings


def test_a_range_of_blank_pages_is_no_failure_and_the_merge_equals_the_whole_read():
    pages = [Page(text_grid(72, 740, page_lines(n))) if n not in (5, 6, 7, 8) else Page([]) for n in range(1, 12)]
    data = build_pdf(pages)
    whole = extract_pdf(data, filename="a.pdf", options=NO_OCR)
    parts = _parts(data, plan_ranges(11, 4, 97))
    assert parts[1]["document"] is None and parts[1]["empty"] is not None
    merged = merge_parts(parts, 11, 10**9)
    assert _blocks(merged) == _blocks(whole) and merged.metadata == whole.metadata


def test_no_text_in_any_range_and_too_much_text_over_all_ranges_fail_the_file():
    blank = build_pdf([Page([]) for _ in range(6)])
    with pytest.raises(ExtractionError) as empty:
        merge_parts(_parts(blank, plan_ranges(6, 3, 97)), 6, 10**9)
    assert empty.value.error_type is ErrorType.EMPTY
    data = text_pdf(6)
    per_range = sum(len(b.text) for b in extract_pdf(data, filename="a.pdf", options=NO_OCR).blocks) // 2 + 10
    with pytest.raises(ExtractionError) as too_much:
        merge_parts(_parts(data, plan_ranges(6, 3, 97)), 6, per_range)
    assert too_much.value.error_type is ErrorType.TOO_MUCH_TEXT


def test_scanned_ranges_without_ocr_need_ocr_naming_every_page():
    with pytest.raises(ExtractionError) as needs:
        merge_parts(_parts(scanned_pdf(4), plan_ranges(4, 2, 97)), 4, 10**9)
    assert needs.value.error_type is ErrorType.NEEDS_OCR and needs.value.details["pages"] == [1, 2, 3, 4]


def test_a_part_survives_its_json_round_trip():
    document = extract_pdf(text_pdf(6, table_across=2), filename="a.pdf", options=NO_OCR)
    again = document_from_json(document_to_json(document))
    assert _blocks(again) == _blocks(document) and again.metadata == document.metadata
    assert [b.table.rows for b in again.blocks if b.table] == [b.table.rows for b in document.blocks if b.table]

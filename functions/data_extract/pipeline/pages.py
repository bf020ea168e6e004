"""Big PDFs in page ranges: the plan, a range's extracted part as JSON, and the parts merged in page order.

A PDF above one unit's worth of pages is read by several workers, each over one page range (``ExtractOptions``'s
``page_range``, honoured by the PDF extractor's page loop). What a range keeps is its ``Document`` part: the
blocks of its pages, its metadata and warnings. The merge puts the parts back in page order and redoes the only
step of the PDF extractor that looks across pages (a table continued on the next page), so the merged document is
the one a single worker reads; normalize, chunk and output then run once over it, which keeps chunk ids, indices
and page numbers global. Pure: bytes and JSON in, documents out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, Table, TableCell

# A page with fewer visible characters than this is taken for a scan when the plan samples pages.
SCANNED_PAGE_CHARS = 40
SAMPLED_PAGES = 5
# Metadata the ranges' parts add up or list in page order; any other key is the document's own (title, author).
_SUMMED = ("pages_with_text", "table_count")
_LISTED = ("ocr_pages", "needs_ocr_pages", "layout_rebuilt_pages", "unreadable_pages")


@dataclass(frozen=True)
class PageRange:
    first: int  # 1-based, inclusive
    last: int  # 1-based, inclusive

    @property
    def label(self) -> str:
        return f"page {self.first}" if self.first == self.last else f"pages {self.first}-{self.last}"


@dataclass(frozen=True)
class PdfSurvey:
    page_count: int
    scanned: bool  # most sampled pages hold (almost) no text: OCR will read them


def plan_ranges(page_count: int, pages_per_unit: int, max_units: int) -> list[PageRange]:
    """Consecutive ranges of ``pages_per_unit`` pages (more when that would make over ``max_units`` ranges)."""
    size = max(pages_per_unit, -(-page_count // max_units))
    return [PageRange(first, min(first + size - 1, page_count)) for first in range(1, page_count + 1, size)]


def survey_pdf(data: bytes, password: str | None) -> PdfSurvey | None:
    """Count a PDF's pages and sample whether they are scans, cheaply; None when pdfium cannot open it (the
    whole-file path then reports why). Runs in the guard's child process: pdfium is native code."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data, password=password)
    except pdfium.PdfiumError:
        return None
    try:
        count = len(pdf)
        step = max(1, count // SAMPLED_PAGES)
        sampled = list(range(0, count, step))[:SAMPLED_PAGES]
        sparse = sum(1 for index in sampled if _visible_chars(pdf, index) < SCANNED_PAGE_CHARS)
        return PdfSurvey(count, scanned=bool(sampled) and sparse * 2 > len(sampled))
    finally:
        pdf.close()


def _visible_chars(pdf: Any, index: int) -> int:
    import pypdfium2 as pdfium

    try:
        page = pdf[index]
    except pdfium.PdfiumError:
        return 0
    try:
        textpage = page.get_textpage()
        text = textpage.get_text_range()
        textpage.close()
        return sum(1 for char in text if not char.isspace())
    finally:
        page.close()


# ---------------------------------------------------------------- a range's part as JSON


class EmptyRange(TypedDict):
    """A range holding no text of its own (blank or scanned pages): not an error unless every range is one."""

    error_type: str
    message: str
    needs_ocr_pages: list[int]


class RangePart(TypedDict):
    first: int
    last: int
    document: dict[str, Any] | None
    empty: EmptyRange | None


def part_of(page_range: PageRange, document: Document | None, empty: ExtractionError | None = None) -> RangePart:
    """The JSON part a range keeps: its document, or why it holds no text."""
    gap: EmptyRange | None = None
    if empty is not None:
        pages = empty.details.get("pages")
        gap = {
            "error_type": empty.error_type.value,
            "message": empty.message,
            "needs_ocr_pages": [int(p) for p in pages] if isinstance(pages, list) else [],
        }
    return {
        "first": page_range.first,
        "last": page_range.last,
        "document": document_to_json(document) if document is not None else None,
        "empty": gap,
    }


def part_from_json(data: dict[str, Any]) -> RangePart:
    """A kept part read back (the JSON object ``part_of`` made)."""
    empty = data.get("empty")
    return {
        "first": int(data["first"]),
        "last": int(data["last"]),
        "document": data.get("document"),
        "empty": None
        if empty is None
        else {
            "error_type": str(empty["error_type"]),
            "message": str(empty["message"]),
            "needs_ocr_pages": [int(p) for p in empty.get("needs_ocr_pages") or []],
        },
    }


def document_to_json(document: Document) -> dict[str, Any]:
    return {
        "format": document.format,
        "blocks": [_block_to_json(block) for block in document.blocks],
        "metadata": document.metadata,
        "warnings": document.warnings,
    }


def _block_to_json(block: Block) -> dict[str, Any]:
    table = block.table
    return {
        "kind": block.kind,
        "text": block.text,
        "page": block.page,
        "sheet": block.sheet,
        "slide": block.slide,
        "section": block.section,
        "level": block.level,
        "meta": block.meta,
        "table": None
        if table is None
        else {
            "rows": table.rows,
            "cells": [cell.as_dict() for cell in table.cells],
            "caption": table.caption,
            "header_rows": table.header_rows,
            "bbox": list(table.bbox) if table.bbox is not None else None,
            "continues_previous": table.continues_previous,
        },
    }


def document_from_json(data: dict[str, Any]) -> Document:
    return Document(
        format=str(data["format"]),
        blocks=[_block_from_json(block) for block in data["blocks"]],
        metadata=dict(data["metadata"]),
        warnings=list(data["warnings"]),
    )


def _block_from_json(data: dict[str, Any]) -> Block:
    table = data.get("table")
    return Block(
        kind=data["kind"],
        text=data["text"],
        page=data.get("page"),
        sheet=data.get("sheet"),
        slide=data.get("slide"),
        section=data.get("section"),
        level=data.get("level"),
        meta=dict(data.get("meta") or {}),
        table=None if table is None else _table_from_json(table),
    )


def _table_from_json(data: dict[str, Any]) -> Table:
    bbox = data.get("bbox")
    return Table(
        rows=[list(row) for row in data["rows"]],
        cells=[TableCell(**cell) for cell in data.get("cells") or []],
        caption=data.get("caption"),
        header_rows=int(data.get("header_rows") or 0),
        bbox=(float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])) if bbox else None,
        continues_previous=bool(data.get("continues_previous")),
    )


# ---------------------------------------------------------------- the merge


def merge_parts(parts: list[RangePart], page_count: int, max_chars: int) -> Document:
    """The parts in page order as the one document a single worker would have read.

    Raises the ``ExtractionError`` the whole file gets: too much text over all ranges, or no text in any range.
    """
    from data_extract.pipeline.tables.pdf_page import mark_continuations

    ordered = sorted(parts, key=lambda part: part["first"])
    documents = [document_from_json(part["document"]) for part in ordered if part["document"] is not None]
    blocks = [block for document in documents for block in document.blocks]
    if sum(len(block.text) for block in blocks) > max_chars:
        raise ExtractionError(
            ErrorType.TOO_MUCH_TEXT,
            f"The PDF holds more than {max_chars} characters of text, the per-file limit.",
            max_chars=max_chars,
        )
    metadata = _merged_metadata(documents, ordered, page_count)
    # A table continued across a range boundary: the one cross-page step of the extractor, over every page read.
    unreadable = set(metadata.get("unreadable_pages", []))
    by_page: dict[int, list[Block]] = {}
    for block in blocks:
        by_page.setdefault(block.page or 0, []).append(block)
    mark_continuations([by_page.get(page, []) for page in range(1, page_count + 1) if page not in unreadable])
    if not any(block.text.strip() for block in blocks):
        raise _no_text_error(ordered, metadata)
    warnings = _merged_warnings(documents, ordered)
    return Document(format="pdf", blocks=blocks, metadata=metadata, warnings=warnings)


def _merged_metadata(documents: list[Document], parts: list[RangePart], page_count: int) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for document in documents:
        for key, value in document.metadata.items():
            if key in _SUMMED:
                metadata[key] = int(metadata.get(key, 0)) + int(value)
            elif key in _LISTED:
                metadata[key] = [*metadata.get(key, []), *value]
            elif key == "encrypted":
                metadata[key] = bool(metadata.get(key)) or bool(value)
            else:
                metadata.setdefault(key, value)
    gaps = [page for part in parts if part["empty"] is not None for page in part["empty"]["needs_ocr_pages"]]
    metadata["needs_ocr_pages"] = sorted([*metadata.get("needs_ocr_pages", []), *gaps])
    metadata["ocr_pages"] = sorted(metadata.get("ocr_pages", []))
    for key in (*_SUMMED, "encrypted"):
        metadata.setdefault(key, 0 if key in _SUMMED else False)
    metadata["page_count"] = page_count
    return metadata


def _merged_warnings(documents: list[Document], parts: list[RangePart]) -> list[str]:
    warnings: list[str] = []
    for document in documents:
        warnings += [warning for warning in document.warnings if warning not in warnings]
    for part in parts:
        gap = part["empty"]
        if gap is not None and gap["needs_ocr_pages"]:
            pages = PageRange(part["first"], part["last"]).label
            warnings.append(f"No text layer on {pages} and {gap['message']}; that content is missing.")
    return warnings


def _no_text_error(parts: list[RangePart], metadata: dict[str, Any]) -> ExtractionError:
    needs_ocr = list(metadata.get("needs_ocr_pages", []))
    if needs_ocr:
        first = next(
            part["empty"] for part in parts if part["empty"] is not None and part["empty"]["needs_ocr_pages"]
        )
        return ExtractionError(ErrorType.NEEDS_OCR, first["message"], pages=needs_ocr)
    if metadata.get("ocr_pages"):
        return ExtractionError(ErrorType.EMPTY, "The PDF holds no text; OCR found none on its scanned pages.")
    return ExtractionError(ErrorType.EMPTY, f"The PDF has {metadata['page_count']} page(s) but no text.")


def survey_isolated(data: bytes, password: str | None, timeout_s: float, memory_mb: int) -> PdfSurvey | None:
    """``survey_pdf`` in the guard's child process; None when it fails there too (the whole-file path reports)."""
    from data_extract.pipeline.guard import run_isolated

    try:
        return run_isolated(survey_pdf, data, password, timeout_s=timeout_s, memory_mb=memory_mb)
    except ExtractionError:
        return None

"""The whole document: open it (or recover its text), read its pages in order, OCR its scans, describe it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from data_extract.pipeline.extract.pdf.budget import CharBudget
from data_extract.pipeline.extract.pdf.forms import init_forms
from data_extract.pipeline.extract.pdf.metadata import document_info
from data_extract.pipeline.extract.pdf.ocr_pages import OcrOutcome, recognise_scanned_pages
from data_extract.pipeline.extract.pdf.opening import open_document
from data_extract.pipeline.extract.pdf.page import PageResult, read_page
from data_extract.pipeline.extract.pdf.page_numbers import describe_pages
from data_extract.pipeline.extract.pdf.recovery import recover_text
from data_extract.pipeline.tables.pdf_page import mark_continuations
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions

if TYPE_CHECKING:
    from data_extract.pipeline.tables.pdfium_objects import PdfDocument


def extract_pdf(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    """Extract a PDF's text, tables and page provenance."""
    try:
        pdf, encrypted = open_document(data, options.password)
    except ExtractionError as exc:
        if exc.error_type is not ErrorType.CORRUPT:
            raise
        # pdfium refuses files whose object structure is broken (a zeroed page tree, say); a
        # tolerant parser can often still read their text, without layout or tables.
        recovered = recover_text(data, options)
        if recovered is None:
            raise
        return recovered
    try:
        return _extract_opened(pdf, encrypted, options)
    finally:
        pdf.close()


def _extract_opened(pdf: PdfDocument, encrypted: bool, options: ExtractOptions) -> Document:
    has_forms = init_forms(pdf)
    page_count = len(pdf)
    if page_count > options.max_pages:
        raise ExtractionError(
            ErrorType.TOO_MANY_PAGES,
            f"The PDF has {page_count} pages; the limit is {options.max_pages}.",
            page_count=page_count,
            max_pages=options.max_pages,
        )
    budget = CharBudget(options.max_chars)
    warnings: list[str] = []
    pages, unreadable = _read_pages(pdf, options.page_indexes(page_count), has_forms, budget)
    if unreadable:
        if len(unreadable) == page_count:
            raise ExtractionError(
                ErrorType.CORRUPT, "The PDF is damaged: none of its pages can be read.", page_count=page_count
            )
        warnings.append(f"Skipped {describe_pages(unreadable)}: damaged and unreadable.")

    recognised = recognise_scanned_pages(pdf, pages, options, budget)
    warnings += recognised.warnings

    mark_continuations([page.blocks for page in pages])
    blocks = [block for page in pages for block in page.blocks]
    if not any(block.text.strip() for block in blocks):
        raise _no_text_error(page_count, recognised)
    if recognised.pending:
        warnings.append(
            f"No text layer on {describe_pages(recognised.pending)} and {recognised.reason}; that content is missing."
        )
    metadata = _metadata(pdf, page_count, pages, blocks, encrypted, recognised, unreadable)
    return Document(format="pdf", blocks=blocks, metadata=metadata, warnings=warnings)


def _read_pages(
    pdf: PdfDocument, indexes: range, has_forms: bool, budget: CharBudget
) -> tuple[list[PageResult], list[int]]:
    """The pages of ``indexes`` (every page, or a split file's page range) in order, and the numbers of those
    pdfium cannot load (damaged)."""
    import pypdfium2 as pdfium

    pages: list[PageResult] = []
    unreadable: list[int] = []
    for index in indexes:
        try:
            result = read_page(pdf, index, has_forms)
        except pdfium.PdfiumError:
            unreadable.append(index + 1)
            continue
        for block in result.blocks:
            budget.add(block.text)
        pages.append(result)
    return pages, unreadable


def _no_text_error(page_count: int, recognised: OcrOutcome) -> ExtractionError:
    """Why a PDF without any text gives nothing: it needs OCR, OCR found nothing, or it is empty."""
    ocr_pages, needs_ocr_pages = recognised.done, recognised.pending
    if needs_ocr_pages:
        verb = "needs" if len(needs_ocr_pages) == 1 else "need"
        return ExtractionError(
            ErrorType.NEEDS_OCR,
            f"The PDF has no text layer (it is scanned or image-only) and {recognised.reason}: "
            f"{describe_pages(needs_ocr_pages)} {verb} OCR.",
            pages=needs_ocr_pages,
        )
    if ocr_pages:
        return ExtractionError(
            ErrorType.EMPTY, f"The PDF holds no text; OCR found none on {describe_pages(ocr_pages)}."
        )
    return ExtractionError(ErrorType.EMPTY, f"The PDF has {page_count} page(s) but no text.")


def _metadata(
    pdf: PdfDocument,
    page_count: int,
    pages: list[PageResult],
    blocks: list[Block],
    encrypted: bool,
    recognised: OcrOutcome,
    unreadable: list[int],
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "page_count": page_count,
        "pages_with_text": sum(1 for page in pages if page.native_chars > 0),
        "ocr_pages": recognised.done,
        "needs_ocr_pages": recognised.pending,
        "encrypted": encrypted,
        "table_count": sum(
            1 for block in blocks if block.table is not None and block.meta.get("detected") != "form_fields"
        ),
    }
    rebuilt = [page.number for page in pages if page.layout != "stream"]
    if rebuilt:
        metadata["layout_rebuilt_pages"] = rebuilt
    if unreadable:
        metadata["unreadable_pages"] = unreadable
    metadata.update(document_info(pdf))
    return metadata

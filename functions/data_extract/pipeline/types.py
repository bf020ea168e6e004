"""Types shared by every pipeline stage.

The pipeline is pure: extractors turn bytes into a ``Document`` (blocks with
provenance), normalize cleans the blocks, the chunker turns blocks into
``Chunk``s, and the output stage renders chunks to bytes. Nothing here touches
AWS or HTTP.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ErrorType(StrEnum):
    """The documented set of reasons a file unit did not produce output."""

    UNSUPPORTED_FORMAT = "unsupported_format"  # no extractor for this type (skipped)
    EMPTY = "empty"  # readable, but holds no text (skipped)
    ENCRYPTED = "encrypted"  # needs a password we do not have (or a wrong one)
    CORRUPT = "corrupt"  # malformed beyond what the parser can recover
    NEEDS_OCR = "needs_ocr"  # image-only content and OCR is not available
    TOO_LARGE = "too_large"  # over the per-file byte limit
    TOO_MANY_PAGES = "too_many_pages"  # over the per-file page/sheet/slide limit
    TOO_MUCH_TEXT = "too_much_text"  # over the per-file extracted-character limit
    TIMEOUT = "timeout"  # extraction exceeded its wall-time budget
    MEMORY_LIMIT = "memory_limit"  # extraction exceeded its memory budget
    ZIP_BOMB = "zip_bomb"  # container expands beyond the allowed ratio/size
    SOURCE_NOT_FOUND = "source_not_found"  # the input object vanished before processing
    DELIVERY_EXHAUSTED = "delivery_exhausted"  # the unit kept failing and reached the dead-letter queue
    DISPATCH_FAILED = "dispatch_failed"  # the unit's message could not be queued (retry the job's failures)
    HALTED = "halted"  # not processed: an earlier file failed and the job set continue_on_error=false
    UNCHANGED = "unchanged"  # incremental run: same content as when the source last processed it (skipped)
    ALREADY_PROCESSED = "already_processed"  # resume: the resumed session already has a result for it (skipped)
    CANCELLED = "cancelled"  # not processed (or its results discarded): the job was cancelled (skipped)
    LEASE_EXPIRED = "lease_expired"  # running far past its lease with no delivery left: failed by the sweeper
    INTERNAL_ERROR = "internal_error"  # a bug on our side; message carries no internals


# Error types that mean "nothing to extract" rather than "something went wrong".
SKIPPED_ERROR_TYPES = frozenset(
    {
        ErrorType.UNSUPPORTED_FORMAT,
        ErrorType.EMPTY,
        ErrorType.HALTED,
        ErrorType.UNCHANGED,
        ErrorType.ALREADY_PROCESSED,
        ErrorType.CANCELLED,
    }
)


class ExtractionError(Exception):
    """A per-file failure with a precise, user-facing reason."""

    def __init__(self, error_type: ErrorType, message: str, **details: Any) -> None:
        super().__init__(message)
        self.error_type = ErrorType(error_type)
        self.message = message
        self.details = details

    @property
    def status(self) -> str:
        return "skipped" if self.error_type in SKIPPED_ERROR_TYPES else "failed"


# Cells of a table row in plain text are separated by a tab: a phrase that runs across cells
# ("HTML 0.969 0.927") is still found once whitespace is collapsed, and the structure stays in the
# markdown/HTML renderings kept beside the text.
CELL_SEPARATOR = "\t"


@dataclass
class TableCell:
    """One cell of a table: 0-based position, spans, text, and whether it is a header cell."""

    row: int
    col: int
    text: str
    row_span: int = 1
    col_span: int = 1
    header: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "col": self.col,
            "row_span": self.row_span,
            "col_span": self.col_span,
            "text": self.text,
            "header": self.header,
        }


@dataclass
class Table:
    """A table as rows of cell strings (ragged rows allowed), with its cells and spans when known.

    ``rows`` is the plain rendering (a spanning cell's text in its first grid position);
    ``cells`` keeps the spans. Extractors that know no spans leave ``cells`` empty and
    ``grid_cells()`` derives one cell per non-empty string.
    """

    rows: list[list[str]]
    cells: list[TableCell] = field(default_factory=list)
    caption: str | None = None
    header_rows: int = 0
    bbox: tuple[float, float, float, float] | None = None  # PDF points, x0, y0, x1, y1 (origin bottom left)
    table_id: str | None = None  # t1, t2, ... in document order (set before chunking)
    continued_from: str | None = None  # table_id of the table this one continues (next page)
    continues_previous: bool = False  # set by an extractor; resolved into continued_from

    @property
    def n_rows(self) -> int:
        if self.cells:
            return max(c.row + c.row_span for c in self.cells)
        return len(self.rows)

    @property
    def n_cols(self) -> int:
        if self.cells:
            return max(c.col + c.col_span for c in self.cells)
        return max((len(r) for r in self.rows), default=0)

    def grid_cells(self) -> list[TableCell]:
        if self.cells:
            return self.cells
        return [
            TableCell(row=r, col=c, text=text.strip(), header=r < self.header_rows)
            for r, row in enumerate(self.rows)
            for c, text in enumerate(row)
            if text.strip()
        ]

    def to_text(self) -> str:
        """Plain rendering used for block and chunk text: one line per row, cells tab-separated."""
        return "\n".join(
            CELL_SEPARATOR.join(c.strip() for c in row) for row in self.rows if any(c.strip() for c in row)
        )

    def to_markdown(self) -> str:
        rows = [r for r in self.rows if any(c.strip() for c in r)]
        if not rows:
            return ""
        width = max(len(r) for r in rows)

        def fmt(r: list[str]) -> str:
            cells = [c.replace("|", "\\|").replace("\n", " ").strip() for c in r] + [""] * (width - len(r))
            return "| " + " | ".join(cells) + " |"

        lines = [fmt(rows[0]), "| " + " | ".join(["---"] * width) + " |"]
        lines += [fmt(r) for r in rows[1:]]
        return "\n".join(lines)

    def to_html(self) -> str:
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in row) + "</tr>" for row in self.rows
        )
        return f"<table>{body}</table>"


@dataclass
class Block:
    """One unit of extracted content in reading order, with provenance.

    ``kind`` is one of: heading, paragraph, list_item, table, header, footer,
    footnote, endnote, comment, textbox, note (speaker notes), caption, metadata
    (e.g. email headers), ocr (text recognised from an image).
    """

    kind: str
    text: str
    page: int | None = None  # 1-based PDF page (or DOCX page when known)
    sheet: str | None = None  # spreadsheet sheet name
    slide: int | None = None  # 1-based slide number
    section: str | None = None  # heading breadcrumb, e.g. "Intro > Scope"
    level: int | None = None  # heading level (1..9) or list nesting level
    table: Table | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Document:
    """What an extractor returns: ordered blocks plus format-level facts."""

    format: str  # detected format: pdf, docx, xlsx, pptx, csv, txt, html, eml, ...
    blocks: list[Block]
    # Format-specific structure: page_count, sheet_names, slide_count, ocr_pages,
    # encoding, delimiter, ... JSON-serialisable values only.
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks if b.text)


@dataclass(frozen=True)
class ExtractOptions:
    """Per-file extraction options and limits (see settings for defaults)."""

    password: str | None = None  # for encrypted PDFs/Office files
    ocr: bool = True  # run OCR on image-only pages when Tesseract is installed
    ocr_languages: str = "eng"
    max_pages: int = 2000  # pages / sheets / slides
    max_chars: int = 20_000_000  # extracted characters
    max_cells: int = 2_000_000  # spreadsheet cells read (guards inflated dimensions)
    max_unzipped_bytes: int = 1_073_741_824  # total uncompressed size of an OOXML/ODF container
    max_zip_ratio: int = 200  # uncompressed / compressed ratio above which a container is a zip bomb
    # 1-based first and last page (inclusive) read by a page-range unit of a split PDF; None reads every page.
    page_range: tuple[int, int] | None = None

    def page_indexes(self, page_count: int) -> range:
        """The 0-based indexes of the pages to read: all of them, or those of ``page_range``."""
        if self.page_range is None:
            return range(page_count)
        first, last = self.page_range
        return range(max(first, 1) - 1, min(last, page_count))


@dataclass
class Chunk:
    """One retrieval/audit unit of text with provenance."""

    id: str
    text: str
    position_index: int  # 0-based within the file
    token_count: int
    word_count: int
    section_context: str = ""
    # Provenance and facts: pages (list[int]), sheet, slide, block_kinds,
    # text_as_html (for table chunks), char_start/char_end in the normalized text.
    metadata: dict[str, Any] = field(default_factory=dict)

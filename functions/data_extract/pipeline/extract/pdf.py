"""PDF extraction with pdfium (pypdfium2): text per page in reading order, ruled
tables as tables, OCR for scanned pages.

Per page:

1. pdfium's text page gives the text in content-stream order, which is the
   reading order for nearly every generator (LaTeX, Word, LibreOffice). That text
   is used as is whenever the page's geometry agrees with it: the fast path.
2. Text rectangles (one per text run, cheap to fetch) are merged into line
   segments. A page whose segments form text columns separated by a gutter, but
   whose stream keeps jumping between those columns (columns interleaved line by
   line), is rebuilt region by region: full-width bands and columns top to
   bottom, each region read with ``get_text_bounded``.
3. Ruled tables (a grid of horizontal and vertical line segments taken from the
   page's path objects) become ``table`` blocks; the text around them is rebuilt
   the same way so the table's text is not repeated.
4. A page with no text layer but with images (a scan) is rendered at 300 DPI and
   recognised with Tesseract when available; otherwise it is reported in
   ``needs_ocr_pages`` (or, when no page has text at all, as ``needs_ocr``).
   A page whose text layer an earlier OCR drew invisibly over a page-sized scan
   keeps that layer when it reads well (``text_layer.judge``) and is read again
   when it reads poorly; the fresh reading replaces the layer only if it reads
   better. Either way the page's blocks record the decision (``text_layer``).

Whatever geometry is used, the result is checked against the stream text: if a
rebuilt page lost or repeated characters, the stream text wins.
"""

from __future__ import annotations

import ctypes
import io
import math
import re
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

from data_extract.pipeline.tables.pdf_geometry import address_of, bare_function
from data_extract.pipeline.tables.pdf_page import (
    mark_continuations,
    page_tables,
    text_around_tables,
    text_may_hold_table,
)
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions, Table

# --- tunables ---------------------------------------------------------------

OCR_DPI = 300
OCR_MAX_PIXELS = 40_000_000  # a larger page is rendered at a lower resolution
OCR_PAGE_TIMEOUT_S = 45.0
# Stop starting new OCR pages when the isolation guard has less than this left.
OCR_SAFETY_MARGIN_S = 3.0

# A page with fewer visible characters than this and a page-sized image is a
# scan with a stamp or header on top: it is OCR'd as well.
SPARSE_TEXT_CHARS = 40
PAGE_SIZED_IMAGE_RATIO = 0.5
# Image coverage above which a page without text counts as a scan.
SCAN_IMAGE_RATIO = 0.05
# Outlined text (glyphs drawn as paths) shows up as very many path objects.
OUTLINED_TEXT_PATHS = 200

# Table detection: skip pages that are vector drawings rather than documents.
MAX_PATHS_FOR_TABLES = 20000  # a page drawing more paths is a vector drawing, not a table
RULE_THICKNESS = 2.5  # points; thicker paths are shapes, not rules
MAX_PATH_SEGMENTS_INSPECTED = 64
MIN_OBJECTS_ALWAYS_WALKED = 120
MAX_DRAWINGS_KEPT = 4000

_PATH, _IMAGE, _FORM = 2, 3, 5  # FPDF_PAGEOBJ_* types
_SEGMENT_LINETO, _SEGMENT_BEZIERTO, _SEGMENT_MOVETO = 0, 1, 2
_FORM_NESTING_LIMIT = 4

# pdfium marks a hyphen that ends a line with U+FFFE in stream text and U+0002 in
# bounded text; with or without the line break after it.
_PDFIUM_LINE_END_HYPHEN = re.compile("[\ufffe\x02](?:\r?\n)?")
_WHITESPACE = re.compile(r"\s+")
# Values some producers write into the info dictionary instead of leaving it empty.
_PLACEHOLDER_INFO_VALUES = frozenset({"(anonymous)", "anonymous", "untitled", "unknown", "(untitled)", "none", "-"})


# --- public entry point -----------------------------------------------------


def extract_pdf(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    """Extract a PDF's text, tables and page provenance."""
    import pypdfium2 as pdfium

    try:
        pdf, encrypted = _open_document(data, options.password)
    except ExtractionError as exc:
        if exc.error_type is not ErrorType.CORRUPT:
            raise
        # pdfium refuses files whose object structure is broken (a zeroed page tree, say); a
        # tolerant parser can often still read their text, without layout or tables.
        recovered = _recover_text(data, options)
        if recovered is None:
            raise
        return recovered
    try:
        has_forms = _init_forms(pdf)
        page_count = len(pdf)
        if page_count > options.max_pages:
            raise ExtractionError(
                ErrorType.TOO_MANY_PAGES,
                f"The PDF has {page_count} pages; the limit is {options.max_pages}.",
                page_count=page_count,
                max_pages=options.max_pages,
            )
        budget = _CharBudget(options.max_chars)
        warnings: list[str] = []
        pages: list[_PageResult] = []
        unreadable: list[int] = []
        for index in options.page_indexes(page_count):
            try:
                result = _read_page(pdf, index, has_forms)
            except pdfium.PdfiumError:
                unreadable.append(index + 1)
                continue
            for block in result.blocks:
                budget.add(block.text)
            pages.append(result)
        if unreadable:
            if len(unreadable) == page_count:
                raise ExtractionError(
                    ErrorType.CORRUPT, "The PDF is damaged: none of its pages can be read.", page_count=page_count
                )
            warnings.append(f"Skipped {_pages(unreadable)}: damaged and unreadable.")

        recognised = _recognise_scanned_pages(pdf, pages, options, budget)
        ocr_pages, needs_ocr_pages = recognised.done, recognised.pending
        warnings += recognised.warnings

        mark_continuations([page.blocks for page in pages])
        blocks = [block for page in pages for block in page.blocks]
        has_text = any(block.text.strip() for block in blocks)
        if not has_text:
            if needs_ocr_pages:
                verb = "needs" if len(needs_ocr_pages) == 1 else "need"
                raise ExtractionError(
                    ErrorType.NEEDS_OCR,
                    f"The PDF has no text layer (it is scanned or image-only) and {recognised.reason}: "
                    f"{_pages(needs_ocr_pages)} {verb} OCR.",
                    pages=needs_ocr_pages,
                )
            if ocr_pages:
                raise ExtractionError(
                    ErrorType.EMPTY, f"The PDF holds no text; OCR found none on {_pages(ocr_pages)}."
                )
            raise ExtractionError(ErrorType.EMPTY, f"The PDF has {page_count} page(s) but no text.")
        if needs_ocr_pages:
            warnings.append(
                f"No text layer on {_pages(needs_ocr_pages)} and {recognised.reason}; that content is missing."
            )

        metadata: dict[str, Any] = {
            "page_count": page_count,
            "pages_with_text": sum(1 for page in pages if page.native_chars > 0),
            "ocr_pages": ocr_pages,
            "needs_ocr_pages": needs_ocr_pages,
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
        metadata.update(_document_info(pdf))
        return Document(format="pdf", blocks=blocks, metadata=metadata, warnings=warnings)
    finally:
        pdf.close()


# --- recovery ----------------------------------------------------------------


def _recover_text(data: bytes, options: ExtractOptions) -> Document | None:
    """Text of a PDF pdfium cannot open, read page by page with pdfminer; None when that fails too."""
    try:
        from pdfminer.high_level import extract_pages
        from pdfminer.layout import LAParams, LTTextContainer
        from pdfminer.pdfparser import PDFSyntaxError
        from pdfminer.psparser import PSException
    except ImportError:
        return None
    blocks: list[Block] = []
    budget = _CharBudget(options.max_chars)
    try:
        for number, layout in enumerate(extract_pages(io.BytesIO(data), laparams=LAParams()), start=1):
            if number > options.max_pages:
                raise ExtractionError(
                    ErrorType.TOO_MANY_PAGES,
                    f"The PDF has more than {options.max_pages} pages; the limit is {options.max_pages}.",
                    max_pages=options.max_pages,
                )
            for element in layout:
                if isinstance(element, LTTextContainer):
                    text = _clean_text(element.get_text())
                    if text.strip():
                        budget.add(text)
                        blocks.append(Block(kind="paragraph", text=text, page=number))
    except ExtractionError:
        raise
    except (
        PSException,
        PDFSyntaxError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        RecursionError,
        UnicodeError,
        struct.error,
    ):
        return None
    if not blocks:
        return None
    pages = sorted({b.page for b in blocks if b.page})
    return Document(
        format="pdf",
        blocks=blocks,
        metadata={
            "page_count": pages[-1],
            "pages_with_text": len(pages),
            "ocr_pages": [],
            "needs_ocr_pages": [],
            "encrypted": False,
            "recovered_by": "pdfminer",
        },
        warnings=["The PDF's structure is damaged; its text was recovered without layout analysis or tables."],
    )


# --- opening ----------------------------------------------------------------


def _open_document(data: bytes, password: str | None) -> tuple[Any, bool]:
    """Open with the empty user password first, then the given one."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    attempts: list[str | None] = [None]
    if password:
        attempts.append(password)
    last_error: Exception | None = None
    for attempt in attempts:
        try:
            pdf = pdfium.PdfDocument(data, password=attempt)
        except pdfium.PdfiumError as exc:
            last_error = exc
            if exc.err_code == raw.FPDF_ERR_PASSWORD:
                continue
            if exc.err_code == raw.FPDF_ERR_SECURITY:
                if _encryption_is_damaged(data, attempt):
                    raise _damaged_error() from exc
                raise ExtractionError(
                    ErrorType.ENCRYPTED, "The PDF uses an encryption scheme that cannot be opened."
                ) from exc
            raise _damaged_error() from exc
        encrypted = raw.FPDF_GetSecurityHandlerRevision(pdf.raw) != -1
        return pdf, encrypted
    # pdfium reports a password error for files whose encryption dictionary (or the structure
    # around it) is broken too; a second parser tells a real password from damage.
    if _encryption_is_damaged(data, password):
        raise _damaged_error() from last_error
    if password:
        message = "The PDF is password-protected and the password given is wrong."
    else:
        message = "The PDF is password-protected: a password is needed to open it."
    raise ExtractionError(ErrorType.ENCRYPTED, message) from last_error


def _damaged_error() -> ExtractionError:
    return ExtractionError(ErrorType.CORRUPT, "The PDF is damaged beyond repair and cannot be opened.")


def _encryption_is_damaged(data: bytes, password: str | None) -> bool:
    """Is the encryption pdfium refused broken rather than real? Asked of pdfminer's parser.

    Damage: the file opens with the empty (or given) password once parsed tolerantly, or its
    encryption dictionary names no handler, or its password entries have impossible lengths
    (a real standard handler writes 32 bytes, 48 from revision 5). Anything pdfminer cannot
    decide leaves pdfium's verdict (encrypted) standing, unless the file has no /Encrypt at all.
    """
    if b"/Encrypt" not in data:
        return True
    try:
        from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
        from pdfminer.pdfparser import PDFParser
        from pdfminer.psparser import PSException
    except ImportError:
        return False
    seen: list[dict[str, Any]] = []

    class _Probe(PDFDocument):
        def _initialize_password(self, password: str = "") -> None:
            seen.append(dict(self.encryption[1]) if self.encryption else {})
            super()._initialize_password(password)

    try:
        _Probe(PDFParser(io.BytesIO(data)), password=password or "")
    except PDFPasswordIncorrect:
        return not _standard_entries_plausible(seen[0] if seen else {})
    except PDFEncryptionError:
        return not (seen and seen[0].get("Filter"))
    except (
        PSException,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        RecursionError,
        UnicodeError,
        struct.error,
    ):
        return False
    return True  # it opens: what pdfium refused is the structure, not the password


def _standard_entries_plausible(encryption: dict[str, Any]) -> bool:
    try:
        revision = int(encryption.get("R", 0))
    except (TypeError, ValueError):
        return False
    wanted = 48 if revision >= 5 else 32
    entries = [encryption.get("O"), encryption.get("U")]
    return all(isinstance(entry, bytes) and len(entry) >= wanted for entry in entries)


def _init_forms(pdf: Any) -> bool:
    """Set up pdfium's form environment when the PDF has fillable fields (before any page loads)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    if pdf.get_formtype() == raw.FORMTYPE_NONE:
        return False
    try:
        pdf.init_forms()
    except pdfium.PdfiumError:
        return False
    return pdf.formenv is not None


# Field types whose value is content a reader filled in.
_VALUE_FIELD_TYPES = frozenset({2, 3, 4, 5, 6})  # checkbox, radio button, combo box, list box, text field
_UNSET_FIELD_VALUES = frozenset({"", "Off"})


def _form_fields(pdf: Any, page: Any, number: int) -> Block | None:
    """The filled-in fields of a page's form widgets as a two-column table (name, value).

    Values typed into a form live in the form's field dictionary, not in the page
    text, so the text layer alone would lose them.
    """
    import pypdfium2.raw as raw

    form = pdf.formenv.raw
    rows: list[list[str]] = []
    seen: set[tuple[str, str]] = set()
    for index in range(raw.FPDFPage_GetAnnotCount(page.raw)):
        annotation = raw.FPDFPage_GetAnnot(page.raw, index)
        if not annotation:
            continue
        try:
            if raw.FPDFAnnot_GetSubtype(annotation) != raw.FPDF_ANNOT_WIDGET:
                continue
            if raw.FPDFAnnot_GetFormFieldType(form, annotation) not in _VALUE_FIELD_TYPES:
                continue
            value = _annotation_string(raw.FPDFAnnot_GetFormFieldValue, form, annotation).strip()
            if value in _UNSET_FIELD_VALUES:
                continue
            name = _annotation_string(raw.FPDFAnnot_GetFormFieldName, form, annotation).strip()
            if (name, value) not in seen:
                seen.add((name, value))
                rows.append([name, value])
        finally:
            raw.FPDFPage_CloseAnnot(annotation)
    if not rows:
        return None
    table = Table(rows=rows)
    return Block(kind="table", text=table.to_text(), page=number, table=table, meta={"detected": "form_fields"})


def _annotation_string(getter: Any, form: Any, annotation: Any) -> str:
    size = getter(form, annotation, None, 0)  # bytes, UTF-16 with terminator
    if size <= 2:
        return ""
    buffer = ctypes.create_string_buffer(size)
    getter(form, annotation, ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ushort)), size)
    return buffer.raw[: size - 2].decode("utf-16-le", "ignore")


def _document_info(pdf: Any) -> dict[str, str]:
    info: dict[str, str] = {}
    for key, name in (("Title", "title"), ("Author", "author")):
        try:
            value = pdf.get_metadata_value(key)
        except Exception:
            continue
        value = _WHITESPACE.sub(" ", value.replace("\x00", "")).strip()
        if value and value.lower() not in _PLACEHOLDER_INFO_VALUES:
            info[name] = value
    return info


# --- per-page work ----------------------------------------------------------


@dataclass
class _PageResult:
    number: int  # 1-based
    blocks: list[Block]
    native_chars: int  # visible characters in the text layer
    layout: str  # stream | columns | tables
    ocr_wanted: bool  # scanned: no (or hardly any) text over images, or a poor text layer from an earlier OCR
    earlier_ocr: Any = None  # text_layer.LayerVerdict when the text layer is an earlier OCR's


@dataclass
class _Inventory:
    """What a page draws, from one walk over its objects."""

    width: float
    height: float
    image_area: float = 0.0
    path_count: int = 0
    horizontal_rules: list[tuple[float, float, float]] = field(default_factory=list)  # (y, x0, x1)
    vertical_rules: list[tuple[float, float, float]] = field(default_factory=list)  # (x, y0, y1)
    # What a chart draws, for telling a chart's labels from a table: (x0, y0, x1, y1, is_box) of
    # paths with many segments (curves, polylines), slanted lines, and stroked boxes (bars, legend
    # swatches).
    drawings: list[tuple[float, float, float, float, bool]] = field(default_factory=list)

    @property
    def image_ratio(self) -> float:
        page_area = max(self.width * self.height, 1.0)
        return min(self.image_area / page_area, 1.0)


class _CharBudget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def add(self, text: str) -> None:
        self.used += len(text)
        if self.used > self.limit:
            raise ExtractionError(
                ErrorType.TOO_MUCH_TEXT,
                f"The PDF holds more than {self.limit} characters of text, the per-file limit.",
                max_chars=self.limit,
            )


def _read_page(pdf: Any, index: int, has_forms: bool) -> _PageResult:
    page = pdf.get_page(index)
    try:
        textpage = page.get_textpage()
        try:
            number = index + 1
            form_block = _form_fields(pdf, page, number) if has_forms else None
            extra = [form_block] if form_block is not None else []
            stream_text = textpage.get_text_range()
            native_chars = _visible_chars(stream_text)
            inventory: _Inventory | None = None
            if native_chars < SPARSE_TEXT_CHARS:
                inventory = _inventory(page)
                if native_chars == 0:
                    scanned = inventory.image_ratio >= SCAN_IMAGE_RATIO or inventory.path_count >= OUTLINED_TEXT_PATHS
                    return _PageResult(number, extra, 0, "stream", scanned)
            ocr_wanted = inventory is not None and inventory.image_ratio >= PAGE_SIZED_IMAGE_RATIO
            blocks, layout = _lay_out_page(page, textpage, inventory, stream_text, native_chars, number)
            earlier_ocr = _earlier_ocr_layer(page, textpage, inventory, stream_text, blocks)
            if earlier_ocr is not None and earlier_ocr.poor:
                ocr_wanted = True
            return _PageResult(number, blocks + extra, native_chars, layout, ocr_wanted, earlier_ocr)
        finally:
            textpage.close()
    finally:
        page.close()


def _earlier_ocr_layer(
    page: Any, textpage: Any, inventory: _Inventory | None, stream_text: str, blocks: list[Block]
) -> Any:
    """The verdict on a text layer an earlier OCR drew invisibly over a page-sized scan, else None.

    A good layer is kept and its blocks say so; a poor one makes the page wanted for OCR.
    """
    from data_extract.pipeline import text_layer

    if not text_layer.drawn_invisibly(textpage):
        return None
    if inventory is None:
        inventory = _inventory(page)
    if inventory.image_ratio < PAGE_SIZED_IMAGE_RATIO:
        return None
    verdict = text_layer.judge(stream_text)
    if not verdict.poor:
        for block in blocks:
            block.meta.update(verdict.provenance("kept"))
    return verdict


def _lay_out_page(
    page: Any,
    textpage: Any,
    inventory: _Inventory | None,
    stream_text: str,
    native_chars: int,
    number: int,
) -> tuple[list[Block], str]:
    stream_blocks = [Block(kind="paragraph", text=_clean_text(stream_text), page=number)]
    rotated = page.get_rotation() % 180 != 0
    segments = _line_segments(textpage)
    if not segments:
        return stream_blocks, "stream"
    heights = sorted(s[3] - s[1] for s in segments)
    line_height = heights[len(heights) // 2]
    # Tables are looked for where the text lines up like table cells (on a rotated page the
    # text rectangles are in unrotated space, so always), or where the page draws horizontal
    # rules (many generators write a whole table row as one text run, so the runs need not
    # line up). Walking a page's objects costs about 2 us per object, as much as reading eight
    # characters of its text: a page with many objects is walked only when its text lines up.
    import pypdfium2.raw as raw

    if inventory is None and raw.FPDFPage_CountObjects(page.raw) <= max(MIN_OBJECTS_ALWAYS_WALKED, native_chars // 8):
        inventory = _inventory(page)
    # Rules near the top and bottom edges are a running header's or footer's, not a table's.
    ruled = (
        inventory is not None
        and sum(
            1 for rule in inventory.horizontal_rules if 0.08 * inventory.height < rule[0] < 0.92 * inventory.height
        )
        >= 2
    )
    if rotated or ruled or _may_hold_table(segments, line_height) or text_may_hold_table(stream_text):
        walked = inventory

        def walk() -> _Inventory:
            # Walked only once the words line up somewhere: most pages with figures never need it.
            nonlocal walked
            if walked is None:
                walked = _inventory(page)
            return walked

        found = page_tables(
            page,
            textpage,
            lambda: (walk().horizontal_rules, walk().vertical_rules),
            stream_text,
            lambda: walk().drawings,
        )
        if found:
            return _blocks_around_tables(textpage, found, number, stream_blocks, stream_text), "tables"
    if rotated:
        # Rotated pages are laid out in unrotated space; leave their order to the stream.
        return stream_blocks, "stream"
    tables: list[_GridTable] = []
    plan = _plan_reading_order(segments, tables, line_height)
    if plan is None:
        return stream_blocks, "stream"

    blocks: list[Block] = []
    rebuilt_chars = 0
    bounded = _BoundedText(textpage)
    for item in plan:
        if isinstance(item, _GridTable):
            table = item.table
            rebuilt_chars += item.visible_chars
            blocks.append(
                Block(kind="table", text=table.to_text(), page=number, table=table, meta={"detected": "ruled_grid"})
            )
            continue
        x0, y0, x1, y1 = item
        region_text = bounded.read(x0, y0, x1, y1)
        rebuilt_chars += _visible_chars(region_text)
        cleaned = _clean_text(region_text)
        if cleaned.strip():
            blocks.append(Block(kind="paragraph", text=cleaned, page=number))
    # Regions are cut from the geometry; if they lost or repeated text (overlapping
    # boxes, glyphs without boxes), the stream order is the safer answer.
    if abs(rebuilt_chars - native_chars) > max(3, native_chars * 0.02):
        return stream_blocks, "stream"
    return blocks, ("tables" if tables else "columns")


def _blocks_around_tables(
    textpage: Any, found: list[Any], number: int, stream_blocks: list[Block], stream_text: str | None = None
) -> list[Block]:
    """Table blocks where each table starts in the text stream, the text outside them as paragraphs."""
    pieces = text_around_tables(textpage, found, stream_text)
    if not pieces:
        return stream_blocks
    blocks: list[Block] = []
    for text, table in pieces:
        if table is None:
            cleaned = _clean_text(text)
            if cleaned.strip():
                blocks.append(Block(kind="paragraph", text=cleaned, page=number))
            continue
        table.table.bbox = tuple(round(v, 2) for v in table.bbox)
        if table.table.caption:
            blocks.append(Block(kind="caption", text=table.table.caption, page=number))
        blocks.append(
            Block(
                kind="table",
                text=table.table.to_text(),
                page=number,
                table=table.table,
                meta={"detected": table.kind},
            )
        )
    return blocks


class _BoundedText:
    """Text inside rectangles of one text page, one pdfium call per rectangle.

    pypdfium2's ``get_text_bounded`` asks pdfium twice (size, then text), and each
    call scans every character of the page; with one buffer sized for the whole
    page a single call suffices.
    """

    def __init__(self, textpage: Any) -> None:
        import pypdfium2.raw as raw

        self._textpage = textpage
        self._function = raw.FPDFText_GetBoundedText
        # Every character may be preceded by an inserted line break or space.
        self._capacity = 3 * max(textpage.count_chars(), 0) + 64
        self._buffer = (ctypes.c_ushort * self._capacity)()

    def read(self, x0: float, y0: float, x1: float, y1: float) -> str:
        written = self._function(self._textpage.raw, x0, y1, x1, y0, self._buffer, self._capacity)
        if written <= 0:
            return ""
        if written >= self._capacity:  # cannot happen by the bound above; stay correct anyway
            return self._textpage.get_text_bounded(left=x0, bottom=y0, right=x1, top=y1)
        # The count includes the terminating NUL when the buffer had room for it.
        return ctypes.string_at(self._buffer, written * 2).decode("utf-16-le", "ignore").rstrip("\x00")


def _visible_chars(text: str) -> int:
    return len(text) - sum(text.count(ch) for ch in (" ", "\r", "\n", "\t", "\ufffe", "\x02", "\x00"))


def _clean_text(text: str) -> str:
    """Hand pdfium's line-end hyphen marker on as a plain hyphen and line break.

    The normalize stage decides whether a hyphen at a line end joins a broken word
    or belongs to a compound; it can only do that if the line break is kept.
    """
    text = _PDFIUM_LINE_END_HYPHEN.sub("-\n", text)
    return text.replace("\r\n", "\n").replace("\x00", "")


# --- page inventory (images, rules) ------------------------------------------


def _inventory(page: Any) -> _Inventory:
    inventory = _Inventory(width=float(page.get_width()), height=float(page.get_height()))
    calls = _object_calls()
    page_handle = address_of(page.raw)
    count = calls.count_objects(page_handle)
    _walk_objects(page_handle, count, calls.get_object, None, inventory, 0, calls)
    return inventory


class _ObjectCalls:
    """The pdfium calls of a walk over a page's objects, as bare C calls on addresses (see
    ``bare_function``): a page can draw thousands of objects, each read with a few calls."""

    def __init__(self) -> None:
        import pypdfium2.raw as raw

        ptr, i32, u32 = ctypes.c_void_p, ctypes.c_int, ctypes.c_ulong
        self.count_objects = bare_function(raw.FPDFPage_CountObjects, ptr)
        self.get_object = bare_function(raw.FPDFPage_GetObject, ptr, i32, restype=ptr)
        self.form_count = bare_function(raw.FPDFFormObj_CountObjects, ptr)
        self.form_get_object = bare_function(raw.FPDFFormObj_GetObject, ptr, u32, restype=ptr)
        self.get_type = bare_function(raw.FPDFPageObj_GetType, ptr)
        self.get_bounds = bare_function(raw.FPDFPageObj_GetBounds, ptr, ptr, ptr, ptr, ptr)
        self.get_matrix = bare_function(raw.FPDFPageObj_GetMatrix, ptr, ptr)
        self.count_segments = bare_function(raw.FPDFPath_CountSegments, ptr)
        self.get_draw_mode = bare_function(raw.FPDFPath_GetDrawMode, ptr, ptr, ptr)
        self.get_segment = bare_function(raw.FPDFPath_GetPathSegment, ptr, i32, restype=ptr)
        self.segment_point = bare_function(raw.FPDFPathSegment_GetPoint, ptr, ptr, ptr)
        self.segment_type = bare_function(raw.FPDFPathSegment_GetType, ptr)
        self.segment_close = bare_function(raw.FPDFPathSegment_GetClose, ptr)
        # Out-parameters, reused by every call of a walk (each thread has its own).
        self.floats = [ctypes.c_float() for _ in range(4)]
        self.float_addresses = [ctypes.addressof(value) for value in self.floats]
        self.ints = [ctypes.c_int(), ctypes.c_int()]
        self.int_addresses = [ctypes.addressof(value) for value in self.ints]
        self.matrix = raw.FS_MATRIX()
        self.matrix_address = ctypes.addressof(self.matrix)


_OBJECT_CALLS = threading.local()


def _object_calls() -> _ObjectCalls:
    calls = getattr(_OBJECT_CALLS, "calls", None)
    if calls is None:
        calls = _OBJECT_CALLS.calls = _ObjectCalls()
    return calls


def _walk_objects(
    container: int,
    count: int,
    getter: Any,
    matrix: tuple[float, ...] | None,
    inventory: _Inventory,
    depth: int,
    calls: _ObjectCalls,
) -> None:
    left, bottom, right, top = calls.floats
    bounds_at = calls.float_addresses
    get_type = calls.get_type
    get_bounds = calls.get_bounds
    for i in range(count):
        obj = getter(container, i)
        if not obj:
            continue
        kind = get_type(obj)
        if kind == _PATH:
            inventory.path_count += 1
            if inventory.path_count > MAX_PATHS_FOR_TABLES:
                continue
            if not get_bounds(obj, *bounds_at):
                continue
            box = _transform_box((left.value, bottom.value, right.value, top.value), matrix)
            _collect_rules(obj, box, matrix, inventory, calls)
        elif kind == _IMAGE:
            if get_bounds(obj, *bounds_at):
                x0, y0, x1, y1 = _transform_box((left.value, bottom.value, right.value, top.value), matrix)
                x0, x1 = max(x0, 0.0), min(x1, inventory.width)
                y0, y1 = max(y0, 0.0), min(y1, inventory.height)
                if x1 > x0 and y1 > y0:
                    inventory.image_area += (x1 - x0) * (y1 - y0)
        elif kind == _FORM and depth < _FORM_NESTING_LIMIT:
            child_count = calls.form_count(obj)
            if child_count > 0:
                form_matrix = _object_matrix(obj, calls)
                combined = _compose(form_matrix, matrix)
                _walk_objects(obj, child_count, calls.form_get_object, combined, inventory, depth + 1, calls)


def _object_matrix(obj: int, calls: _ObjectCalls) -> tuple[float, ...] | None:
    if not calls.get_matrix(obj, calls.matrix_address):
        return None
    m = calls.matrix
    return (m.a, m.b, m.c, m.d, m.e, m.f)


def _compose(inner: tuple[float, ...] | None, outer: tuple[float, ...] | None) -> tuple[float, ...] | None:
    """Matrix that applies ``inner`` first, then ``outer`` (PDF row-vector convention)."""
    if inner is None:
        return outer
    if outer is None:
        return inner
    a1, b1, c1, d1, e1, f1 = inner
    a2, b2, c2, d2, e2, f2 = outer
    return (
        a1 * a2 + b1 * c2,
        a1 * b2 + b1 * d2,
        c1 * a2 + d1 * c2,
        c1 * b2 + d1 * d2,
        e1 * a2 + f1 * c2 + e2,
        e1 * b2 + f1 * d2 + f2,
    )


def _apply(matrix: tuple[float, ...] | None, x: float, y: float) -> tuple[float, float]:
    if matrix is None:
        return x, y
    a, b, c, d, e, f = matrix
    return a * x + c * y + e, b * x + d * y + f


def _transform_box(box: tuple[float, float, float, float], matrix: tuple[float, ...] | None) -> tuple[float, ...]:
    if matrix is None:
        return box
    x0, y0, x1, y1 = box
    corners = [_apply(matrix, x, y) for x, y in ((x0, y0), (x0, y1), (x1, y0), (x1, y1))]
    xs = [p[0] for p in corners]
    ys = [p[1] for p in corners]
    return (min(xs), min(ys), max(xs), max(ys))


def _collect_rules(
    obj: int, box: tuple[float, ...], matrix: tuple[float, ...] | None, inventory: _Inventory, calls: _ObjectCalls
) -> None:
    """Horizontal/vertical rules drawn by a path: thin boxes, or the edges of stroked outlines."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    if height <= RULE_THICKNESS and width > 3 * max(height, 0.5):
        inventory.horizontal_rules.append(((y0 + y1) / 2, x0, x1))
        if calls.count_segments(obj) > 6:
            _add_drawing(inventory, box, False)  # a thin curve: a chart's line or a legend's marker
        return
    if width <= RULE_THICKNESS and height > 3 * max(width, 0.5):
        inventory.vertical_rules.append(((x0 + x1) / 2, y0, y1))
        if calls.count_segments(obj) > 6:
            _add_drawing(inventory, box, False)
        return
    segment_count = calls.count_segments(obj)
    if segment_count > 6:
        _add_drawing(inventory, box, False)  # a curve or a polyline
    elif segment_count < 4 and _is_slanted(obj, segment_count, matrix, calls):
        _add_drawing(inventory, box, False)  # a chart's line drawn segment by segment
    # A rectangle is 4-5 segments; a grid drawn as one path is large. Anything else
    # (curves of figures, glyph outlines) is not worth reading point by point.
    if not (4 <= segment_count <= 6 or (segment_count <= MAX_PATH_SEGMENTS_INSPECTED and width > 40 and height > 15)):
        return
    fill_mode, stroke = calls.ints
    if not calls.get_draw_mode(obj, *calls.int_addresses) or not stroke.value:
        return  # a filled shape (cell shading, a logo): not a rule
    if 4 <= segment_count <= 6:
        _add_drawing(inventory, box, True)
    full_matrix = _compose(_object_matrix(obj, calls), matrix)
    px, py = calls.floats[0], calls.floats[1]
    point_at = calls.float_addresses[0], calls.float_addresses[1]
    get_segment, segment_point = calls.get_segment, calls.segment_point
    segment_type, segment_close = calls.segment_type, calls.segment_close
    start: tuple[float, float] | None = None
    previous: tuple[float, float] | None = None
    for i in range(segment_count):
        segment = get_segment(obj, i)
        if not segment or not segment_point(segment, *point_at):
            continue
        point = _apply(full_matrix, px.value, py.value)
        kind = segment_type(segment)
        if kind == _SEGMENT_BEZIERTO:
            return  # a curve: a drawing, not a table outline
        if kind == _SEGMENT_MOVETO:
            start = previous = point
            continue
        if kind == _SEGMENT_LINETO and previous is not None:
            _add_rule(previous, point, inventory)
        previous = point
        if segment_close(segment) and start is not None:
            _add_rule(point, start, inventory)


def _is_slanted(obj: int, segment_count: int, matrix: tuple[float, ...] | None, calls: _ObjectCalls) -> bool:
    """Does a path of a few segments run slanted (its points spread both ways)? Its box alone cannot
    tell: a dot or a short rule drawn with a wide pen has a square box too."""
    full_matrix = _compose(_object_matrix(obj, calls), matrix)
    px, py = calls.floats[0], calls.floats[1]
    point_at = calls.float_addresses[0], calls.float_addresses[1]
    xs: list[float] = []
    ys: list[float] = []
    for i in range(segment_count):
        segment = calls.get_segment(obj, i)
        if not segment or not calls.segment_point(segment, *point_at):
            continue
        x, y = _apply(full_matrix, px.value, py.value)
        xs.append(x)
        ys.append(y)
    return bool(xs) and max(xs) - min(xs) > RULE_THICKNESS and max(ys) - min(ys) > RULE_THICKNESS


def _add_drawing(inventory: _Inventory, box: tuple[float, ...], is_box: bool) -> None:
    if len(inventory.drawings) < MAX_DRAWINGS_KEPT:
        x0, y0, x1, y1 = box
        inventory.drawings.append((x0, y0, x1, y1, is_box))


def _add_rule(a: tuple[float, float], b: tuple[float, float], inventory: _Inventory) -> None:
    (ax, ay), (bx, by) = a, b
    if abs(ay - by) <= 0.5 and abs(ax - bx) > 2:
        inventory.horizontal_rules.append(((ay + by) / 2, min(ax, bx), max(ax, bx)))
    elif abs(ax - bx) <= 0.5 and abs(ay - by) > 2:
        inventory.vertical_rules.append(((ax + bx) / 2, min(ay, by), max(ay, by)))


# --- tables (found by data_extract.pipeline.tables) ---------------------------


@dataclass
class _GridTable:
    table: Table
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1
    visible_chars: int  # characters read from the cells (for the completeness check)


# --- reading order -------------------------------------------------------------


def _line_segments(textpage: Any) -> list[list[float]]:
    """pdfium's text rectangles (one per run of one text object, in stream order),
    with consecutive ones on the same line and close together merged: [x0, y0, x1, y1].

    Runs on every page, so it is written for speed: one pass, no intermediate list.
    """
    import pypdfium2.raw as raw

    handle = address_of(textpage.raw)
    count = raw.FPDFText_CountRects(textpage.raw, 0, -1)
    left, top, right, bottom = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    corners = [ctypes.addressof(value) for value in (left, top, right, bottom)]
    ptr = ctypes.c_void_p
    get_rect = bare_function(raw.FPDFText_GetRect, ptr, ctypes.c_int, ptr, ptr, ptr, ptr)
    segments: list[list[float]] = []
    append = segments.append
    cx0 = cy0 = cx1 = cy1 = 0.0
    current: list[float] | None = None
    for i in range(max(count, 0)):
        if not get_rect(handle, i, *corners):
            continue
        x0, y0, x1, y1 = left.value, bottom.value, right.value, top.value
        height = y1 - y0
        if height <= 0.1 or x1 - x0 <= 0.01:
            continue
        if current is not None:
            current_height = cy1 - cy0
            line_height = current_height if current_height > height else height
            gap = x0 - cx1
            if -0.5 * line_height <= gap <= 0.9 * line_height:
                overlap = (cy1 if cy1 < y1 else y1) - (cy0 if cy0 > y0 else y0)
                if overlap >= 0.5 * (height if height < current_height else current_height):
                    if x0 < cx0:
                        cx0 = x0
                    if y0 < cy0:
                        cy0 = y0
                    if x1 > cx1:
                        cx1 = x1
                    if y1 > cy1:
                        cy1 = y1
                    current[0], current[1], current[2], current[3] = cx0, cy0, cx1, cy1
                    continue
        cx0, cy0, cx1, cy1 = x0, y0, x1, y1
        current = [x0, y0, x1, y1]
        append(current)
    return segments


def _may_hold_table(segments: list[list[float]], line_height: float) -> bool:
    """Do several rows hold separate, narrow runs of text that line up like cells?

    Lines of two text columns also come in pairs per row; they are wide, so only
    runs narrower than a third of the text width count as cells.
    """
    if len(segments) < 6:
        return False
    text_width = max(s[2] for s in segments) - min(s[0] for s in segments)
    narrow_limit = text_width / 3
    ordered = sorted(segments, key=lambda s: -(s[1] + s[3]))
    rows: list[list[list[float]]] = []
    row_center = math.inf
    for segment in ordered:
        center = (segment[1] + segment[3]) / 2
        if rows and row_center - center <= 0.5 * line_height:
            rows[-1].append(segment)
        else:
            rows.append([segment])
            row_center = center
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for row in rows:
        if len(row) < 2:
            continue
        row.sort(key=lambda s: s[0])
        for position, segment in enumerate(row):
            if segment[2] - segment[0] > narrow_limit:
                continue
            if position > 0:
                key = round(segment[0] / 3)
                starts[key] = starts.get(key, 0) + 1
            if position < len(row) - 1:
                key = round(segment[2] / 3)
                ends[key] = ends.get(key, 0) + 1
    return max([*starts.values(), *ends.values(), 0]) >= 3


_PlanItem = Any  # tuple[float, float, float, float] (a text region) or _GridTable


def _plan_reading_order(
    segments: list[list[float]], tables: list[_GridTable], line_height: float
) -> list[_PlanItem] | None:
    """Regions and tables in reading order, or None when the stream order is right."""
    if tables:
        segments = [s for s in segments if not _inside_any(s, tables)]
    if not segments:
        return list(tables) if tables else None

    gutters = _find_gutters(segments, line_height)
    if not gutters and not tables:
        return None
    columns = _assign_columns(segments, gutters)
    zones = _zones(segments, columns, tables, gutters)
    zones = [_validate_zone(zone, line_height) for zone in zones]
    if not tables:
        if not any(zone.columns > 1 for zone in zones):
            return None
        if not _stream_order_is_broken(segments, zones, line_height):
            return None

    plan: list[_PlanItem] = []
    for zone in zones:
        for column in range(zone.columns):
            items = zone.members(column)
            plan += _blocks(items, line_height)
    return plan


def _inside_any(segment: list[float], tables: list[_GridTable]) -> bool:
    cx, cy = (segment[0] + segment[2]) / 2, (segment[1] + segment[3]) / 2
    return any(t.bbox[0] <= cx <= t.bbox[2] and t.bbox[1] <= cy <= t.bbox[3] for t in tables)


def _find_gutters(segments: list[list[float]], line_height: float) -> list[float]:
    """x positions of vertical white bands that split the page's text into columns."""
    x_min = min(s[0] for s in segments)
    x_max = max(s[2] for s in segments)
    width = x_max - x_min
    if width <= 0:
        return []
    # Full-width lines (titles, abstracts, captions) cross gutters by design.
    narrow = [s for s in segments if s[2] - s[0] < 0.55 * width and s[3] - s[1] < 3 * line_height]
    if len(narrow) < 10:
        return []
    events: list[tuple[float, int]] = []
    for s in narrow:
        events.append((s[0], 1))
        events.append((s[2], -1))
    events.sort()
    tolerance = max(1, len(narrow) // 50)
    inner_left, inner_right = x_min + 0.15 * width, x_max - 0.15 * width
    min_gutter = max(0.8 * line_height, 4.0)

    gutters: list[float] = []
    depth = 0
    open_at: float | None = None
    for x, delta in events:
        was_open = depth <= tolerance
        depth += delta
        now_open = depth <= tolerance
        if now_open and not was_open:
            open_at = x
        elif was_open and not now_open and open_at is not None:
            start, end = max(open_at, inner_left), min(x, inner_right)
            if end - start >= min_gutter:
                gutters.append((start + end) / 2)
            open_at = None
    return gutters


def _assign_columns(segments: list[list[float]], gutters: list[float]) -> list[int]:
    """Column index of each segment, or -1 when it crosses a gutter (spans columns)."""
    assigned = []
    for x0, _y0, x1, _y1 in segments:
        column = 0
        spanning = False
        for gutter in gutters:
            if x1 <= gutter + 1.0:
                break
            if x0 < gutter - 1.0:
                spanning = True
                break
            column += 1
        assigned.append(-1 if spanning else column)
    return assigned


@dataclass
class _Zone:
    """A horizontal band of the page: full width (one column) or split into columns."""

    columns: int
    items: list[tuple[int, Any]] = field(default_factory=list)  # (column, segment or table)

    def members(self, column: int) -> list[Any]:
        return [item for col, item in self.items if col == column]


def _zones(
    segments: list[list[float]], columns: list[int], tables: list[_GridTable], gutters: list[float]
) -> list[_Zone]:
    n_columns = len(gutters) + 1
    entries: list[tuple[float, int, Any]] = [
        ((s[1] + s[3]) / 2, column, s) for s, column in zip(segments, columns, strict=True)
    ]
    for table in tables:
        x0, y0, x1, y1 = table.bbox
        table_columns = _assign_columns([[x0, y0, x1, y1]], gutters)[0]
        entries.append(((y0 + y1) / 2, table_columns, table))
    entries.sort(key=lambda e: -e[0])

    zones: list[_Zone] = []
    for _center, column, item in entries:
        spanning = column == -1 or n_columns == 1
        if spanning:
            if not zones or zones[-1].columns != 1:
                zones.append(_Zone(columns=1))
            zones[-1].items.append((0, item))
        else:
            if not zones or zones[-1].columns == 1:
                zones.append(_Zone(columns=n_columns))
            zones[-1].items.append((column, item))
    return zones


def _validate_zone(zone: _Zone, line_height: float) -> _Zone:
    """Keep a multi-column zone only if every column holds lines of running text.

    Tables without rules also have white vertical bands; their cells are short and
    ragged, while text columns are filled lines of similar width.
    """
    if zone.columns == 1:
        return zone
    widths: list[float] = []
    for column in range(zone.columns):
        members = [m for m in zone.members(column) if isinstance(m, list)]
        if len(members) < 3:
            return _merged(zone)
        left = min(m[0] for m in members)
        right = max(m[2] for m in members)
        column_width = right - left
        if column_width < 8 * line_height:
            return _merged(zone)
        filled = sum(1 for m in members if m[2] - m[0] >= 0.6 * column_width)
        if filled < 0.4 * len(members):
            return _merged(zone)
        widths.append(column_width)
    if min(widths) < 0.4 * max(widths):
        return _merged(zone)
    return zone


def _merged(zone: _Zone) -> _Zone:
    return _Zone(columns=1, items=[(0, item) for _column, item in zone.items])


def _stream_order_is_broken(segments: list[list[float]], zones: list[_Zone], line_height: float) -> bool:
    """Does the stream keep jumping back between the columns of a zone (or upward within one)?"""
    where: dict[int, tuple[int, int]] = {}
    for zone_index, zone in enumerate(zones):
        if zone.columns == 1:
            continue
        for column, item in zone.items:
            if isinstance(item, list):
                where[id(item)] = (zone_index, column)
    if not where:
        return False
    backward = 0
    previous: list[float] | None = None
    for segment in segments:
        location = where.get(id(segment))
        if location is None:
            previous = None
            continue
        if previous is not None:
            previous_location = where[id(previous)]
            same_zone = previous_location[0] == location[0]
            back_to_earlier_column = location[1] < previous_location[1]
            up_within_column = location[1] == previous_location[1] and segment[1] > previous[3] + 1.5 * line_height
            if same_zone and (back_to_earlier_column or up_within_column):
                backward += 1
        previous = segment
    # Interleaved columns jump back on nearly every other line; a handful of jumps
    # is a caption, a footnote or a table read row by row, which the stream has right.
    return backward >= 4 and backward >= 0.2 * len(where)


def _blocks(items: list[Any], line_height: float) -> list[_PlanItem]:
    """Group a column's segments into text regions split at wide vertical gaps and tables."""
    entries = sorted(items, key=lambda item: -(item.bbox[3] if isinstance(item, _GridTable) else item[3]))
    plan: list[_PlanItem] = []
    current: list[float] | None = None
    gap_limit = 1.2 * line_height
    for item in entries:
        if isinstance(item, _GridTable):
            plan.append(item)
            current = None
            continue
        if current is not None and current[1] - item[3] <= gap_limit:
            current[0] = min(current[0], item[0])
            current[1] = min(current[1], item[1])
            current[2] = max(current[2], item[2])
            continue
        current = list(item)
        plan.append(current)
    return [tuple(p) if isinstance(p, list) else p for p in plan]


# --- OCR ---------------------------------------------------------------------


@dataclass
class _OcrOutcome:
    done: list[int] = field(default_factory=list)  # pages recognised
    pending: list[int] = field(default_factory=list)  # pages that still need OCR
    warnings: list[str] = field(default_factory=list)
    reason: str = ""  # why pending pages were not recognised


def _recognise_scanned_pages(
    pdf: Any, pages: list[_PageResult], options: ExtractOptions, budget: _CharBudget
) -> _OcrOutcome:
    """OCR the pages that need it, appending an ``ocr`` block to each."""
    import pypdfium2 as pdfium

    wanted = [page for page in pages if page.ocr_wanted]
    if not wanted:
        return _OcrOutcome()
    from data_extract.pipeline import guard, ocr

    # Pages whose poor earlier-OCR text layer would be read again keep that layer when they cannot be.
    scans = [page for page in wanted if page.earlier_ocr is None]
    if not options.ocr:
        return _OcrOutcome(
            pending=[p.number for p in scans],
            reason="OCR is disabled for this run",
            warnings=_poor_layers_kept(wanted, "OCR is disabled for this run"),
        )
    if not ocr.tesseract_available():
        reason = "OCR is not available (Tesseract is not installed)"
        return _OcrOutcome(
            pending=[p.number for p in scans], reason=reason, warnings=_poor_layers_kept(wanted, reason)
        )

    warnings: list[str] = []
    languages = ocr.resolve_languages(options.ocr_languages)
    if languages.missing:
        warnings.append(
            f"OCR languages not installed and skipped: {', '.join(languages.missing)}; using {languages.argument}."
        )
    done: list[int] = []
    pending: list[int] = []
    timed_out: list[int] = []
    low_confidence: list[int] = []
    for position, page in enumerate(wanted):
        remaining = guard.remaining_time_s()
        timeout = OCR_PAGE_TIMEOUT_S
        if remaining is not None:
            timeout = min(timeout, remaining - OCR_SAFETY_MARGIN_S)
            if timeout < 5.0:
                pending += [p.number for p in wanted[position:]]
                warnings.append("OCR stopped early: the extraction time budget ran out.")
                break
        try:
            image = _render_for_ocr(pdf, page.number - 1)
        except pdfium.PdfiumError:
            pending.append(page.number)
            continue
        try:
            reading = ocr.recognise_page(image, languages.argument, timeout, dpi=image.info.get("ocr_dpi"))
        except ocr.OcrTimeout:
            timed_out.append(page.number)
            continue
        except ocr.OcrError:
            pending.append(page.number)
            continue
        finally:
            image.close()
        done.append(page.number)
        if not reading.text.strip() and page.earlier_ocr is None:
            continue
        block = Block(kind="ocr", text=reading.text, page=page.number, meta=reading.provenance(languages.argument))
        if page.earlier_ocr is not None and not _reads_better(reading.text, page.earlier_ocr):
            # The fresh reading is no better than the earlier one: keep what the PDF carries.
            for kept in page.blocks:
                kept.meta.update(page.earlier_ocr.provenance("kept_poor"))
            continue
        if reading.low_confidence:
            low_confidence.append(page.number)
        if page.earlier_ocr is not None:
            block.meta.update(page.earlier_ocr.provenance("replaced"))
            # Paragraphs and tables came from the poor layer; filled-in form fields did not.
            page.blocks = [b for b in page.blocks if b.meta.get("detected") == "form_fields"]
        budget.add(block.text)
        page.blocks.append(block)
    # Pages with an earlier OCR's layer still have that text when reading them again failed.
    relayered = {page.number for page in wanted if page.earlier_ocr is not None}
    for page in wanted:
        if page.number in relayered and page.number in pending + timed_out:
            for kept in page.blocks:
                kept.meta.update(page.earlier_ocr.provenance("kept_poor"))
    if timed_out:
        warnings.append(f"OCR timed out on {_pages(timed_out)}.")
    if pending:
        warnings.append(f"OCR failed on {_pages(pending)}.")
    if low_confidence:
        warnings.append(ocr.low_confidence_warning(low_confidence))
    unfinished = [n for n in pending + timed_out if n not in relayered]
    return _OcrOutcome(done, sorted(unfinished), warnings, reason="OCR did not complete")


def _reads_better(text: str, earlier: Any) -> bool:
    """Does a fresh OCR reading beat the earlier OCR's text layer by the same word-like measure?"""
    from data_extract.pipeline import text_layer

    if not text.strip():
        return False
    share, _tokens = text_layer.wordlike_share(text)
    return share > earlier.share


def _poor_layers_kept(pages: list[_PageResult], reason: str) -> list[str]:
    """Keep the poor earlier-OCR layers of pages that cannot be read again, and say so."""
    poor = [page for page in pages if page.earlier_ocr is not None]
    for page in poor:
        for block in page.blocks:
            block.meta.update(page.earlier_ocr.provenance("kept_poor"))
    if not poor:
        return []
    return [
        f"The text layer an earlier OCR left on {_pages([p.number for p in poor])} reads poorly and {reason}: "
        "it was kept as it is."
    ]


def _render_for_ocr(pdf: Any, index: int) -> Any:
    page = pdf.get_page(index)
    try:
        width, height = page.get_size()
        scale = OCR_DPI / 72.0
        pixels = width * scale * height * scale
        if pixels > OCR_MAX_PIXELS:
            scale *= math.sqrt(OCR_MAX_PIXELS / pixels)
        bitmap = page.render(scale=scale, grayscale=True)
        try:
            image = bitmap.to_pil().copy()
        finally:
            bitmap.close()
        image.info["ocr_dpi"] = round(scale * 72)
        return image
    finally:
        page.close()


def _pages(numbers: list[int]) -> str:
    return ("page " if len(numbers) == 1 else "pages ") + _page_list(numbers)


def _page_list(numbers: list[int]) -> str:
    """1, 2, 3, 5, 7, 8 -> '1-3, 5, 7-8'."""
    ranges: list[str] = []
    start = previous = None
    for number in sorted(numbers):
        if start is None:
            start = previous = number
        elif number == previous + 1:
            previous = number
        else:
            ranges.append(f"{start}-{previous}" if previous != start else str(start))
            start = previous = number
    if start is not None:
        ranges.append(f"{start}-{previous}" if previous != start else str(start))
    return ", ".join(ranges)

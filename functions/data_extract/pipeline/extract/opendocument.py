"""OpenDocument text (ODT) and presentations (ODP) -> blocks, read directly with lxml.

ODT, in document order: ``text:h`` headings (outline level, ``section`` breadcrumb), ``text:p`` paragraphs,
``text:list`` items (``level`` = nesting depth), ``table:table`` tables (repeated rows/columns expanded up to a
cap, trailing empty ones dropped; a nested table's text stays in its cell), sections and indexes, text boxes in
frames (``textbox`` blocks after their paragraph), footnotes/endnotes (``footnote``/``endnote`` after their
paragraph), annotations (``comment``), form controls (one block of ``label: value`` lines), then the page headers
and footers of the master pages (deduplicated). Tracked deletions are not text. Page numbers come from the
``text:soft-page-break`` marks LibreOffice writes at its layout page boundaries, when present.

ODP: one slide per ``draw:page`` (``Block.slide``), the title frame as a heading, other frames, shapes, groups and
tables in drawing order, and the speaker notes as ``note``.

Password-protected packages (``encryption-data`` in the manifest) are ``ENCRYPTED``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from lxml import etree

from data_extract.pipeline.extract.limits import TextLimit, check_page_limit
from data_extract.pipeline.extract.ooxml import Package, open_package
from data_extract.pipeline.sections import SectionTrail
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions, Table, TableCell

OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
DRAW = "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
PRESENTATION = "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0"
FORM = "urn:oasis:names:tc:opendocument:xmlns:form:1.0"
STYLE = "urn:oasis:names:tc:opendocument:xmlns:style:1.0"
META = "urn:oasis:names:tc:opendocument:xmlns:meta:1.0"
DC = "http://purl.org/dc/elements/1.1/"

MAX_REPEAT = 1000  # repeated rows/columns expanded at most this often (files repeat empty cells a million times)


def _t(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


T_P, T_H, T_LIST, T_LIST_ITEM, T_LIST_HEADER = (_t(TEXT, n) for n in ("p", "h", "list", "list-item", "list-header"))
T_SPAN, T_A, T_S, T_TAB, T_LINE_BREAK = (_t(TEXT, n) for n in ("span", "a", "s", "tab", "line-break"))
T_NOTE, T_NOTE_BODY, T_NOTE_CITATION = _t(TEXT, "note"), _t(TEXT, "note-body"), _t(TEXT, "note-citation")
T_SECTION, T_SOFT_BREAK, T_TRACKED = _t(TEXT, "section"), _t(TEXT, "soft-page-break"), _t(TEXT, "tracked-changes")
T_INDEX_BODY = _t(TEXT, "index-body")
TB_TABLE, TB_ROW, TB_CELL, TB_COVERED = (
    _t(TABLE, n) for n in ("table", "table-row", "table-cell", "covered-table-cell")
)
TB_ROW_GROUPS = {_t(TABLE, n) for n in ("table-header-rows", "table-rows", "table-row-group")}
D_FRAME, D_TEXT_BOX, D_PAGE, D_G = (_t(DRAW, n) for n in ("frame", "text-box", "page", "g"))
O_ANNOTATION, O_FORMS = _t(OFFICE, "annotation"), _t(OFFICE, "forms")
P_NOTES = _t(PRESENTATION, "notes")
A_REPEAT_ROWS, A_REPEAT_COLS = _t(TABLE, "number-rows-repeated"), _t(TABLE, "number-columns-repeated")
A_SPAN_ROWS, A_SPAN_COLS = _t(TABLE, "number-rows-spanned"), _t(TABLE, "number-columns-spanned")
A_OUTLINE, A_COUNT, A_CLASS = _t(TEXT, "outline-level"), _t(TEXT, "c"), _t(PRESENTATION, "class")
A_NOTE_CLASS = _t(TEXT, "note-class")
INDEX_TAGS = {
    _t(TEXT, n)
    for n in (
        "table-of-content", "illustration-index", "table-index", "object-index", "user-index",
        "alphabetical-index", "bibliography",
    )
}  # fmt: skip
# Page-number fields repeat layout state, not content.
_SKIPPED_INLINE = {
    T_NOTE_CITATION, _t(TEXT, "bookmark-ref"), _t(OFFICE, "annotation-end"), T_TRACKED, _t(TEXT, "page-number"),
    _t(TEXT, "page-count"),
}  # fmt: skip
_BOILERPLATE_CLASSES = {"page-number", "date-time", "footer", "header"}


def _repeat(el: etree._Element, attr: str) -> int:
    try:
        return max(1, int(el.get(attr) or 1))
    except ValueError:
        return 1


class _OdfWalker:
    def __init__(self, package: Package, options: ExtractOptions) -> None:
        self.package = package
        self.options = options
        self.limit = TextLimit(options)
        self.trail = SectionTrail()
        self.page = 1
        self.page_markers = False
        self.warnings: list[str] = []

    # -- inline text ----------------------------------------------------------------------------------------------
    def inline(self, el: etree._Element, out: list[str], extras: list[Block]) -> None:
        if el.text:
            out.append(el.text)
        for child in el:
            tag = child.tag
            if tag == T_S:
                out.append(" " * min(_repeat(child, A_COUNT), 100))
            elif tag == T_TAB:
                out.append("\t")
            elif tag == T_LINE_BREAK:
                out.append("\n")
            elif tag == T_NOTE:
                body = child.find(T_NOTE_BODY)
                if body is not None:
                    text = self.container_text(body)
                    if text:
                        kind = "endnote" if child.get(A_NOTE_CLASS) == "endnote" else "footnote"
                        extras.append(Block(kind=kind, text=text))
            elif tag == O_ANNOTATION:
                text = self.container_text(child)
                if text:
                    author = child.findtext(_t(DC, "creator")) or ""
                    extras.append(Block(kind="comment", text=text, meta={"author": author} if author else {}))
            elif tag == D_FRAME:
                self._frame_inline(child, extras)
            elif tag == T_SOFT_BREAK:
                self._next_page()
            elif tag in _SKIPPED_INLINE or not isinstance(tag, str):
                pass
            else:  # spans, links, fields, ruby, ...: their text
                self.inline(child, out, extras)
            if child.tail:
                out.append(child.tail)

    def _frame_inline(self, frame: etree._Element, extras: list[Block]) -> None:
        box = frame.find(D_TEXT_BOX)
        if box is not None:
            text = self.container_text(box)
            if text:
                extras.append(Block(kind="textbox", text=text))

    def container_text(self, container: etree._Element) -> str:
        """Text of a container of paragraphs/lists/tables (note bodies, text boxes, cells), one line each."""
        sink: list[Block] = []
        self.blocks(container, sink, body=False)
        return "\n".join(block.text for block in sink if block.text).strip()

    # -- block structure ------------------------------------------------------------------------------------------
    def blocks(self, container: etree._Element, sink: list[Block], *, body: bool, list_level: int = 0) -> None:
        for child in container:
            tag = child.tag
            if tag in (T_P, T_H):
                self._paragraph(child, sink, body=body, list_level=list_level)
            elif tag == T_LIST:
                for item in child:
                    if item.tag in (T_LIST_ITEM, T_LIST_HEADER):
                        self.blocks(item, sink, body=body, list_level=list_level + 1)
            elif tag == TB_TABLE:
                table = self.table(child)
                if table.rows:
                    self._emit(Block(kind="table", text=table.to_text(), table=table), sink, body)
            elif tag in (T_SECTION, T_INDEX_BODY) or tag in INDEX_TAGS:
                self.blocks(child, sink, body=body, list_level=list_level)
            elif tag == T_SOFT_BREAK:
                self._next_page()
            elif tag == D_FRAME:
                extras: list[Block] = []
                self._frame_inline(child, extras)
                for extra in extras:
                    self._emit(extra, sink, body)
            elif tag == O_FORMS and body:
                self._forms(child, sink)

    def _paragraph(self, p: etree._Element, sink: list[Block], *, body: bool, list_level: int) -> None:
        out: list[str] = []
        extras: list[Block] = []
        start_page = self.page
        self.inline(p, out, extras)
        text = "\n".join(" ".join(line.split()) for line in "".join(out).split("\n")).strip()
        if text:
            if p.tag == T_H and body:
                level = min(_repeat(p, A_OUTLINE), 9)
                self.trail.enter(level, text)
                block = Block(kind="heading", text=text, level=level)
            elif list_level:
                block = Block(kind="list_item", text=text, level=list_level)
            else:
                block = Block(kind="paragraph", text=text)
            self._emit(block, sink, body, start_page)
        for extra in extras:
            self._emit(extra, sink, body, start_page)

    def _emit(self, block: Block, sink: list[Block], body: bool, page: int | None = None) -> None:
        if body:
            self.limit.add(block.text)
            block.section = self.trail.current
            block.page = page if page is not None else self.page
        sink.append(block)

    def _next_page(self) -> None:
        self.page += 1
        self.page_markers = True
        check_page_limit(self.page, self.options, "pages")

    def table(self, table: etree._Element) -> Table:
        rows: list[list[str]] = []
        spans: list[TableCell] = []
        for row in self._rows(table):
            cells: list[str] = []
            row_spans: list[TableCell] = []
            for cell in row:
                if cell.tag not in (TB_CELL, TB_COVERED):
                    continue
                text = self.container_text(cell) if cell.tag == TB_CELL else ""
                repeat = min(_repeat(cell, A_REPEAT_COLS), MAX_REPEAT)
                if text.strip():
                    for k in range(repeat):
                        row_spans.append(
                            TableCell(
                                row=0,
                                col=len(cells) + k,
                                text=text.strip(),
                                row_span=_repeat(cell, A_SPAN_ROWS),
                                col_span=_repeat(cell, A_SPAN_COLS),
                            )
                        )
                cells.extend([text] * repeat)
            while cells and not cells[-1]:
                cells.pop()
            if not cells:
                continue
            for _ in range(min(_repeat(row, A_REPEAT_ROWS), MAX_REPEAT)):
                spans += [replace(cell, row=len(rows)) for cell in row_spans]
                rows.append(list(cells))
        for cell in spans:
            cell.row_span = min(cell.row_span, len(rows) - cell.row)
        return Table(rows=rows, cells=spans)

    def _rows(self, parent: etree._Element) -> Iterator[etree._Element]:
        for child in parent:
            if child.tag == TB_ROW:
                yield child
            elif child.tag in TB_ROW_GROUPS:
                yield from self._rows(child)

    def _forms(self, forms: etree._Element, sink: list[Block]) -> None:
        lines: list[str] = []
        for control in forms.iter():
            if not isinstance(control.tag, str) or not control.tag.startswith(f"{{{FORM}}}"):
                continue
            if control.tag in (_t(FORM, "form"), _t(FORM, "properties"), _t(FORM, "property")):
                continue
            if control.tag in (_t(FORM, "list-property"), _t(FORM, "list-value"), _t(FORM, "item")):
                continue
            label = control.get(_t(FORM, "label")) or control.get(_t(FORM, "name")) or ""
            value = control.get(_t(FORM, "current-value")) or control.get(_t(FORM, "value")) or ""
            state = control.get(_t(FORM, "current-state")) or control.get(_t(FORM, "state")) or ""
            if control.tag in (_t(FORM, "fixed-text"), _t(FORM, "button")):
                line = label
            elif control.tag in (_t(FORM, "checkbox"), _t(FORM, "radio")):
                line = f"{label}: {'checked' if state in ('checked', 'true') else 'not checked'}"
            else:
                line = f"{label}: {value}" if label else value
            line = " ".join(line.split())
            if line and line not in lines:
                lines.append(line)
        if lines:
            self._emit(Block(kind="paragraph", text="\n".join(lines), meta={"form": True}), sink, True)

    # -- parts ----------------------------------------------------------------------------------------------------
    def header_footer_blocks(self) -> tuple[list[Block], list[Block]]:
        if not self.package.has("styles.xml"):
            return [], []
        try:
            root = self.package.xml("styles.xml", recover=True)
        except ExtractionError:
            self.warnings.append("The styles part is unreadable; page headers and footers were skipped.")
            return [], []
        found: dict[str, list[Block]] = {"header": [], "footer": []}
        seen: set[str] = set()
        for master in root.iter(_t(STYLE, "master-page")):
            for region in master:
                name = etree.QName(region).localname
                kind = "header" if name.startswith("header") else "footer" if name.startswith("footer") else None
                if kind is None:
                    continue
                text = self.container_text(region)
                key = " ".join(text.split()).lower()
                if key and key not in seen:
                    seen.add(key)
                    found[kind].append(Block(kind=kind, text=self.limit.add(text), meta={"variant": name}))
        return found["header"], found["footer"]

    def presentation_blocks(self, presentation: etree._Element) -> tuple[list[Block], int]:
        pages = [page for page in presentation if page.tag == D_PAGE]
        check_page_limit(len(pages), self.options, "slides")
        blocks: list[Block] = []
        for number, page in enumerate(pages, start=1):
            shapes: list[Block] = []
            self._shapes(page, shapes)
            titles = [b for b in shapes if b.kind == "heading"]
            slide_blocks = titles + [b for b in shapes if b.kind != "heading"]
            notes = page.find(P_NOTES)
            if notes is not None:
                note_parts: list[Block] = []
                self._shapes(notes, note_parts)
                note_text = "\n".join(b.text for b in note_parts if b.text)
                if note_text:
                    slide_blocks.append(Block(kind="note", text=note_text))
            section = " ".join(titles[0].text.split()) if titles else None
            for block in slide_blocks:
                block.slide = number
                block.section = section
                self.limit.add(block.text)
            blocks.extend(slide_blocks)
        return blocks, len(pages)

    def _shapes(self, container: etree._Element, out: list[Block]) -> None:
        for shape in container:
            tag = shape.tag
            if tag == D_G:
                self._shapes(shape, out)
            elif tag == P_NOTES:
                continue
            elif tag == D_FRAME:
                shape_class = shape.get(A_CLASS) or ""
                if shape_class in _BOILERPLATE_CLASSES:
                    continue
                table = shape.find(TB_TABLE)
                if table is not None:
                    tbl = self.table(table)
                    if tbl.rows:
                        out.append(Block(kind="table", text=tbl.to_text(), table=tbl))
                    continue
                box = shape.find(D_TEXT_BOX)
                text = self.container_text(box) if box is not None else ""
                if text:
                    if shape_class == "title":
                        out.append(Block(kind="heading", text=text, level=1))
                    else:
                        out.append(Block(kind="paragraph", text=text))
            elif isinstance(tag, str) and tag.startswith(f"{{{DRAW}}}"):
                text = self.container_text(shape)  # custom shapes, rectangles, ... hold text:p directly
                if text:
                    out.append(Block(kind="paragraph", text=text))


def _metadata(package: Package) -> dict[str, object]:
    metadata: dict[str, object] = {}
    if not package.has("meta.xml"):
        return metadata
    try:
        root = package.xml("meta.xml", recover=True)
    except ExtractionError:
        return metadata
    title = root.findtext(f".//{{{DC}}}title")
    if title and title.strip():
        metadata["title"] = title.strip()
    stats = root.find(f".//{{{META}}}document-statistic")
    if stats is not None and (stats.get(_t(META, "page-count")) or "").isdigit():
        metadata["declared_page_count"] = int(stats.get(_t(META, "page-count")))
    return metadata


def extract_opendocument(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    with open_package(data, options, "OpenDocument") as package:
        manifest = package.read_optional("META-INF/manifest.xml") or b""
        if b"encryption-data" in manifest:
            raise ExtractionError(ErrorType.ENCRYPTED, "The OpenDocument file is password-protected.")
        mimetype = (package.read_optional("mimetype") or b"").decode("ascii", "ignore").strip()
        root = package.xml("content.xml")
        body = root.find(_t(OFFICE, "body"))
        if body is None:
            raise ExtractionError(ErrorType.CORRUPT, "The OpenDocument content has no office:body.")
        walker = _OdfWalker(package, options)
        text_root = body.find(_t(OFFICE, "text"))
        presentation = body.find(_t(OFFICE, "presentation"))
        metadata = _metadata(package)
        try:
            if presentation is not None:
                blocks, slide_count = walker.presentation_blocks(presentation)
                metadata.update(slide_count=slide_count, notes_count=sum(1 for b in blocks if b.kind == "note"))
                return Document(format="odp", blocks=blocks, metadata=metadata, warnings=walker.warnings)
            if text_root is None:
                raise ExtractionError(
                    ErrorType.UNSUPPORTED_FORMAT,
                    f"OpenDocument files of type '{mimetype or 'unknown'}' are not supported here "
                    "(spreadsheets are read as ODS; drawings are not supported).",
                )
            for tracked in text_root.iter(T_TRACKED):
                tracked.getparent().remove(tracked)  # deleted text of tracked changes is not document text
            headers, footers = walker.header_footer_blocks()
            body_blocks: list[Block] = []
            walker.blocks(text_root, body_blocks, body=True)
        except RecursionError as exc:
            raise ExtractionError(ErrorType.CORRUPT, "The OpenDocument content is nested too deeply.") from exc
        if not walker.page_markers:
            for block in body_blocks:
                block.page = None
        else:
            metadata["page_count"] = walker.page
        blocks = headers + body_blocks + footers
        metadata.update(
            heading_count=sum(1 for b in blocks if b.kind == "heading"),
            table_count=sum(1 for b in blocks if b.kind == "table"),
        )
        return Document(format="odt", blocks=blocks, metadata=metadata, warnings=walker.warnings)

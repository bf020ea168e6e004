"""The block walk: paragraphs, headings, list items, tables, text boxes, content controls and alternate content
in document order, each body block with its provenance (section breadcrumb, page) and the notes it references."""

from __future__ import annotations

from lxml import etree

from data_extract.pipeline.extract.docx.altchunk import alt_chunk_blocks
from data_extract.pipeline.extract.docx.inline import InlineReader
from data_extract.pipeline.extract.docx.names import BLOCK_KINDS, names_for
from data_extract.pipeline.extract.docx.notes import Notes
from data_extract.pipeline.extract.docx.numbering import load_numbering
from data_extract.pipeline.extract.docx.pages import PageCounter
from data_extract.pipeline.extract.docx.scan import scan_main_part
from data_extract.pipeline.extract.docx.styles import load_styles
from data_extract.pipeline.extract.docx.tables import read_table
from data_extract.pipeline.extract.limits import TextLimit
from data_extract.pipeline.extract.ooxml import Package, local_name, parse_xml
from data_extract.pipeline.sections import SectionTrail
from data_extract.pipeline.types import Block, ExtractOptions


class DocxWalker:
    """Walks the main part's blocks (and, nested, those of cells, text boxes, notes, headers and footers)."""

    def __init__(self, package: Package, main_part: str, options: ExtractOptions) -> None:
        self.package = package
        self.main_part = main_part
        self.limit = TextLimit(options)
        self.trail = SectionTrail()
        self.warnings: list[str] = []
        self.counts = {"paragraph": 0, "heading": 0, "list_item": 0, "table": 0, "textbox": 0}

        raw = package.read(main_part)
        rendered_pages = b"lastRenderedPageBreak" in raw
        self.root = parse_xml(raw, part=main_part)
        self.n, self.strict = names_for(self.root)
        self.scan = scan_main_part(self.root, self.n, rendered_pages=rendered_pages)
        # Pages are reported only when the file marks them: Word's rendered breaks, or explicit ones.
        marked = (
            rendered_pages
            or b'type="page"' in raw
            or bool(self.scan.break_before_paragraphs)
            or bool(self.scan.section_break_paragraphs)
        )
        del raw
        self.pages = PageCounter(options, rendered=rendered_pages, marked=marked)
        self.rels = package.relationship_targets(main_part)
        self.styles = load_styles(package, main_part, self.n, self.warnings)
        self.numbering = load_numbering(package, main_part, self.n, self.warnings)
        self.notes = Notes(
            package,
            main_part,
            self.n,
            self.scan,
            pages=self.pages,
            limit=self.limit,
            trail=self.trail,
            warnings=self.warnings,
            note_text=self.contained_text,
        )
        self.inline = InlineReader(
            self.n, self.scan.special_paragraphs, self.pages, self.notes.pending, self._textbox_text
        )

    def contained_text(self, container: etree._Element) -> str:
        """The blocks of content outside the body's flow (a note, a text box, a header) as one text."""
        sink: list[Block] = []
        with self.pages.paused():
            self.blocks(container, sink, in_body=False)
        return _join_sink(sink)

    def _textbox_text(self, content: etree._Element) -> str:
        """A text box's paragraphs and tables as one text; its page breaks do not move the body's page."""
        text = self.contained_text(content)
        self.counts["textbox"] += 1
        return text

    def blocks(self, container: etree._Element, sink: list[Block], *, in_body: bool) -> None:
        for child in container:
            kind = BLOCK_KINDS.get(child.tag)
            if kind == "paragraph":
                self._paragraph(child, sink, in_body=in_body)
            elif kind == "table":
                table = read_table(child, self.n, self._cell_text)
                if table.rows:
                    self.counts["table"] += 1
                    self._place(Block(kind="table", text=table.to_text(), table=table), sink, in_body=in_body)
            elif kind == "sdt":
                content = child.find(self.n.sdtContent)
                if content is not None:
                    self.blocks(content, sink, in_body=in_body)
            elif kind == "container":
                self.blocks(child, sink, in_body=in_body)
            elif kind == "alternate":
                chosen = next((c for c in child if local_name(c.tag) == "Choice"), None)
                if chosen is None:
                    chosen = next((c for c in child if local_name(c.tag) == "Fallback"), None)
                if chosen is not None:
                    self.blocks(chosen, sink, in_body=in_body)
            elif kind == "alt_chunk":
                for block in alt_chunk_blocks(child, self.package, self.rels, self.n, self.warnings):
                    self._place(block, sink, in_body=in_body)

    def _place(self, block: Block, sink: list[Block], *, in_body: bool) -> None:
        """A body block is emitted on the current page; one inside a cell, text box or note is only collected."""
        if in_body:
            self._emit(block, sink, self.pages.page)
        else:
            sink.append(block)

    def _paragraph(self, p: etree._Element, sink: list[Block], *, in_body: bool) -> None:
        pages = self.pages
        if in_body and p in self.scan.break_before_paragraphs:
            pages.next_page()
        enclosing_first_text_page = pages.first_text_page  # a text box's paragraphs nest inside another one
        pages.first_text_page = None
        out: list[str] = []
        extras: list[str] = []
        self.inline.paragraph_text(p, out, extras)
        text = "".join(out).strip()
        # The page of the paragraph's first text: before a break that follows text, else the page after any breaks.
        page = pages.first_text_page if pages.first_text_page is not None else pages.page
        pages.first_text_page = enclosing_first_text_page
        if text:
            if in_body:
                self._emit(self._body_paragraph(p, text), sink, page)
            else:
                sink.append(Block(kind="paragraph", text=text))
        for extra in extras:
            if in_body:
                self._emit(Block(kind="textbox", text=extra), sink, page)
            else:
                sink.append(Block(kind="textbox", text=extra))
        if in_body and p in self.scan.section_break_paragraphs:
            pages.next_page()

    def _body_paragraph(self, p: etree._Element, text: str) -> Block:
        """A body paragraph as a heading, list item (with the number Word shows) or paragraph."""
        ppr = p.find(self.n.pPr)
        kind, level = self.styles.classify(ppr)
        if kind != "paragraph" and self.numbering is not None:
            marker = self.numbering.marker(*self.styles.numbering_of(ppr))
            if marker:
                text = f"{marker} {text}"
        self.counts[kind] += 1
        if kind == "heading" and level is not None:
            self.trail.enter(level, text)
        return Block(kind=kind, text=text, level=level)

    def _emit(self, block: Block, sink: list[Block], page: int) -> None:
        """Add a body block with its provenance, then the notes and comments it references."""
        self.limit.add(block.text)
        block.section = self.trail.current
        if self.pages.marked:
            block.page = page
        sink.append(block)
        self.notes.flush(sink, page)

    def _cell_text(self, tc: etree._Element) -> str:
        sink: list[Block] = []
        self.blocks(tc, sink, in_body=False)
        return _join_sink(sink)


def _join_sink(sink: list[Block]) -> str:
    return "\n".join(block.text for block in sink if block.text).strip()

"""Footnotes, endnotes and comments: read from their parts once, placed after the block that references them
(each once), the unreferenced ones at the end."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from data_extract.pipeline.extract.docx.inline import NoteRef
from data_extract.pipeline.extract.docx.names import Names
from data_extract.pipeline.extract.docx.pages import PageCounter
from data_extract.pipeline.extract.docx.scan import MainPartScan
from data_extract.pipeline.extract.limits import TextLimit
from data_extract.pipeline.extract.ooxml import Package
from data_extract.pipeline.sections import SectionTrail
from data_extract.pipeline.types import Block, ExtractionError

NOTE_KINDS = ("footnote", "endnote", "comment")
_SKIPPED_NOTE_TYPES = {"separator", "continuationSeparator", "continuationNotice"}
_RELATIONSHIP_TYPES = {"footnote": "footnotes", "endnote": "endnotes", "comment": "comments"}


class Notes:
    """The notes and comments of a document, emitted as blocks where they are referenced."""

    def __init__(
        self,
        package: Package,
        main_part: str,
        n: Names,
        scan: MainPartScan,
        *,
        pages: PageCounter,
        limit: TextLimit,
        trail: SectionTrail,
        warnings: list[str],
        note_text: Callable[[etree._Element], str],
    ) -> None:
        self.package = package
        self.main_part = main_part
        self.n = n
        self.scan = scan
        self.pages = pages
        self.limit = limit
        self.trail = trail
        self.warnings = warnings
        self.pending: list[NoteRef] = []  # referenced by the text read since the last emitted block
        self.emitted: set[NoteRef] = set()
        self.elements_by_kind: dict[str, dict[str, etree._Element]] = {}
        self.comment_authors: dict[str, str] = {}
        self.note_text = note_text  # a note's blocks as one text (the block walk nests here)

    def flush(self, sink: list[Block], page: int | None) -> None:
        """Emit the notes referenced since the last block, after it."""
        if self.pending:
            pending = list(self.pending)
            self.pending.clear()
            for note_kind, note_id in pending:
                self.emit(note_kind, note_id, sink, page)

    def emit(self, note_kind: str, note_id: str, sink: list[Block], page: int | None) -> None:
        key = (note_kind, note_id)
        if key in self.emitted:
            return
        self.emitted.add(key)
        element = self.elements(note_kind).get(note_id)
        if element is None:
            return
        text = self.note_text(element)
        if not text:
            return
        meta: dict[str, str] = {"note_id": note_id}
        if note_kind == "comment" and self.comment_authors.get(note_id):
            meta["author"] = self.comment_authors[note_id]
        block = Block(kind=note_kind, text=self.limit.add(text), section=self.trail.current, meta=meta)
        if self.pages.marked and page is not None:
            block.page = page
        sink.append(block)
        self.flush(sink, page)  # a comment on a footnote, a note inside a comment, ...

    def elements(self, note_kind: str) -> dict[str, etree._Element]:
        """The notes of one kind by id, read from the parts the main part relates on first use."""
        if note_kind in self.elements_by_kind:
            return self.elements_by_kind[note_kind]
        rel_type = _RELATIONSHIP_TYPES[note_kind]
        element_tag = {"footnote": self.n.footnote, "endnote": self.n.endnote, "comment": self.n.comment}[note_kind]
        elements: dict[str, etree._Element] = {}
        for rel in self.package.related(self.main_part, rel_type):
            if not self.package.has(rel.target):
                continue
            try:
                root = self.package.xml(rel.target, recover=True)
            except ExtractionError:
                self.warnings.append(f"The {rel_type} part '{rel.target}' is unreadable and was skipped.")
                continue
            self.scan.mark_special_paragraphs(root, self.n)
            self._collect(root, element_tag, note_kind, elements)
        self.elements_by_kind[note_kind] = elements
        return elements

    def _collect(
        self, root: etree._Element, element_tag: str, note_kind: str, elements: dict[str, etree._Element]
    ) -> None:
        for el in root.iter(element_tag):
            if el.get(self.n.type_attr) in _SKIPPED_NOTE_TYPES:
                continue
            note_id = el.get(self.n.id)
            if note_id is not None:
                elements.setdefault(note_id, el)
                author = el.get(self.n.author)
                if note_kind == "comment" and author:
                    self.comment_authors[note_id] = author

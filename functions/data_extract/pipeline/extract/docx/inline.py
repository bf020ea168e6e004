"""Runs: the displayed text of a paragraph (text, tabs, breaks, symbols, fields' results, tracked insertions,
equations), the note references it holds, and the text boxes it anchors."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from data_extract.pipeline.extract.docx.names import INLINE_KINDS, Names
from data_extract.pipeline.extract.docx.omml import math_text
from data_extract.pipeline.extract.docx.pages import PageCounter
from data_extract.pipeline.extract.ooxml import local_name

# A note, endnote or comment a run references, as (kind, w:id).
NoteRef = tuple[str, str]
_NOTE_KINDS = {"footnote_ref": "footnote", "endnote_ref": "endnote", "comment_ref": "comment"}


class InlineReader:
    """Displayed text of paragraphs; note references go to ``pending_notes``, text boxes to the caller's extras."""

    def __init__(
        self,
        n: Names,
        special_paragraphs: set[etree._Element],
        pages: PageCounter,
        pending_notes: list[NoteRef],
        textbox_text: Callable[[etree._Element], str],
    ) -> None:
        self.n = n
        self.special_paragraphs = special_paragraphs
        self.pages = pages
        self.pending_notes = pending_notes
        self.textbox_text = textbox_text  # a text box's blocks as one text (the block walk nests here)

    def paragraph_text(self, p: etree._Element, out: list[str], extras: list[str]) -> None:
        """Displayed text of one paragraph. Paragraphs without text boxes, equations, alternate content or
        tracked deletions (nearly all of them) take a fast path where lxml filters the relevant elements in C."""
        if p in self.special_paragraphs:
            self._inline(p, out, extras)
            return
        append = out.append
        fast_tags = self.n.fast_tags
        text_tag, tab_tag = fast_tags[0], fast_tags[1]
        for el in p.iter(*fast_tags):
            tag = el.tag
            if tag == text_tag:
                text = el.text
                if text:
                    append(text)
            elif tag == tab_tag:
                if el.getparent().tag != self.n.tabs:  # tab stops in w:pPr/w:tabs are not text
                    append("\t")
            else:
                self._inline_special(el, "break", out, extras)

    def _inline(self, el: etree._Element, out: list[str], extras: list[str]) -> None:
        """Append the displayed text under ``el`` to ``out``; text-box contents go to ``extras``."""
        for child in el:
            kind = INLINE_KINDS.get(child.tag)
            if kind is None:
                if isinstance(child.tag, str):
                    self._inline(child, out, extras)
            elif kind == "text":
                text = child.text
                if text:
                    out.append(text)
            elif kind == "tab":
                out.append("\t")
            elif kind != "skip":
                self._inline_special(child, kind, out, extras)

    def _inline_special(self, el: etree._Element, kind: str, out: list[str], extras: list[str]) -> None:
        if kind == "break":
            if el.get(self.n.type_attr) == "page" and not self.pages.rendered:
                self.pages.break_in_paragraph(out)
            out.append("\n")
        elif kind == "newline":
            out.append("\n")
        elif kind == "hyphen":
            out.append("-")
        elif kind == "symbol":
            out.append(_symbol_text(el.get(self.n.char)))
        elif kind == "rendered_page":
            self.pages.break_in_paragraph(out)
        elif kind in _NOTE_KINDS:
            self.pending_notes.append((_NOTE_KINDS[kind], el.get(self.n.id) or ""))
        elif kind == "textbox":
            text = self.textbox_text(el)
            if text:
                extras.append(text)
        elif kind == "math":
            out.append(math_text(el))
        elif kind == "alternate":
            self._alternate_inline(el, out, extras)

    def _alternate_inline(self, el: etree._Element, out: list[str], extras: list[str]) -> None:
        choices = [c for c in el if local_name(c.tag) == "Choice"]
        fallbacks = [c for c in el if local_name(c.tag) == "Fallback"]
        for candidate in choices[:1] + fallbacks[:1]:
            part_out: list[str] = []
            part_extras: list[str] = []
            self._inline(candidate, part_out, part_extras)
            if "".join(part_out).strip() or part_extras:
                out.extend(part_out)
                extras.extend(part_extras)
                return


def _symbol_text(char_code: str | None) -> str:
    """``w:sym`` characters; Symbol-font codes in the private-use area F000-F0FF map to their Latin-1 slot."""
    try:
        code = int(char_code or "", 16)
    except ValueError:
        return ""
    if 0xF000 <= code <= 0xF0FF:
        code -= 0xF000
    return chr(code) if code >= 0x20 else ""

"""DOCX (WordprocessingML, Transitional and Strict) -> blocks in document order, read directly with lxml.

Why not python-docx: it rejects Strict OOXML, fails on some table grids, drops document order between paragraphs
and tables, and is several times slower than one lxml pass over ``document.xml``.

What comes out, in this order:
1. headers (every variant referenced by a section: default, first, even; identical texts kept once);
2. the body: paragraphs, headings (``level`` from the style's "Heading N" name or outline level, and a ``section``
   breadcrumb carried on every following block), list items (``level`` = numbering level, 1-based; list and heading
   numbers as Word shows them, "1.", "2.a)", "IV.", "•", are prefixed to the text), tables, text
   boxes (``w:txbxContent``; inside ``mc:AlternateContent`` only the first choice is read, the fallback only when
   the choice holds nothing, so a text box is never doubled), content controls (``w:sdt``), hyperlink text, fields'
   displayed results (not their codes), tracked insertions (not deletions), OMML equations linearised as text
   (``(a)/(b)``, ``x^(2)``, ``√(x)``);
   footnotes, endnotes and comments follow the block that references them;
3. notes and comments that nothing references;
4. footers (deduplicated like headers).

Tables are ``Block(kind="table")``. A table nested in a cell is rendered inside that cell's text (one line per
nested row, cells joined by " | ") so the outer grid keeps its shape and every word appears exactly once.
Horizontally merged cells (``gridSpan``) are padded with empty cells so columns stay aligned; the table's
cells keep them as ``col_span``, and vertical merges (``vMerge``) as ``row_span``.

Pages: Word's own pagination hints (``w:lastRenderedPageBreak``) are used when the file has them; otherwise
explicit page breaks, "page break before" and non-continuous section breaks are counted. ``Block.page`` is set
only when the file holds one of these markers (the page count is then a lower bound for the explicit mode).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from data_extract.pipeline.extract.limits import TextLimit, check_page_limit
from data_extract.pipeline.extract.ooxml import Package, core_properties, local_name, open_package, parse_xml
from data_extract.pipeline.sections import SectionTrail
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions, Table, TableCell

W_NAMESPACES = (
    "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "http://purl.oclc.org/ooxml/wordprocessingml/main",
)
R_NAMESPACES = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
)
M_NAMESPACES = (
    "http://schemas.openxmlformats.org/officeDocument/2006/math",
    "http://purl.oclc.org/ooxml/officeDocument/math",
)
MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"

# Inline (run-level) element kinds, by local name in the WordprocessingML namespaces.
_INLINE_W = {
    "t": "text",
    "tab": "tab",
    "ptab": "tab",
    "br": "break",
    "cr": "newline",
    "noBreakHyphen": "hyphen",
    "softHyphen": "skip",
    "sym": "symbol",
    "lastRenderedPageBreak": "rendered_page",
    "footnoteReference": "footnote_ref",
    "endnoteReference": "endnote_ref",
    "commentReference": "comment_ref",
    "txbxContent": "textbox",
    # Not displayed text: properties, deleted/moved-away runs, field codes, content-control properties, ruby text.
    "rPr": "skip",
    "pPr": "skip",
    "delText": "skip",
    "instrText": "skip",
    "delInstrText": "skip",
    "del": "skip",
    "moveFrom": "skip",
    "sdtPr": "skip",
    "sdtEndPr": "skip",
    "rt": "skip",
    "fldChar": "skip",
    "proofErr": "skip",
    "bookmarkStart": "skip",
    "bookmarkEnd": "skip",
    "commentRangeStart": "skip",
    "commentRangeEnd": "skip",
    "footnoteRef": "skip",
    "endnoteRef": "skip",
    "annotationRef": "skip",
    "separator": "skip",
    "continuationSeparator": "skip",
}
_INLINE_M = {"oMath": "math", "oMathPara": "math"}
_BLOCK_W = {
    "p": "paragraph",
    "tbl": "table",
    "sdt": "sdt",
    "customXml": "container",
    "ins": "container",
    "moveTo": "container",
    "altChunk": "alt_chunk",
    "sdtContent": "container",
}
_BREAKING_SECTION_TYPES = {"nextPage", "oddPage", "evenPage"}
_SKIPPED_NOTE_TYPES = {"separator", "continuationSeparator", "continuationNotice"}


def _tag_table(namespaces: tuple[str, ...], names: dict[str, str]) -> dict[str, str]:
    return {f"{{{ns}}}{name}": kind for ns in namespaces for name, kind in names.items()}


INLINE_KINDS = {
    **_tag_table(W_NAMESPACES, _INLINE_W),
    **_tag_table(M_NAMESPACES, _INLINE_M),
    f"{{{MC_NS}}}AlternateContent": "alternate",
}
BLOCK_KINDS = {**_tag_table(W_NAMESPACES, _BLOCK_W), f"{{{MC_NS}}}AlternateContent": "alternate"}
# Paragraphs holding any of these take the careful recursive walk: they nest blocks (text boxes), offer
# alternatives, hide text (deletions, ruby, control properties) or need more than text (notes, pages, symbols).
_SPECIAL_W = (
    "txbxContent", "del", "moveFrom", "rt", "sdtPr", "cr", "ptab", "noBreakHyphen", "sym", "lastRenderedPageBreak",
    "footnoteReference", "endnoteReference", "commentReference",
)  # fmt: skip
# All other paragraphs only show text, tabs and breaks: lxml filters these three tags in C, which is far faster
# than visiting every run and property element from Python (and the fewer tags, the faster the filter).
_FAST_W = ("t", "tab", "br")


@dataclass
class _Style:
    name: str
    based_on: str | None
    outline_level: int | None  # 0-based as in the XML
    list_level: int | None  # 0-based numbering level when the style carries numbering
    num_id: str | None  # the numbering instance the style applies


class _Names:
    """Fully qualified tag and attribute names for the namespace the document actually uses."""

    def __init__(self, w: str, r: str) -> None:
        self.w = w
        for name in (
            "body", "p", "pPr", "pStyle", "outlineLvl", "numPr", "ilvl", "numId", "sectPr", "type",
            "pageBreakBefore", "tbl", "tr", "tc", "tcPr", "gridSpan", "trPr", "gridBefore", "gridAfter",
            "sdtContent", "vMerge", "headerReference", "footerReference", "style", "name", "basedOn", "rPr",
            "footnote", "endnote", "comment", "tabs", "tblHeader",
        ):  # fmt: skip
            setattr(self, name, f"{{{w}}}{name}")
        self.val = f"{{{w}}}val"
        self.id = f"{{{w}}}id"
        self.author = f"{{{w}}}author"
        self.type_attr = f"{{{w}}}type"
        self.style_id = f"{{{w}}}styleId"
        self.char = f"{{{w}}}char"
        self.r_id = f"{{{r}}}id"


@dataclass
class _Level:
    start: int
    number_format: str
    text: str
    legal: bool  # isLgl: every level's number shown in decimal


class _Numbering:
    """List numbers as Word displays them ("1.", "2.3", "a)", "•"), counted per abstract numbering definition."""

    def __init__(self, root: etree._Element, n: _Names) -> None:
        w = n.w
        self.levels: dict[str, dict[int, _Level]] = {}
        for abstract in root.iter(f"{{{w}}}abstractNum"):
            levels: dict[int, _Level] = {}
            for lvl in abstract.iter(f"{{{w}}}lvl"):
                ilvl = _int(lvl.get(f"{{{w}}}ilvl"))
                if ilvl is None:
                    continue
                start = lvl.find(f"{{{w}}}start")
                start_value = _int(start.get(n.val)) if start is not None else None
                fmt = lvl.find(f"{{{w}}}numFmt")
                text = lvl.find(f"{{{w}}}lvlText")
                levels[ilvl] = _Level(
                    start=1 if start_value is None else start_value,
                    number_format=(fmt.get(n.val) if fmt is not None else None) or "decimal",
                    text=(text.get(n.val) if text is not None else None) or "",
                    legal=lvl.find(f"{{{w}}}isLgl") is not None,
                )
            self.levels[abstract.get(f"{{{w}}}abstractNumId") or ""] = levels
        self.abstract_of: dict[str, str] = {}
        self.start_overrides: dict[str, dict[int, int]] = {}
        for num in root.iter(f"{{{w}}}num"):
            num_id = num.get(f"{{{w}}}numId") or ""
            abstract_el = num.find(f"{{{w}}}abstractNumId")
            if abstract_el is not None:
                self.abstract_of[num_id] = abstract_el.get(n.val) or ""
            for override in num.iter(f"{{{w}}}lvlOverride"):
                start = override.find(f"{{{w}}}startOverride")
                ilvl = _int(override.get(f"{{{w}}}ilvl"))
                if start is not None and ilvl is not None:
                    self.start_overrides.setdefault(num_id, {})[ilvl] = _int(start.get(n.val)) or 0
        self.counters: dict[str, dict[int, int]] = {}
        self.overrides_applied: set[tuple[str, int]] = set()

    def marker(self, num_id: str | None, ilvl: int) -> str:
        abstract = self.abstract_of.get(num_id or "")
        levels = self.levels.get(abstract or "")
        if not levels or ilvl not in levels:
            return ""
        counters = self.counters.setdefault(abstract, {})
        override = self.start_overrides.get(num_id or "", {}).get(ilvl)
        if override is not None and (num_id, ilvl) not in self.overrides_applied:
            self.overrides_applied.add((num_id, ilvl))
            counters[ilvl] = override
        elif ilvl in counters:
            counters[ilvl] += 1
        else:
            counters[ilvl] = levels[ilvl].start
        for deeper in [k for k in counters if k > ilvl]:
            del counters[deeper]  # a higher-level item restarts the numbering below it
        level = levels[ilvl]
        if level.number_format == "bullet":
            return "•"
        if level.number_format == "none":
            return ""

        def number(match: re.Match[str]) -> str:
            index = int(match.group(1)) - 1
            referenced = levels.get(index)
            value = counters.get(index, referenced.start if referenced else 1)
            fmt = "decimal" if level.legal or referenced is None else referenced.number_format
            return _format_number(value, fmt)

        return _LEVEL_PLACEHOLDER.sub(number, level.text).strip()


_LEVEL_PLACEHOLDER = re.compile(r"%([1-9])")
_ROMAN = ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"), (40, "xl"),
          (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"))  # fmt: skip


def _format_number(value: int, number_format: str) -> str:
    if number_format in ("lowerLetter", "upperLetter") and value > 0:
        letter = chr(ord("a") + (value - 1) % 26) * ((value - 1) // 26 + 1)  # Word: a..z, aa..zz, ...
        return letter.upper() if number_format == "upperLetter" else letter
    if number_format in ("lowerRoman", "upperRoman") and 0 < value < 4000:
        roman, rest = "", value
        for amount, symbol in _ROMAN:
            while rest >= amount:
                roman, rest = roman + symbol, rest - amount
        return roman.upper() if number_format == "upperRoman" else roman
    if number_format == "decimalZero" and 0 <= value < 10:
        return f"0{value}"
    return str(value)


class _DocxWalker:
    def __init__(self, package: Package, main_part: str, options: ExtractOptions) -> None:
        self.package = package
        self.main_part = main_part
        self.options = options
        self.limit = TextLimit(options)
        self.trail = SectionTrail()
        self.warnings: list[str] = []
        self.counts = {"paragraph": 0, "heading": 0, "list_item": 0, "table": 0, "textbox": 0}

        raw = package.read(main_part)
        self.rendered_pages = b"lastRenderedPageBreak" in raw
        root = parse_xml(raw, part=main_part)
        w_ns = etree.QName(root).namespace or W_NAMESPACES[0]
        if w_ns not in W_NAMESPACES:
            raise ExtractionError(ErrorType.CORRUPT, "The DOCX main part is not a WordprocessingML document.")
        self.strict = w_ns == W_NAMESPACES[1]
        self.n = _Names(w_ns, R_NAMESPACES[1] if self.strict else R_NAMESPACES[0])
        m_ns = M_NAMESPACES[1] if self.strict else M_NAMESPACES[0]
        self.special_tags = (
            *(f"{{{w_ns}}}{name}" for name in _SPECIAL_W),
            f"{{{m_ns}}}oMath",
            f"{{{m_ns}}}oMathPara",
            f"{{{MC_NS}}}AlternateContent",
        )
        self.fast_tags = tuple(f"{{{w_ns}}}{name}" for name in _FAST_W)
        self.paragraph_tag = f"{{{w_ns}}}p"
        self.root = root
        # Paragraphs holding text boxes, equations, alternate content or tracked deletions, found in one C-level
        # pass; they take the careful recursive walk (the set keeps the element proxies, so identity holds).
        self.special_paragraphs: set[etree._Element] = set()
        self._scan_main_part(root)
        # Pages are reported only when the file marks them: Word's rendered breaks, or explicit ones.
        self.page_markers = (
            self.rendered_pages
            or b'type="page"' in raw
            or bool(self.break_before_paragraphs)
            or bool(self.section_break_paragraphs)
        )
        del raw
        self.rels = package.relationship_targets(main_part)
        self.styles, self.default_paragraph_style = self._load_styles()
        self.numbering = self._load_numbering()
        self._style_kinds: dict[str | None, tuple[str, int | None]] = {}

        self.page = 1
        self.counting_pages = False  # only while walking the body
        self._first_text_page: int | None = None
        self.pending_notes: list[tuple[str, str]] = []
        self.emitted_notes: set[tuple[str, str]] = set()
        self.notes: dict[str, dict[str, etree._Element]] = {}
        self.comment_authors: dict[str, str] = {}

    def _mark_special_paragraphs(self, root: etree._Element) -> None:
        self.special_paragraphs.update(
            paragraph for el in root.iter(*self.special_tags) for paragraph in el.iterancestors(self.paragraph_tag)
        )

    def _scan_main_part(self, root: etree._Element) -> None:
        """One C-level pass over the main part for everything the walk needs to know ahead: paragraphs that need
        the careful walk, paragraphs with "page break before", paragraphs ending a section that starts a new page
        (those two only count when Word's rendered page breaks are absent), and the section properties."""
        n = self.n
        self.break_before_paragraphs: set[etree._Element] = set()
        self.section_break_paragraphs: set[etree._Element] = set()
        self.section_properties: list[etree._Element] = []
        special = self.special_paragraphs
        for el in root.iter(*self.special_tags, n.pageBreakBefore, n.sectPr):
            tag = el.tag
            if tag == n.sectPr:
                self.section_properties.append(el)
                holder = el.getparent()
                if self.rendered_pages or holder is None or holder.tag != n.pPr:
                    continue  # the body's final section ends the document, not a page
                sect_type = el.find(n.type)
                if (sect_type.get(n.val) if sect_type is not None else "nextPage") in _BREAKING_SECTION_TYPES:
                    self.section_break_paragraphs.add(holder.getparent())
            elif tag == n.pageBreakBefore:
                holder = el.getparent()
                if not self.rendered_pages and el.get(n.val) not in ("0", "false", "off") and holder.tag == n.pPr:
                    self.break_before_paragraphs.add(holder.getparent())
            else:
                special.update(el.iterancestors(self.paragraph_tag))

    def _load_numbering(self) -> _Numbering | None:
        part = next(
            (r.target for r in self.package.related(self.main_part, "numbering") if self.package.has(r.target)),
            None,
        )
        if part is None:
            return None
        try:
            return _Numbering(self.package.xml(part, recover=True), self.n)
        except ExtractionError:
            self.warnings.append("The numbering part is unreadable; list numbers are not shown.")
            return None

    # -- styles ---------------------------------------------------------------------------------------------------
    def _load_styles(self) -> tuple[dict[str, _Style], str | None]:
        """Paragraph styles by id, and the id of the default paragraph style."""
        styles_part = next(
            (r.target for r in self.package.related(self.main_part, "styles") if self.package.has(r.target)),
            None,
        )
        if styles_part is None:
            return {}, None
        try:
            root = self.package.xml(styles_part, recover=True)
        except ExtractionError:
            self.warnings.append("The styles part is unreadable; headings are recognised by outline level only.")
            return {}, None
        n = self.n
        styles: dict[str, _Style] = {}
        default_style = None
        for el in root.iter(n.style):
            style_id = el.get(n.style_id)
            if not style_id:
                continue
            name_el = el.find(n.name)
            based_el = el.find(n.basedOn)
            ppr = el.find(n.pPr)
            outline = list_level = num_id_value = None
            if ppr is not None:
                lvl = ppr.find(n.outlineLvl)
                if lvl is not None:
                    outline = _int(lvl.get(n.val))
                num = ppr.find(n.numPr)
                if num is not None:
                    num_id = num.find(n.numId)
                    if num_id is None or num_id.get(n.val) != "0":
                        ilvl = num.find(n.ilvl)
                        list_level = _int(ilvl.get(n.val)) if ilvl is not None else 0
                        list_level = list_level or 0
                        num_id_value = num_id.get(n.val) if num_id is not None else None
            styles[style_id] = _Style(
                name=(name_el.get(n.val) if name_el is not None else style_id) or style_id,
                based_on=based_el.get(n.val) if based_el is not None else None,
                outline_level=outline,
                list_level=list_level,
                num_id=num_id_value,
            )
            if el.get(n.type_attr) == "paragraph" and el.get(f"{{{n.w}}}default") in ("1", "true", "on"):
                default_style = style_id
        return styles, default_style

    def _style_chain(self, style_id: str | None):
        seen: set[str] = set()
        while style_id and style_id not in seen and style_id in self.styles:
            seen.add(style_id)
            style = self.styles[style_id]
            yield style
            style_id = style.based_on

    def _paragraph_style(self, ppr: etree._Element | None) -> str | None:
        """The paragraph's style id: its own pStyle, else the document's default paragraph style."""
        if ppr is not None:
            style_el = ppr.find(self.n.pStyle)
            if style_el is not None:
                return style_el.get(self.n.val)
        return self.default_paragraph_style

    def _classify(self, ppr: etree._Element | None) -> tuple[str, int | None]:
        """(kind, level) of a paragraph from its own properties, then its style chain."""
        n = self.n
        style_id = self._paragraph_style(ppr)
        if ppr is not None:
            outline_el = ppr.find(n.outlineLvl)
            if outline_el is not None:
                outline = _int(outline_el.get(n.val))
                if outline is not None and 0 <= outline <= 8:
                    return "heading", outline + 1
            num = ppr.find(n.numPr)
            if num is not None:
                heading = self._classify_style(style_id)
                if heading[0] == "heading":
                    return heading
                num_id = num.find(n.numId)
                if num_id is None or num_id.get(n.val) != "0":
                    ilvl = num.find(n.ilvl)
                    level = _int(ilvl.get(n.val)) if ilvl is not None else 0
                    return "list_item", min(max(level or 0, 0), 8) + 1
        return self._classify_style(style_id)

    def _classify_style(self, style_id: str | None) -> tuple[str, int | None]:
        cached = self._style_kinds.get(style_id)
        if cached is not None:
            return cached
        result: tuple[str, int | None] = ("paragraph", None)
        for style in self._style_chain(style_id):
            heading = _heading_level_from_name(style.name)
            if heading is None and style.outline_level is not None and 0 <= style.outline_level <= 8:
                heading = style.outline_level + 1
            if heading is not None:
                result = ("heading", heading)
                break
        if result[0] == "paragraph":
            for style in self._style_chain(style_id):
                if style.list_level is not None:
                    result = ("list_item", min(style.list_level, 8) + 1)
                    break
                if style.name.lower().startswith("list "):
                    result = ("list_item", 1)
                    break
        self._style_kinds[style_id] = result
        return result

    def _numbering_of(self, ppr: etree._Element | None) -> tuple[str | None, int]:
        """(numId, 0-based level) of a paragraph: its own numbering properties, else its style's."""
        n = self.n
        style_id = self._paragraph_style(ppr)
        if ppr is not None:
            num = ppr.find(n.numPr)
            if num is not None:
                num_id_el, ilvl_el = num.find(n.numId), num.find(n.ilvl)
                level = (_int(ilvl_el.get(n.val)) if ilvl_el is not None else None) or 0
                if num_id_el is not None:
                    return num_id_el.get(n.val), level
                for style in self._style_chain(style_id):
                    if style.num_id:
                        return style.num_id, level
                return None, level
        for style in self._style_chain(style_id):
            if style.num_id:
                return style.num_id, style.list_level or 0
        return None, 0

    # -- pages ----------------------------------------------------------------------------------------------------
    def _next_page(self) -> None:
        if self.counting_pages:
            self.page += 1
            check_page_limit(self.page, self.options, "pages")

    def _page_break_in_paragraph(self, out: list[str]) -> None:
        """A paragraph starts on the page where its first text is: remember it when a break follows text."""
        if self._first_text_page is None and "".join(out).strip():
            self._first_text_page = self.page
        self._next_page()

    # -- inline content -------------------------------------------------------------------------------------------
    def _paragraph_text(self, p: etree._Element, out: list[str], extras: list[str]) -> None:
        """Displayed text of one paragraph. Paragraphs without text boxes, equations, alternate content or
        tracked deletions (nearly all of them) take a fast path where lxml filters the relevant elements in C."""
        if p in self.special_paragraphs:
            self._inline(p, out, extras)
            return
        append = out.append
        text_tag, tab_tag = self.fast_tags[0], self.fast_tags[1]
        for el in p.iter(*self.fast_tags):
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
            if el.get(self.n.type_attr) == "page" and not self.rendered_pages:
                self._page_break_in_paragraph(out)
            out.append("\n")
        elif kind == "newline":
            out.append("\n")
        elif kind == "hyphen":
            out.append("-")
        elif kind == "symbol":
            out.append(_symbol_text(el.get(self.n.char)))
        elif kind == "rendered_page":
            self._page_break_in_paragraph(out)
        elif kind == "footnote_ref":
            self.pending_notes.append(("footnote", el.get(self.n.id) or ""))
        elif kind == "endnote_ref":
            self.pending_notes.append(("endnote", el.get(self.n.id) or ""))
        elif kind == "comment_ref":
            self.pending_notes.append(("comment", el.get(self.n.id) or ""))
        elif kind == "textbox":
            text = self._textbox_text(el)
            if text:
                extras.append(text)
        elif kind == "math":
            out.append(_math_text(el))
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

    def _textbox_text(self, content: etree._Element) -> str:
        """A text box's paragraphs and tables as one text; its page breaks do not move the body's page."""
        saved = self.counting_pages
        self.counting_pages = False
        try:
            sink: list[Block] = []
            self._blocks(content, sink, in_body=False)
        finally:
            self.counting_pages = saved
        self.counts["textbox"] += 1
        return _join_sink(sink)

    # -- block content --------------------------------------------------------------------------------------------
    def _blocks(self, container: etree._Element, sink: list[Block], *, in_body: bool) -> None:
        for child in container:
            kind = BLOCK_KINDS.get(child.tag)
            if kind == "paragraph":
                self._paragraph(child, sink, in_body=in_body)
            elif kind == "table":
                table = self._table(child)
                if table.rows:
                    block = Block(kind="table", text=table.to_text(), table=table)
                    if in_body:
                        self._emit(block, sink, self.page)
                    else:
                        sink.append(block)
            elif kind == "sdt":
                content = child.find(self.n.sdtContent)
                if content is not None:
                    self._blocks(content, sink, in_body=in_body)
            elif kind == "container":
                self._blocks(child, sink, in_body=in_body)
            elif kind == "alternate":
                chosen = next((c for c in child if local_name(c.tag) == "Choice"), None)
                if chosen is None:
                    chosen = next((c for c in child if local_name(c.tag) == "Fallback"), None)
                if chosen is not None:
                    self._blocks(chosen, sink, in_body=in_body)
            elif kind == "alt_chunk":
                for block in self._alt_chunk_blocks(child):
                    if in_body:
                        self._emit(block, sink, self.page)
                    else:
                        sink.append(block)

    def _alt_chunk_blocks(self, chunk: etree._Element) -> list[Block]:
        """Content imported in another format (``w:altChunk``): HTML and RTF parts are read, others reported."""
        part = self.rels.get(chunk.get(self.n.r_id) or "")
        if not part or not self.package.has(part):
            return []
        extension = part.rsplit(".", 1)[-1].lower()
        if extension in ("htm", "html", "xhtml", "xht"):
            from data_extract.pipeline.extract.html import html_to_blocks

            return html_to_blocks(self.package.read(part))
        if extension == "rtf":
            from data_extract.pipeline.extract.rtf import rtf_blocks

            return rtf_blocks(self.package.read(part))
        self.warnings.append(f"Embedded content '{part}' in an unsupported format was not read.")
        return []

    def _paragraph(self, p: etree._Element, sink: list[Block], *, in_body: bool) -> None:
        if in_body and p in self.break_before_paragraphs:
            self._next_page()
        enclosing_first_text_page = self._first_text_page  # a text box's paragraphs nest inside another one
        self._first_text_page = None
        out: list[str] = []
        extras: list[str] = []
        self._paragraph_text(p, out, extras)
        text = "".join(out).strip()
        # The page of the paragraph's first text: before a break that follows text, else the page after any breaks.
        page = self._first_text_page if self._first_text_page is not None else self.page
        self._first_text_page = enclosing_first_text_page
        if text:
            if in_body:
                ppr = p.find(self.n.pPr)
                kind, level = self._classify(ppr)
                if kind != "paragraph" and self.numbering is not None:
                    marker = self.numbering.marker(*self._numbering_of(ppr))
                    if marker:
                        text = f"{marker} {text}"
                block = Block(kind=kind, text=text, level=level)
                self.counts[kind] += 1
                if kind == "heading" and level is not None:
                    self.trail.enter(level, text)
                self._emit(block, sink, page)
            else:
                sink.append(Block(kind="paragraph", text=text))
        for extra in extras:
            if in_body:
                self._emit(Block(kind="textbox", text=extra), sink, page)
            else:
                sink.append(Block(kind="textbox", text=extra))
        if in_body and p in self.section_break_paragraphs:
            self._next_page()

    def _emit(self, block: Block, sink: list[Block], page: int) -> None:
        """Add a body block with its provenance, then the notes and comments it references."""
        self.limit.add(block.text)
        block.section = self.trail.current
        if self.page_markers:
            block.page = page
        sink.append(block)
        if self.pending_notes:
            pending, self.pending_notes = self.pending_notes, []
            for note_kind, note_id in pending:
                self._emit_note(note_kind, note_id, sink, page)

    def _emit_note(self, note_kind: str, note_id: str, sink: list[Block], page: int | None) -> None:
        key = (note_kind, note_id)
        if key in self.emitted_notes:
            return
        self.emitted_notes.add(key)
        element = self._note_elements(note_kind).get(note_id)
        if element is None:
            return
        note_sink: list[Block] = []
        saved = self.counting_pages
        self.counting_pages = False
        try:
            self._blocks(element, note_sink, in_body=False)
        finally:
            self.counting_pages = saved
        text = _join_sink(note_sink)
        if not text:
            return
        meta: dict[str, str] = {"note_id": note_id}
        if note_kind == "comment" and self.comment_authors.get(note_id):
            meta["author"] = self.comment_authors[note_id]
        block = Block(kind=note_kind, text=self.limit.add(text), section=self.trail.current, meta=meta)
        if self.page_markers and page is not None:
            block.page = page
        sink.append(block)
        if self.pending_notes:  # a comment on a footnote, a note inside a comment, ...
            pending, self.pending_notes = self.pending_notes, []
            for nested_kind, nested_id in pending:
                self._emit_note(nested_kind, nested_id, sink, page)

    def _note_elements(self, note_kind: str) -> dict[str, etree._Element]:
        if note_kind in self.notes:
            return self.notes[note_kind]
        rel_type = {"footnote": "footnotes", "endnote": "endnotes", "comment": "comments"}[note_kind]
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
            self._mark_special_paragraphs(root)
            for el in root.iter(element_tag):
                if el.get(self.n.type_attr) in _SKIPPED_NOTE_TYPES:
                    continue
                note_id = el.get(self.n.id)
                if note_id is not None:
                    elements.setdefault(note_id, el)
                    if note_kind == "comment" and el.get(self.n.author):
                        self.comment_authors[note_id] = el.get(self.n.author)
        self.notes[note_kind] = elements
        return elements

    # -- tables ---------------------------------------------------------------------------------------------------
    def _table(self, tbl: etree._Element) -> Table:
        rows: list[list[str]] = []
        cells: list[TableCell] = []
        open_merges: dict[int, TableCell] = {}  # grid column -> the cell a vMerge continues
        header_rows = 0
        for tr in self._children(tbl, self.n.tr):
            row: list[str] = []
            row_cells: list[TableCell] = []
            continued: list[tuple[int, TableCell]] = []
            trpr = tr.find(self.n.trPr)
            before = after = 0
            is_header = False
            if trpr is not None:
                before = _grid_count(trpr.find(self.n.gridBefore), self.n.val)
                after = _grid_count(trpr.find(self.n.gridAfter), self.n.val)
                is_header = trpr.find(self.n.tblHeader) is not None
            row.extend([""] * before)
            for tc in self._children(tr, self.n.tc):
                tcpr = tc.find(self.n.tcPr)
                vmerge = tcpr.find(self.n.vMerge) if tcpr is not None else None
                # A vertically merged continuation cell shows nothing: Word displays the first cell's content.
                hidden = vmerge is not None and vmerge.get(self.n.val, "continue") == "continue"
                column = len(row)
                span = max(_grid_count(tcpr.find(self.n.gridSpan), self.n.val), 1) if tcpr is not None else 1
                text = "" if hidden else self._cell_text(tc)
                row.append(text)
                row.extend([""] * (span - 1))
                if hidden and column in open_merges:
                    continued.append((column, open_merges[column]))
                    continue
                cell = TableCell(row=0, col=column, text=text.strip(), col_span=span)
                row_cells.append(cell)
                if vmerge is not None:
                    continued.append((column, cell))
            row.extend([""] * after)
            new_here = {id(cell) for cell in row_cells}
            if any(cell.strip() for cell in row) or any(id(c) not in new_here for _col, c in continued):
                r = len(rows)
                rows.append(row)
                for cell in row_cells:
                    cell.row = r
                    cell.header = is_header
                    if cell.text:
                        cells.append(cell)
                still_open: dict[int, TableCell] = {}
                for column, cell in continued:
                    if id(cell) not in new_here:
                        cell.row_span += 1
                    still_open[column] = cell
                open_merges = still_open
                if is_header and header_rows == r:
                    header_rows = r + 1
        if rows:
            self.counts["table"] += 1
        return Table(rows=rows, cells=cells, header_rows=header_rows)

    def _children(self, parent: etree._Element, tag: str):
        """Rows of a table / cells of a row, looking through content controls and custom XML wrappers."""
        for child in parent:
            if child.tag == tag:
                yield child
            elif BLOCK_KINDS.get(child.tag) in ("sdt", "container"):
                inner = child.find(self.n.sdtContent) if BLOCK_KINDS[child.tag] == "sdt" else child
                if inner is not None:
                    yield from self._children(inner, tag)

    def _cell_text(self, tc: etree._Element) -> str:
        sink: list[Block] = []
        self._blocks(tc, sink, in_body=False)
        return _join_sink(sink)

    # -- document parts -------------------------------------------------------------------------------------------
    def _header_footer_parts(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(part, variant) pairs for headers and footers, in section order, each part once."""
        n = self.n
        headers: list[tuple[str, str]] = []
        footers: list[tuple[str, str]] = []
        seen: set[str] = set()
        for sect in self.section_properties:
            for ref in sect:
                if ref.tag not in (n.headerReference, n.footerReference):
                    continue
                part = self.rels.get(ref.get(n.r_id) or "")
                if not part or part in seen or not self.package.has(part):
                    continue
                seen.add(part)
                variant = ref.get(n.type_attr) or "default"
                (headers if ref.tag == n.headerReference else footers).append((part, variant))
        return headers, footers

    def _header_footer_blocks(self, parts: list[tuple[str, str]], kind: str) -> list[Block]:
        blocks: list[Block] = []
        seen_texts: set[str] = set()
        for part, variant in parts:
            try:
                root = self.package.xml(part, recover=True)
            except ExtractionError:
                self.warnings.append(f"The {kind} part '{part}' is unreadable and was skipped.")
                continue
            self._mark_special_paragraphs(root)
            sink: list[Block] = []
            self._blocks(root, sink, in_body=False)
            text = _join_sink(sink)
            key = " ".join(text.split()).lower()
            if not key or key in seen_texts:
                continue
            seen_texts.add(key)
            blocks.append(Block(kind=kind, text=self.limit.add(text), meta={"variant": variant, "part": part}))
        # Notes referenced from headers/footers are placed with the unreferenced ones.
        return blocks

    def run(self) -> Document:
        n = self.n
        body = self.root.find(n.body)
        if body is None:
            raise ExtractionError(ErrorType.CORRUPT, "The DOCX main part has no document body.")
        header_parts, footer_parts = self._header_footer_parts()
        headers = self._header_footer_blocks(header_parts, "header")
        footers = self._header_footer_blocks(footer_parts, "footer")

        body_blocks: list[Block] = []
        self.counting_pages = True
        self._blocks(body, body_blocks, in_body=True)
        self.counting_pages = False

        trailing: list[Block] = []
        for note_kind in ("footnote", "endnote", "comment"):
            for note_id in self._note_elements(note_kind):
                self._emit_note(note_kind, note_id, trailing, None)
        for block in trailing:
            block.section = None

        blocks = headers + body_blocks + trailing + footers
        metadata = self._metadata(blocks, header_count=len(headers), footer_count=len(footers))
        return Document(format="docx", blocks=blocks, metadata=metadata, warnings=self.warnings)

    def _metadata(self, blocks: list[Block], *, header_count: int, footer_count: int) -> dict:
        kinds: dict[str, int] = {}
        for block in blocks:
            kinds[block.kind] = kinds.get(block.kind, 0) + 1
        metadata: dict = {
            "strict_ooxml": self.strict,
            "paragraph_count": self.counts["paragraph"],
            "heading_count": self.counts["heading"],
            "list_item_count": self.counts["list_item"],
            "table_count": self.counts["table"],
            "textbox_count": self.counts["textbox"],
            "header_count": header_count,
            "footer_count": footer_count,
            "footnote_count": kinds.get("footnote", 0),
            "endnote_count": kinds.get("endnote", 0),
            "comment_count": kinds.get("comment", 0),
            "char_count": self.limit.used,
        }
        if self.page_markers:
            metadata["page_count"] = self.page
            metadata["page_count_source"] = "rendered_page_breaks" if self.rendered_pages else "explicit_breaks"
        declared_pages = _declared_page_count(self.package)
        if declared_pages is not None:
            metadata["declared_page_count"] = declared_pages
        metadata.update({f"core_{k}": v for k, v in core_properties(self.package).items()})
        return metadata


def _join_sink(sink: list[Block]) -> str:
    return "\n".join(block.text for block in sink if block.text).strip()


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _grid_count(el: etree._Element | None, val_attr: str) -> int:
    if el is None:
        return 0
    value = _int(el.get(val_attr))
    # A corrupt span must not make a row of a million empty cells.
    return max(0, min(value or 0, 64))


def _heading_level_from_name(style_name: str) -> int | None:
    name = style_name.strip().lower()
    if name == "title":
        return 1
    if name.startswith("heading"):
        suffix = name[len("heading") :].strip()
        if suffix.isdigit() and 1 <= int(suffix) <= 9:
            return int(suffix)
    return None


def _symbol_text(char_code: str | None) -> str:
    """``w:sym`` characters; Symbol-font codes in the private-use area F000-F0FF map to their Latin-1 slot."""
    try:
        code = int(char_code or "", 16)
    except ValueError:
        return ""
    if 0xF000 <= code <= 0xF0FF:
        code -= 0xF000
    return chr(code) if code >= 0x20 else ""


# -- OMML equations --------------------------------------------------------------------------------------------------


def _math_group(text: str) -> str:
    return text if len(text) <= 1 else f"({text})"


def _math_child(el: etree._Element, name: str) -> etree._Element | None:
    for child in el:
        if local_name(child.tag) == name:
            return child
    return None


def _math_attr(el: etree._Element | None, prop: str) -> str | None:
    """Value of ``<m:xxxPr><m:prop m:val=...>``."""
    if el is None:
        return None
    for child in el:
        if local_name(child.tag) == prop:
            for key, value in child.attrib.items():
                if local_name(key) == "val":
                    return value
    return None


def _math_text(el: etree._Element) -> str:
    """Linearise an OMML tree into readable text: fractions, scripts, radicals, n-ary operators, delimiters."""
    name = local_name(el.tag)
    if name == "t":
        return el.text or ""
    if name.endswith("Pr") or name in ("", "ctrlPr"):
        return ""

    def part(child_name: str) -> str:
        child = _math_child(el, child_name)
        return _math_text(child) if child is not None else ""

    if name == "f":
        return f"{_math_group(part('num'))}/{_math_group(part('den'))}"
    if name == "sSup":
        return f"{part('e')}^{_math_group(part('sup'))}"
    if name == "sSub":
        return f"{part('e')}_{_math_group(part('sub'))}"
    if name == "sSubSup":
        return f"{part('e')}_{_math_group(part('sub'))}^{_math_group(part('sup'))}"
    if name == "sPre":
        return f"_{_math_group(part('sub'))}^{_math_group(part('sup'))}{part('e')}"
    if name == "rad":
        degree = part("deg")
        return f"√{_math_group(part('e'))}" if not degree else f"root({degree}){_math_group(part('e'))}"
    if name == "nary":
        operator = _math_attr(_math_child(el, "naryPr"), "chr") or "∫"
        sub, sup = part("sub"), part("sup")
        limits = (f"_{_math_group(sub)}" if sub else "") + (f"^{_math_group(sup)}" if sup else "")
        return f"{operator}{limits} {part('e')}"
    if name == "d":
        props = _math_child(el, "dPr")
        begin = _math_attr(props, "begChr")
        end = _math_attr(props, "endChr")
        separator = _math_attr(props, "sepChr") or "|"
        inner = separator.join(_math_text(c) for c in el if local_name(c.tag) == "e")
        return f"{'(' if begin is None else begin}{inner}{')' if end is None else end}"
    if name == "oMathPara":
        return "\n".join(_math_text(c) for c in el if local_name(c.tag) == "oMath")
    return "".join(_math_text(child) for child in el if isinstance(child.tag, str))


def _declared_page_count(package: Package) -> int | None:
    try:
        root = package.xml_optional("docProps/app.xml", recover=True)
    except ExtractionError:
        return None
    if root is None:
        return None
    for el in root:
        if local_name(el.tag) == "Pages" and el.text and el.text.strip().isdigit():
            return int(el.text.strip())
    return None


def extract_docx(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    with open_package(data, options, "DOCX") as package:
        main_part = package.main_part("word/document.xml")
        try:
            return _DocxWalker(package, main_part, options).run()
        except ExtractionError:
            raise
        except (etree.LxmlError, ValueError, KeyError, RecursionError) as exc:
            raise ExtractionError(
                ErrorType.CORRUPT, f"The DOCX document structure cannot be read ({type(exc).__name__})."
            ) from exc

"""HTML -> visible text as blocks in document order (also used for e-mail bodies and EPUB chapters).

- Encoding: byte-order mark, then the ``<meta charset>`` / ``http-equiv`` / XML declaration in the first 4 KB,
  then UTF-8, then detection (charset-normalizer) with cp1252 as the last resort.
- Never rendered: ``head`` (the ``title`` goes to metadata), ``script``, ``style``, ``noscript``, ``template``,
  ``svg``, ``canvas``, media and embedded objects, form ``select`` options, and any element that is hidden by the
  ``hidden`` attribute or an inline ``display:none`` / ``visibility:hidden`` style (inline XBRL filings keep
  megabytes of machine data in such a block). Images, including inline base64 ones, contribute nothing.
- Structure: ``h1``-``h6`` become headings (``level``, and a ``section`` breadcrumb on the following blocks),
  ``li`` list items (``level`` = list nesting depth), ``table`` table blocks (``colspan`` padded; columns empty in
  every row, the spacer columns of financial filings, dropped; a nested table's text stays inside its cell), ``pre``
  keeps its line breaks, every other block element (p, div, section, blockquote, ...) a paragraph.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

from lxml import etree

from data_extract.pipeline.extract.limits import TextLimit
from data_extract.pipeline.sections import SectionTrail
from data_extract.pipeline.textcodec import bom_codec
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions, Table, TableCell

SKIPPED_TAGS = frozenset(
    {
        "head", "script", "style", "noscript", "template", "svg", "canvas", "video", "audio", "iframe", "object",
        "embed", "select", "option", "datalist", "map", "img", "picture", "source", "track", "input", "textarea",
        "meta", "link", "base", "title",
    }
)  # fmt: skip
BLOCK_TAGS = frozenset(
    {
        "p", "div", "section", "article", "header", "footer", "main", "nav", "aside", "blockquote", "address",
        "figure", "figcaption", "form", "fieldset", "legend", "center", "details", "summary", "dl", "dt", "dd",
        "hr", "body", "html", "caption", "menu", "hgroup", "search", "dialog", "frameset", "noframes",
    }
)  # fmt: skip
HEADING_LEVELS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
LIST_TAGS = frozenset({"ul", "ol", "menu"})
CELL_TAGS = frozenset({"td", "th"})
MAX_COLSPAN = 100
MAX_ROWSPAN = 1000

_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


def decode_html(data: bytes) -> tuple[str, str]:
    """(text, encoding) of an HTML/XHTML byte string."""
    marked = bom_codec(data)
    if marked:
        name, length = marked
        return data[length:].decode(name, errors="replace"), name
    head = data[:4096]
    declared = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    if declared:
        name = declared.group(1).decode("ascii", "ignore").lower()
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            codec = None
        if codec and not codec.startswith("utf-16"):  # a UTF-16 label on ASCII-compatible bytes is a lie
            if codec in ("latin-1", "iso8859-1", "ascii"):
                codec = "cp1252"  # what browsers do for these labels
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                pass
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        from data_extract.pipeline.textcodec import decode_text

        return decode_text(data)


def parse_html(markup: bytes | str) -> etree._Element:
    """Parse HTML leniently and safely (no network, no entity expansion); raise CORRUPT when nothing parses."""
    text = decode_html(markup)[0] if isinstance(markup, bytes) else markup
    text = _XML_DECLARATION.sub("", text, count=1)
    # huge_tree lifts libxml2's 10 MB cap on one text or attribute value (an inline base64 image would otherwise
    # end the parse and silently drop everything after it). The HTML parser defines no entities of its own, so
    # this opens no entity-expansion attack.
    parser = etree.HTMLParser(
        remove_comments=True, remove_pis=True, no_network=True, recover=True, remove_blank_text=False, huge_tree=True
    )
    try:
        root = etree.fromstring(text, parser) if text.strip() else None
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        raise ExtractionError(ErrorType.CORRUPT, f"The HTML cannot be parsed ({exc}).") from exc
    if root is None:
        root = etree.fromstring("<html><body></body></html>", parser)
    return root


def _tag_name(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    if tag[0] == "{":
        tag = tag.rpartition("}")[2]
    return tag.lower()


def _is_hidden(el: etree._Element) -> bool:
    attrib = el.attrib
    if not attrib:
        return False
    if "hidden" in attrib:
        return True
    style = attrib.get("style")
    if not style:
        return False
    # Cheap substring tests first: financial filings put a long inline style on nearly every element.
    if "none" not in style and "hidden" not in style and "NONE" not in style and "HIDDEN" not in style:
        return False
    return _HIDDEN_STYLE.search(style) is not None


def _source_text(text: str) -> str:
    """Line breaks in the HTML source are spaces when rendered; only <br> and block ends break lines."""
    if "\n" in text or "\r" in text:
        return text.replace("\r", " ").replace("\n", " ")
    return text


def _clean(text: str) -> str:
    """Collapse whitespace within lines; keep the line breaks that ``<br>`` produced."""
    if "\n" not in text:
        return " ".join(text.split())
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


class HtmlBlocks:
    """Walks a parsed HTML tree once and produces blocks with headings, list items and tables."""

    def __init__(self, limit: TextLimit | None = None) -> None:
        self.blocks: list[Block] = []
        self.trail = SectionTrail()
        self.limit = limit
        self.warnings: list[str] = []
        self._buffer: list[str] = []
        self._list_depth = 0
        self._item_level: int | None = None

    # -- output ---------------------------------------------------------------------------------------------------
    def add_heading(self, text: str, level: int) -> None:
        """A heading that is not in the markup (an EPUB chapter title from the table of contents)."""
        self._flush()
        text = _clean(text)
        if text:
            self.trail.enter(level, text)
            self._add(Block(kind="heading", text=text, level=level))

    def _add(self, block: Block) -> None:
        if self.limit is not None:
            self.limit.add(block.text)
        block.section = self.trail.current
        self.blocks.append(block)

    def _flush(self) -> None:
        if not self._buffer:
            return
        text = _clean("".join(self._buffer))
        self._buffer = []
        if text:
            if self._item_level is not None:
                self._add(Block(kind="list_item", text=text, level=self._item_level))
            else:
                self._add(Block(kind="paragraph", text=text))

    # -- walking --------------------------------------------------------------------------------------------------
    def walk(self, root: etree._Element) -> list[Block]:
        start = len(self.blocks)
        try:
            self._element(root)
            self._flush()
        except RecursionError:
            # Unclosed inline tags in old HTML can nest thousands deep: keep the text, drop the structure.
            for block in self.blocks[start:]:
                if self.limit is not None:
                    self.limit.used -= len(block.text)
            del self.blocks[start:]
            self._buffer, self._list_depth, self._item_level = [], 0, None
            self._flat(root)
            self.warnings.append(
                "The HTML is nested too deeply to keep its structure; its text was read as paragraphs."
            )
        return self.blocks

    def _flat(self, root: etree._Element) -> None:
        etree.strip_elements(root, *SKIPPED_TAGS, with_tail=False)
        text = "".join(root.itertext())
        for paragraph in re.split(r"\n\s*\n", text):
            cleaned = " ".join(paragraph.split())
            if cleaned:
                self._add(Block(kind="paragraph", text=cleaned))

    def _children(self, el: etree._Element) -> None:
        for child in el:
            self._element(child)
            if child.tail:
                self._buffer.append(_source_text(child.tail))  # not a local alias: _flush() replaces the buffer

    def _element(self, el: etree._Element) -> None:
        tag = _tag_name(el)
        if not tag or tag in SKIPPED_TAGS or _is_hidden(el):
            return
        if tag == "br":
            self._buffer.append("\n")
            return
        level = HEADING_LEVELS.get(tag)
        if level is not None:
            self._flush()
            text = _clean(self.text_of(el))
            if text:
                self.trail.enter(level, text)
                self._add(Block(kind="heading", text=text, level=level))
            return
        if tag == "table":
            self._flush()
            if _is_layout_table(el):
                # Tables that hold tables lay out a page (e-mail templates, old sites): read their cells as blocks.
                self._element_content(el)
                self._flush()
            else:
                self._table(el)
            return
        if tag == "pre":
            self._flush()
            text = self.text_of(el, preserve=True).strip("\n")
            if text.strip():
                self._add(Block(kind="paragraph", text=text, meta={"preformatted": True}))
            return
        if tag in LIST_TAGS:
            self._flush()
            self._list_depth += 1
            self._element_content(el)
            self._flush()
            self._list_depth -= 1
            return
        if tag == "li":
            self._flush()
            saved = self._item_level
            self._item_level = max(self._list_depth, 1)
            self._element_content(el)
            self._flush()
            self._item_level = saved
            return
        if tag in BLOCK_TAGS or tag in ("tr", "td", "th", "thead", "tbody", "tfoot"):
            self._flush()
            self._element_content(el)
            self._flush()
            return
        self._element_content(el)

    def _element_content(self, el: etree._Element) -> None:
        if el.text:
            self._buffer.append(_source_text(el.text))
        self._children(el)

    def text_of(self, el: etree._Element, *, preserve: bool = False) -> str:
        """Visible text under ``el`` (skipping hidden and non-rendered elements); block children start new lines."""
        parts: list[str] = []
        self._collect(el, parts, preserve)
        return "".join(parts)

    def _collect(self, el: etree._Element, parts: list[str], preserve: bool) -> None:
        if el.text:
            parts.append(el.text if preserve else _source_text(el.text))
        for child in el:
            tag = _tag_name(child)
            if tag and tag not in SKIPPED_TAGS and not _is_hidden(child):
                if tag == "br":
                    parts.append("\n")
                elif tag in CELL_TAGS:
                    parts.append(" | ")
                    self._collect(child, parts, preserve)
                else:
                    block = tag in BLOCK_TAGS or tag in HEADING_LEVELS or tag in ("li", "tr", "table", "p")
                    if block and not preserve:
                        parts.append("\n")
                    self._collect(child, parts, preserve)
                    if block and not preserve:
                        parts.append("\n")
            if child.tail:
                parts.append(child.tail if preserve else _source_text(child.tail))

    # -- tables ---------------------------------------------------------------------------------------------------
    def _table(self, table: etree._Element) -> None:
        rows: list[list[str]] = []
        cells: list[TableCell] = []
        occupied: set[tuple[int, int]] = set()  # grid positions taken by a rowspan from a row above
        header_flags: list[bool] = []
        for section in self._table_rows(table):
            if _tag_name(section) == "caption":
                caption = _clean(self.text_of(section))
                if caption:
                    self._add(Block(kind="caption", text=caption))
                continue
            r = len(rows)
            row: list[str] = []
            all_header = True
            for cell in section:
                if _tag_name(cell) not in CELL_TAGS or _is_hidden(cell):
                    continue
                while (r, len(row)) in occupied:
                    row.append("")
                col = len(row)
                text = _clean(self.text_of(cell)).replace("\n", " ")
                col_span = min(max(_span(cell.get("colspan")), 1), MAX_COLSPAN)
                row_span = min(max(_span(cell.get("rowspan")), 1), MAX_ROWSPAN)
                row.append(text)
                row.extend([""] * (col_span - 1))
                for dr in range(1, row_span):
                    for dc in range(col_span):
                        occupied.add((r + dr, col + dc))
                is_header = _tag_name(cell) == "th" or _tag_name(section.getparent()) == "thead"
                all_header = all_header and is_header
                cells.append(
                    TableCell(row=r, col=col, text=text, row_span=row_span, col_span=col_span, header=is_header)
                )
            rows.append(row)
            header_flags.append(all_header and bool(row))
        rows, cells = _drop_empty_lines(rows, cells)
        if rows:
            header_rows = 0
            while header_rows < len(header_flags) and header_flags[header_rows] and header_rows < len(rows) - 1:
                header_rows += 1
            table_obj = Table(rows=rows, cells=cells, header_rows=header_rows)
            self._add(Block(kind="table", text=table_obj.to_text(), table=table_obj))

    def _table_rows(self, table: etree._Element) -> Iterator[etree._Element]:
        """The table's own rows (and caption), through thead/tbody/tfoot, never a nested table's rows."""
        for child in table:
            tag = _tag_name(child)
            if _is_hidden(child) if tag else True:
                continue
            if tag == "tr" or tag == "caption":
                yield child
            elif tag in ("thead", "tbody", "tfoot"):
                for row in child:
                    if _tag_name(row) == "tr" and not _is_hidden(row):
                        yield row


XHTML_NS = "http://www.w3.org/1999/xhtml"
_TABLE_TAGS = ("table", f"{{{XHTML_NS}}}table")
_CELL_TAG_NAMES = ("td", "th", f"{{{XHTML_NS}}}td", f"{{{XHTML_NS}}}th")


def _is_layout_table(table: etree._Element) -> bool:
    """A table holding tables, or a single cell, arranges content rather than tabulating it."""
    if any(True for _ in table.iterdescendants(*_TABLE_TAGS)):
        return True
    cells = table.iterdescendants(*_CELL_TAG_NAMES)
    next(cells, None)
    return next(cells, None) is None


def _span(value: str | None) -> int:
    try:
        return int(value or 1)
    except ValueError:
        return 1


def _drop_empty_lines(rows: list[list[str]], cells: list[TableCell]) -> tuple[list[list[str]], list[TableCell]]:
    """Drop empty rows and columns from the rows and the cells alike; spans shrink by what they covered."""
    kept_rows = [r for r, row in enumerate(rows) if any(cell for cell in row)]
    if not kept_rows:
        return [], []
    width = max(len(row) for row in rows)
    kept_cols = [c for c in range(width) if any(c < len(rows[r]) and rows[r][c] for r in kept_rows)]
    row_index = {r: i for i, r in enumerate(kept_rows)}
    col_index = {c: i for i, c in enumerate(kept_cols)}
    out_rows = [[rows[r][c] if c < len(rows[r]) else "" for c in kept_cols] for r in kept_rows]
    out_cells: list[TableCell] = []
    for cell in cells:
        rows_covered = [row_index[r] for r in range(cell.row, cell.row + cell.row_span) if r in row_index]
        cols_covered = [col_index[c] for c in range(cell.col, cell.col + cell.col_span) if c in col_index]
        if not cell.text or not rows_covered or not cols_covered:
            continue
        out_cells.append(
            TableCell(
                row=rows_covered[0],
                col=cols_covered[0],
                text=cell.text,
                row_span=len(rows_covered),
                col_span=len(cols_covered),
                header=cell.header,
            )
        )
    return out_rows, out_cells


def html_title(root: etree._Element) -> str | None:
    for el in root.iter("title", f"{{{XHTML_NS}}}title"):
        text = " ".join("".join(el.itertext()).split())
        if text:
            return text
    return None


def html_to_blocks(markup: bytes | str | etree._Element, limit: TextLimit | None = None) -> list[Block]:
    """Blocks of an HTML document or fragment (e-mail bodies, EPUB chapters, embedded HTML)."""
    root = markup if isinstance(markup, etree._Element) else parse_html(markup)
    return HtmlBlocks(limit).walk(root)


def html_to_text(markup: bytes | str) -> str:
    return "\n\n".join(block.text for block in html_to_blocks(markup) if block.text)


def extract_html(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    text, encoding = decode_html(data)
    root = parse_html(text)
    walker = HtmlBlocks(TextLimit(options))
    blocks = walker.walk(root)
    metadata: dict[str, object] = {"encoding": encoding, "table_count": sum(1 for b in blocks if b.kind == "table")}
    title = html_title(root)
    if title:
        metadata["title"] = title
    return Document(format="html", blocks=blocks, metadata=metadata, warnings=walker.warnings)

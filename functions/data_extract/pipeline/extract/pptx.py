"""PPTX (PresentationML, Transitional and Strict) -> blocks per slide, read directly with lxml.

Slides come in presentation order (``ppt/presentation.xml`` ``sldIdLst`` through its relationships); when that
part is missing or unreadable, the slide parts are taken in their numeric order and a warning says so. Per slide:

- the title placeholder first, as ``heading`` (level 1); it is also the ``section`` of the slide's other blocks;
- every other shape in drawing order, descending into group shapes at any depth and into ``mc:AlternateContent``
  (first choice, else fallback); one ``paragraph`` block per shape, its paragraphs on separate lines;
- tables in graphic frames (``a:tbl``) as ``table`` blocks (merged continuation cells empty);
- chart titles, series and category names, and SmartArt text, as paragraphs;
- anything else that holds DrawingML text (unknown shape kinds included) still gives its text;
- speaker notes (the notes slide's body placeholder) as ``note``; slide comments as ``comment``.

Slide-number, date and footer placeholders are skipped: they repeat on every slide and carry no content.
A slide whose XML is malformed is read in libxml2's recovery mode; a slide that cannot be read at all is skipped
with a warning, and only a deck with no readable slide is ``CORRUPT``.
"""

from __future__ import annotations

import re

from lxml import etree

from data_extract.pipeline.extract.limits import TextLimit, check_page_limit
from data_extract.pipeline.extract.ooxml import Package, local_name, open_package
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions, Table, TableCell

A_NAMESPACES = ("http://schemas.openxmlformats.org/drawingml/2006/main", "http://purl.oclc.org/ooxml/drawingml/main")
_A_TEXT_TAGS = tuple(f"{{{ns}}}{name}" for ns in A_NAMESPACES for name in ("t", "br"))
_A_PARAGRAPH_TAGS = tuple(f"{{{ns}}}p" for ns in A_NAMESPACES)
_TITLE_TYPES = {"title", "ctrTitle"}
_BOILERPLATE_TYPES = {"sldNum", "dt", "ftr", "sldImg", "hdr"}
_SLIDE_NUMBER = re.compile(r"slide(\d+)\.xml$", re.IGNORECASE)


def _child(el: etree._Element, name: str) -> etree._Element | None:
    for child in el:
        if local_name(child.tag) == name:
            return child
    return None


def _paragraphs_text(container: etree._Element) -> str:
    """DrawingML paragraphs under ``container``, one per line (runs, fields and line breaks)."""
    lines: list[str] = []
    for paragraph in container.iter(*_A_PARAGRAPH_TAGS):
        parts = [("\n" if el.tag.endswith("}br") else (el.text or "")) for el in paragraph.iter(*_A_TEXT_TAGS)]
        line = "".join(parts).strip()
        if line:
            lines.append(line)
    return "\n".join(lines)


def _placeholder_type(shape: etree._Element) -> str | None:
    """``type`` of the shape's placeholder (``body`` when a placeholder has no type), or None."""
    for nv in shape:
        if local_name(nv.tag).startswith("nv"):
            nv_pr = _child(nv, "nvPr")
            if nv_pr is not None:
                ph = _child(nv_pr, "ph")
                if ph is not None:
                    return ph.get("type") or "body"
    return None


def _shape_name(shape: etree._Element) -> str | None:
    for nv in shape:
        if local_name(nv.tag).startswith("nv"):
            c_nv_pr = _child(nv, "cNvPr")
            if c_nv_pr is not None:
                name: str | None = c_nv_pr.get("name")
                return name
    return None


class _SlideReader:
    def __init__(self, package: Package, options: ExtractOptions) -> None:
        self.package = package
        self.limit = TextLimit(options)
        self.warnings: list[str] = []

    # -- shapes ---------------------------------------------------------------------------------------------------
    def shapes(self, tree: etree._Element, part: str, out: list[Block]) -> None:
        for shape in tree:
            name = local_name(shape.tag)
            if name in ("nvGrpSpPr", "grpSpPr", "extLst", ""):
                continue
            if name == "grpSp":
                self.shapes(shape, part, out)
            elif name == "AlternateContent":
                chosen = _child(shape, "Choice")
                if chosen is None:
                    chosen = _child(shape, "Fallback")
                if chosen is not None:
                    self.shapes(chosen, part, out)
            elif name == "graphicFrame":
                self._graphic_frame(shape, part, out)
            elif name == "pic":
                continue  # pictures carry no text of their own
            else:  # sp, cxnSp and any shape kind we do not know: their DrawingML text
                placeholder = _placeholder_type(shape)
                if placeholder in _BOILERPLATE_TYPES:
                    continue
                text = _paragraphs_text(shape)
                if not text:
                    continue
                if placeholder in _TITLE_TYPES:
                    out.append(Block(kind="heading", text=text, level=1, meta={"shape": _shape_name(shape) or ""}))
                else:
                    meta = {"shape": _shape_name(shape) or ""}
                    if placeholder:
                        meta["placeholder"] = placeholder
                    out.append(Block(kind="paragraph", text=text, meta=meta))

    def _graphic_frame(self, frame: etree._Element, part: str, out: list[Block]) -> None:
        graphic = _child(frame, "graphic")
        data = _child(graphic, "graphicData") if graphic is not None else None
        if data is None:
            return
        table = _child(data, "tbl")
        if table is not None:
            rows, cells = self._table_rows(table)
            if rows:
                tbl = Table(rows=rows, cells=cells, header_rows=1 if _first_row_is_header(table) else 0)
                for cell in cells:
                    cell.header = cell.row < tbl.header_rows
                out.append(
                    Block(kind="table", text=tbl.to_text(), table=tbl, meta={"shape": _shape_name(frame) or ""})
                )
            return
        uri = data.get("uri") or ""
        if uri.endswith(("/chart", "/diagram")):
            text = self._related_graphic_text(data, part, chart=uri.endswith("/chart"))
        else:
            text = _paragraphs_text(data)
        if text:
            kind = "chart" if uri.endswith("/chart") else "diagram" if uri.endswith("/diagram") else "object"
            out.append(Block(kind="paragraph", text=text, meta={"shape": _shape_name(frame) or "", "graphic": kind}))

    def _table_rows(self, table: etree._Element) -> tuple[list[list[str]], list[TableCell]]:
        """Rows of cell text (merged-over cells empty) and the cells with their grid and row spans."""
        rows: list[list[str]] = []
        cells: list[TableCell] = []
        for tr in table:
            if local_name(tr.tag) != "tr":
                continue
            row: list[str] = []
            row_cells: list[TableCell] = []
            for tc in tr:
                if local_name(tc.tag) != "tc":
                    continue
                merged = tc.get("hMerge") in ("1", "true") or tc.get("vMerge") in ("1", "true")
                text = "" if merged else _paragraphs_text(tc)
                if text:
                    row_cells.append(
                        TableCell(
                            row=len(rows),
                            col=len(row),
                            text=text.strip(),
                            row_span=_span(tc.get("rowSpan")),
                            col_span=_span(tc.get("gridSpan")),
                        )
                    )
                row.append(text)
            if any(cell for cell in row):
                rows.append(row)
                cells += row_cells
        for cell in cells:  # a span never reaches past the rows kept
            cell.row_span = min(cell.row_span, len(rows) - cell.row)
        return rows, cells

    def _related_graphic_text(self, data: etree._Element, part: str, *, chart: bool) -> str:
        """Text of a chart (title, series and category names) or a SmartArt data part."""
        targets = self.package.relationship_targets(part)
        wanted = "id" if chart else "dm"  # c:chart/@r:id, dgm:relIds/@r:dm (the SmartArt data part)
        target = next(
            (
                targets[value]
                for el in data.iter()
                for key, value in el.attrib.items()
                if key.startswith("{") and local_name(key) == wanted and value in targets
            ),
            None,
        )
        texts: list[str] = []
        if target is not None and self.package.has(target):
            try:
                root = self.package.xml(target, recover=True)
            except ExtractionError:
                self.warnings.append(f"The graphic part '{target}' is unreadable and was skipped.")
            else:
                texts = _chart_texts(root) if chart else [_paragraphs_text(root)]
        return "\n".join(t for t in texts if t)

    # -- parts ----------------------------------------------------------------------------------------------------
    def slide_blocks(self, part: str, number: int) -> tuple[list[Block], bool]:
        root = self.package.xml(part, recover=True)
        hidden = root.get("show") in ("0", "false")
        tree = next((el for el in root.iter() if local_name(el.tag) == "spTree"), None)
        if tree is None:  # nothing recoverable: not even the slide's shape tree
            raise ExtractionError(ErrorType.CORRUPT, f"The slide part '{part}' has no shape tree.")
        shapes: list[Block] = []
        self.shapes(tree, part, shapes)
        titles = [b for b in shapes if b.kind == "heading"]
        others = [b for b in shapes if b.kind != "heading"]
        section = " ".join(titles[0].text.split()) if titles else None
        blocks = titles + others
        for rel in self.package.relationships(part):
            if rel.external or not self.package.has(rel.target):
                continue
            if rel.is_type("notesSlide"):
                blocks.extend(self._notes(rel.target))
            elif rel.is_type("comments"):
                blocks.extend(self._comments(rel.target))
        for block in blocks:
            block.slide = number
            block.section = section
            self.limit.add(block.text)
        return blocks, hidden

    def _notes(self, part: str) -> list[Block]:
        try:
            root = self.package.xml(part, recover=True)
        except ExtractionError:
            self.warnings.append(f"The notes part '{part}' is unreadable and was skipped.")
            return []
        texts: list[str] = []
        for shape in root.iter():
            if local_name(shape.tag) != "sp":
                continue
            placeholder = _placeholder_type(shape)
            if placeholder in _BOILERPLATE_TYPES:
                continue
            text = _paragraphs_text(shape)
            if text:
                texts.append(text)
        text = "\n".join(texts)
        return [Block(kind="note", text=text)] if text else []

    def _comments(self, part: str) -> list[Block]:
        try:
            root = self.package.xml(part, recover=True)
        except ExtractionError:
            self.warnings.append(f"The comments part '{part}' is unreadable and was skipped.")
            return []
        blocks: list[Block] = []
        for comment in root:
            if local_name(comment.tag) != "cm":
                continue
            text_el = _child(comment, "text")
            text = (text_el.text or "").strip() if text_el is not None else _paragraphs_text(comment)
            if text:
                blocks.append(Block(kind="comment", text=text))
        return blocks


def _chart_texts(root: etree._Element) -> list[str]:
    texts: list[str] = []
    seen: set[str] = set()

    def add(text: str | None) -> None:
        text = (text or "").strip()
        if text and text not in seen:
            seen.add(text)
            texts.append(text)

    for el in root.iter():
        name = local_name(el.tag)
        if name == "title":
            add(_paragraphs_text(el) or " ".join(v.text or "" for v in el.iter() if local_name(v.tag) == "v"))
        elif name in ("tx", "cat"):
            for value in el.iter():
                if local_name(value.tag) == "v":
                    add(value.text)
    return texts


def _slide_parts(package: Package, warnings: list[str]) -> list[str]:
    """Slide parts in presentation order; the numeric order of slide part names when the order is unreadable."""
    presentation = next(
        (r.target for r in package.related("", "officeDocument") if package.has(r.target)),
        "ppt/presentation.xml",
    )
    if package.has(presentation):
        try:
            root = package.xml(presentation, recover=True)
            targets = package.relationship_targets(presentation)
            ordered: list[str] = []
            for el in root.iter():
                if local_name(el.tag) != "sldId":
                    continue
                rel_id = next((v for k, v in el.attrib.items() if local_name(k) == "id" and k.startswith("{")), None)
                target = targets.get(rel_id or "")
                if target and package.has(target) and target not in ordered:
                    ordered.append(target)
            if ordered:
                return ordered
        except ExtractionError:
            pass
    by_number = sorted(
        (int(m.group(1)), name)
        for name in package.names
        if name.lower().startswith("ppt/slides/") and (m := _SLIDE_NUMBER.search(name))
    )
    if by_number:
        warnings.append(
            "The slide order could not be read from the presentation part; slides are in file-name order."
        )
    return [name for _, name in by_number]


def extract_pptx(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    with open_package(data, options, "PPTX") as package:
        reader = _SlideReader(package, options)
        parts = _slide_parts(package, reader.warnings)
        check_page_limit(len(parts), options, "slides")
        blocks: list[Block] = []
        hidden_slides: list[int] = []
        readable = 0
        failures: list[str] = []
        for number, part in enumerate(parts, start=1):
            try:
                slide_blocks, hidden = reader.slide_blocks(part, number)
            except ExtractionError as exc:
                if exc.error_type in (ErrorType.CORRUPT,):
                    failures.append(part)
                    reader.warnings.append(f"Slide {number} ('{part}') is unreadable and was skipped.")
                    continue
                raise
            except (etree.LxmlError, ValueError, RecursionError) as exc:
                failures.append(part)
                reader.warnings.append(
                    f"Slide {number} ('{part}') is unreadable ({type(exc).__name__}) and was skipped."
                )
                continue
            readable += 1
            if hidden:
                hidden_slides.append(number)
            blocks.extend(slide_blocks)
        if parts and not readable:
            raise ExtractionError(ErrorType.CORRUPT, "No slide of the presentation could be read.")
        if not parts and not package.has("ppt/presentation.xml"):
            raise ExtractionError(
                ErrorType.CORRUPT, "The PPTX package is missing its required part 'ppt/presentation.xml'."
            )
        metadata: dict[str, object] = {
            "slide_count": len(parts),
            "notes_count": sum(1 for b in blocks if b.kind == "note"),
            "table_count": sum(1 for b in blocks if b.kind == "table"),
        }
        if hidden_slides:
            metadata["hidden_slides"] = hidden_slides
        if failures:
            metadata["unreadable_slides"] = failures
        return Document(format="pptx", blocks=blocks, metadata=metadata, warnings=reader.warnings)


def _span(value: str | None) -> int:
    try:
        return max(int(value or 1), 1)
    except ValueError:
        return 1


def _first_row_is_header(table: etree._Element) -> bool:
    """PowerPoint's "header row" table style option (a:tblPr/@firstRow)."""
    for child in table:
        if local_name(child.tag) == "tblPr":
            return child.get("firstRow") in ("1", "true")
    return False

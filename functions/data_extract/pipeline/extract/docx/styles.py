"""Paragraph styles: what a paragraph is (heading, list item, paragraph) and which numbering it uses, from its
own properties and then its style chain."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from data_extract.pipeline.extract.docx.names import Names
from data_extract.pipeline.extract.docx.values import parse_int
from data_extract.pipeline.extract.ooxml import Package
from data_extract.pipeline.types import ExtractionError


@dataclass
class Style:
    name: str
    based_on: str | None
    outline_level: int | None  # 0-based as in the XML
    list_level: int | None  # 0-based numbering level when the style carries numbering
    num_id: str | None  # the numbering instance the style applies


class Styles:
    """Paragraph styles by id and the default paragraph style, with what each paragraph's properties make of it."""

    def __init__(self, n: Names, styles: dict[str, Style], default_style: str | None) -> None:
        self.n = n
        self.styles = styles
        self.default_paragraph_style = default_style
        self._style_kinds: dict[str | None, tuple[str, int | None]] = {}

    def _style_chain(self, style_id: str | None) -> Iterator[Style]:
        seen: set[str] = set()
        while style_id and style_id not in seen and style_id in self.styles:
            seen.add(style_id)
            style = self.styles[style_id]
            yield style
            style_id = style.based_on

    def paragraph_style(self, ppr: etree._Element | None) -> str | None:
        """The paragraph's style id: its own pStyle, else the document's default paragraph style."""
        if ppr is not None:
            style_el = ppr.find(self.n.pStyle)
            if style_el is not None:
                value: str | None = style_el.get(self.n.val)
                return value
        return self.default_paragraph_style

    def classify(self, ppr: etree._Element | None) -> tuple[str, int | None]:
        """(kind, level) of a paragraph from its own properties, then its style chain."""
        n = self.n
        style_id = self.paragraph_style(ppr)
        if ppr is not None:
            outline_el = ppr.find(n.outlineLvl)
            if outline_el is not None:
                outline = parse_int(outline_el.get(n.val))
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
                    level = parse_int(ilvl.get(n.val)) if ilvl is not None else 0
                    return "list_item", min(max(level or 0, 0), 8) + 1
        return self._classify_style(style_id)

    def _classify_style(self, style_id: str | None) -> tuple[str, int | None]:
        cached = self._style_kinds.get(style_id)
        if cached is not None:
            return cached
        result: tuple[str, int | None] = ("paragraph", None)
        for style in self._style_chain(style_id):
            heading = heading_level_from_name(style.name)
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

    def numbering_of(self, ppr: etree._Element | None) -> tuple[str | None, int]:
        """(numId, 0-based level) of a paragraph: its own numbering properties, else its style's."""
        n = self.n
        style_id = self.paragraph_style(ppr)
        if ppr is not None:
            num = ppr.find(n.numPr)
            if num is not None:
                num_id_el, ilvl_el = num.find(n.numId), num.find(n.ilvl)
                level = (parse_int(ilvl_el.get(n.val)) if ilvl_el is not None else None) or 0
                if num_id_el is not None:
                    own_id: str | None = num_id_el.get(n.val)
                    return own_id, level
                for style in self._style_chain(style_id):
                    if style.num_id:
                        return style.num_id, level
                return None, level
        for style in self._style_chain(style_id):
            if style.num_id:
                return style.num_id, style.list_level or 0
        return None, 0


def heading_level_from_name(style_name: str) -> int | None:
    name = style_name.strip().lower()
    if name == "title":
        return 1
    if name.startswith("heading"):
        suffix = name[len("heading") :].strip()
        if suffix.isdigit() and 1 <= int(suffix) <= 9:
            return int(suffix)
    return None


def _read_style(el: etree._Element, style_id: str, n: Names) -> Style:
    """One ``w:style``: its name, parent, outline level and the numbering it applies."""
    name_el = el.find(n.name)
    based_el = el.find(n.basedOn)
    ppr = el.find(n.pPr)
    outline = list_level = num_id_value = None
    if ppr is not None:
        lvl = ppr.find(n.outlineLvl)
        if lvl is not None:
            outline = parse_int(lvl.get(n.val))
        num = ppr.find(n.numPr)
        if num is not None:
            num_id = num.find(n.numId)
            if num_id is None or num_id.get(n.val) != "0":
                ilvl = num.find(n.ilvl)
                list_level = parse_int(ilvl.get(n.val)) if ilvl is not None else 0
                list_level = list_level or 0
                num_id_value = num_id.get(n.val) if num_id is not None else None
    return Style(
        name=(name_el.get(n.val) if name_el is not None else style_id) or style_id,
        based_on=based_el.get(n.val) if based_el is not None else None,
        outline_level=outline,
        list_level=list_level,
        num_id=num_id_value,
    )


def load_styles(package: Package, main_part: str, n: Names, warnings: list[str]) -> Styles:
    """Paragraph styles by id, and the id of the default paragraph style."""
    styles_part = next((r.target for r in package.related(main_part, "styles") if package.has(r.target)), None)
    if styles_part is None:
        return Styles(n, {}, None)
    try:
        root = package.xml(styles_part, recover=True)
    except ExtractionError:
        warnings.append("The styles part is unreadable; headings are recognised by outline level only.")
        return Styles(n, {}, None)
    styles: dict[str, Style] = {}
    default_style: str | None = None
    for el in root.iter(n.style):
        style_id = el.get(n.style_id)
        if not style_id:
            continue
        styles[style_id] = _read_style(el, style_id, n)
        if el.get(n.type_attr) == "paragraph" and el.get(n.default) in ("1", "true", "on"):
            default_style = style_id
    return Styles(n, styles, default_style)

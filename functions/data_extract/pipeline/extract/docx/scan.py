"""What the walk must know ahead, found in one C-level pass over a part: paragraphs that need the careful walk,
page-starting paragraphs, and the section properties."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from data_extract.pipeline.extract.docx.names import Names

_BREAKING_SECTION_TYPES = {"nextPage", "oddPage", "evenPage"}


@dataclass
class MainPartScan:
    # Paragraphs holding text boxes, equations, alternate content or tracked deletions; they take the careful
    # recursive walk (the set keeps the element proxies, so identity holds). Headers, footers and notes add theirs.
    special_paragraphs: set[etree._Element] = field(default_factory=set)
    break_before_paragraphs: set[etree._Element] = field(default_factory=set)
    section_break_paragraphs: set[etree._Element] = field(default_factory=set)
    section_properties: list[etree._Element] = field(default_factory=list)

    def mark_special_paragraphs(self, root: etree._Element, n: Names) -> None:
        """Add the paragraphs of another part (header, footer, notes) that need the careful walk."""
        self.special_paragraphs.update(
            paragraph for el in root.iter(*n.special_tags) for paragraph in el.iterancestors(n.p)
        )


def scan_main_part(root: etree._Element, n: Names, *, rendered_pages: bool) -> MainPartScan:
    """One C-level pass over the main part for everything the walk needs to know ahead: paragraphs that need
    the careful walk, paragraphs with "page break before", paragraphs ending a section that starts a new page
    (those two only count when Word's rendered page breaks are absent), and the section properties."""
    scan = MainPartScan()
    special = scan.special_paragraphs
    for el in root.iter(*n.special_tags, n.pageBreakBefore, n.sectPr):
        tag = el.tag
        if tag == n.sectPr:
            scan.section_properties.append(el)
            holder = el.getparent()
            if rendered_pages or holder is None or holder.tag != n.pPr:
                continue  # the body's final section ends the document, not a page
            sect_type = el.find(n.type)
            if (sect_type.get(n.val) if sect_type is not None else "nextPage") in _BREAKING_SECTION_TYPES:
                scan.section_break_paragraphs.add(holder.getparent())
        elif tag == n.pageBreakBefore:
            holder = el.getparent()
            if not rendered_pages and el.get(n.val) not in ("0", "false", "off") and holder.tag == n.pPr:
                scan.break_before_paragraphs.add(holder.getparent())
        else:
            special.update(el.iterancestors(n.p))
    return scan

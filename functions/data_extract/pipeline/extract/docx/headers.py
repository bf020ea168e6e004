"""Headers and footers: every variant a section references (default, first, even), each part read once, and
identical texts kept once."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from data_extract.pipeline.extract.docx.names import Names
from data_extract.pipeline.extract.docx.scan import MainPartScan
from data_extract.pipeline.extract.limits import TextLimit
from data_extract.pipeline.extract.ooxml import Package
from data_extract.pipeline.types import Block, ExtractionError

# A header or footer part with the variant its section reference names.
PartVariant = tuple[str, str]


def header_footer_parts(
    scan: MainPartScan, rels: dict[str, str], package: Package, n: Names
) -> tuple[list[PartVariant], list[PartVariant]]:
    """(part, variant) pairs for headers and footers, in section order, each part once."""
    headers: list[PartVariant] = []
    footers: list[PartVariant] = []
    seen: set[str] = set()
    for sect in scan.section_properties:
        for ref in sect:
            if ref.tag not in (n.headerReference, n.footerReference):
                continue
            part = rels.get(ref.get(n.r_id) or "")
            if not part or part in seen or not package.has(part):
                continue
            seen.add(part)
            variant = ref.get(n.type_attr) or "default"
            (headers if ref.tag == n.headerReference else footers).append((part, variant))
    return headers, footers


def header_footer_blocks(
    parts: list[PartVariant],
    kind: str,
    *,
    package: Package,
    n: Names,
    scan: MainPartScan,
    part_text: Callable[[etree._Element], str],
    limit: TextLimit,
    warnings: list[str],
) -> list[Block]:
    """One block per distinct header (or footer) text; ``part_text`` renders a part's blocks as one text."""
    blocks: list[Block] = []
    seen_texts: set[str] = set()
    for part, variant in parts:
        try:
            root = package.xml(part, recover=True)
        except ExtractionError:
            warnings.append(f"The {kind} part '{part}' is unreadable and was skipped.")
            continue
        scan.mark_special_paragraphs(root, n)
        text = part_text(root)
        key = " ".join(text.split()).lower()
        if not key or key in seen_texts:
            continue
        seen_texts.add(key)
        blocks.append(Block(kind=kind, text=limit.add(text), meta={"variant": variant, "part": part}))
    # Notes referenced from headers/footers are placed with the unreferenced ones.
    return blocks

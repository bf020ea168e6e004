"""Content imported in another format (``w:altChunk``): HTML and RTF parts are read, others reported."""

from __future__ import annotations

from lxml import etree

from data_extract.pipeline.extract.docx.names import Names
from data_extract.pipeline.extract.ooxml import Package
from data_extract.pipeline.types import Block


def alt_chunk_blocks(
    chunk: etree._Element, package: Package, rels: dict[str, str], n: Names, warnings: list[str]
) -> list[Block]:
    """The blocks of the part ``chunk`` imports; none when the part is missing or its format unsupported."""
    part = rels.get(chunk.get(n.r_id) or "")
    if not part or not package.has(part):
        return []
    extension = part.rsplit(".", 1)[-1].lower()
    if extension in ("htm", "html", "xhtml", "xht"):
        from data_extract.pipeline.extract.html import html_to_blocks

        return html_to_blocks(package.read(part))
    if extension == "rtf":
        from data_extract.pipeline.extract.rtf import rtf_blocks

        return rtf_blocks(package.read(part))
    warnings.append(f"Embedded content '{part}' in an unsupported format was not read.")
    return []

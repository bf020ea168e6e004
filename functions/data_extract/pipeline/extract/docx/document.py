"""The DOCX extractor: headers, body, unreferenced notes and footers assembled into one Document with its
metadata (counts, pages, declared page count, core properties)."""

from __future__ import annotations

from lxml import etree

from data_extract.pipeline.extract.docx.headers import PartVariant, header_footer_blocks, header_footer_parts
from data_extract.pipeline.extract.docx.notes import NOTE_KINDS
from data_extract.pipeline.extract.docx.walker import DocxWalker
from data_extract.pipeline.extract.ooxml import Package, core_properties, local_name, open_package
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions


def extract_docx(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    with open_package(data, options, "DOCX") as package:
        main_part = package.main_part("word/document.xml")
        try:
            return _read_document(DocxWalker(package, main_part, options))
        except ExtractionError:
            raise
        except (etree.LxmlError, ValueError, KeyError, RecursionError) as exc:
            raise ExtractionError(
                ErrorType.CORRUPT, f"The DOCX document structure cannot be read ({type(exc).__name__})."
            ) from exc


def _read_document(walker: DocxWalker) -> Document:
    body = walker.root.find(walker.n.body)
    if body is None:
        raise ExtractionError(ErrorType.CORRUPT, "The DOCX main part has no document body.")
    headers, footers = _headers_and_footers(walker)

    body_blocks: list[Block] = []
    walker.pages.counting = True
    walker.blocks(body, body_blocks, in_body=True)
    walker.pages.counting = False

    trailing: list[Block] = []
    for note_kind in NOTE_KINDS:
        for note_id in walker.notes.elements(note_kind):
            walker.notes.emit(note_kind, note_id, trailing, None)
    for block in trailing:
        block.section = None

    blocks = headers + body_blocks + trailing + footers
    metadata = _metadata(walker, blocks, header_count=len(headers), footer_count=len(footers))
    return Document(format="docx", blocks=blocks, metadata=metadata, warnings=walker.warnings)


def _headers_and_footers(walker: DocxWalker) -> tuple[list[Block], list[Block]]:
    header_parts, footer_parts = header_footer_parts(walker.scan, walker.rels, walker.package, walker.n)

    def read(parts: list[PartVariant], kind: str) -> list[Block]:
        return header_footer_blocks(
            parts,
            kind,
            package=walker.package,
            n=walker.n,
            scan=walker.scan,
            part_text=walker.contained_text,
            limit=walker.limit,
            warnings=walker.warnings,
        )

    return read(header_parts, "header"), read(footer_parts, "footer")


def _metadata(walker: DocxWalker, blocks: list[Block], *, header_count: int, footer_count: int) -> dict[str, object]:
    kinds: dict[str, int] = {}
    for block in blocks:
        kinds[block.kind] = kinds.get(block.kind, 0) + 1
    counts = walker.counts
    metadata: dict[str, object] = {
        "strict_ooxml": walker.strict,
        "paragraph_count": counts["paragraph"],
        "heading_count": counts["heading"],
        "list_item_count": counts["list_item"],
        "table_count": counts["table"],
        "textbox_count": counts["textbox"],
        "header_count": header_count,
        "footer_count": footer_count,
        "footnote_count": kinds.get("footnote", 0),
        "endnote_count": kinds.get("endnote", 0),
        "comment_count": kinds.get("comment", 0),
        "char_count": walker.limit.used,
    }
    pages = walker.pages
    if pages.marked:
        metadata["page_count"] = pages.page
        metadata["page_count_source"] = "rendered_page_breaks" if pages.rendered else "explicit_breaks"
    declared_pages = _declared_page_count(walker.package)
    if declared_pages is not None:
        metadata["declared_page_count"] = declared_pages
    metadata.update({f"core_{k}": v for k, v in core_properties(walker.package).items()})
    return metadata


def _declared_page_count(package: Package) -> int | None:
    """The page count Word stored in ``docProps/app.xml`` when it last saved the file."""
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

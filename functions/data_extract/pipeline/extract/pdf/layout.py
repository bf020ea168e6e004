"""Laying out one page's text: the stream as it is, rebuilt column by column, or around the page's tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from data_extract.pipeline.extract.pdf.objects import Inventory, take_inventory
from data_extract.pipeline.extract.pdf.reading_order import Region, plan_reading_order
from data_extract.pipeline.extract.pdf.segments import line_segments, may_hold_table
from data_extract.pipeline.extract.pdf.text import BoundedText, clean_text, visible_chars
from data_extract.pipeline.tables.pdf_geometry import Drawing, Rule
from data_extract.pipeline.tables.pdf_page import page_tables, text_around_tables, text_may_hold_table
from data_extract.pipeline.tables.pdf_tables import FoundTable
from data_extract.pipeline.types import Block

if TYPE_CHECKING:
    from data_extract.pipeline.tables.pdfium_objects import PdfPage, PdfTextPage

MIN_OBJECTS_ALWAYS_WALKED = 120


def lay_out_page(
    page: PdfPage,
    textpage: PdfTextPage,
    inventory: Inventory | None,
    stream_text: str,
    native_chars: int,
    number: int,
) -> tuple[list[Block], str]:
    """The page's blocks and how they were laid out: ``stream``, ``columns`` or ``tables``."""
    stream_blocks = [Block(kind="paragraph", text=clean_text(stream_text), page=number)]
    rotated = page.get_rotation() % 180 != 0
    segments = line_segments(textpage)
    if not segments:
        return stream_blocks, "stream"
    heights = sorted(s[3] - s[1] for s in segments)
    line_height = heights[len(heights) // 2]
    # Tables are looked for where the text lines up like table cells (on a rotated page the
    # text rectangles are in unrotated space, so always), or where the page draws horizontal
    # rules (many generators write a whole table row as one text run, so the runs need not
    # line up). Walking a page's objects costs about 2 us per object, as much as reading eight
    # characters of its text: a page with many objects is walked only when its text lines up.
    import pypdfium2.raw as raw

    if inventory is None and raw.FPDFPage_CountObjects(page.raw) <= max(MIN_OBJECTS_ALWAYS_WALKED, native_chars // 8):
        inventory = take_inventory(page)
    if (
        rotated
        or _draws_table_rules(inventory)
        or may_hold_table(segments, line_height)
        or text_may_hold_table(stream_text)
    ):
        found = _page_tables(page, textpage, inventory, stream_text)
        if found:
            return _blocks_around_tables(textpage, found, number, stream_blocks, stream_text), "tables"
    if rotated:
        # Rotated pages are laid out in unrotated space; leave their order to the stream.
        return stream_blocks, "stream"
    plan = plan_reading_order(segments, line_height)
    if plan is None:
        return stream_blocks, "stream"
    blocks = _read_regions(textpage, plan, native_chars, number)
    if blocks is None:
        return stream_blocks, "stream"
    return blocks, "columns"


def _draws_table_rules(inventory: Inventory | None) -> bool:
    """Does the page draw at least two horizontal rules away from its top and bottom edges?"""
    if inventory is None:
        return False
    # Rules near the top and bottom edges are a running header's or footer's, not a table's.
    top, bottom = 0.08 * inventory.height, 0.92 * inventory.height
    return sum(1 for rule in inventory.horizontal_rules if top < rule[0] < bottom) >= 2


def _page_tables(
    page: PdfPage, textpage: PdfTextPage, inventory: Inventory | None, stream_text: str
) -> list[FoundTable]:
    """The page's tables, its objects walked (if they were not yet) only when table finding asks for them."""
    walked = inventory

    def walk() -> Inventory:
        # Walked only once the words line up somewhere: most pages with figures never need it.
        nonlocal walked
        if walked is None:
            walked = take_inventory(page)
        return walked

    def rules() -> tuple[list[Rule], list[Rule]]:
        return walk().horizontal_rules, walk().vertical_rules

    def drawings() -> list[Drawing]:
        return walk().drawings

    return page_tables(page, textpage, rules, stream_text, drawings)


def _read_regions(textpage: PdfTextPage, plan: list[Region], native_chars: int, number: int) -> list[Block] | None:
    """Paragraphs of the planned regions, read in plan order; None when they lost or repeated text."""
    blocks: list[Block] = []
    rebuilt_chars = 0
    bounded = BoundedText(textpage)
    for x0, y0, x1, y1 in plan:
        region_text = bounded.read(x0, y0, x1, y1)
        rebuilt_chars += visible_chars(region_text)
        cleaned = clean_text(region_text)
        if cleaned.strip():
            blocks.append(Block(kind="paragraph", text=cleaned, page=number))
    # Regions are cut from the geometry; if they lost or repeated text (overlapping
    # boxes, glyphs without boxes), the stream order is the safer answer.
    if abs(rebuilt_chars - native_chars) > max(3, native_chars * 0.02):
        return None
    return blocks


def _blocks_around_tables(
    textpage: PdfTextPage,
    found: list[FoundTable],
    number: int,
    stream_blocks: list[Block],
    stream_text: str | None = None,
) -> list[Block]:
    """Table blocks where each table starts in the text stream, the text outside them as paragraphs."""
    pieces = text_around_tables(textpage, found, stream_text)
    if not pieces:
        return stream_blocks
    blocks: list[Block] = []
    for text, table in pieces:
        if table is None:
            cleaned = clean_text(text)
            if cleaned.strip():
                blocks.append(Block(kind="paragraph", text=cleaned, page=number))
            continue
        x0, y0, x1, y1 = table.bbox
        table.table.bbox = (round(x0, 2), round(y0, 2), round(x1, 2), round(y1, 2))
        if table.table.caption:
            blocks.append(Block(kind="caption", text=table.table.caption, page=number))
        blocks.append(
            Block(
                kind="table",
                text=table.table.to_text(),
                page=number,
                table=table.table,
                meta={"detected": table.kind},
            )
        )
    return blocks

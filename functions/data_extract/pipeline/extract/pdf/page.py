"""Reading one page: its text laid out, its form values, and whether it is a scan that OCR should read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from data_extract.pipeline import text_layer
from data_extract.pipeline.extract.pdf.forms import form_fields
from data_extract.pipeline.extract.pdf.layout import lay_out_page
from data_extract.pipeline.extract.pdf.objects import Inventory, take_inventory
from data_extract.pipeline.extract.pdf.text import visible_chars
from data_extract.pipeline.types import Block

if TYPE_CHECKING:
    from data_extract.pipeline.tables.pdfium_objects import PdfDocument, PdfPage, PdfTextPage

# A page with fewer visible characters than this and a page-sized image is a
# scan with a stamp or header on top: it is OCR'd as well.
SPARSE_TEXT_CHARS = 40
PAGE_SIZED_IMAGE_RATIO = 0.5
# Image coverage above which a page without text counts as a scan.
SCAN_IMAGE_RATIO = 0.05
# Outlined text (glyphs drawn as paths) shows up as very many path objects.
OUTLINED_TEXT_PATHS = 200


@dataclass
class PageResult:
    number: int  # 1-based
    blocks: list[Block]
    native_chars: int  # visible characters in the text layer
    layout: str  # stream | columns | tables
    ocr_wanted: bool  # scanned: no (or hardly any) text over images, or a poor text layer from an earlier OCR
    earlier_ocr: text_layer.LayerVerdict | None = None  # when the text layer is an earlier OCR's


def read_page(pdf: PdfDocument, index: int, has_forms: bool) -> PageResult:
    page = pdf.get_page(index)
    try:
        textpage = page.get_textpage()
        try:
            number = index + 1
            form_block = form_fields(pdf, page, number) if has_forms else None
            extra = [form_block] if form_block is not None else []
            stream_text = textpage.get_text_range()
            native_chars = visible_chars(stream_text)
            inventory: Inventory | None = None
            if native_chars < SPARSE_TEXT_CHARS:
                inventory = take_inventory(page)
                if native_chars == 0:
                    scanned = inventory.image_ratio >= SCAN_IMAGE_RATIO or inventory.path_count >= OUTLINED_TEXT_PATHS
                    return PageResult(number, extra, 0, "stream", scanned)
            ocr_wanted = inventory is not None and inventory.image_ratio >= PAGE_SIZED_IMAGE_RATIO
            blocks, layout = lay_out_page(page, textpage, inventory, stream_text, native_chars, number)
            earlier_ocr = _earlier_ocr_layer(page, textpage, inventory, stream_text, blocks)
            if earlier_ocr is not None and earlier_ocr.poor:
                ocr_wanted = True
            return PageResult(number, blocks + extra, native_chars, layout, ocr_wanted, earlier_ocr)
        finally:
            textpage.close()
    finally:
        page.close()


def _earlier_ocr_layer(
    page: PdfPage, textpage: PdfTextPage, inventory: Inventory | None, stream_text: str, blocks: list[Block]
) -> text_layer.LayerVerdict | None:
    """The verdict on a text layer an earlier OCR drew invisibly over a page-sized scan, else None.

    A good layer is kept and its blocks say so; a poor one makes the page wanted for OCR.
    """
    if not text_layer.drawn_invisibly(textpage):
        return None
    if inventory is None:
        inventory = take_inventory(page)
    if inventory.image_ratio < PAGE_SIZED_IMAGE_RATIO:
        return None
    verdict = text_layer.judge(stream_text)
    if not verdict.poor:
        for block in blocks:
            block.meta.update(verdict.provenance("kept"))
    return verdict

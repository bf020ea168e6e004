"""OCR of the pages that need it: scans rendered at 300 DPI and read with Tesseract, within the time budget.

A page whose text layer an earlier OCR drew invisibly over a page-sized scan, and which reads poorly, is read
again; the fresh reading replaces the layer only if it reads better. Either way the page's blocks record the
decision (``text_layer``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from data_extract.pipeline import text_layer
from data_extract.pipeline.extract.pdf.budget import CharBudget
from data_extract.pipeline.extract.pdf.page import PageResult
from data_extract.pipeline.extract.pdf.page_numbers import describe_pages
from data_extract.pipeline.types import Block, ExtractOptions

if TYPE_CHECKING:
    from PIL import Image

    from data_extract.pipeline.ocr import OcrPage
    from data_extract.pipeline.tables.pdfium_objects import PdfDocument

OCR_DPI = 300
OCR_MAX_PIXELS = 40_000_000  # a larger page is rendered at a lower resolution
OCR_PAGE_TIMEOUT_S = 45.0
# Stop starting new OCR pages when the isolation guard has less than this left.
OCR_SAFETY_MARGIN_S = 3.0


@dataclass
class OcrOutcome:
    done: list[int] = field(default_factory=list)  # pages recognised
    pending: list[int] = field(default_factory=list)  # pages that still need OCR
    warnings: list[str] = field(default_factory=list)
    reason: str = ""  # why pending pages were not recognised


@dataclass
class _Tally:
    """What happened to each page of one OCR run, by page number."""

    done: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    timed_out: list[int] = field(default_factory=list)
    low_confidence: list[int] = field(default_factory=list)


def recognise_scanned_pages(
    pdf: PdfDocument, pages: list[PageResult], options: ExtractOptions, budget: CharBudget
) -> OcrOutcome:
    """OCR the pages that need it, appending an ``ocr`` block to each."""
    wanted = [page for page in pages if page.ocr_wanted]
    if not wanted:
        return OcrOutcome()
    from data_extract.pipeline import ocr

    # Pages whose poor earlier-OCR text layer would be read again keep that layer when they cannot be.
    scans = [page for page in wanted if page.earlier_ocr is None]
    if not options.ocr:
        return OcrOutcome(
            pending=[p.number for p in scans],
            reason="OCR is disabled for this run",
            warnings=_poor_layers_kept(wanted, "OCR is disabled for this run"),
        )
    if not ocr.tesseract_available():
        reason = "OCR is not available (Tesseract is not installed)"
        return OcrOutcome(
            pending=[p.number for p in scans], reason=reason, warnings=_poor_layers_kept(wanted, reason)
        )
    return _read_wanted_pages(pdf, wanted, options, budget)


def _read_wanted_pages(
    pdf: PdfDocument, wanted: list[PageResult], options: ExtractOptions, budget: CharBudget
) -> OcrOutcome:
    """Read every wanted page in turn, until the extraction's time budget runs out."""
    from data_extract.pipeline import ocr

    warnings: list[str] = []
    languages = ocr.resolve_languages(options.ocr_languages)
    if languages.missing:
        warnings.append(
            f"OCR languages not installed and skipped: {', '.join(languages.missing)}; using {languages.argument}."
        )
    tally = _Tally()
    for position, page in enumerate(wanted):
        timeout = _page_timeout()
        if timeout is None:
            tally.pending += [p.number for p in wanted[position:]]
            warnings.append("OCR stopped early: the extraction time budget ran out.")
            break
        reading = _read_scan(pdf, page, languages.argument, timeout, tally)
        if reading is not None:
            tally.done.append(page.number)
            _take_reading(page, reading, languages.argument, budget, tally)
    # Pages with an earlier OCR's layer still have that text when reading them again failed.
    relayered = {page.number for page in wanted if page.earlier_ocr is not None}
    for page in wanted:
        if page.number in relayered and page.number in tally.pending + tally.timed_out:
            _keep_poor_layer(page)
    if tally.timed_out:
        warnings.append(f"OCR timed out on {describe_pages(tally.timed_out)}.")
    if tally.pending:
        warnings.append(f"OCR failed on {describe_pages(tally.pending)}.")
    if tally.low_confidence:
        warnings.append(ocr.low_confidence_warning(tally.low_confidence))
    unfinished = [n for n in tally.pending + tally.timed_out if n not in relayered]
    return OcrOutcome(tally.done, sorted(unfinished), warnings, reason="OCR did not complete")


def _page_timeout() -> float | None:
    """Seconds the next page may take, or None when the extraction's time budget has run out."""
    from data_extract.pipeline import guard

    remaining = guard.remaining_time_s()
    timeout = OCR_PAGE_TIMEOUT_S
    if remaining is not None:
        timeout = min(timeout, remaining - OCR_SAFETY_MARGIN_S)
        if timeout < 5.0:
            return None
    return timeout


def _read_scan(pdf: PdfDocument, page: PageResult, languages: str, timeout: float, tally: _Tally) -> OcrPage | None:
    """Tesseract's reading of one page; None (and the page tallied as pending or timed out) when it fails."""
    import pypdfium2 as pdfium

    from data_extract.pipeline import ocr

    try:
        image = _render_for_ocr(pdf, page.number - 1)
    except pdfium.PdfiumError:
        tally.pending.append(page.number)
        return None
    try:
        return ocr.recognise_page(image, languages, timeout, dpi=image.info.get("ocr_dpi"))
    except ocr.OcrTimeout:
        tally.timed_out.append(page.number)
        return None
    except ocr.OcrError:
        tally.pending.append(page.number)
        return None
    finally:
        image.close()


def _take_reading(page: PageResult, reading: OcrPage, languages: str, budget: CharBudget, tally: _Tally) -> None:
    """Add a page's fresh reading as an ``ocr`` block, or keep the earlier OCR's layer when that reads better."""
    if not reading.text.strip() and page.earlier_ocr is None:
        return
    block = Block(kind="ocr", text=reading.text, page=page.number, meta=reading.provenance(languages))
    if page.earlier_ocr is not None and not _reads_better(reading.text, page.earlier_ocr):
        # The fresh reading is no better than the earlier one: keep what the PDF carries.
        _keep_poor_layer(page)
        return
    if reading.low_confidence:
        tally.low_confidence.append(page.number)
    if page.earlier_ocr is not None:
        block.meta.update(page.earlier_ocr.provenance("replaced"))
        # Paragraphs and tables came from the poor layer; filled-in form fields did not.
        page.blocks = [b for b in page.blocks if b.meta.get("detected") == "form_fields"]
    budget.add(block.text)
    page.blocks.append(block)


def _reads_better(text: str, earlier: text_layer.LayerVerdict) -> bool:
    """Does a fresh OCR reading beat the earlier OCR's text layer by the same word-like measure?"""
    if not text.strip():
        return False
    share, _tokens = text_layer.wordlike_share(text)
    return share > earlier.share


def _keep_poor_layer(page: PageResult) -> None:
    """The page keeps the poor text layer an earlier OCR left; its blocks record that."""
    if page.earlier_ocr is None:
        return
    for block in page.blocks:
        block.meta.update(page.earlier_ocr.provenance("kept_poor"))


def _poor_layers_kept(pages: list[PageResult], reason: str) -> list[str]:
    """Keep the poor earlier-OCR layers of pages that cannot be read again, and say so."""
    poor = [page for page in pages if page.earlier_ocr is not None]
    for page in poor:
        _keep_poor_layer(page)
    if not poor:
        return []
    return [
        f"The text layer an earlier OCR left on {describe_pages([p.number for p in poor])} reads poorly and "
        f"{reason}: it was kept as it is."
    ]


def _render_for_ocr(pdf: PdfDocument, index: int) -> Image.Image:
    page = pdf.get_page(index)
    try:
        width, height = page.get_size()
        scale = OCR_DPI / 72.0
        pixels = width * scale * height * scale
        if pixels > OCR_MAX_PIXELS:
            scale *= math.sqrt(OCR_MAX_PIXELS / pixels)
        bitmap = page.render(scale=scale, grayscale=True)
        try:
            image: Image.Image = bitmap.to_pil().copy()
        finally:
            bitmap.close()
        image.info["ocr_dpi"] = round(scale * 72)
        return image
    finally:
        page.close()

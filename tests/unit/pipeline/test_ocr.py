"""OCR: pages fed to Tesseract the way it reads best, on small images the tests draw themselves.

A letter-size page of four lines is drawn with Pillow's built-in font at a given resolution, then turned,
skewed or given a vertical margin stamp. Each variant must come back with every word of the page.
"""

from __future__ import annotations

import re

import pytest
from PIL import Image, ImageDraw, ImageFont

from data_extract.pipeline import ocr

needs_tesseract = pytest.mark.skipif(
    not ocr.tesseract_available(), reason="Tesseract is not installed (apt-get install tesseract-ocr)"
)
needs_osd = pytest.mark.skipif(
    "osd" not in ocr.installed_languages(),
    reason="Tesseract's orientation data is not installed (apt-get install tesseract-ocr-osd)",
)

LINES = [
    "The quarterly audit found seven control gaps",
    "in the treasury payment approval process.",
    "Management agreed to close every gap by March",
    "and to report progress to the audit committee.",
]
MARGIN_STAMP = "arXiv:2104.01234v3 [cs.IR] 9 Mar 2021"


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _missing_words(text: str) -> set[str]:
    return set(_words(" ".join(LINES))) - set(_words(text))


def _collapsed(text: str) -> str:
    return " ".join(text.split()).lower()


def draw_page(dpi: int, *, lines: list[str] = LINES, size_pt: float = 12.0) -> Image.Image:
    """A letter-size page with ``lines`` of ``size_pt`` text an inch from the top left, at ``dpi``."""
    page = Image.new("L", (round(8.5 * dpi), round(11 * dpi)), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=max(1, round(size_pt * dpi / 72)))
    y = round(1.2 * dpi)
    for line in lines:
        draw.text((dpi, y), line, fill=0, font=font)
        y += round(size_pt * 1.6 * dpi / 72)
    return page


def _skewed(page: Image.Image, degrees: float) -> Image.Image:
    return page.rotate(degrees, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC)


# --- resolution ---------------------------------------------------------------------


@needs_tesseract
@needs_osd
def test_given_a_page_image_at_72_dpi_when_recognised_then_it_is_enlarged_first_and_every_word_is_read():
    reading = ocr.recognise_page(draw_page(72), "eng", 60)

    assert reading.scale > 2.0
    assert _missing_words(reading.text) == set()
    assert not reading.low_confidence


@needs_tesseract
@needs_osd
def test_given_a_page_with_large_text_when_recognised_then_it_is_not_enlarged():
    reading = ocr.recognise_page(draw_page(150, size_pt=20), "eng", 60)

    assert reading.scale == 1.0
    assert _missing_words(reading.text) == set()


# --- orientation ----------------------------------------------------------------------


@needs_tesseract
@needs_osd
@pytest.mark.parametrize("turned", [90, 180, 270])
def test_given_a_page_turned_a_quarter_half_or_three_quarters_when_recognised_then_it_is_turned_back_and_read(turned):
    page = draw_page(150).rotate(turned, expand=True)

    reading = ocr.recognise_page(page, "eng", 60)

    assert reading.rotation == turned  # PIL turns counter-clockwise; the reading turns it back clockwise
    assert _missing_words(reading.text) == set()
    assert _collapsed(reading.text) == _collapsed(" ".join(LINES))  # lines in reading order, not reversed
    assert reading.provenance("eng")["ocr_rotation"] == turned


@needs_tesseract
@needs_osd
def test_given_a_vertical_stamp_in_the_margin_when_recognised_then_it_is_read_whole_as_its_own_paragraph():
    page = draw_page(150)
    font = ImageFont.load_default(size=round(14 * 150 / 72))
    stamp = Image.new("L", (900, 60), 255)
    ImageDraw.Draw(stamp).text((5, 5), MARGIN_STAMP, fill=0, font=font)
    page.paste(stamp.rotate(90, expand=True), (45, 450))  # reads bottom to top, as arXiv stamps do

    reading = ocr.recognise_page(page, "eng", 60)

    assert MARGIN_STAMP.lower() in [_collapsed(p) for p in reading.text.split("\n\n")]
    assert reading.vertical_lines == 1
    assert _missing_words(reading.text) == set()


# --- skew -------------------------------------------------------------------------------


@needs_tesseract
@pytest.mark.parametrize("degrees", [5.0, -5.0])
def test_given_a_page_skewed_5_degrees_when_recognised_then_it_is_straightened_and_read(degrees):
    reading = ocr.recognise_page(_skewed(draw_page(150), degrees), "eng", 60)

    assert reading.skew == pytest.approx(-degrees, abs=0.5)
    assert _missing_words(reading.text) == set()


def test_given_a_straight_page_when_measuring_skew_then_there_is_none():
    assert ocr._estimate_skew(draw_page(100)) == 0.0


def test_given_a_blank_page_when_measuring_skew_then_there_is_none():
    assert ocr._estimate_skew(Image.new("L", (850, 1100), 255)) == 0.0


def test_given_a_page_skewed_7_degrees_when_measuring_skew_then_the_angle_is_found():
    assert ocr._estimate_skew(_skewed(draw_page(100), 7.0)) == pytest.approx(-7.0, abs=0.5)


# --- segmentation, confidence, budget ----------------------------------------------------


@needs_tesseract
def test_given_a_page_when_recognised_then_its_provenance_names_the_segmentation_and_a_confidence():
    reading = ocr.recognise_page(draw_page(150), "eng", 60)

    meta = reading.provenance("eng")
    assert meta["ocr_psm"] in (3, 11)
    assert 0.8 < meta["ocr_confidence"] <= 1.0
    assert meta["ocr_words"] >= 25  # the page's 29 words, give or take a split or a merge
    assert "ocr_low_confidence" not in meta


def test_given_a_reading_below_the_confidence_floor_then_it_is_flagged_and_the_warning_names_its_page():
    page = ocr.OcrPage(text="smudged words", confidence=0.41, word_count=2)

    assert page.low_confidence
    assert page.provenance("eng")["ocr_low_confidence"] is True
    warning = ocr.low_confidence_warning([2, 5])
    assert "pages 2, 5" in warning and "low confidence" in warning


def test_given_a_reading_without_words_then_it_is_not_flagged_as_low_confidence():
    assert not ocr.OcrPage(text="", confidence=0.0, word_count=0).low_confidence


@needs_tesseract
def test_given_a_budget_too_small_for_one_page_when_recognised_then_it_times_out():
    with pytest.raises(ocr.OcrTimeout):
        ocr.recognise_page(draw_page(300), "eng", 0.1)


def _reading_with_words_of_height(height: int, count: int = 12) -> ocr._Reading:
    words = [ocr._Word((1, 1, 1), 10 + 60 * i, 10, 4 * height, height, 95.0, "word") for i in range(count)]
    return ocr._Reading(words=words, psm=3)


@pytest.mark.parametrize(
    ("word_height", "size", "expected"),
    [
        (7, (612, 792), 3.0),  # a 72-dpi page image: 24/7 is more than the 3x ceiling
        (10, (612, 792), 2.4),
        (16, (2550, 3300), 1.0),  # text big enough already
        (35, (2550, 3300), 1.0),
        (8, (8000, 5000), 1.0),  # no room: the page is at the pixel limit
    ],
)
def test_given_the_height_of_the_words_read_when_sizing_then_only_small_text_is_enlarged(word_height, size, expected):
    assert ocr._upscale_factor(_reading_with_words_of_height(word_height), size) == pytest.approx(expected, rel=0.01)


def test_given_a_small_image_where_no_word_was_read_when_sizing_then_it_is_enlarged_by_its_size():
    assert ocr._upscale_factor(ocr._Reading(words=[], psm=3), (400, 300)) == 2.0
    assert ocr._upscale_factor(ocr._Reading(words=[], psm=3), (2000, 3000)) == 1.0


def test_given_a_web_address_read_with_a_gap_after_its_colon_when_assembled_then_the_gap_is_closed():
    words = [ocr._Word((1, 1, 1), 0, 0, 10, 10, 90.0, t) for t in ("see", "https:", "//example.org")]

    assert ocr._assemble(ocr._Reading(words=words, psm=3)) == "see https://example.org"


# --- what the extractors make of a reading ------------------------------------------------


def test_given_an_image_read_with_low_confidence_when_extracting_then_its_page_is_named_in_the_warnings(monkeypatch):
    import io

    from data_extract.pipeline.extract.image import extract_image
    from data_extract.pipeline.types import ExtractOptions

    # Tesseract's confidence cannot be dialled in; the reading it would give a smudged page is.
    monkeypatch.setattr(ocr, "tesseract_available", lambda: True)
    monkeypatch.setattr(ocr, "resolve_languages", lambda requested: ocr.OcrLanguages("eng"))
    monkeypatch.setattr(
        ocr,
        "recognise_page",
        lambda image, languages, timeout, dpi=None: ocr.OcrPage(
            text="snudged vvords", confidence=0.42, word_count=2, rotation=180
        ),
    )
    buffer = io.BytesIO()
    draw_page(30).save(buffer, format="PNG")

    document = extract_image(buffer.getvalue(), filename="smudged.png", options=ExtractOptions())

    assert document.metadata["low_confidence_pages"] == [1]
    assert any("page 1" in w and "low confidence" in w for w in document.warnings)
    meta = document.blocks[0].meta
    assert meta["ocr_low_confidence"] is True and meta["ocr_rotation"] == 180 and meta["ocr_confidence"] == 0.42

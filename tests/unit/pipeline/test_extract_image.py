"""Image extraction: OCR per page (TIFF frame), needs_ocr without Tesseract, guarded against bombs."""

from __future__ import annotations

import io
import re
import struct
import zlib

import pytest
from PIL import Image, ImageDraw, ImageFont

from data_extract.pipeline import ocr
from data_extract.pipeline.extract.image import extract_image
from data_extract.pipeline.types import Document, ErrorType, ExtractionError, ExtractOptions
from tests.unit.pipeline.pdf_builder import corpus_dir

needs_tesseract = pytest.mark.skipif(
    not ocr.tesseract_available(), reason="Tesseract is not installed (apt-get install tesseract-ocr)"
)


def _collapsed(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _drawing(lines: list[str], *, mode: str = "RGB", background: object = (255, 255, 255)) -> Image.Image:
    image = Image.new(mode, (1400, 120 + 90 * len(lines)), background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=54)
    ink = (0, 0, 0, 255) if mode == "RGBA" else (0, 0, 0) if mode == "RGB" else 0
    for i, line in enumerate(lines):
        draw.text((50, 50 + 90 * i), line, fill=ink, font=font)
    return image


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _extract(data: bytes, options: ExtractOptions | None = None, name: str = "image") -> Document:
    return extract_image(data, filename=name, options=options or ExtractOptions())


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares its size but holds almost no pixel data (a decompression bomb's shape)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")
    )


# --- without OCR ---------------------------------------------------------------


def test_given_an_image_and_ocr_disabled_when_extracting_then_it_needs_ocr():
    with pytest.raises(ExtractionError) as caught:
        _extract(_encode(_drawing(["Hello"]), "PNG"), ExtractOptions(ocr=False))

    assert caught.value.error_type is ErrorType.NEEDS_OCR
    assert "disabled" in caught.value.message


def test_given_an_image_and_no_tesseract_when_extracting_then_it_needs_ocr(monkeypatch):
    monkeypatch.setattr(ocr, "tesseract_available", lambda: False)

    with pytest.raises(ExtractionError) as caught:
        _extract(_encode(_drawing(["Hello"]), "PNG"))

    assert caught.value.error_type is ErrorType.NEEDS_OCR
    assert "Tesseract" in caught.value.message


# --- guards ------------------------------------------------------------------------


@pytest.mark.parametrize("side", [10_000, 20_000])
def test_given_an_image_declaring_too_many_pixels_when_extracting_then_too_large_before_decoding(side):
    with pytest.raises(ExtractionError) as caught:
        _extract(_png_header_only(side, side))

    assert caught.value.error_type is ErrorType.TOO_LARGE
    assert "megapixel" in caught.value.message


def test_given_bytes_that_are_no_image_when_extracting_then_corrupt():
    with pytest.raises(ExtractionError) as caught:
        _extract(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 10)

    assert caught.value.error_type is ErrorType.CORRUPT


def test_given_a_tiff_with_more_pages_than_allowed_when_extracting_then_too_many_pages():
    frames = [_drawing([f"Page {n}"], mode="L", background=255) for n in range(3)]
    data = _encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])

    with pytest.raises(ExtractionError) as caught:
        _extract(data, ExtractOptions(max_pages=2))

    assert caught.value.error_type is ErrorType.TOO_MANY_PAGES
    assert "3 pages" in caught.value.message


# --- with OCR --------------------------------------------------------------------------


@needs_tesseract
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF"])
def test_given_an_image_of_text_when_extracting_then_the_text_is_recognised(fmt):
    data = _encode(_drawing(["Quarterly revenue grew", "by twelve percent"]), fmt)

    document = _extract(data)

    assert document.format == {"PNG": "png", "JPEG": "jpeg", "BMP": "bmp", "GIF": "gif"}[fmt]
    assert [b.kind for b in document.blocks] == ["ocr"]
    assert document.blocks[0].page == 1
    assert "quarterly revenue grew by twelve percent" in _collapsed(document.text)
    assert 0.5 < document.blocks[0].meta["ocr_confidence"] <= 1.0
    assert document.metadata["ocr_pages"] == [1]


@needs_tesseract
def test_given_a_multi_page_tiff_when_extracting_then_each_frame_is_its_page():
    frames = [
        _drawing(["First page invoice"], mode="L", background=255),
        _drawing(["Second page receipt"], mode="L", background=255),
    ]
    data = _encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])

    document = _extract(data)

    assert [(b.page, _collapsed(b.text)) for b in document.blocks] == [
        (1, "first page invoice"),
        (2, "second page receipt"),
    ]
    assert document.metadata["page_count"] == 2


@needs_tesseract
def test_given_dark_text_on_a_transparent_background_when_extracting_then_it_is_read_as_on_paper():
    data = _encode(_drawing(["Transparent label text"], mode="RGBA", background=(0, 0, 0, 0)), "PNG")

    document = _extract(data)

    assert "transparent label text" in _collapsed(document.text)


@needs_tesseract
def test_given_a_small_screenshot_when_extracting_then_it_is_enlarged_enough_to_read():
    image = Image.new("L", (420, 60), 255)
    ImageDraw.Draw(image).text((10, 15), "Order 5521 shipped", fill=0, font=ImageFont.load_default(size=26))

    document = _extract(_encode(image, "PNG"))

    assert "order 5521 shipped" in _collapsed(document.text)


@needs_tesseract
def test_given_an_image_without_text_when_extracting_then_empty():
    image = Image.new("RGB", (600, 400), (30, 120, 200))

    with pytest.raises(ExtractionError) as caught:
        _extract(_encode(image, "PNG"))

    assert caught.value.error_type is ErrorType.EMPTY


@needs_tesseract
def test_given_more_recognised_text_than_allowed_when_extracting_then_too_much_text():
    data = _encode(_drawing(["A line of recognised text", "and another one"]), "PNG")

    with pytest.raises(ExtractionError) as caught:
        _extract(data, ExtractOptions(max_chars=10))

    assert caught.value.error_type is ErrorType.TOO_MUCH_TEXT


# --- the shared corpus ------------------------------------------------------------------

CORPUS = corpus_dir()
corpus = pytest.mark.skipif(CORPUS is None, reason="document corpus not found at ../shared/corpus")
_IMAGES = [
    "images/bmp_24.bmp",
    "images/english-and-korean.png",
    "images/layout-parser-paper-combined.tiff",
    "images/layout-parser-paper-fast.jpg",
    "images/layout-parser-paper-fast.tiff",
    "images/layout-parser-paper-with-table.jpg",
    "images/page-23-Im2.png",
    "images/table-multi-row-column-cells.png",
]


def _corpus_image(path: str, options: ExtractOptions | None = None) -> Document:
    return _extract((CORPUS / path).read_bytes(), options, name=path.rsplit("/", 1)[-1])


@pytest.mark.corpus
@corpus
@pytest.mark.parametrize("path", _IMAGES)
def test_given_a_corpus_image_without_ocr_when_extracting_then_it_needs_ocr(path):
    with pytest.raises(ExtractionError) as caught:
        _corpus_image(path, ExtractOptions(ocr=False))

    assert caught.value.error_type is ErrorType.NEEDS_OCR


_CORPUS_PHRASES = {
    "images/english-and-korean.png": "rules and instructions",
    "images/layout-parser-paper-fast.jpg": "layoutparser: a unified toolkit for deep",
    "images/layout-parser-paper-fast.tiff": "document image analysis",
    "images/layout-parser-paper-with-table.jpg": "current layout detection models",
    "images/table-multi-row-column-cells.png": "dexterity 5 4 1 98.3%",
}


@pytest.mark.corpus
@corpus
@needs_tesseract
@pytest.mark.parametrize("path", sorted(_CORPUS_PHRASES))
def test_given_a_corpus_image_of_text_when_extracting_then_its_words_are_recognised(path):
    document = _corpus_image(path)

    assert _CORPUS_PHRASES[path] in _collapsed(document.text)


@pytest.mark.corpus
@corpus
@needs_tesseract
def test_given_the_combined_tiff_when_extracting_then_both_pages_are_read_in_order():
    document = _corpus_image("images/layout-parser-paper-combined.tiff")

    assert [b.page for b in document.blocks] == [1, 2]
    assert "layoutparser" in _collapsed(document.blocks[0].text)


@pytest.mark.corpus
@corpus
@needs_tesseract
@pytest.mark.parametrize("path", ["images/bmp_24.bmp", "images/page-23-Im2.png"])
def test_given_a_corpus_picture_without_words_when_extracting_then_empty(path):
    with pytest.raises(ExtractionError) as caught:
        _corpus_image(path)

    assert caught.value.error_type is ErrorType.EMPTY

"""PDFs that carry an earlier OCR's text layer: a good one is kept, a poor one is read again; HEIC is refused."""

from __future__ import annotations

import ctypes
import io

import pypdfium2 as pdfium
import pypdfium2.raw as raw
import pytest

from data_extract.pipeline import ocr, text_layer
from data_extract.pipeline.chunk import chunk_document
from data_extract.pipeline.detect import detect_format
from data_extract.pipeline.extract.pdf import extract_pdf
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions
from tests.unit.pipeline.pdf_builder import Page, Picture, build_pdf
from tests.unit.pipeline.test_ocr import LINES, draw_page

needs_tesseract = pytest.mark.skipif(
    not ocr.tesseract_available(), reason="Tesseract is not installed (apt-get install tesseract-ocr)"
)

GARBLED = [
    "Tlie qu4rterly aud1t f0und sevcn c0ntr0l gaqs",
    "|n tlie treasnry paymcnt appr0val pr0ccss.",
    "Managcmcnt agrccd t0 cl0sc cvcry gaq hy Marcli",
    "aud t0 rcp0rt pr0grcss t0 tlie aud1t c0mm1ttcc.",
]


def _collapsed(text: str) -> str:
    return " ".join(text.split()).lower()


def _searchable_scan(layer: list[str]) -> bytes:
    """A one-page scan (an image of the page) with ``layer`` written over it in invisible ink, as OCR tools do."""
    data = build_pdf([Page(items=[Picture(0, 0, 612, 792, draw_page(150).convert("RGB"))])])
    pdf = pdfium.PdfDocument(data)
    try:
        page = pdf[0]
        for i, line in enumerate(layer):
            obj = raw.FPDFPageObj_NewTextObj(pdf.raw, b"Helvetica", ctypes.c_float(12.0))
            encoded = (line + "\x00").encode("utf-16-le")
            buffer = ctypes.create_string_buffer(encoded, len(encoded))
            raw.FPDFText_SetText(obj, ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ushort)))
            raw.FPDFTextObj_SetTextRenderMode(obj, raw.FPDF_TEXTRENDERMODE_INVISIBLE)
            raw.FPDFPageObj_Transform(obj, 1, 0, 0, 1, 72, 792 - 86 - i * 19)
            raw.FPDFPage_InsertObject(page.raw, obj)
        page.gen_content()
        page.close()
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()
    finally:
        pdf.close()


# --- judging a layer ----------------------------------------------------------------------------


def test_given_running_text_when_judged_then_it_is_word_like_and_kept():
    verdict = text_layer.judge(" ".join(LINES))

    assert verdict.share == 1.0 and not verdict.poor


def test_given_running_text_in_german_when_judged_then_it_is_kept_without_a_dictionary():
    verdict = text_layer.judge(
        "Hinweis: Die Weingarten-Abbildung wird auch Formoperator genannt. Eulerzahl (oder "
        "Euler-Charakteristik) von K ist die Summe der Zahlen."
    )

    assert not verdict.poor


def test_given_garbled_ocr_text_when_judged_then_it_is_poor():
    verdict = text_layer.judge(" ".join(GARBLED))

    assert verdict.poor and verdict.share < 0.5


def test_given_a_few_words_when_judged_then_nothing_is_concluded():
    assert not text_layer.judge("x7#k Zp0w").poor


def test_given_numbers_when_judged_then_they_count_neither_way():
    assert text_layer.wordlike_share("Total 1,234.50 due 2024-03-01 at 15% interest")[0] == 1.0


# --- the PDF extractor ----------------------------------------------------------------------------


@needs_tesseract
def test_given_a_pdf_with_a_garbled_ocr_text_layer_when_extracting_then_the_page_is_read_again_and_says_so():
    document = extract_pdf(_searchable_scan(GARBLED), filename="letter.pdf", options=ExtractOptions(ocr=True))

    assert [b.kind for b in document.blocks] == ["ocr"]
    block = document.blocks[0]
    assert "the quarterly audit found seven control gaps" in _collapsed(block.text)
    assert "tlie" not in _collapsed(block.text)
    assert block.meta["text_layer"] == "replaced"
    assert block.meta["text_layer_score"] < 0.5
    assert document.metadata["ocr_pages"] == [1]
    assert document.metadata["needs_ocr_pages"] == []
    chunks = chunk_document(document, source_key="k", chunk_size=512, overlap=0)
    (source,) = chunks[0].metadata["page_sources"]
    assert source["page"] == 1 and source["text_source"] == "ocr" and source["text_layer"] == "replaced"


def test_given_a_pdf_with_a_good_ocr_text_layer_when_extracting_then_the_layer_is_kept_and_says_so():
    document = extract_pdf(_searchable_scan(LINES), filename="letter.pdf", options=ExtractOptions(ocr=True))

    assert [b.kind for b in document.blocks] == ["paragraph"]
    assert "treasury payment approval" in _collapsed(document.blocks[0].text)
    assert document.blocks[0].meta["text_layer"] == "kept"
    assert document.metadata["ocr_pages"] == []
    chunks = chunk_document(document, source_key="k", chunk_size=512, overlap=0)
    assert chunks[0].metadata["page_sources"] == [
        {"page": 1, "text_source": "text_layer", "text_layer": "kept", "text_layer_score": 1.0}
    ]


def test_given_a_pdf_with_a_garbled_ocr_text_layer_and_ocr_off_when_extracted_then_the_layer_is_kept_with_a_warning():
    document = extract_pdf(_searchable_scan(GARBLED), filename="letter.pdf", options=ExtractOptions(ocr=False))

    assert [b.kind for b in document.blocks] == ["paragraph"]
    assert document.blocks[0].meta["text_layer"] == "kept_poor"
    assert document.metadata["needs_ocr_pages"] == []
    assert any("earlier OCR" in w and "OCR is disabled" in w for w in document.warnings)


def test_given_visible_text_over_a_picture_when_extracting_then_no_earlier_ocr_is_assumed():
    from tests.unit.pipeline.pdf_builder import text_grid

    picture = Picture(0, 0, 612, 792, draw_page(50).convert("RGB"))
    data = build_pdf([Page(items=[picture, *text_grid(72, 700, GARBLED)])])

    document = extract_pdf(data, filename="poster.pdf", options=ExtractOptions(ocr=False))

    assert "text_layer" not in document.blocks[0].meta


# --- HEIC ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("brand", [b"heic", b"heix", b"mif1"])
def test_given_a_heic_photo_when_detecting_then_it_is_unsupported_with_a_message_naming_jpeg_and_png(brand):
    data = b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x00\x00mif1heic" + b"\x00" * 64

    with pytest.raises(ExtractionError) as caught:
        detect_format(data, "IMG_0042.HEIC")

    assert caught.value.error_type is ErrorType.UNSUPPORTED_FORMAT
    assert "HEIC" in caught.value.message and "JPEG" in caught.value.message and "PNG" in caught.value.message

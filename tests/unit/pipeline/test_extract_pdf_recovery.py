"""PDFs whose structure pdfium refuses are read by a tolerant parser when it can; otherwise they are corrupt."""

from __future__ import annotations

import pytest

from data_extract.pipeline.extract.pdf import extract_pdf
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions


def _pdf_with_broken_page_tree(text: str) -> bytes:
    """A one-page PDF whose catalog points its page tree at an object that does not exist."""
    stream = b"BT /F1 12 Tf 72 720 Td (" + text.encode("latin-1") + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 9 0 R >>",
        b"<< /Type /Page /MediaBox [0 0 612 792] /Contents 3 0 R /Resources << /Font << /F1 4 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def test_given_a_broken_page_tree_when_extracted_then_the_text_is_recovered_with_its_page():
    doc = extract_pdf(
        _pdf_with_broken_page_tree("Recovered sentence from a broken file."),
        filename="b.pdf",
        options=ExtractOptions(ocr=False),
    )
    assert "Recovered sentence from a broken file." in doc.text
    assert doc.blocks[0].page == 1
    assert doc.metadata["recovered_by"] == "pdfminer"
    assert any("damaged" in w for w in doc.warnings)


def test_given_bytes_no_parser_can_read_when_extracted_then_corrupt():
    with pytest.raises(ExtractionError) as caught:
        extract_pdf(b"%PDF-1.4\n" + b"\x00 not a pdf body " * 50, filename="x.pdf", options=ExtractOptions(ocr=False))
    assert caught.value.error_type is ErrorType.CORRUPT


def test_given_recovered_text_over_the_character_limit_when_extracted_then_too_much_text():
    with pytest.raises(ExtractionError) as caught:
        extract_pdf(
            _pdf_with_broken_page_tree("x" * 200), filename="b.pdf", options=ExtractOptions(ocr=False, max_chars=50)
        )
    assert caught.value.error_type is ErrorType.TOO_MUCH_TEXT

"""EPUB extractor: spine order, table-of-contents titles, DRM."""

from __future__ import annotations

import io
import zipfile

import pytest

from data_extract.pipeline.extract.epub import extract_epub
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions

CONTAINER = (
    '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" version="1.0"><rootfiles>'
    '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>'
)


def xhtml(body: str) -> str:
    return f'<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>t</title></head><body>{body}</body></html>'


def build_epub(*, encryption: str | None = None, broken_second: bool = False) -> bytes:
    opf = (
        '<package xmlns="http://www.idpf.org/2007/opf" version="2.0"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        "<dc:title>Field Guide</dc:title><dc:creator>A. Author</dc:creator></metadata><manifest>"
        '<item id="c1" href="text/one.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="c2" href="text/two.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="notes" href="text/notes.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>'
        '<item id="css" href="style.css" media-type="text/css"/>'
        '</manifest><spine toc="ncx"><itemref idref="notes" linear="no"/><itemref idref="c2"/><itemref idref="c1"/>'
        "</spine></package>"
    )
    ncx = (
        '<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/"><navMap>'
        '<navPoint id="a"><navLabel><text>Chapter Two: Rivers</text></navLabel>'
        '<content src="text/two.xhtml#start"/></navPoint>'
        '<navPoint id="b"><navLabel><text>Mountains</text></navLabel><content src="text/one.xhtml"/></navPoint>'
        "</navMap></ncx>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/container.xml", CONTAINER)
        if encryption is not None:
            zf.writestr("META-INF/encryption.xml", encryption)
        zf.writestr("OEBPS/content.opf", opf)
        zf.writestr("OEBPS/toc.ncx", ncx)
        zf.writestr("OEBPS/text/one.xhtml", xhtml("<h1>Mountains</h1><p>Peaks and valleys.</p>"))
        two = (
            "<p>Rivers run<br/>to the sea.</p><p>Unclosed <b>bold"
            if broken_second
            else "<p>Rivers run<br/>to the sea.</p>"
        )
        zf.writestr("OEBPS/text/two.xhtml", xhtml(two))
        zf.writestr("OEBPS/text/notes.xhtml", xhtml("<p>Endnotes appendix.</p>"))
        zf.writestr("OEBPS/style.css", "p { margin: 0 }")
    return buffer.getvalue()


def test_given_epub_when_extracted_then_spine_order_with_toc_titles_as_headings():
    document = extract_epub(build_epub(), filename="b.epub", options=ExtractOptions())

    assert [(b.kind, b.text) for b in document.blocks] == [
        ("heading", "Chapter Two: Rivers"),
        ("paragraph", "Rivers run\nto the sea."),
        ("heading", "Mountains"),
        ("paragraph", "Peaks and valleys."),
        ("paragraph", "Endnotes appendix."),
    ]
    assert document.blocks[1].section == "Chapter Two: Rivers"
    assert document.blocks[3].meta["chapter_file"] == "OEBPS/text/one.xhtml"
    assert document.metadata["title"] == "Field Guide"
    assert document.metadata["chapter_count"] == 3


def test_given_malformed_xhtml_chapter_when_extracted_then_it_is_read_leniently():
    document = extract_epub(build_epub(broken_second=True), filename="b.epub", options=ExtractOptions())
    assert "Unclosed bold" in document.text


def test_given_font_obfuscation_only_when_extracted_then_it_is_not_drm():
    encryption = (
        '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">'
        '<enc:EncryptedData><enc:EncryptionMethod Algorithm="http://www.idpf.org/2008/embedding"/></enc:EncryptedData>'
        "</encryption>"
    )
    assert extract_epub(build_epub(encryption=encryption), filename="b.epub", options=ExtractOptions()).blocks


def test_given_drm_encrypted_content_when_extracted_then_encrypted():
    encryption = (
        '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">'
        '<enc:EncryptedData><enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/></enc:EncryptedData>'
        "</encryption>"
    )
    with pytest.raises(ExtractionError) as caught:
        extract_epub(build_epub(encryption=encryption), filename="b.epub", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.ENCRYPTED


def test_given_zip_without_container_when_extracted_then_corrupt():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
    with pytest.raises(ExtractionError) as caught:
        extract_epub(buffer.getvalue(), filename="b.epub", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.CORRUPT
    assert "META-INF/container.xml" in caught.value.message

"""OpenDocument extractor: ODT and ODP packages written in the test."""

from __future__ import annotations

import io
import zipfile

import pytest

from data_extract.pipeline.extract.opendocument import extract_opendocument
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions, Table

NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" '
    'xmlns:form="urn:oasis:names:tc:opendocument:xmlns:form:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"'
)


def build_odf(body: str, *, mimetype: str = "application/vnd.oasis.opendocument.text", styles: str = "",
              encrypted: bool = False) -> bytes:  # fmt: skip
    manifest = (
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{mimetype}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
        + ('<manifest:encryption-data manifest:checksum-type="SHA1"/>' if encrypted else "")
        + "</manifest:file-entry></manifest:manifest>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        zf.writestr(
            "content.xml",
            f"<office:document-content {NS}><office:body>{body}</office:body></office:document-content>",
        )
        zf.writestr("META-INF/manifest.xml", manifest)
        if styles:
            zf.writestr(
                "styles.xml",
                f"<office:document-styles {NS}><office:master-styles>{styles}</office:master-styles>"
                "</office:document-styles>",
            )
    return buffer.getvalue()


TEXT_BODY = (
    "<office:text>"
    "<text:tracked-changes><text:changed-region><text:deletion><text:p>deleted words</text:p></text:deletion>"
    "</text:changed-region></text:tracked-changes>"
    '<text:h text:outline-level="1">Overview</text:h>'
    '<text:p>Intro<text:s text:c="2"/>text<text:tab/>tabbed<text:note text:note-class="footnote">'
    "<text:note-citation>1</text:note-citation><text:note-body><text:p>A footnote</text:p></text:note-body>"
    "</text:note> done.</text:p>"
    "<text:list><text:list-item><text:p>Point one</text:p><text:list><text:list-item><text:p>Sub point</text:p>"
    "</text:list-item></text:list></text:list-item></text:list>"
    '<text:h text:outline-level="2">Numbers</text:h>'
    "<table:table><table:table-header-rows><table:table-row><table:table-cell><text:p>Key</text:p></table:table-cell>"
    "<table:table-cell><text:p>Val</text:p></table:table-cell></table:table-row></table:table-header-rows>"
    '<table:table-row><table:table-cell table:number-columns-repeated="2"><text:p>same</text:p></table:table-cell>'
    '<table:table-cell table:number-columns-repeated="500"/></table:table-row>'
    '<table:table-row table:number-rows-repeated="100000"><table:table-cell/></table:table-row></table:table>'
    "<text:soft-page-break/>"
    "<text:p>Page two <draw:frame><draw:text-box><text:p>Framed words</text:p></draw:text-box></draw:frame>"
    "<office:annotation><dc:creator>Eve</dc:creator><text:p>Check this</text:p></office:annotation></text:p>"
    "</office:text>"
)
MASTER = (
    '<style:master-page style:name="Standard"><style:header><text:p>Letterhead</text:p></style:header>'
    "<style:footer><text:p>Page <text:page-number>1</text:page-number></text:p></style:footer>"
    "<style:header-left><text:p>Letterhead</text:p></style:header-left></style:master-page>"
)


def test_given_odt_when_extracted_then_structure_and_order_are_kept():
    document = extract_opendocument(build_odf(TEXT_BODY, styles=MASTER), filename="d.odt", options=ExtractOptions())

    assert [(b.kind, b.text) for b in document.blocks] == [
        ("header", "Letterhead"),
        ("heading", "Overview"),
        ("paragraph", "Intro text tabbed done."),
        ("footnote", "A footnote"),
        ("list_item", "Point one"),
        ("list_item", "Sub point"),
        ("heading", "Numbers"),
        ("table", Table([["Key", "Val"], ["same", "same"]]).to_text()),
        ("paragraph", "Page two"),
        ("textbox", "Framed words"),
        ("comment", "Check this"),
        ("footer", "Page"),
    ]
    assert "deleted words" not in document.text
    levels = [(b.text, b.level) for b in document.blocks if b.kind in ("heading", "list_item")]
    assert levels == [("Overview", 1), ("Point one", 1), ("Sub point", 2), ("Numbers", 2)]
    assert next(b for b in document.blocks if b.kind == "table").section == "Overview > Numbers"
    assert {b.text: b.page for b in document.blocks}["Page two"] == 2
    assert document.blocks[10].meta["author"] == "Eve"


def test_given_form_controls_when_extracted_then_labels_and_values_are_listed():
    body = (
        '<office:text><office:forms><form:form form:name="F">'
        '<form:text form:name="First Name" form:current-value="Alice"/>'
        '<form:checkbox form:name="agree" form:label="I agree" form:current-state="checked"/>'
        "</form:form></office:forms><text:p>Form below</text:p></office:text>"
    )
    document = extract_opendocument(build_odf(body), filename="f.odt", options=ExtractOptions())
    assert document.blocks[0].text == "First Name: Alice\nI agree: checked"


def test_given_odp_when_extracted_then_slides_titles_and_notes_are_read():
    body = (
        "<office:presentation>"
        '<draw:page draw:name="p1"><draw:frame presentation:class="subtitle"><draw:text-box>'
        "<text:p>Body words</text:p></draw:text-box></draw:frame>"
        '<draw:frame presentation:class="title"><draw:text-box><text:p>Slide One</text:p></draw:text-box>'
        '</draw:frame><presentation:notes><draw:frame presentation:class="notes"><draw:text-box>'
        "<text:p>Speaker says hi</text:p></draw:text-box></draw:frame></presentation:notes></draw:page>"
        '<draw:page draw:name="p2"><draw:g><draw:custom-shape><text:p>Grouped shape</text:p></draw:custom-shape>'
        "</draw:g></draw:page></office:presentation>"
    )
    data = build_odf(body, mimetype="application/vnd.oasis.opendocument.presentation")
    document = extract_opendocument(data, filename="s.odp", options=ExtractOptions())

    assert document.format == "odp"
    assert [(b.slide, b.kind, b.text) for b in document.blocks] == [
        (1, "heading", "Slide One"),
        (1, "paragraph", "Body words"),
        (1, "note", "Speaker says hi"),
        (2, "paragraph", "Grouped shape"),
    ]
    assert document.metadata["slide_count"] == 2


def test_given_encrypted_package_when_extracted_then_encrypted():
    with pytest.raises(ExtractionError) as caught:
        extract_opendocument(build_odf("<office:text/>", encrypted=True), filename="e.odt", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.ENCRYPTED


def test_given_package_without_content_when_extracted_then_corrupt_naming_the_part():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.text")
    with pytest.raises(ExtractionError) as caught:
        extract_opendocument(buffer.getvalue(), filename="x.odt", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.CORRUPT
    assert "content.xml" in caught.value.message

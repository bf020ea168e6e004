"""Safe ZIP package opening (zip bombs, corrupt containers, encrypted OLE packages) and secure XML parsing."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from data_extract.pipeline.extract import ooxml
from data_extract.pipeline.extract.ooxml import inspect_zip, open_package, parse_xml, resolve_target
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, payload in members.items():
            zf.writestr(name, payload)
    return buffer.getvalue()


def test_given_declared_size_over_the_limit_when_opened_then_zip_bomb():
    data = zip_bytes({"word/document.xml": b"<a/>" * 5000})
    with pytest.raises(ExtractionError) as caught:
        open_package(data, ExtractOptions(max_unzipped_bytes=10_000), "DOCX")
    assert caught.value.error_type == ErrorType.ZIP_BOMB


def test_given_extreme_compression_ratio_when_inspected_then_zip_bomb():
    data = zip_bytes({"xl/worksheets/sheet1.xml": b"\x00" * (ooxml.RATIO_FLOOR_BYTES + 1024)})
    with pytest.raises(ExtractionError) as caught:
        inspect_zip(data, ExtractOptions(), "XLSX")
    assert caught.value.error_type == ErrorType.ZIP_BOMB
    assert caught.value.details["ratio"] > 200


def test_given_small_but_highly_compressible_package_when_opened_then_it_is_accepted():
    data = zip_bytes({"word/document.xml": b"<w:p/>" * 100_000})
    with open_package(data, ExtractOptions(), "DOCX") as package:
        assert package.read("word/document.xml").startswith(b"<w:p/>")


def test_given_too_many_entries_when_opened_then_zip_bomb(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ooxml, "MAX_ENTRIES", 5)
    data = zip_bytes({f"part{i}.xml": b"<a/>" for i in range(6)})
    with pytest.raises(ExtractionError) as caught:
        open_package(data, ExtractOptions(), "DOCX")
    assert caught.value.error_type == ErrorType.ZIP_BOMB


def test_given_member_whose_header_understates_its_size_when_read_then_it_is_never_inflated_past_the_claim():
    payload = b"A" * 200_000
    data = bytearray(zip_bytes({"big.xml": payload}))
    # Rewrite the declared uncompressed size (local header and central directory) to 1,000 bytes.
    local = data.find(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, 1000)
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 1000)
    with open_package(bytes(data), ExtractOptions(), "DOCX") as package, pytest.raises(ExtractionError) as caught:
        package.read("big.xml")
    assert caught.value.error_type in (ErrorType.ZIP_BOMB, ErrorType.CORRUPT)


def test_given_bytes_that_are_not_a_zip_when_opened_then_corrupt():
    with pytest.raises(ExtractionError) as caught:
        open_package(b"definitely not a zip", ExtractOptions(), "PPTX")
    assert caught.value.error_type == ErrorType.CORRUPT


def test_given_truncated_zip_when_opened_then_corrupt():
    data = zip_bytes({"a.xml": b"<a/>" * 100})
    with pytest.raises(ExtractionError) as caught:
        open_package(data[: len(data) // 2], ExtractOptions(), "DOCX")
    assert caught.value.error_type == ErrorType.CORRUPT


def test_given_missing_part_when_read_then_corrupt_naming_the_part():
    with (
        open_package(zip_bytes({"a.xml": b"<a/>"}), ExtractOptions(), "DOCX") as package,
        pytest.raises(ExtractionError) as caught,
    ):
        package.read("word/document.xml")
    assert caught.value.error_type == ErrorType.CORRUPT
    assert "'word/document.xml'" in caught.value.message


def test_given_part_names_with_other_case_when_looked_up_then_they_match():
    with open_package(zip_bytes({"Word/Document.XML": b"<a/>"}), ExtractOptions(), "DOCX") as package:
        assert package.has("word/document.xml")
        assert package.read("word/document.xml") == b"<a/>"


def test_given_relationships_when_read_then_targets_resolve_relative_to_the_source_part():
    rels = (
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="r1" Type="http://purl.oclc.org/ooxml/officeDocument/relationships/slide"'
        b' Target="slides/s1.xml"/>'
        b'<Relationship Id="r2" Type="x/hyperlink" Target="https://example.com" TargetMode="External"/>'
        b'<Relationship Id="r3" Type="y/image" Target="../media/a%20b.png"/></Relationships>'
    )
    data = zip_bytes({"ppt/presentation.xml": b"<p/>", "ppt/_rels/presentation.xml.rels": rels})
    with open_package(data, ExtractOptions(), "PPTX") as package:
        assert package.relationship_targets("ppt/presentation.xml") == {
            "r1": "ppt/slides/s1.xml",
            "r3": "media/a b.png",
        }
        assert [r.id for r in package.related("ppt/presentation.xml", "slide")] == ["r1"]
    assert resolve_target("word/document.xml", "/customXml/item1.xml") == "customXml/item1.xml"


def test_given_xml_with_external_entity_when_parsed_then_nothing_is_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xml = f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]><r>&x;</r>'.encode()
    root = parse_xml(xml, part="evil.xml")
    assert "TOP-SECRET" not in "".join(root.itertext())


def test_given_malformed_xml_when_parsed_then_corrupt_naming_the_part():
    with pytest.raises(ExtractionError) as caught:
        parse_xml(b"<a><b></a>", part="word/styles.xml")
    assert caught.value.error_type == ErrorType.CORRUPT
    assert "word/styles.xml" in caught.value.message


def test_given_ole_container_instead_of_zip_when_opened_then_not_treated_as_a_zip():
    with pytest.raises(ExtractionError) as caught:
        open_package(ooxml.OLE_MAGIC + b"\x00" * 600, ExtractOptions(), "DOCX")
    assert caught.value.error_type == ErrorType.CORRUPT
    assert "legacy binary Office" in caught.value.message

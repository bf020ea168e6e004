"""RTF extractor: paragraphs, tables, code pages."""

from __future__ import annotations

import pytest

from data_extract.pipeline.extract.rtf import extract_rtf
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions, Table

DOC = (
    rb"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Arial;}}"
    rb"{\pard\b Title line\par}"
    rb"{\pard Caf\'e9 au lait \u8364? price\par}"
    rb"{\trowd\cellx3000\cellx6000\pard\intbl Name\cell Value\cell\row"
    rb"\pard\intbl Alpha\cell 1\cell\row}"
    rb"{\pard After the table\par}}"
)


def test_given_rtf_when_extracted_then_paragraphs_and_table_in_order():
    document = extract_rtf(DOC, filename="d.rtf", options=ExtractOptions())

    assert [(b.kind, b.text) for b in document.blocks] == [
        ("paragraph", "Title line"),
        ("paragraph", "Café au lait € price"),
        ("table", Table([["Name", "Value"], ["Alpha", "1"]]).to_text()),
        ("paragraph", "After the table"),
    ]
    assert document.blocks[2].table.rows == [["Name", "Value"], ["Alpha", "1"]]


def test_given_cyrillic_code_page_when_extracted_then_hex_escapes_use_it():
    document = extract_rtf(
        rb"{\rtf1\ansi\ansicpg1251 {\pard \'cf\'f0\'e8\'e2\'e5\'f2\par}}", filename="r.rtf", options=ExtractOptions()
    )
    assert document.text == "Привет"
    assert document.metadata["code_page"] == "cp1251"


def test_given_file_without_rtf_header_when_extracted_then_corrupt():
    with pytest.raises(ExtractionError) as caught:
        extract_rtf(b"plain text", filename="x.rtf", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.CORRUPT


def test_given_rtf_without_text_when_extracted_then_no_blocks():
    assert (
        extract_rtf(rb"{\rtf1\ansi{\fonttbl{\f0 Arial;}}}", filename="e.rtf", options=ExtractOptions()).blocks == []
    )

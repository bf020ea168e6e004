"""HTML extractor: visible text, structure and order from pages written in the test."""

from __future__ import annotations

import pytest

from data_extract.pipeline.extract.html import decode_html, extract_html, html_to_text
from data_extract.pipeline.types import ExtractOptions, Table

PAGE = """<!DOCTYPE html>
<html><head><title>Quarterly report</title>
<style>body { color: red } .secret { display: none }</style>
<script>var tracking = "do not index me";</script>
</head>
<body>
<noscript>Enable JavaScript please</noscript>
<template><p>template text</p></template>
<h1>Annual
   Overview</h1>
<p>First paragraph with <b>bold</b> and <a href="#">a link</a>.<br>Second line.</p>
<div style="display: none">hidden by style</div>
<div hidden>hidden by attribute</div>
<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk" alt="logo">
<h2>Details</h2>
<ul><li>Item one<ul><li>Sub item</li></ul></li><li>Item two</li></ul>
<table>
  <caption>Figures</caption>
  <thead><tr><th>Year</th><th></th><th>Amount</th></tr></thead>
  <tbody><tr><td>2023</td><td></td><td>10</td></tr>
  <tr><td colspan="2">Total</td><td>10</td></tr></tbody>
</table>
<pre>line one
    indented line</pre>
<footer>Page footer text</footer>
</body></html>"""


def test_given_page_when_extracted_then_only_visible_text_in_document_order():
    document = extract_html(PAGE.encode(), filename="p.html", options=ExtractOptions())

    kinds_texts = [(b.kind, b.text) for b in document.blocks]
    assert kinds_texts == [
        ("heading", "Annual Overview"),
        ("paragraph", "First paragraph with bold and a link.\nSecond line."),
        ("heading", "Details"),
        ("list_item", "Item one"),
        ("list_item", "Sub item"),
        ("list_item", "Item two"),
        ("caption", "Figures"),
        ("table", Table([["Year", "Amount"], ["2023", "10"], ["Total", "10"]]).to_text()),
        ("paragraph", "line one\n    indented line"),
        ("paragraph", "Page footer text"),
    ]
    for unwanted in ("do not index me", "color: red", "Enable JavaScript", "template text", "hidden by", "iVBOR"):
        assert unwanted not in document.text
    assert document.metadata["title"] == "Quarterly report"


def test_given_headings_and_lists_when_extracted_then_levels_and_sections_are_set():
    document = extract_html(PAGE.encode(), filename="p.html", options=ExtractOptions())

    levels = {b.text: (b.kind, b.level) for b in document.blocks if b.kind in ("heading", "list_item")}
    assert levels["Annual Overview"] == ("heading", 1)
    assert levels["Details"] == ("heading", 2)
    assert levels["Sub item"] == ("list_item", 2)
    table = next(b for b in document.blocks if b.kind == "table")
    assert table.section == "Annual Overview > Details"
    assert table.table.rows == [["Year", "Amount"], ["2023", "10"], ["Total", "10"]]


def test_given_layout_table_holding_a_table_when_extracted_then_cells_read_as_blocks():
    page = "<table><tr><td><p>Hello reader</p><table><tr><td>a</td><td>b</td></tr></table></td></tr></table>"
    document = extract_html(page.encode(), filename="l.html", options=ExtractOptions())

    assert [(b.kind, b.text) for b in document.blocks] == [
        ("paragraph", "Hello reader"),
        ("table", Table([["a", "b"]]).to_text()),
    ]


def test_given_meta_charset_when_decoded_then_the_declared_legacy_encoding_is_used():
    data = (
        '<html><head><meta charset="windows-1252"></head><body><p>Caf\u00e9 \u201cquoted\u201d</p></body></html>'
    ).encode("cp1252")
    text, encoding = decode_html(data)
    assert encoding == "cp1252"
    assert "Café “quoted”" in text
    document = extract_html(data, filename="c.html", options=ExtractOptions())
    assert document.text == "Café “quoted”"


@pytest.mark.parametrize(
    ("data", "filename", "text"),
    [
        pytest.param(
            b'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"><p>It\x92s</p>',
            "c.html",
            "It’s",
            id="latin1-label-keeps-windows-1252-punctuation",
        ),
        pytest.param(
            b'<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml">'
            b"<body><p>X\xc3\xa9</p></body></html>",
            "x.html",
            "Xé",
            id="xhtml-with-xml-declaration",
        ),
    ],
)
def test_given_a_declared_encoding_when_extracted_then_the_text_is_decoded_with_it(data, filename, text):
    assert extract_html(data, filename=filename, options=ExtractOptions()).text == text


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"<html><body>  <script>x()</script> </body></html>", id="whitespace-and-script-only"),
    ],
)
def test_given_empty_or_whitespace_page_when_extracted_then_no_blocks(page):
    assert extract_html(page, filename="e.html", options=ExtractOptions()).blocks == []


def test_given_fragment_when_converted_to_text_then_paragraphs_are_separated():
    assert html_to_text("<div>one</div><div>two</div>") == "one\n\ntwo"


def test_given_inline_image_larger_than_ten_megabytes_when_extracted_then_text_after_it_is_kept():
    page = b'<p>before</p><img src="data:image/png;base64,' + b"A" * 11_000_000 + b'"><p>after the image</p>'
    document = extract_html(page, filename="big.html", options=ExtractOptions())
    assert [b.text for b in document.blocks] == ["before", "after the image"]


def test_given_entity_declarations_when_extracted_then_they_are_not_expanded():
    page = b'<!DOCTYPE html [<!ENTITY boom "BOOMBOOMBOOM">]><html><body><p>x &boom; y</p></body></html>'
    assert "BOOMBOOMBOOM" not in extract_html(page, filename="e.html", options=ExtractOptions()).text


def test_given_thousands_of_unclosed_nested_tags_when_extracted_then_the_text_is_kept_without_structure():
    # libxml2 keeps up to 2048 levels with huge_tree; far more than Python recursion allows for a tree walk.
    page = b"<p>start</p>" + b"<font>" * 1500 + b"deep text<script>hidden()</script>" + b"</font>" * 1500
    document = extract_html(page, filename="deep.html", options=ExtractOptions())
    assert "deep text" in document.text
    assert "start" in document.text
    assert "hidden()" not in document.text
    assert document.warnings

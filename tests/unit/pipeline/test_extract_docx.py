"""DOCX extractor: documents built in the test as WordprocessingML parts in a ZIP."""

from __future__ import annotations

import io
import zipfile

import pytest

from data_extract.pipeline.extract.docx import extract_docx
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions, Table

TRANSITIONAL = {
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "m": "http://schemas.openxmlformats.org/officeDocument/2006/math",
    "rel": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
}
STRICT = {
    "w": "http://purl.oclc.org/ooxml/wordprocessingml/main",
    "r": "http://purl.oclc.org/ooxml/officeDocument/relationships",
    "m": "http://purl.oclc.org/ooxml/officeDocument/math",
    "rel": "http://purl.oclc.org/ooxml/officeDocument/relationships",
}
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
WPS = "http://schemas.microsoft.com/office/word/2010/wordprocessingShape"
V = "urn:schemas-microsoft-com:vml"


def _p(text: str, style: str | None = None, extra_ppr: str = "", runs: str | None = None) -> str:
    ppr = ""
    if style or extra_ppr:
        ppr = "<w:pPr>" + (f'<w:pStyle w:val="{style}"/>' if style else "") + extra_ppr + "</w:pPr>"
    body = runs if runs is not None else f'<w:r><w:t xml:space="preserve">{text}</w:t></w:r>'
    return f"<w:p>{ppr}{body}</w:p>"


def _cell(content: str, tcpr: str = "") -> str:
    return f"<w:tc>{f'<w:tcPr>{tcpr}</w:tcPr>' if tcpr else ''}{content}</w:tc>"


def _table(rows: list[list[str]]) -> str:
    return "<w:tbl>" + "".join("<w:tr>" + "".join(rows_cells) + "</w:tr>" for rows_cells in rows) + "</w:tbl>"


def build_docx(body: str, ns: dict[str, str] = TRANSITIONAL, *, extra_parts: dict[str, str] | None = None,
               rels: list[tuple[str, str, str]] | None = None, sect: str = "") -> bytes:  # fmt: skip
    """A package with styles (Heading 1/2, Title, list paragraph) plus the given parts and relationships."""
    declarations = (
        f'xmlns:w="{ns["w"]}" xmlns:r="{ns["r"]}" xmlns:m="{ns["m"]}" xmlns:mc="{MC}" xmlns:wps="{WPS}" xmlns:v="{V}"'
    )
    document = f"<w:document {declarations}><w:body>{body}<w:sectPr>{sect}</w:sectPr></w:body></w:document>"
    styles = (
        f'<w:styles xmlns:w="{ns["w"]}">'
        '<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style>'
        '<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/>'
        '<w:basedOn w:val="Normal"/></w:style>'
        '<w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/></w:style>'
        '<w:style w:type="paragraph" w:styleId="Custom3"><w:name w:val="My Outline"/>'
        '<w:pPr><w:outlineLvl w:val="2"/></w:pPr></w:style>'
        "</w:styles>"
    )
    relationships = [("rIdStyles", "styles", "styles.xml")] + (rels or [])
    rels_xml = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(
            f'<Relationship Id="{i}" Type="{ns["rel"]}/{t}" Target="{target}"/>' for i, t, target in relationships
        )
        + "</Relationships>"
    )
    package_rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{ns["rel"]}/officeDocument" Target="word/document.xml"/></Relationships>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "[Content_Types].xml", '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'
        )
        zf.writestr("_rels/.rels", package_rels)
        zf.writestr("word/document.xml", document)
        zf.writestr("word/_rels/document.xml.rels", rels_xml)
        zf.writestr("word/styles.xml", styles)
        for name, xml in (extra_parts or {}).items():
            zf.writestr(name, xml)
    return buffer.getvalue()


def _part(root: str, inner: str, ns: dict[str, str] = TRANSITIONAL) -> str:
    return f'<w:{root} xmlns:w="{ns["w"]}" xmlns:r="{ns["r"]}">{inner}</w:{root}>'


def rich_document(ns: dict[str, str] = TRANSITIONAL) -> bytes:
    nested = _table([[_cell(_p("inner a")), _cell(_p("inner b"))]])
    textbox_choice = (
        '<mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wps:wsp><wps:txbx><w:txbxContent>'
        + _p("Boxed words")
        + "</w:txbxContent></wps:txbx></wps:wsp></w:drawing></mc:Choice><mc:Fallback><w:pict><v:shape><v:textbox>"
        "<w:txbxContent>" + _p("Boxed words") + "</w:txbxContent></v:textbox></v:shape></w:pict></mc:Fallback>"
        "</mc:AlternateContent>"
    )
    body = "".join(
        [
            _p("Introduction", "Heading1"),
            _p(
                "",
                runs='<w:r><w:t>Body with a note</w:t></w:r><w:r><w:footnoteReference w:id="1"/></w:r>'
                '<w:r><w:t xml:space="preserve"> and a comment</w:t></w:r><w:r><w:commentReference w:id="0"/></w:r>',
            ),
            _table(
                [
                    [_cell(_p("Name")), _cell(_p("Value"))],
                    [_cell(_p("Outer cell")), _cell(nested)],
                ]
            ),
            _p("", runs=f"<w:r><w:t>Anchor</w:t></w:r><w:r>{textbox_choice}</w:r>"),
            _p("First bullet", extra_ppr='<w:numPr><w:ilvl w:val="0"/><w:numId w:val="3"/></w:numPr>'),
            _p("Nested bullet", extra_ppr='<w:numPr><w:ilvl w:val="1"/><w:numId w:val="3"/></w:numPr>'),
            _p("Scope", "Heading2"),
            _p(
                "",
                runs='<w:hyperlink r:id="rIdLink"><w:r><w:t>Linked text</w:t></w:r></w:hyperlink>'
                "<w:r><w:tab/><w:t>after tab</w:t></w:r>"
                '<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r>'
                '<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>7</w:t></w:r>'
                '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
                "<w:del><w:r><w:delText>removed words</w:delText></w:r></w:del>",
            ),
            '<w:sdt><w:sdtPr><w:alias w:val="Control"/></w:sdtPr><w:sdtContent>'
            + _p("Inside a content control")
            + "</w:sdtContent></w:sdt>",
            _p("", runs='<w:r><w:br w:type="page"/></w:r><w:r><w:t>On page two</w:t></w:r>'),
        ]
    )
    sect = '<w:headerReference w:type="default" r:id="rIdH1"/><w:headerReference w:type="first" r:id="rIdH2"/>'
    sect += '<w:footerReference w:type="default" r:id="rIdF1"/>'
    parts = {
        "word/header1.xml": _part("hdr", _p("Company header"), ns),
        "word/header2.xml": _part("hdr", _p("Company header"), ns),  # same text as the default header
        "word/footer1.xml": _part("ftr", _p("Confidential footer"), ns),
        "word/footnotes.xml": _part(
            "footnotes",
            '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
            '<w:footnote w:id="1">' + _p("The footnote text") + "</w:footnote>",
            ns,
        ),
        "word/comments.xml": _part(
            "comments", '<w:comment w:id="0" w:author="Ann">' + _p("A reviewer comment") + "</w:comment>", ns
        ),
    }
    rels = [
        ("rIdH1", "header", "header1.xml"),
        ("rIdH2", "header", "header2.xml"),
        ("rIdF1", "footer", "footer1.xml"),
        ("rIdFn", "footnotes", "footnotes.xml"),
        ("rIdCm", "comments", "comments.xml"),
    ]
    return build_docx(body, ns, extra_parts=parts, rels=rels, sect=sect)


def _texts(document) -> list[tuple[str, str]]:
    return [(block.kind, block.text) for block in document.blocks]


def test_given_rich_docx_when_extracted_then_every_part_comes_out_once_in_document_order():
    document = extract_docx(rich_document(), filename="rich.docx", options=ExtractOptions())

    texts = _texts(document)
    assert texts[0] == ("header", "Company header")
    assert texts[-1] == ("footer", "Confidential footer")
    kinds_in_order = [kind for kind, _ in texts]
    assert kinds_in_order == [
        "header", "heading", "paragraph", "footnote", "comment", "table", "paragraph", "textbox",
        "list_item", "list_item", "heading", "paragraph", "paragraph", "paragraph", "footer",
    ]  # fmt: skip
    assert texts[2] == ("paragraph", "Body with a note and a comment")
    assert texts[3] == ("footnote", "The footnote text")
    assert texts[4] == ("comment", "A reviewer comment")
    assert document.blocks[4].meta["author"] == "Ann"
    assert document.text.count("Boxed words") == 1
    assert document.text.count("Company header") == 1


def test_given_table_with_nested_table_when_extracted_then_nested_rows_live_inside_the_parent_cell():
    document = extract_docx(rich_document(), filename="rich.docx", options=ExtractOptions())

    table = next(block for block in document.blocks if block.kind == "table").table
    assert table.rows[0] == ["Name", "Value"]
    assert table.rows[1][0] == "Outer cell"
    assert table.rows[1][1] == Table([["inner a", "inner b"]]).to_text()
    assert sum(1 for block in document.blocks if block.kind == "table") == 1


def test_given_headings_and_lists_when_extracted_then_levels_and_section_breadcrumbs_are_set():
    document = extract_docx(rich_document(), filename="rich.docx", options=ExtractOptions())

    headings = [(b.text, b.level) for b in document.blocks if b.kind == "heading"]
    assert headings == [("Introduction", 1), ("Scope", 2)]
    items = [(b.text, b.level, b.section) for b in document.blocks if b.kind == "list_item"]
    assert items == [("First bullet", 1, "Introduction"), ("Nested bullet", 2, "Introduction")]
    after_scope = next(b for b in document.blocks if b.text.startswith("Linked text"))
    assert after_scope.section == "Introduction > Scope"


def test_given_fields_tabs_deletions_and_content_controls_when_extracted_then_only_displayed_text_remains():
    document = extract_docx(rich_document(), filename="rich.docx", options=ExtractOptions())

    line = next(b.text for b in document.blocks if b.text.startswith("Linked text"))
    assert line == "Linked text\tafter tab7"
    assert "PAGE" not in document.text
    assert "removed words" not in document.text
    assert "Inside a content control" in document.text


def test_given_explicit_page_break_when_extracted_then_blocks_carry_page_numbers():
    document = extract_docx(rich_document(), filename="rich.docx", options=ExtractOptions())

    page_of = {b.text: b.page for b in document.blocks if b.kind not in ("header", "footer")}
    assert page_of["Introduction"] == 1
    assert page_of["On page two"] == 2
    assert document.metadata["page_count"] == 2
    assert document.metadata["page_count_source"] == "explicit_breaks"


def test_given_strict_ooxml_namespaces_when_extracted_then_content_and_headings_are_read():
    document = extract_docx(rich_document(STRICT), filename="strict.docx", options=ExtractOptions())

    assert document.metadata["strict_ooxml"] is True
    assert [b.text for b in document.blocks if b.kind == "heading"] == ["Introduction", "Scope"]
    assert "The footnote text" in document.text
    assert "Confidential footer" in document.text


def test_given_outline_level_style_and_title_when_extracted_then_they_are_headings():
    body = _p("Document title", extra_ppr='<w:outlineLvl w:val="0"/>') + _p("Third level", "Custom3") + _p("Text")
    document = extract_docx(build_docx(body), filename="o.docx", options=ExtractOptions())

    assert [(b.kind, b.level) for b in document.blocks] == [("heading", 1), ("heading", 3), ("paragraph", None)]


def test_given_equation_when_extracted_then_it_reads_as_linear_text():
    math = (
        "<m:oMath><m:r><m:t>x=</m:t></m:r><m:f><m:num><m:r><m:t>a+b</m:t></m:r></m:num>"
        "<m:den><m:r><m:t>2</m:t></m:r></m:den></m:f><m:sSup><m:e><m:r><m:t>y</m:t></m:r></m:e>"
        "<m:sup><m:r><m:t>2</m:t></m:r></m:sup></m:sSup></m:oMath>"
    )
    body = _p("", runs=f"<w:r><w:t>Formula: </w:t></w:r>{math}")
    document = extract_docx(build_docx(body), filename="m.docx", options=ExtractOptions())

    assert document.blocks[0].text == "Formula: x=(a+b)/2y^2"


def test_given_merged_cells_when_extracted_then_columns_stay_aligned_and_hidden_merge_text_is_dropped():
    rows = [
        [_cell(_p("wide"), '<w:gridSpan w:val="2"/>'), _cell(_p("c"))],
        [_cell(_p("top"), '<w:vMerge w:val="restart"/>'), _cell(_p("x")), _cell(_p("y"))],
        [_cell(_p("stale"), "<w:vMerge/>"), _cell(_p("z")), _cell(_p("w"))],
    ]
    document = extract_docx(build_docx(_table(rows)), filename="t.docx", options=ExtractOptions())

    assert document.blocks[0].table.rows == [["wide", "", "c"], ["top", "x", "y"], ["", "z", "w"]]


def test_given_text_over_the_character_limit_when_extracted_then_too_much_text():
    body = "".join(_p(f"Paragraph number {i} with some words") for i in range(50))
    with pytest.raises(ExtractionError) as caught:
        extract_docx(build_docx(body), filename="big.docx", options=ExtractOptions(max_chars=200))
    assert caught.value.error_type == ErrorType.TOO_MUCH_TEXT


def test_given_empty_body_when_extracted_then_no_blocks():
    document = extract_docx(build_docx(_p("")), filename="empty.docx", options=ExtractOptions())
    assert document.blocks == []


def test_given_package_without_document_part_when_extracted_then_corrupt_naming_the_part():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
    with pytest.raises(ExtractionError) as caught:
        extract_docx(buffer.getvalue(), filename="x.docx", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.CORRUPT
    assert "word/document.xml" in caught.value.message


def test_given_malformed_document_xml_when_extracted_then_corrupt():
    data = build_docx(_p("fine"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            payload = source.read(info)
            target.writestr(info, payload[:-40] if info.filename == "word/document.xml" else payload)
    with pytest.raises(ExtractionError) as caught:
        extract_docx(buffer.getvalue(), filename="x.docx", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.CORRUPT
    assert "word/document.xml" in caught.value.message


def test_given_entity_expansion_attempt_when_extracted_then_entities_are_not_expanded():
    body = _p("", runs="<w:r><w:t>&lol;</w:t></w:r>")
    data = build_docx(body)
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            payload = source.read(info)
            if info.filename == "word/document.xml":
                payload = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY lol "LOLLOLLOL">]>' + payload
            target.writestr(info, payload)
    document = extract_docx(buffer.getvalue(), filename="x.docx", options=ExtractOptions())
    assert "LOLLOLLOL" not in document.text


def test_given_numbered_and_bulleted_lists_when_extracted_then_items_carry_word_s_list_numbers():
    def item(text: str, num_id: int, ilvl: int) -> str:
        return _p(text, extra_ppr=f'<w:numPr><w:ilvl w:val="{ilvl}"/><w:numId w:val="{num_id}"/></w:numPr>')

    numbering = _part(
        "numbering",
        '<w:abstractNum w:abstractNumId="0">'
        '<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl>'
        '<w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="lowerLetter"/><w:lvlText w:val="%1.%2)"/></w:lvl>'
        "</w:abstractNum>"
        '<w:abstractNum w:abstractNumId="1"><w:lvl w:ilvl="0"><w:numFmt w:val="bullet"/>'
        '<w:lvlText w:val="\uf0b7"/></w:lvl></w:abstractNum>'
        '<w:abstractNum w:abstractNumId="2"><w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="upperRoman"/>'
        '<w:lvlText w:val="%1."/></w:lvl></w:abstractNum>'
        '<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>'
        '<w:num w:numId="2"><w:abstractNumId w:val="1"/></w:num>'
        '<w:num w:numId="3"><w:abstractNumId w:val="2"/><w:lvlOverride w:ilvl="0"><w:startOverride w:val="4"/>'
        "</w:lvlOverride></w:num>",
    )
    body = "".join(
        [
            item("First", 1, 0),
            item("Sub one", 1, 1),
            item("Sub two", 1, 1),
            item("Second", 1, 0),
            item("Sub again", 1, 1),
            item("Bullet", 2, 0),
            item("Roman from four", 3, 0),
            item("Roman next", 3, 0),
        ]
    )
    data = build_docx(
        body, extra_parts={"word/numbering.xml": numbering}, rels=[("rIdNum", "numbering", "numbering.xml")]
    )
    document = extract_docx(data, filename="lists.docx", options=ExtractOptions())

    assert [b.text for b in document.blocks] == [
        "1. First", "1.a) Sub one", "1.b) Sub two", "2. Second", "2.a) Sub again", "• Bullet",
        "IV. Roman from four", "V. Roman next",
    ]  # fmt: skip


def test_given_html_imported_as_alt_chunk_when_extracted_then_its_content_sits_in_place():
    body = _p("Before") + '<w:altChunk r:id="rIdAlt"/>' + _p("After")
    parts = {"word/afchunk.htm": "<html><body><h2>Imported</h2><p>From HTML</p></body></html>"}
    data = build_docx(body, extra_parts=parts, rels=[("rIdAlt", "aFChunk", "afchunk.htm")])
    document = extract_docx(data, filename="alt.docx", options=ExtractOptions())

    assert [b.text for b in document.blocks] == ["Before", "Imported", "From HTML", "After"]

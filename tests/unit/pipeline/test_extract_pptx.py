"""PPTX extractor: decks built in the test as PresentationML parts in a ZIP."""

from __future__ import annotations

import io
import zipfile

import pytest

from data_extract.pipeline.extract.pptx import extract_pptx
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions, Table

P = "http://schemas.openxmlformats.org/presentationml/2006/main"
A = "http://schemas.openxmlformats.org/drawingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
NS = f'xmlns:p="{P}" xmlns:a="{A}" xmlns:r="{R}"'


def shape(text_lines: list[str], placeholder: str | None = None, name: str = "Shape") -> str:
    ph = f'<p:ph type="{placeholder}"/>' if placeholder else ""
    paragraphs = "".join(f"<a:p><a:r><a:t>{line}</a:t></a:r></a:p>" for line in text_lines)
    return (
        f'<p:sp><p:nvSpPr><p:cNvPr id="2" name="{name}"/><p:cNvSpPr/><p:nvPr>{ph}</p:nvPr></p:nvSpPr>'
        f"<p:spPr/><p:txBody><a:bodyPr/>{paragraphs}</p:txBody></p:sp>"
    )


def group(*members: str) -> str:
    return (
        '<p:grpSp><p:nvGrpSpPr><p:cNvPr id="9" name="Group"/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>'
        + "".join(members)
        + "</p:grpSp>"
    )


def table_frame(rows: list[list[str]]) -> str:
    body = "".join(
        "<a:tr>"
        + "".join(f"<a:tc><a:txBody><a:bodyPr/><a:p><a:r><a:t>{c}</a:t></a:r></a:p></a:txBody></a:tc>" for c in row)
        + "</a:tr>"
        for row in rows
    )
    return (
        '<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="5" name="Table"/><p:cNvGraphicFramePr/><p:nvPr/>'
        '</p:nvGraphicFramePr><p:xfrm/><a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/table">'
        f"<a:tbl>{body}</a:tbl></a:graphicData></a:graphic></p:graphicFrame>"
    )


def slide_xml(*shapes: str) -> str:
    tree = '<p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>'
    return f"<p:sld {NS}><p:cSld><p:spTree>{tree}{''.join(shapes)}</p:spTree></p:cSld></p:sld>"


def notes_xml(text: str) -> str:
    return (
        f"<p:notes {NS}><p:cSld><p:spTree>"
        + shape(["slide image"], "sldImg")
        + shape([text], "body")
        + shape(["3"], "sldNum")
        + "</p:spTree></p:cSld></p:notes>"
    )


def build_pptx(slides: list[str], *, order: list[int] | None = None, notes: dict[int, str] | None = None,
               presentation: bool = True) -> bytes:  # fmt: skip
    """Slides stored as slide1..N; ``order`` lists them in presentation order (1-based part numbers)."""
    order = order or list(range(1, len(slides) + 1))
    notes = notes or {}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{PKG}"><Relationship Id="rId1" Type="{R}/officeDocument" '
            'Target="ppt/presentation.xml"/></Relationships>',
        )
        if presentation:
            ids = "".join(f'<p:sldId id="{255 + n}" r:id="rIdS{n}"/>' for n in order)
            zf.writestr(
                "ppt/presentation.xml", f"<p:presentation {NS}><p:sldIdLst>{ids}</p:sldIdLst></p:presentation>"
            )
            rels = "".join(
                f'<Relationship Id="rIdS{n}" Type="{R}/slide" Target="slides/slide{n}.xml"/>'
                for n in range(1, len(slides) + 1)
            )
            zf.writestr("ppt/_rels/presentation.xml.rels", f'<Relationships xmlns="{PKG}">{rels}</Relationships>')
        for n, xml in enumerate(slides, start=1):
            zf.writestr(f"ppt/slides/slide{n}.xml", xml)
            if n in notes:
                zf.writestr(f"ppt/notesSlides/notesSlide{n}.xml", notes_xml(notes[n]))
                zf.writestr(
                    f"ppt/slides/_rels/slide{n}.xml.rels",
                    f'<Relationships xmlns="{PKG}"><Relationship Id="rIdN" Type="{R}/notesSlide" '
                    f'Target="../notesSlides/notesSlide{n}.xml"/></Relationships>',
                )
    return buffer.getvalue()


def test_given_deck_when_extracted_then_slides_follow_presentation_order_with_titles_first():
    first = slide_xml(shape(["Body of A"]), shape(["Title A"], "title"))
    second = slide_xml(shape(["Title B"], "ctrTitle"), shape(["Body of B"]))
    document = extract_pptx(build_pptx([first, second], order=[2, 1]), filename="d.pptx", options=ExtractOptions())

    assert [(b.slide, b.kind, b.text) for b in document.blocks] == [
        (1, "heading", "Title B"),
        (1, "paragraph", "Body of B"),
        (2, "heading", "Title A"),
        (2, "paragraph", "Body of A"),
    ]
    assert document.blocks[3].section == "Title A"
    assert document.metadata["slide_count"] == 2


def test_given_group_shapes_table_and_notes_when_extracted_then_all_text_is_found_in_drawing_order():
    slide = slide_xml(
        shape(["Agenda"], "title"),
        group(shape(["outer one"]), group(shape(["inner one"]), shape(["inner two"]))),
        table_frame([["Q", "Revenue"], ["Q1", "10"]]),
        shape(["3"], "sldNum"),
        "<p:unknownShape><p:txBody><a:p><a:r><a:t>Odd shape text</a:t></a:r></a:p></p:txBody></p:unknownShape>",
    )
    document = extract_pptx(
        build_pptx([slide], notes={1: "Say hello first"}), filename="d.pptx", options=ExtractOptions()
    )

    assert [(b.kind, b.text) for b in document.blocks] == [
        ("heading", "Agenda"),
        ("paragraph", "outer one"),
        ("paragraph", "inner one"),
        ("paragraph", "inner two"),
        ("table", Table([["Q", "Revenue"], ["Q1", "10"]]).to_text()),
        ("paragraph", "Odd shape text"),
        ("note", "Say hello first"),
    ]
    assert document.blocks[4].table.rows == [["Q", "Revenue"], ["Q1", "10"]]
    assert document.metadata["notes_count"] == 1


def test_given_multi_paragraph_shape_when_extracted_then_paragraphs_are_lines_of_one_block():
    document = extract_pptx(
        build_pptx([slide_xml(shape(["first", "second"]))]), filename="d.pptx", options=ExtractOptions()
    )
    assert [b.text for b in document.blocks] == ["first\nsecond"]


def test_given_more_slides_than_allowed_when_extracted_then_too_many_pages():
    slides = [slide_xml(shape([f"s{i}"])) for i in range(3)]
    with pytest.raises(ExtractionError) as caught:
        extract_pptx(build_pptx(slides), filename="d.pptx", options=ExtractOptions(max_pages=2))
    assert caught.value.error_type == ErrorType.TOO_MANY_PAGES


def test_given_missing_presentation_part_when_extracted_then_slides_are_read_in_name_order_with_a_warning():
    slides = [slide_xml(shape([f"text {i}"])) for i in range(1, 12)]
    document = extract_pptx(build_pptx(slides, presentation=False), filename="d.pptx", options=ExtractOptions())

    assert [b.text for b in document.blocks] == [f"text {i}" for i in range(1, 12)]
    assert document.warnings


def test_given_one_malformed_slide_when_extracted_then_the_readable_slides_are_kept():
    good = slide_xml(shape(["kept text"]))
    document = extract_pptx(build_pptx([good, "<p:sld"]), filename="d.pptx", options=ExtractOptions())

    assert document.text == "kept text"
    assert any("Slide 2" in w for w in document.warnings)


def test_given_no_readable_slide_when_extracted_then_corrupt():
    with pytest.raises(ExtractionError) as caught:
        extract_pptx(build_pptx(["<p:sld"]), filename="d.pptx", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.CORRUPT


def test_given_not_a_zip_when_extracted_then_corrupt():
    with pytest.raises(ExtractionError) as caught:
        extract_pptx(b"%PDF-1.7 not a deck", filename="d.pptx", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.CORRUPT

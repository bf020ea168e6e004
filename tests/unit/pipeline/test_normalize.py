"""Normalize: clean every block without losing content."""

from __future__ import annotations

import unicodedata

import pytest

from data_extract.pipeline.normalize import normalize_document, normalize_text
from data_extract.pipeline.types import Block, Document, Table


def normalized(text: str, *, fmt: str = "txt", kind: str = "paragraph") -> str:
    doc = normalize_document(Document(format=fmt, blocks=[Block(kind, text)]))
    return doc.blocks[0].text if doc.blocks else ""


def test_given_decomposed_unicode_when_normalizing_then_text_is_nfc():
    result = normalized("Cafe\u0301 cre\u0300me")
    assert result == "Café crème"
    assert unicodedata.is_normalized("NFC", result)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "one\r\ntwo\rthree\u2028four", "one\ntwo\nthree\nfour", id="windows-and-old-mac-line-ends-become-lf"
        ),
        pytest.param("a\x00b\x07c\x1bd\tend\x7f", "abcd end", id="control-chars-and-nul-go-tabs-become-spaces"),
        pytest.param("end of page\x0cNext page", "end of page\nNext page", id="form-feed-keeps-words-apart"),
        pytest.param(
            "  many    spaces\u00a0\u00a0here  \n   indented line   ",
            "many spaces here\nindented line",
            id="space-runs-collapse-and-lines-are-stripped",
        ),
        pytest.param(
            "first\n\n\n\n\nsecond\n \n \n \nthird", "first\n\nsecond\n\nthird", id="at-most-one-blank-line-remains"
        ),
        pytest.param(
            "co\u00adoperation and infor\u00ad\nmation",
            "cooperation and information",
            id="soft-hyphens-vanish-and-joined-lines-close-up",
        ),
        pytest.param(
            "ﬁnance ﬂow, x² and ½ cup, ＡＢＣ",
            "finance flow, x² and ½ cup, ＡＢＣ",
            id="ligatures-expand-other-compatibility-forms-stay",
        ),
        pytest.param(
            "Wait... the range 1--2 and ~~ stays",
            "Wait... the range 1--2 and ~~ stays",
            id="short-dashes-and-ellipses-are-content",
        ),
        pytest.param(
            "1986\u00e2\u0080\u00931990 cost \u00c2\u00a3 5",
            "1986–1990 cost £ 5",
            id="latin1-decoded-utf8-is-repaired",
        ),
        # "Ã©" has the shape of mojibake, but nothing in the block proves it is.
        pytest.param(
            "Â la carte, São Paulo, Ã©",
            "Â la carte, São Paulo, Ã©",
            id="latin1-letters-without-c1-evidence-are-untouched",
        ),
    ],
)
def test_given_text_when_normalizing_then_each_rule_applies(text, expected):
    assert normalized(text) == expected


def test_given_pdf_text_with_words_broken_across_lines_when_normalizing_then_they_are_rejoined():
    text = "The infor-\nmation was recorded. A self-\nlocking door and a self-locking gate.\nAnglo-\nSaxon text."
    assert normalized(text, fmt="pdf") == (
        "The information was recorded. A self-locking door and a self-locking gate.\nAnglo-\nSaxon text."
    )


def test_given_a_compound_spelled_with_a_hyphen_elsewhere_when_broken_at_it_then_hyphen_is_kept():
    doc = Document(
        format="pdf",
        blocks=[Block("paragraph", "The risk-\nbased approach works."), Block("paragraph", "A risk-based plan.")],
    )
    assert normalize_document(doc).blocks[0].text == "The risk-based approach works."


def test_given_non_pdf_text_when_normalizing_then_line_end_hyphens_are_left_alone():
    assert normalized("infor-\nmation", fmt="docx") == "infor-\nmation"


def test_given_ocr_block_in_any_format_when_normalizing_then_broken_words_are_rejoined():
    assert normalized("recog-\nnised text", fmt="docx", kind="ocr") == "recognised text"


def test_given_ocr_artifact_runs_when_normalizing_then_they_are_removed_and_counted():
    text = "Total ^^^^ due ■■■■ now ~~~ and ____________ sign .........."
    doc = normalize_document(Document(format="pdf", blocks=[Block("paragraph", text)]))
    assert doc.blocks[0].text == "Total due now and sign"
    assert doc.metadata["normalization"]["artifacts_removed"] == 5


@pytest.mark.parametrize(
    ("damaged", "expected"),
    [
        # UTF-8 read as cp1252 (the usual Windows damage)
        ("don\u00e2\u20ac\u2122t \u00e2\u20ac\u201c caf\u00c3\u00a9", "don\u2019t \u2013 caf\u00e9"),
        ("It was \u00e2\u20ac\u0153quoted\u00e2\u20ac\x9d", "It was \u201cquoted\u201d"),
        ("na\u00c3\u00afve r\u00c3\u00a9sum\u00c3\u00a9", "na\u00efve r\u00e9sum\u00e9"),
        ("S\u00c3\u00a3o Paulo costs \u00c2\u00a35", "S\u00e3o Paulo costs \u00a35"),
        # UTF-8 read as Latin-1
        ("caf\u00c3\u00a9 \u00e2\u0080\u0093 na\u00c3\u00afve", "caf\u00e9 \u2013 na\u00efve"),
        # encoded twice over
        ("it\u00c3\u00a2\u00e2\u201a\u00ac\u00e2\u201e\u00a2s done", "it\u2019s done"),
        # Cyrillic read as cp1252
        (
            "\u00d0\u00a1\u00d0\u00be\u00d0\u00bb\u00d0\u00bd\u00d1\u2020\u00d0\u00b5",
            "\u0421\u043e\u043b\u043d\u0446\u0435",
        ),
    ],
)
def test_given_text_decoded_with_the_wrong_codec_when_normalizing_then_ftfy_repairs_it(damaged, expected):
    doc = normalize_document(Document(format="txt", blocks=[Block("paragraph", damaged)]))

    assert doc.blocks[0].text == expected
    assert doc.metadata["normalization"]["mojibake_repaired"] == 1


@pytest.mark.parametrize(
    "text",
    [
        "S\u00c3O PAULO",
        "\u00c2 la carte",
        "Fa\u00e7ade, na\u00efve, r\u00e9sum\u00e9, \u00a3 5, \u2019quoted\u2019",
        "\u0421\u043e\u043b\u043d\u0446\u0435 \u00d0\u00f0r",
        "Men\u00fa \u00d1and\u00fa",
    ],
)
def test_given_correct_non_ascii_text_when_normalizing_then_no_repair_is_attempted(text):
    doc = normalize_document(Document(format="txt", blocks=[Block("paragraph", text)]))

    assert doc.blocks[0].text == text
    assert doc.metadata["normalization"]["mojibake_repaired"] == 0


def test_given_headers_footers_and_repeated_lines_when_normalizing_then_all_are_kept():
    blocks = [
        Block("header", "ACME Corp — Confidential", page=1),
        Block("paragraph", "Body text.", page=1),
        Block("footer", "Page 1 of 2", page=1),
        Block("header", "ACME Corp — Confidential", page=2),
    ]
    doc = normalize_document(Document(format="pdf", blocks=blocks))
    assert [b.text for b in doc.blocks] == [b.text for b in blocks]


def test_given_empty_blocks_when_normalizing_then_they_are_dropped_and_provenance_is_kept():
    blocks = [
        Block("paragraph", " \n\t "),
        Block("paragraph", "\x00\x01"),
        Block("heading", "  Scope  ", page=3, level=2, section="Intro  >  Scope"),
    ]
    doc = normalize_document(Document(format="pdf", blocks=blocks))

    assert len(doc.blocks) == 1
    kept = doc.blocks[0]
    assert (kept.kind, kept.text, kept.page, kept.level, kept.section) == ("heading", "Scope", 3, 2, "Intro > Scope")
    assert doc.metadata["normalization"]["blocks_before"] == 3
    assert doc.metadata["normalization"]["blocks_after"] == 1


def test_given_a_table_when_normalizing_then_cells_are_cleaned_and_shape_is_kept():
    table = Table(rows=[["  Name ", "Amount\u00a0 "], ["ﬁrst\x00", "1\r\n000"], ["", ""]])
    doc = normalize_document(Document(format="docx", blocks=[Block("table", "", table=table, page=1)]))

    [block] = doc.blocks
    assert block.table.rows == [["Name", "Amount"], ["first", "1\n000"], ["", ""]]
    assert block.text == block.table.to_text()
    assert table.rows[0][0] == "  Name "  # the input document is not modified


def test_given_a_table_with_no_text_when_normalizing_then_it_is_dropped():
    doc = normalize_document(Document(format="xlsx", blocks=[Block("table", "", table=Table([[" ", "\x00"]]))]))
    assert doc.blocks == []


def test_given_a_document_when_normalizing_then_counts_are_recorded_and_metadata_is_kept():
    source = Document(
        format="pdf",
        blocks=[Block("paragraph", "a\x00b  c ^^^")],
        metadata={"page_count": 1},
        warnings=["page 2 unreadable"],
    )
    doc = normalize_document(source)

    stats = doc.metadata["normalization"]
    assert stats["chars_before"] == len("a\x00b  c ^^^")
    assert stats["chars_after"] == len("ab c")
    assert stats["artifacts_removed"] == 1
    assert stats["control_chars_removed"] == 1
    assert doc.metadata["page_count"] == 1
    assert doc.warnings == ["page 2 unreadable"]
    assert "normalization" not in source.metadata


def test_given_a_plain_string_when_using_normalize_text_then_same_rules_apply():
    assert normalize_text("  a\u00a0\u00a0b\r\n\n\n\nc\x00  ") == "a b\n\nc"

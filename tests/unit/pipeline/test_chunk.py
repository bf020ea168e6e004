"""The chunker: token meaning, sentence packing, overlap, tables, provenance, ids."""

from __future__ import annotations

import itertools
import re

import pytest

from data_extract.pipeline.chunk import chunk_document
from data_extract.pipeline.normalize import normalize_document
from data_extract.pipeline.tokens import estimate_tokens
from data_extract.pipeline.types import Block, Document, Table

SENTENCE_END = re.compile(r"[.!?。]$")


def prose(count: int, *, start: int = 0) -> str:
    """Sentences of varied length, each unique and ending with a period."""
    words = ["audit", "control", "evidence", "owner", "review", "quarterly", "ledger", "approval"]
    sentences = []
    for n in range(start, start + count):
        length = 4 + (n * 7) % 11
        body = " ".join(words[(n + i) % len(words)] for i in range(length))
        sentences.append(f"Sentence {n} says {body}.")
    return " ".join(sentences)


def chunk(blocks: list[Block], *, fmt: str = "txt", size: int = 32, overlap: int = 0, key: str = "src"):
    return chunk_document(Document(format=fmt, blocks=blocks), source_key=key, chunk_size=size, overlap=overlap)


# --- token definition ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        pytest.param("The control owner signs off.", 5, id="sentence"),
        pytest.param("  spaced\tout\nwords  ", 3, id="any-whitespace-separates"),
        pytest.param("", 0, id="empty"),
    ],
)
def test_given_latin_text_when_estimating_tokens_then_each_whitespace_word_counts_once(text, tokens):
    assert estimate_tokens(text) == tokens


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        pytest.param("東京は日本の首都です", 10, id="kanji-and-kana"),
        pytest.param("한국어", 3, id="hangul"),
        # A word mixing CJK and other characters: one per CJK character plus one per other run.
        pytest.param("東京2020", 3, id="cjk-and-digits-in-one-word"),
        pytest.param("Tokyo 東京 2020", 4, id="cjk-between-latin-words"),
    ],
)
def test_given_cjk_text_when_estimating_tokens_then_each_ideograph_kana_and_hangul_counts_once(text, tokens):
    assert estimate_tokens(text) == tokens


# --- validation and empty input ---------------------------------------------


@pytest.mark.parametrize(("size", "overlap"), [(15, 0), (16, 16), (64, 100), (64, -1)])
def test_given_invalid_size_or_overlap_when_chunking_then_value_error(size, overlap):
    with pytest.raises(ValueError):
        chunk([Block("paragraph", "Some text here.")], size=size, overlap=overlap)


def test_given_an_empty_document_when_chunking_then_no_chunks_not_a_fake_empty_one():
    assert chunk([]) == []
    assert chunk([Block("paragraph", "   \n  "), Block("table", "", table=Table([["", ""]]))]) == []


# --- size, sentences and overlap ---------------------------------------------


def test_given_long_prose_when_chunking_then_no_chunk_exceeds_chunk_size_and_every_chunk_ends_a_sentence():
    blocks = [Block("paragraph", prose(40, start=i * 40)) for i in range(5)]
    chunks = chunk(blocks, size=48, overlap=10)

    assert len(chunks) > 10
    for c in chunks:
        assert c.token_count <= 48
        assert c.token_count == estimate_tokens(c.text)
        assert c.word_count == len(c.text.split())
        assert SENTENCE_END.search(c.text), c.text[-40:]
        assert re.match(r"Sentence \d+ says", c.text), c.text[:40]


def test_given_no_overlap_when_chunking_then_chunks_partition_the_text_in_order():
    blocks = [Block("paragraph", prose(30, start=i * 30)) for i in range(4)]
    doc = Document(format="txt", blocks=blocks)
    chunks = chunk_document(doc, source_key="k", chunk_size=40, overlap=0)

    assert " ".join(c.text for c in chunks).split() == doc.text.split()


def test_given_overlap_when_chunking_then_next_chunk_starts_with_trailing_whole_sentences_within_budget():
    text = " ".join(f"Item {n} is recorded here." for n in range(60))  # 5 tokens per sentence
    chunks = chunk([Block("paragraph", text)], size=22, overlap=11)

    assert len(chunks) > 5
    for previous, current in itertools.pairwise(chunks):
        previous_sentences = re.findall(r"Item \d+ is recorded here\.", previous.text)
        current_sentences = re.findall(r"Item \d+ is recorded here\.", current.text)
        shared = [s for s in current_sentences if s in previous_sentences]
        # Two 5-token sentences fit in an 11-token overlap; three would not.
        assert shared == previous_sentences[-2:]
        assert current_sentences[: len(shared)] == shared
        assert estimate_tokens(" ".join(shared)) <= 11


def test_given_zero_overlap_when_chunking_then_no_sentence_repeats():
    text = " ".join(f"Item {n} is recorded here." for n in range(60))
    chunks = chunk([Block("paragraph", text)], size=22, overlap=0)

    sentences = [s for c in chunks for s in re.findall(r"Item \d+ is recorded here\.", c.text)]
    assert len(sentences) == len(set(sentences)) == 60


def test_given_abbreviations_when_chunking_then_dr_and_eg_do_not_end_a_sentence():
    sentence = "Dr. Smith met the auditors, e.g. the external team, on Monday."  # 11 tokens
    text = " ".join([sentence] * 6)
    chunks = chunk([Block("paragraph", text)], size=16, overlap=0)

    assert len(chunks) == 6
    assert all(c.text == sentence for c in chunks)


def test_given_a_sentence_longer_than_chunk_size_when_chunking_then_it_is_cut_at_word_boundaries():
    words = [f"word{n}" for n in range(70)]
    long_sentence = " ".join(words) + "."
    chunks = chunk([Block("paragraph", f"Short opening line. {long_sentence} Closing line here.")], size=16)

    assert all(c.token_count <= 16 for c in chunks)
    rebuilt = " ".join(c.text for c in chunks).split()
    assert rebuilt == ["Short", "opening", "line.", *words[:-1], "word69.", "Closing", "line", "here."]
    assert all(re.fullmatch(r"[\w.]+", w) for c in chunks for w in c.text.split())  # no word was cut


def test_given_paragraph_blocks_when_packed_together_then_paragraph_break_is_kept():
    chunks = chunk([Block("paragraph", "First paragraph ends."), Block("paragraph", "Second one starts.")])

    assert len(chunks) == 1
    assert chunks[0].text == "First paragraph ends.\n\nSecond one starts."


def test_given_a_heading_when_the_chunk_fills_then_the_heading_moves_to_the_next_chunk():
    blocks = [
        Block("paragraph", prose(3)),
        Block("heading", "Scope", level=1, section="Scope"),
        Block("paragraph", prose(3, start=3), section="Scope"),
    ]
    budget = estimate_tokens(prose(3)) + 1  # room for the heading, not for the next sentence
    chunks = chunk(blocks, size=max(budget, 16))

    assert not chunks[0].text.endswith("Scope")
    assert chunks[1].text.startswith("Scope\n\n")
    assert chunks[1].section_context == "Scope"


def test_given_normalized_document_when_chunking_then_char_offsets_slice_the_document_text():
    doc = normalize_document(
        Document(
            format="pdf",
            blocks=[
                Block("heading", "Introduction", level=1, page=1),
                Block("paragraph", prose(12), page=1),
                Block("paragraph", prose(12, start=12), page=2),
            ],
        )
    )
    chunks = chunk_document(doc, source_key="k", chunk_size=40, overlap=8)

    text = doc.text
    for c in chunks:
        assert text[c.metadata["char_start"] : c.metadata["char_end"]] == c.text


# --- ids -----------------------------------------------------------------------


def test_given_same_input_and_key_when_chunking_twice_then_ids_and_texts_are_identical():
    blocks = [Block("paragraph", prose(20))]
    first = chunk(blocks, size=32, overlap=8, key="abc123")
    second = chunk(blocks, size=32, overlap=8, key="abc123")

    assert [c.id for c in first] == [c.id for c in second]
    assert [c.text for c in first] == [c.text for c in second]
    assert [c.id for c in first] == [f"abc123_chunk_{i:04d}" for i in range(len(first))]
    assert [c.position_index for c in first] == list(range(len(first)))


def test_given_a_different_source_key_when_chunking_then_ids_differ():
    blocks = [Block("paragraph", prose(5))]
    assert {c.id for c in chunk(blocks, key="one")}.isdisjoint(c.id for c in chunk(blocks, key="two"))


# --- tables --------------------------------------------------------------------


def table_block(rows: int, **provenance) -> Block:
    data = [["Control", "Owner", "Status"]] + [[f"CTRL-{n:03d}", f"owner {n}", "effective"] for n in range(rows)]
    table = Table(rows=data)
    return Block("table", table.to_text(), table=table, **provenance)


def test_given_a_small_table_between_prose_when_chunking_then_it_is_its_own_chunk_with_html_and_markdown():
    blocks = [Block("paragraph", "Before the table."), table_block(2), Block("paragraph", "After the table.")]
    chunks = chunk(blocks, size=64, overlap=8)

    assert [c.text for c in chunks] == [
        "Before the table.",
        "Control\tOwner\tStatus\nCTRL-000\towner 0\teffective\nCTRL-001\towner 1\teffective",
        "After the table.",
    ]
    table_chunk = chunks[1]
    assert table_chunk.metadata["block_kinds"] == ["table"]
    assert table_chunk.metadata["text_as_html"].startswith("<table><tr><td>Control</td>")
    assert "<td>CTRL-001</td>" in table_chunk.metadata["text_as_html"]
    assert table_chunk.metadata["text_as_markdown"].splitlines()[:2] == [
        "| Control | Owner | Status |",
        "| --- | --- | --- |",
    ]
    assert "text_as_html" not in chunks[0].metadata


def test_given_a_large_table_when_chunking_then_it_splits_by_rows_with_the_header_in_every_part():
    chunks = chunk([table_block(40)], size=24)

    assert len(chunks) > 3
    seen_rows = []
    for c in chunks:
        lines = c.text.split("\n")
        assert lines[0] == "Control\tOwner\tStatus"
        assert c.token_count <= 24
        assert "<td>Control</td>" in c.metadata["text_as_html"]
        assert c.metadata["table_parts"] == len(chunks)
        seen_rows += lines[1:]
    assert seen_rows == [f"CTRL-{n:03d}\towner {n}\teffective" for n in range(40)]


def test_given_a_table_row_larger_than_chunk_size_when_chunking_then_only_that_row_exceeds():
    big_cell = " ".join(["word"] * 30)
    table = Table(rows=[["Name", "Notes"], ["a", "short"], ["b", big_cell], ["c", "short too"]])
    chunks = chunk([Block("table", table.to_text(), table=table)], size=16)

    oversized = [c for c in chunks if c.token_count > 16]
    assert len(oversized) == 1
    assert oversized[0].text == f"b\t{big_cell}"
    assert chunks[0].text.startswith("Name\tNotes")


# --- provenance ------------------------------------------------------------------


def test_given_pdf_pages_when_a_chunk_spans_them_then_pages_lists_the_span():
    blocks = [Block("paragraph", f"Page {p} has one sentence.", page=p) for p in (1, 2, 3)]
    chunks = chunk(blocks, fmt="pdf", size=64)

    assert len(chunks) == 1
    assert chunks[0].metadata["pages"] == [1, 2, 3]


def test_given_sheets_when_chunking_then_chunks_never_straddle_sheets():
    blocks = [
        Block("paragraph", "Revenue summary for the year.", sheet="Summary"),
        Block("paragraph", "Totals are final.", sheet="Summary"),
        Block("paragraph", "Detail rows follow.", sheet="Detail"),
    ]
    chunks = chunk(blocks, fmt="xlsx", size=64, overlap=8)

    assert [(c.metadata["sheet"], c.text) for c in chunks] == [
        ("Summary", "Revenue summary for the year.\n\nTotals are final."),
        ("Detail", "Detail rows follow."),
    ]


def test_given_slides_when_chunking_then_each_slide_starts_a_new_chunk_without_overlap():
    blocks = [
        Block("heading", "Quarterly results", slide=1),
        Block("paragraph", "Sales grew. Costs fell.", slide=1),
        Block("paragraph", "Next steps are listed.", slide=2),
        Block("note", "Speaker notes for slide two.", slide=2),
    ]
    chunks = chunk(blocks, fmt="pptx", size=64, overlap=8)

    assert [c.metadata["slides"] for c in chunks] == [[1], [2]]
    assert chunks[1].text == "Next steps are listed.\n\nSpeaker notes for slide two."
    assert chunks[1].metadata["block_kinds"] == ["paragraph", "note"]


def test_given_headings_without_sections_when_chunking_then_breadcrumb_is_built_from_heading_levels():
    blocks = [
        Block("heading", "Report", level=1),
        Block("heading", "Scope", level=2),
        Block("paragraph", prose(6)),
        Block("heading", "Findings", level=2),
        Block("paragraph", prose(6, start=6)),
    ]
    chunks = chunk(blocks, size=40)

    by_opening = {c.text.split("\n")[0][:12]: c.section_context for c in chunks}
    assert by_opening["Report"] == "Report"
    assert by_opening["Findings"] == "Report > Findings"
    scope_body = [c for c in chunks if c.text.startswith("Sentence 3 ")]
    assert [c.section_context for c in scope_body] == ["Report > Scope"]


def test_given_ocr_pages_when_chunking_then_quality_uses_their_confidence():
    doc = Document(
        format="pdf",
        blocks=[Block("ocr", "Scanned text reads well enough here.", page=2)],
        metadata={"ocr_confidence": {"2": 0.42}},
    )
    [only] = chunk_document(doc, source_key="k", chunk_size=32, overlap=0)

    assert only.metadata["ocr_confidence"] == 0.42
    assert "low_ocr_confidence" in only.metadata["quality"]["flags"]


def test_given_entities_in_text_when_chunking_then_chunk_metadata_lists_them():
    [only] = chunk([Block("paragraph", "CTRL-001-01 mitigates RISK-001-01 under SOX.")])

    assert only.metadata["entity_tags"] == ["CTRL-001-01", "RISK-001-01", "SOX"]
    assert 0.0 <= only.metadata["quality"]["overall"] <= 1.0


# --- CJK -------------------------------------------------------------------------------


def test_given_japanese_text_when_chunking_then_sentences_end_at_full_stops_and_size_counts_characters():
    sentences = [f"これは{n}番目の文です。" for n in range(30)]  # 8 CJK characters + 1 number run each
    chunks = chunk([Block("paragraph", "".join(sentences))], size=20, overlap=0)

    assert all(c.token_count <= 20 for c in chunks)
    assert all(c.text.endswith("。") for c in chunks)
    assert "".join(c.text for c in chunks) == "".join(sentences)


# --- real text -------------------------------------------------------------------------


def test_given_corpus_prose_when_normalized_and_chunked_then_bounds_hold_and_no_text_is_lost(corpus):
    text = (corpus / "text" / "norwich-city.txt").read_text(encoding="utf-8")
    doc = normalize_document(Document(format="txt", blocks=[Block("paragraph", text)]))
    chunks = chunk_document(doc, source_key="norwich", chunk_size=128, overlap=0)

    assert len(chunks) > 20
    assert all(c.token_count <= 128 for c in chunks)
    # Every word lands in exactly one chunk, uncut: "friendly.[4]" stays whole.
    assert [w for c in chunks for w in c.text.split()] == doc.text.split()
    assert any("Iwan Wyn Roberts (born 26 June 1968)" in " ".join(c.text.split()) for c in chunks)


# --- invariants on many generated documents ----------------------------------------------


def random_document(rng) -> Document:
    vocabulary = ["risk", "control", "Dr.", "e.g.", "owner", "東京", "ledger", "self-locking", "(see", "note)"]
    blocks = []
    sheet = None
    for _ in range(rng.randint(1, 25)):
        roll = rng.random()
        if roll < 0.1:
            sheet = rng.choice(["A", "B", None])
        if roll < 0.2:
            rows = [[rng.choice(vocabulary) for _ in range(rng.randint(1, 4))] for _ in range(rng.randint(1, 30))]
            table = Table(rows=rows)
            blocks.append(Block("table", table.to_text(), table=table, page=rng.randint(1, 9), sheet=sheet))
        elif roll < 0.3:
            blocks.append(Block("heading", " ".join(rng.choices(vocabulary, k=rng.randint(1, 5))), level=1))
        else:
            sentences = []
            for _ in range(rng.randint(1, 12)):
                words = rng.choices(vocabulary, k=rng.randint(1, 70))
                sentences.append(" ".join(words) + rng.choice([".", "!", "?", "。", ""]))
            blocks.append(Block("paragraph", " ".join(sentences), page=rng.randint(1, 9), sheet=sheet))
    return normalize_document(Document(format="pdf", blocks=blocks))


def test_given_generated_documents_when_chunking_then_size_offset_and_coverage_invariants_hold():
    import random

    rng = random.Random(20240501)
    for _ in range(60):
        doc = random_document(rng)
        size = rng.choice([16, 24, 50, 128])
        overlap = rng.choice([0, 0, 5, size // 3, size - 1])
        chunks = chunk_document(doc, source_key="gen", chunk_size=size, overlap=overlap)
        text = doc.text

        prose_chunks = [c for c in chunks if "text_as_html" not in c.metadata]
        for c in prose_chunks:
            assert c.token_count <= size
            assert text[c.metadata["char_start"] : c.metadata["char_end"]] == c.text
        for previous, current in itertools.pairwise(prose_chunks):
            repeated = text[current.metadata["char_start"] : previous.metadata["char_end"]]
            assert estimate_tokens(repeated) <= overlap
            assert current.metadata["char_end"] > previous.metadata["char_end"]  # always new text
        if overlap == 0:
            # No prose character is lost or repeated (CJK sentences may split inside a
            # space-free run, so compare characters rather than words).
            prose = "".join("".join(c.text.split()) for c in chunks if "text_as_html" not in c.metadata)
            assert prose == "".join("".join(b.text.split()) for b in doc.blocks if b.table is None)

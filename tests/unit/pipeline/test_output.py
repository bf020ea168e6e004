"""Output stage: formats, names, layouts."""

from __future__ import annotations

import csv
import io
import json

import pytest

from data_extract.pipeline.chunk import chunk_document
from data_extract.pipeline.output import CSV_HEADER, OutputOptions, render_outputs
from data_extract.pipeline.types import Block, Document, Table

TIMESTAMP = "2026-02-01T10:00:00Z"


def sample_document(fmt: str = "pdf") -> Document:
    table = Table(rows=[["Control", "Owner"], ["CTRL-001-01", "Finance"]])
    return Document(
        format=fmt,
        blocks=[
            Block("heading", "Findings", level=1, section="Findings", page=1),
            Block(
                "paragraph",
                "CTRL-001-01 mitigates RISK-001-01 under SOX. The owner signed.",
                page=1,
                section="Findings",
            ),
            Block(
                "paragraph",
                "A second paragraph without any identifiers ends right here.",
                page=2,
                section="Findings",
            ),
            Block("table", table.to_text(), table=table, page=2, section="Findings"),
        ],
        warnings=["page 3 had no text layer"],
    )


def render(
    doc: Document | None = None,
    *,
    source_path: str = "sub/a.pdf",
    key: str = "k1",
    timestamp: str = TIMESTAMP,
    **options,
):
    doc = doc or sample_document()
    opts = OutputOptions(chunk_size=options.pop("chunk_size", 16), overlap=options.pop("overlap", 0), **options)
    chunks = chunk_document(doc, source_key=key, chunk_size=opts.chunk_size, overlap=opts.overlap)
    files = render_outputs(
        chunks,
        document=doc,
        source_path=source_path,
        file_hash="f" * 64,
        options=opts,
        processing_timestamp=timestamp,
    )
    return chunks, files


# --- JSON --------------------------------------------------------------------------


def test_given_chunks_when_rendering_json_then_it_round_trips_with_the_original_field_names():
    chunks, [out] = render(output_format="json")

    assert out.name == "sub/a.pdf.json"
    assert out.content_type == "application/json"
    assert not out.data.startswith(b"\xef\xbb\xbf")
    payload = json.loads(out.data.decode("utf-8"))
    assert payload["metadata"] == {
        "chunk_count": len(chunks),
        "processing_version": payload["metadata"]["processing_version"],
        "processing_timestamp": TIMESTAMP,
        "configuration": {"chunk_size": 16, "overlap": 0},
        "source_documents": ["sub/a.pdf"],
    }
    assert payload["content"] == "\n\n".join(c.text for c in chunks)
    first = payload["chunks"][0]
    assert first["id"] == first["chunk_id"] == chunks[0].id
    assert first["text"] == chunks[0].text
    assert first["token_count"] == chunks[0].token_count
    assert first["section_context"] == "Findings"
    assert [e["id"] for e in first["entities"]] == ["CTRL-001-01", "RISK-001-01", "SOX"]
    assert first["metadata"]["entity_tags"] == ["CTRL-001-01", "RISK-001-01", "SOX"]
    assert 0.5 < first["quality_score"] <= 1.0
    assert first["quality"]["overall"] == first["quality_score"]
    assert set(first["readability_scores"]) == {"flesch_reading_ease", "flesch_kincaid_grade"}
    meta = first["metadata"]
    assert meta["source_file"] == "sub/a.pdf"
    assert meta["file_hash"] == "f" * 64
    assert (meta["document_type"], meta["document_subtype"]) == ("report", "pdf")
    assert meta["pages"] == [1]
    assert meta["config_snapshot"]["chunk_size"] == 16
    table_chunk = payload["chunks"][-1]
    assert table_chunk["metadata"]["text_as_html"].startswith("<table>")
    assert table_chunk["metadata"]["text_as_markdown"].startswith("| Control | Owner |")


def test_given_two_runs_when_only_the_timestamp_differs_then_only_timestamps_differ_in_output():
    _, [first] = render(output_format="json", timestamp="2026-01-01T00:00:00Z")
    _, [again] = render(output_format="json", timestamp="2026-01-01T00:00:00Z")
    _, [later] = render(output_format="json", timestamp="2026-03-03T00:00:00Z")

    assert first.data == again.data
    assert later.data != first.data
    assert later.data.decode().replace("2026-03-03T00:00:00Z", "2026-01-01T00:00:00Z") == first.data.decode()


def test_given_a_spreadsheet_when_rendering_json_then_document_type_is_matrix_and_sheet_is_recorded():
    doc = Document(format="xlsx", blocks=[Block("paragraph", "Budget notes for the year.", sheet="Budget")])
    _, [out] = render(doc, source_path="book.xlsx", output_format="json")

    chunk = json.loads(out.data)["chunks"][0]
    assert chunk["metadata"]["document_type"] == "matrix"
    assert chunk["metadata"]["sheet"] == "Budget"


# --- TXT ---------------------------------------------------------------------------


def test_given_chunks_when_rendering_txt_then_bom_and_numbered_delimiters_precede_each_chunk():
    chunks, [out] = render(output_format="txt")

    assert out.name == "sub/a.pdf.txt"
    assert out.data.startswith(b"\xef\xbb\xbf")
    text = out.data.decode("utf-8-sig")
    assert text.startswith("━━━ CHUNK 001 ━━━\n\n" + chunks[0].text)
    assert f"\n\n━━━ CHUNK 002 ━━━\n\n{chunks[1].text}" in text
    assert text.count("━━━ CHUNK") == len(chunks)


def test_given_include_metadata_when_rendering_txt_then_source_pages_entities_and_quality_lines_appear():
    doc = sample_document()
    _, [out] = render(doc, output_format="txt", include_metadata=True, chunk_size=64)

    text = out.data.decode("utf-8-sig")
    first_block = text.split("━━━ CHUNK 002")[0]
    assert "Source: sub/a.pdf\n" in first_block
    assert "Pages: 1-2\n" in first_block
    assert "Entities: CTRL-001-01; RISK-001-01; SOX\n" in first_block
    assert "Quality: " in first_block


def test_given_slides_and_a_custom_delimiter_when_rendering_txt_then_slide_line_and_delimiter_are_used():
    doc = Document(format="pptx", blocks=[Block("paragraph", "Slide text goes here.", slide=4)])
    _, [out] = render(
        doc, source_path="deck.pptx", output_format="txt", include_metadata=True, delimiter="=== {{n}} ==="
    )

    text = out.data.decode("utf-8-sig")
    assert text.startswith("=== 001 ===\n\nSource: deck.pptx\nSlide: 4\nQuality: ")
    assert "Entities:" not in text


# --- CSV ---------------------------------------------------------------------------


def test_given_chunks_when_rendering_csv_then_bom_header_and_one_row_per_chunk():
    chunks, [out] = render(output_format="csv")

    assert out.name == "sub/a.pdf.csv"
    assert out.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(out.data.decode("utf-8-sig"))))
    assert rows[0] == CSV_HEADER
    assert rows[0] == [
        "chunk_id",
        "source_file",
        "section_context",
        "chunk_text",
        "entity_tags",
        "quality_score",
        "word_count",
        "token_count",
        "processing_version",
        "warnings",
        "pages",
    ]
    body = rows[1:]
    assert [r[0] for r in body] == [c.id for c in chunks]
    assert [r[3] for r in body] == [c.text for c in chunks]  # multi-line table text survives quoting
    assert body[0][4] == "CTRL-001-01; RISK-001-01; SOX"
    assert 0.0 < float(body[0][5]) <= 1.0
    assert body[0][9] == "page 3 had no text layer"
    assert body[0][10] == "1"


# --- names and layouts -------------------------------------------------------------


def test_given_same_stem_different_extensions_when_rendering_then_names_never_collide():
    names = set()
    for source, fmt in [("a.pdf", "pdf"), ("a.docx", "docx"), ("a.txt", "txt"), ("sub/a.pdf", "pdf")]:
        _, files = render(sample_document(fmt), source_path=source, key=source, output_format="json")
        names.update(f.name for f in files)
    assert names == {"a.pdf.json", "a.docx.json", "a.txt.json", "sub/a.pdf.json"}


def test_given_per_chunk_when_rendering_then_one_complete_file_per_chunk_under_the_source():
    chunks, files = render(output_format="json", per_chunk=True)

    assert [f.name for f in files] == [f"sub/a.pdf.chunks/{c.id}.json" for c in chunks]
    for f, c in zip(files, chunks, strict=True):
        payload = json.loads(f.data)
        assert payload["metadata"]["chunk_count"] == 1
        assert payload["chunks"][0]["text"] == c.text


@pytest.mark.parametrize("fmt", ["json", "csv", "txt"])
@pytest.mark.parametrize("strategy", ["by_document", "by_entity", "flat"])
def test_given_organize_when_rendering_any_format_then_real_chunk_files_and_a_manifest_are_written(fmt, strategy):
    chunks, files = render(output_format=fmt, organize=True, strategy=strategy)

    manifest_file = files[-1]
    assert manifest_file.name == "sub/a.pdf.manifest.json"
    manifest = json.loads(manifest_file.data)
    chunk_files = files[:-1]
    assert manifest["strategy"] == strategy
    assert manifest["chunk_count"] == len(chunks)
    assert manifest["files"] == [f.name for f in chunk_files]
    assert all(f.name.endswith(f".{fmt}") and f.data for f in chunk_files)
    assert {c.id for c in chunks} == {f.name.rsplit("/", 1)[1].rsplit(".", 1)[0] for f in chunk_files}
    for f in chunk_files:
        chunk_id = f.name.rsplit("/", 1)[1].rsplit(".", 1)[0]
        expected_text = next(c.text for c in chunks if c.id == chunk_id)
        if fmt == "json":
            assert json.loads(f.data)["chunks"][0]["text"] == expected_text
        elif fmt == "csv":
            assert list(csv.reader(io.StringIO(f.data.decode("utf-8-sig"))))[1][3] == expected_text
        else:
            assert expected_text in f.data.decode("utf-8-sig")


def test_given_by_entity_when_organizing_then_chunks_go_under_each_entity_and_no_entity():
    chunks, files = render(output_format="txt", organize=True, strategy="by_entity")

    names = [f.name for f in files[:-1]]
    first = chunks[0].id
    assert f"by_entity/CTRL-001-01/{first}.txt" in names
    assert f"by_entity/RISK-001-01/{first}.txt" in names
    assert f"by_entity/SOX/{first}.txt" in names
    assert any(name.startswith("by_entity/no-entity/") for name in names)


def test_given_by_document_and_flat_when_organizing_then_folders_follow_the_source_path():
    chunks, by_document = render(output_format="csv", organize=True, strategy="by_document")
    _, flat = render(output_format="csv", organize=True, strategy="flat")

    assert [f.name for f in by_document[:-1]] == [f"by_document/sub/a.pdf/{c.id}.csv" for c in chunks]
    assert [f.name for f in flat[:-1]] == [f"flat/{c.id}.csv" for c in chunks]


def test_given_two_sources_when_organizing_then_manifests_and_chunk_files_do_not_overwrite_each_other():
    layout = {"output_format": "json", "organize": True, "strategy": "flat"}
    _, pdf_files = render(source_path="a.pdf", key="digest-a-pdf", **layout)
    _, docx_files = render(sample_document("docx"), source_path="a.docx", key="digest-a-docx", **layout)

    pdf_names = {f.name for f in pdf_files}
    docx_names = {f.name for f in docx_files}
    assert pdf_names.isdisjoint(docx_names)
    assert "a.pdf.manifest.json" in pdf_names and "a.docx.manifest.json" in docx_names


@pytest.mark.parametrize("bad", ["/etc/passwd", "../escape.pdf", "sub/../../x.pdf", "", "   "])
def test_given_a_path_outside_the_inputs_when_rendering_then_it_is_rejected(bad):
    with pytest.raises(ValueError):
        render(source_path=bad, output_format="json")


def test_given_inconsistent_options_when_building_output_options_then_value_error():
    with pytest.raises(ValueError):
        OutputOptions(output_format="xml")
    with pytest.raises(ValueError):
        OutputOptions(organize=True)
    with pytest.raises(ValueError):
        OutputOptions(organize=True, strategy="by_color")


def test_given_no_chunks_when_rendering_then_a_valid_empty_document_is_written():
    files = render_outputs(
        [],
        document=Document(format="txt", blocks=[]),
        source_path="empty.txt",
        file_hash="0" * 64,
        options=OutputOptions(output_format="json"),
        processing_timestamp=TIMESTAMP,
    )
    payload = json.loads(files[0].data)
    assert (files[0].name, payload["metadata"]["chunk_count"], payload["chunks"]) == ("empty.txt.json", 0, [])

"""Merged cells come back as spans in every format that has them, and the output lists tables as data."""

from __future__ import annotations

import csv
import io
import json

from data_extract.pipeline.chunk import chunk_document
from data_extract.pipeline.extract.docx import extract_docx
from data_extract.pipeline.extract.html import extract_html
from data_extract.pipeline.extract.opendocument import extract_opendocument
from data_extract.pipeline.extract.pptx import extract_pptx
from data_extract.pipeline.extract.spreadsheet import extract_spreadsheet
from data_extract.pipeline.normalize import normalize_document
from data_extract.pipeline.output import OutputOptions, render_outputs
from data_extract.pipeline.types import Block, Document, ExtractOptions, Table, TableCell
from tests.unit.pipeline.test_extract_docx import _cell, _p, _table, build_docx
from tests.unit.pipeline.test_extract_opendocument import build_odf
from tests.unit.pipeline.test_extract_pptx import build_pptx, slide_xml
from tests.unit.pipeline.test_extract_spreadsheet import build_xlsx, sheet_xml


def _spans(table: Table) -> dict[str, tuple[int, int, int, int]]:
    return {cell.text: (cell.row, cell.col, cell.row_span, cell.col_span) for cell in table.cells}


def _only_table(document: Document) -> Table:
    tables = [block.table for block in document.blocks if block.table is not None]
    assert len(tables) == 1
    return tables[0]


def test_given_docx_with_grid_span_and_vertical_merge_when_extracted_then_cells_carry_spans():
    body = _table(
        [
            [_cell(_p("Region"), '<w:vMerge w:val="restart"/>'), _cell(_p("Revenue"), '<w:gridSpan w:val="2"/>')],
            [_cell(_p(""), "<w:vMerge/>"), _cell(_p("2022")), _cell(_p("2023"))],
            [_cell(_p("North")), _cell(_p("410")), _cell(_p("455"))],
        ]
    )
    table = _only_table(extract_docx(build_docx(body), filename="t.docx", options=ExtractOptions()))
    spans = _spans(table)
    assert spans["Region"] == (0, 0, 2, 1)
    assert spans["Revenue"] == (0, 1, 1, 2)
    assert spans["2022"] == (1, 1, 1, 1) and spans["North"] == (2, 0, 1, 1)
    assert table.n_rows == 3 and table.n_cols == 3
    # The plain rows keep today's padded shape.
    assert table.rows[0] == ["Region", "Revenue", ""]


def test_given_xlsx_with_merged_ranges_when_extracted_then_cells_carry_spans():
    xml = sheet_xml({1: ["Region", "Revenue", None], 2: [None, "2022", "2023"], 3: ["North", 410, 455]}, "A1:C3")
    xml = xml.replace(
        "</sheetData>",
        '</sheetData><mergeCells count="2"><mergeCell ref="B1:C1"/><mergeCell ref="A1:A2"/></mergeCells>',
    )
    table = _only_table(
        extract_spreadsheet(build_xlsx([("Sales", xml)]), filename="t.xlsx", options=ExtractOptions())
    )
    spans = _spans(table)
    assert spans["Region"] == (0, 0, 2, 1)
    assert spans["Revenue"] == (0, 1, 1, 2)
    assert spans["North"] == (2, 0, 1, 1)


def test_given_html_with_rowspan_and_colspan_when_extracted_then_cells_sit_in_their_grid_columns():
    page = (
        "<table><thead><tr><th rowspan='2'>Region</th><th colspan='2'>Revenue</th></tr>"
        "<tr><th>2022</th><th>2023</th></tr></thead>"
        "<tbody><tr><td>North</td><td>410</td><td>455</td></tr></tbody></table>"
    )
    table = _only_table(extract_html(page.encode(), filename="t.html", options=ExtractOptions()))
    spans = _spans(table)
    assert spans["Region"] == (0, 0, 2, 1)
    assert spans["Revenue"] == (0, 1, 1, 2)
    # The row under a rowspan starts in the second column, not the first.
    assert spans["2022"] == (1, 1, 1, 1) and spans["2023"] == (1, 2, 1, 1)
    assert table.rows[1] == ["", "2022", "2023"]
    assert table.header_rows == 2
    assert all(cell.header for cell in table.cells if cell.row < 2)
    assert not any(cell.header for cell in table.cells if cell.row == 2)


def test_given_pptx_table_with_grid_span_when_extracted_then_cells_carry_spans():
    frame = (
        '<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="5" name="Table"/><p:cNvGraphicFramePr/><p:nvPr/>'
        '</p:nvGraphicFramePr><p:xfrm/><a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/table">'
        '<a:tbl><a:tblPr firstRow="1"/>'
        '<a:tr><a:tc gridSpan="2"><a:txBody><a:bodyPr/><a:p><a:r><a:t>Revenue</a:t></a:r></a:p></a:txBody></a:tc>'
        '<a:tc hMerge="1"><a:txBody><a:bodyPr/><a:p/></a:txBody></a:tc></a:tr>'
        "<a:tr><a:tc><a:txBody><a:bodyPr/><a:p><a:r><a:t>410</a:t></a:r></a:p></a:txBody></a:tc>"
        "<a:tc><a:txBody><a:bodyPr/><a:p><a:r><a:t>455</a:t></a:r></a:p></a:txBody></a:tc></a:tr>"
        "</a:tbl></a:graphicData></a:graphic></p:graphicFrame>"
    )
    table = _only_table(extract_pptx(build_pptx([slide_xml(frame)]), filename="t.pptx", options=ExtractOptions()))
    assert _spans(table) == {"Revenue": (0, 0, 1, 2), "410": (1, 0, 1, 1), "455": (1, 1, 1, 1)}
    assert table.header_rows == 1


def test_given_odt_table_with_spanned_cells_when_extracted_then_cells_carry_spans():
    body = (
        "<office:text><table:table>"
        "<table:table-row><table:table-cell table:number-columns-spanned='2'>"
        "<text:p>Revenue</text:p></table:table-cell>"
        "<table:covered-table-cell/></table:table-row>"
        "<table:table-row><table:table-cell><text:p>410</text:p></table:table-cell>"
        "<table:table-cell><text:p>455</text:p></table:table-cell></table:table-row>"
        "</table:table></office:text>"
    )
    table = _only_table(extract_opendocument(build_odf(body), filename="t.odt", options=ExtractOptions()))
    assert _spans(table) == {"Revenue": (0, 0, 1, 2), "410": (1, 0, 1, 1), "455": (1, 1, 1, 1)}


def _document_with_tables() -> Document:
    first = Table(
        rows=[["Region", "Revenue", ""], ["North", "410", "455"]],
        cells=[
            TableCell(0, 0, "Region", header=True),
            TableCell(0, 1, "Revenue", col_span=2, header=True),
            TableCell(1, 0, "North"),
            TableCell(1, 1, "410"),
            TableCell(1, 2, "455"),
        ],
        header_rows=1,
        caption="Table 1: Revenue",
        bbox=(72.0, 500.0, 480.0, 600.0),
    )
    second = Table(rows=[["South", "980", "1,015"]], continues_previous=True)
    blocks = [
        Block(kind="paragraph", text="Revenue grew in every region this year.", page=1),
        Block(kind="table", text=first.to_text(), page=1, table=first),
        Block(kind="table", text=second.to_text(), page=2, table=second),
    ]
    return Document(format="pdf", blocks=blocks)


def _render(options: OutputOptions) -> dict[str, bytes]:
    document = normalize_document(_document_with_tables())
    chunks = chunk_document(document, source_key="k", chunk_size=512, overlap=0)
    files = render_outputs(
        chunks,
        document=document,
        source_path="reports/r.pdf",
        file_hash="h",
        options=options,
        processing_timestamp="2024-01-01T00:00:00Z",
    )
    return {f.name: f.data for f in files}


def test_given_a_document_with_tables_when_rendered_as_json_then_tables_are_listed_and_chunks_name_them():
    payload = json.loads(_render(OutputOptions())["reports/r.pdf.json"])
    tables = payload["tables"]
    assert [t["table_id"] for t in tables] == ["t1", "t2"]
    first = tables[0]
    assert first["page"] == 1 and first["n_rows"] == 2 and first["n_cols"] == 3
    assert first["caption"] == "Table 1: Revenue" and first["bbox"] == [72.0, 500.0, 480.0, 600.0]
    assert {"row": 0, "col": 1, "row_span": 1, "col_span": 2, "text": "Revenue", "header": True} in first["cells"]
    assert tables[1]["continued_from"] == "t1" and tables[1]["bbox"] is None
    # Cells of a table without spans are derived from its rows.
    assert [c["text"] for c in tables[1]["cells"]] == ["South", "980", "1,015"]
    table_chunks = [c for c in payload["chunks"] if "text_as_html" in c["metadata"]]
    assert [c["metadata"]["table_id"] for c in table_chunks] == ["t1", "t2"]


def test_given_table_csv_when_rendered_then_one_csv_per_table_beside_the_output():
    files = _render(OutputOptions(output_format="txt", table_csv=True))
    assert set(files) == {"reports/r.pdf.txt", "reports/r.pdf.tables/t1.csv", "reports/r.pdf.tables/t2.csv"}
    rows = list(csv.reader(io.StringIO(files["reports/r.pdf.tables/t1.csv"].decode("utf-8-sig"))))
    assert rows == [["Region", "Revenue", ""], ["North", "410", "455"]]
    # The TXT output keeps tab-separated rows.
    assert "North\t410\t455" in files["reports/r.pdf.txt"].decode("utf-8-sig")


def test_given_per_chunk_layout_when_rendered_then_chunk_files_have_no_tables_array():
    files = _render(OutputOptions(per_chunk=True))
    assert all("tables" not in json.loads(data) for data in files.values())

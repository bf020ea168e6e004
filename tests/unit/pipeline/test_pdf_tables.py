"""PDF tables of every common style, on small PDFs the tests draw themselves.

Each test draws one kind of table (ruled grid, booktabs, a rule under the header only,
whitespace alignment, a spanning header, wrapped cells, a caption, a table continued on
the next page, a rotated page) and checks the cells that come back, not just the text.
"""

from __future__ import annotations

import ctypes
import io
import itertools

import pypdfium2 as pdfium
import pypdfium2.raw as raw

from data_extract.pipeline.extract.pdf import extract_pdf
from data_extract.pipeline.tables import assign_table_ids, tables_payload
from data_extract.pipeline.types import Document, ExtractOptions, Table
from tests.unit.pipeline.pdf_builder import Line, Page, Text, build_pdf

COLUMNS = [72.0, 230.0, 330.0, 430.0]
ROWS = [
    ["Region", "2021", "2022", "2023"],
    ["North", "1,204", "1,310", "1,422"],
    ["South", "980", "1,015", "1,101"],
    ["East", "2,310", "2,402", "2,515"],
    ["West", "1,650", "1,702", "1,799"],
]
PROSE = [
    "The regional figures below were collected by the finance team over three years and",
    "reviewed by the audit committee before they were published in this annual report.",
]


def _extract(data: bytes) -> Document:
    return extract_pdf(data, filename="t.pdf", options=ExtractOptions(ocr=False))


def _tables(document: Document) -> list[Table]:
    return [block.table for block in document.blocks if block.table is not None]


def _cell_rows(table: Table) -> list[list[str]]:
    return [[cell.strip() for cell in row] for row in table.rows]


def _table_rows(
    top: float, rows: list[list[str]], *, leading: float = 16.0, columns: list[float] = COLUMNS
) -> list[Text]:
    items = []
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            if text:
                items.append(Text(columns[c], top - r * leading, text))
    return items


def _prose(top: float) -> list[Text]:
    return [Text(72, top - i * 14, line) for i, line in enumerate(PROSE)]


def test_given_a_fully_ruled_grid_when_extracted_then_every_cell_comes_back_in_place():
    top, leading = 600.0, 20.0
    items = _prose(700) + _table_rows(top, ROWS, leading=leading, columns=[c + 4 for c in COLUMNS])
    ys = [top + 14 - r * leading for r in range(len(ROWS) + 1)]
    xs = [*COLUMNS, 530.0]
    items += [Line(xs[0], y, xs[-1], y) for y in ys] + [Line(x, ys[-1], x, ys[0]) for x in xs]
    tables = _tables(_extract(build_pdf([Page(items=items)])))
    assert len(tables) == 1
    assert _cell_rows(tables[0]) == ROWS
    assert tables[0].bbox is not None


def test_given_a_ruled_grid_with_many_drawing_objects_when_extracted_then_it_is_still_found():
    # Every cell border drawn as its own path: several hundred objects for a small page of text.
    rows = [["Item", "Qty"]] + [[f"Part {i}", str(i * 3)] for i in range(1, 31)]
    top, leading = 740.0, 20.0
    items = _table_rows(top, rows, leading=leading, columns=[76.0, 234.0])
    xs = [72.0, 230.0, 330.0]
    for r in range(len(rows) + 1):
        y = top + 14 - r * leading
        for x0, x1 in itertools.pairwise(xs):
            items += [Line(x0, y, x1, y)] * 4
    for x in xs:
        for r in range(len(rows)):
            y = top + 14 - r * leading
            items += [Line(x, y - leading, x, y)] * 4
    tables = _tables(_extract(build_pdf([Page(items=items)])))
    assert len(tables) == 1
    assert _cell_rows(tables[0])[:3] == [["Item", "Qty"], ["Part 1", "3"], ["Part 2", "6"]]
    assert tables[0].n_rows == len(rows)


def test_given_a_booktabs_table_when_extracted_then_rows_and_header_come_back():
    top = 600.0
    items = _prose(700) + _table_rows(top, ROWS)
    # Top rule, a rule under the header, bottom rule: no vertical rules at all.
    items += [
        Line(70, top + 14, 480, top + 14, 1.2),
        Line(70, top - 5, 480, top - 5, 0.6),
        Line(70, top - 16 * len(ROWS) + 10, 480, top - 16 * len(ROWS) + 10, 1.2),
    ]
    tables = _tables(_extract(build_pdf([Page(items=items)])))
    assert len(tables) == 1
    assert _cell_rows(tables[0]) == ROWS
    assert tables[0].header_rows == 1
    assert all(cell.header for cell in tables[0].cells if cell.row == 0)


def test_given_a_rule_under_the_header_only_when_extracted_then_the_body_is_split_into_cells():
    top = 600.0
    items = _prose(700) + _table_rows(top, ROWS) + [Line(70, top - 5, 480, top - 5)]
    tables = _tables(_extract(build_pdf([Page(items=items)])))
    assert len(tables) == 1
    assert _cell_rows(tables[0]) == ROWS


def test_given_a_table_aligned_by_whitespace_only_when_extracted_then_columns_are_found():
    items = _prose(700) + _table_rows(600, ROWS) + _prose(480)
    document = _extract(build_pdf([Page(items=items)]))
    tables = _tables(document)
    assert len(tables) == 1
    assert _cell_rows(tables[0]) == ROWS
    # The prose around it stays prose, once.
    text = " ".join(document.text.split())
    assert text.count("reviewed by the audit committee") == 2
    assert "1,204" in tables[0].to_text() and "1,204" in text


def test_given_a_header_spanning_two_columns_when_extracted_then_it_is_one_cell_with_a_span():
    top = 600.0
    items = [*_prose(700), Text(262, top + 16, "Revenue (EUR m)")]
    items += _table_rows(
        top,
        [
            ["Segment", "", "2022", "2023"],
            ["Retail", "", "410", "455"],
            ["Wholesale", "", "220", "231"],
            ["Online", "", "98", "140"],
        ],
        columns=[72.0, 200.0, 262.0, 330.0],
    )
    tables = _tables(_extract(build_pdf([Page(items=items)])))
    assert len(tables) == 1
    spanning = [cell for cell in tables[0].cells if cell.text == "Revenue (EUR m)"]
    assert len(spanning) == 1 and spanning[0].col_span == 2 and spanning[0].row == 0
    below = [cell.text for cell in tables[0].cells if cell.row == 1]
    assert below == ["Segment", "2022", "2023"]


def test_given_a_cell_wrapped_over_two_lines_when_extracted_then_it_is_one_cell():
    top = 600.0
    rows = [["Cost type", "2022", "2023"], ["Staff", "410", "455"], ["Total operating", "1,220", "1,231"]]
    items = _prose(700) + _table_rows(top, rows, leading=16.0) + [Text(72, top - 3 * 16 + 5, "expenses")]
    items += [Text(72, top - 4 * 16, "Travel"), Text(230, top - 4 * 16, "98"), Text(330, top - 4 * 16, "140")]
    tables = _tables(_extract(build_pdf([Page(items=items)])))
    assert len(tables) == 1
    assert _cell_rows(tables[0]) == [
        ["Cost type", "2022", "2023"],
        ["Staff", "410", "455"],
        ["Total operating expenses", "1,220", "1,231"],
        ["Travel", "98", "140"],
    ]


def test_given_a_caption_above_a_table_when_extracted_then_it_is_the_caption_not_a_row():
    top = 600.0
    items = [*_prose(700), Text(72, top + 22, "Table 3: Sales by region (units)"), *_table_rows(top, ROWS)]
    document = _extract(build_pdf([Page(items=items)]))
    tables = _tables(document)
    assert len(tables) == 1
    assert tables[0].caption == "Table 3: Sales by region (units)"
    assert _cell_rows(tables[0]) == ROWS
    assert any(block.kind == "caption" for block in document.blocks)


def test_given_a_table_continued_on_the_next_page_when_extracted_then_the_second_part_names_the_first():
    first = _prose(700) + _table_rows(600, ROWS) + [Text(300, 40, "1")]
    second = [
        Text(72, 760, "Annual report 2023"),
        *_table_rows(
            700, [["Centre", "700", "720", "731"], ["Overseas", "310", "330", "365"], ["Other", "12", "15", "19"]]
        ),
    ]
    document = _extract(build_pdf([Page(items=first), Page(items=second)]))
    assign_table_ids(document)
    payload = tables_payload(document)
    assert [(t["table_id"], t["page"], t["continued_from"]) for t in payload] == [("t1", 1, None), ("t2", 2, "t1")]
    assert payload[1]["cells"][0] == {
        "row": 0,
        "col": 0,
        "row_span": 1,
        "col_span": 1,
        "text": "Centre",
        "header": False,
    }


def test_given_prose_with_a_page_number_and_a_running_header_when_extracted_then_no_table():
    lines = [
        "Internal controls over financial reporting were assessed against the framework in force,",
        "and the assessment covered the design and the operating effectiveness of each control.",
        "Deficiencies found during the year were reported to management and to the committee,",
        "which reviewed the remediation plans and the dates by which each would be completed.",
    ]
    items = [Text(72, 760, "Annual report 2023"), Text(480, 760, "Section 4")]
    items += [Text(72, 700 - i * 14, line) for i, line in enumerate(lines)] + [Text(300, 40, "12")]
    assert _tables(_extract(build_pdf([Page(items=items)]))) == []


def test_given_two_columns_of_prose_when_extracted_then_they_are_not_a_table():
    left = [
        "Controls were tested on a sample",
        "of transactions drawn from each",
        "quarter of the financial year and",
        "the results were documented in",
        "the working papers of the audit.",
    ]
    right = [
        "Exceptions were followed up with",
        "the owners of the controls, who",
        "explained the cause and agreed",
        "on actions to prevent the same",
        "exception from happening again.",
    ]
    items = [Text(72, 700 - i * 14, line) for i, line in enumerate(left)]
    items += [Text(320, 700 - i * 14, line) for i, line in enumerate(right)]
    assert _tables(_extract(build_pdf([Page(items=items)]))) == []


def _rotated_ruled_pdf() -> bytes:
    """A landscape table on a portrait page shown with /Rotate 90: text drawn turned in page space."""
    pdf = pdfium.PdfDocument.new()
    width, height = 612.0, 792.0
    page = pdf.new_page(width, height)
    leading = 20.0
    top = 450.0  # in display space (display height = page width)

    def to_page(x: float, y: float) -> tuple[float, float]:
        return width - y, x  # display (x, y) -> unrotated page space for /Rotate 90

    for r, row in enumerate(ROWS):
        for c, text in enumerate(row):
            x, y = to_page(COLUMNS[c] + 4, top - r * leading)
            obj = raw.FPDFPageObj_NewTextObj(pdf.raw, b"Helvetica", ctypes.c_float(10.0))
            encoded = (text + "\x00").encode("utf-16-le")
            buffer = ctypes.create_string_buffer(encoded, len(encoded))
            raw.FPDFText_SetText(obj, ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ushort)))
            raw.FPDFPageObj_Transform(obj, 0, 1, -1, 0, x, y)
            raw.FPDFPage_InsertObject(page.raw, obj)
    ys = [top + 14 - r * leading for r in range(len(ROWS) + 1)]
    xs = [*COLUMNS, 530.0]
    segments = [((xs[0], y), (xs[-1], y)) for y in ys] + [((x, ys[-1]), (x, ys[0])) for x in xs]
    for a, b in segments:
        (ax, ay), (bx, by) = to_page(*a), to_page(*b)
        path = raw.FPDFPageObj_CreateNewPath(ax, ay)
        raw.FPDFPath_LineTo(path, bx, by)
        raw.FPDFPageObj_SetStrokeColor(path, 0, 0, 0, 255)
        raw.FPDFPageObj_SetStrokeWidth(path, ctypes.c_float(0.8))
        raw.FPDFPath_SetDrawMode(path, 0, 1)
        raw.FPDFPage_InsertObject(page.raw, path)
    page.gen_content()
    page.set_rotation(90)
    page.close()
    out = io.BytesIO()
    pdf.save(out)
    pdf.close()
    return out.getvalue()


def test_given_a_ruled_table_on_a_rotated_page_when_extracted_then_rows_read_upright():
    tables = _tables(_extract(_rotated_ruled_pdf()))
    assert len(tables) == 1
    assert _cell_rows(tables[0]) == ROWS


def _with_drawings(items: list[Text | Line], paths: list[tuple[list[tuple[float, float]], bool]]) -> bytes:
    """A page of ``items`` plus stroked paths through the given points (closed when asked)."""
    pdf = pdfium.PdfDocument(build_pdf([Page(items=items)]))
    page = pdf[0]
    for points, closed in paths:
        path = raw.FPDFPageObj_CreateNewPath(*points[0])
        for x, y in points[1:]:
            raw.FPDFPath_LineTo(path, x, y)
        if closed:
            raw.FPDFPath_Close(path)
        raw.FPDFPageObj_SetStrokeColor(path, 0, 0, 0, 255)
        raw.FPDFPageObj_SetStrokeWidth(path, ctypes.c_float(0.8))
        raw.FPDFPath_SetDrawMode(path, 0, 1)
        raw.FPDFPage_InsertObject(page.raw, path)
    page.gen_content()
    page.close()
    out = io.BytesIO()
    pdf.save(out)
    pdf.close()
    return out.getvalue()


def _box(x0: float, y0: float, x1: float, y1: float) -> tuple[list[tuple[float, float]], bool]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)], True


def test_given_a_line_chart_under_labels_that_line_up_when_extracted_then_the_labels_are_not_a_table():
    labels = _prose(700) + _table_rows(600, ROWS)
    # Three data series drawn as polylines across the labels' box, as a chart draws them.
    series = [([(80 + 40 * i, 540 + 8 * k + (12 if i % 2 else 0)) for i in range(11)], False) for k in range(3)]
    assert len(_tables(_extract(_with_drawings(labels, [])))) == 1
    document = _extract(_with_drawings(labels, series))
    assert _tables(document) == []
    assert "1,204" in document.text  # the labels stay in the text


def test_given_bars_drawn_as_stroked_boxes_under_labels_when_extracted_then_the_labels_are_not_a_table():
    labels = _prose(700) + _table_rows(600, ROWS)
    # Bars between the label columns, inside the labels' box, with no text in them.
    bars = [_box(x, 545, x + 20, 565 + 8 * c) for c, x in enumerate((150.0, 275.0, 375.0))]
    assert _tables(_extract(_with_drawings(labels, bars))) == []


def test_given_cells_drawn_as_stroked_boxes_around_their_text_when_extracted_then_the_table_is_kept():
    top, leading = 600.0, 20.0
    items = _prose(700) + _table_rows(top, ROWS, leading=leading, columns=[c + 4 for c in COLUMNS])
    xs = [*COLUMNS, 530.0]
    boxes = [
        _box(xs[c], top - 6 - r * leading, xs[c + 1], top + 14 - r * leading)
        for r in range(len(ROWS))
        for c in range(len(COLUMNS))
    ]
    tables = _tables(_extract(_with_drawings(items, boxes)))
    assert len(tables) == 1
    assert _cell_rows(tables[0]) == ROWS


def test_given_check_boxes_in_a_table_aligned_by_whitespace_when_extracted_then_the_table_is_kept():
    rows = [["Item", "Yes", "No"], ["Power", "", ""], ["Water", "", ""], ["Phone", "", ""], ["Heating", "", ""]]
    items = _prose(700) + _table_rows(600, rows)
    # A square check box under each answer column of every body row.
    boxes = [
        _box(COLUMNS[c] + 2, 600 - r * 16 - 1, COLUMNS[c] + 10, 600 - r * 16 + 7) for r in range(1, 5) for c in (1, 2)
    ]
    labels = [Text(COLUMNS[3], 600 - r * 16, f"note {r}") for r in range(1, 5)]
    unticked = _tables(_extract(_with_drawings(items + labels, [])))
    tables = _tables(_extract(_with_drawings(items + labels, boxes)))
    assert len(unticked) == 1
    assert len(tables) == 1
    assert _cell_rows(tables[0]) == _cell_rows(unticked[0])


def test_given_a_chart_drawn_one_slanted_segment_at_a_time_when_extracted_then_its_labels_are_not_a_table():
    labels = _prose(700) + _table_rows(600, ROWS)
    points = [(110 + 40 * i, 545 + (15 if i % 2 else 0)) for i in range(9)]
    segments = [([a, b], False) for a, b in itertools.pairwise(points)]
    # Level segments are rules, not chart lines: the same labels over them stay a table.
    level = [([(110 + 40 * i, 545), (140 + 40 * i, 545)], False) for i in range(8)]
    assert len(_tables(_extract(_with_drawings(labels, level)))) == 1
    assert _tables(_extract(_with_drawings(labels, segments))) == []

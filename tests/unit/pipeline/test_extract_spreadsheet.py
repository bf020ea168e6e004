"""Spreadsheet extractor: XLSX and ODS workbooks written as XML parts in the test."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest

from data_extract.pipeline.extract import spreadsheet
from data_extract.pipeline.extract.spreadsheet import extract_spreadsheet, occupied_area, render_cell
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
HIDDEN_STATE = ' state="hidden"'


def _column(index: int) -> str:
    name = ""
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _cell(ref: str, value: object) -> str:
    if value is None:
        return f'<c r="{ref}" s="1"/>'
    if isinstance(value, str) and value.startswith("="):
        return f'<c r="{ref}"><f>{value[1:]}</f></c>'
    if isinstance(value, str):
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    return f'<c r="{ref}"><v>{value}</v></c>'


def sheet_xml(rows: dict[int, list[object]], dimension: str = "A1") -> str:
    body = "".join(
        f'<row r="{r}">' + "".join(_cell(f"{_column(c)}{r}", v) for c, v in enumerate(values, start=1)) + "</row>"
        for r, values in sorted(rows.items())
    )
    return f'<worksheet xmlns="{MAIN}"><dimension ref="{dimension}"/><sheetData>{body}</sheetData></worksheet>'


def build_xlsx(sheets: list[tuple[str, str]], *, hidden: frozenset[str] = frozenset()) -> bytes:
    workbook = (
        f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
        + "".join(
            f'<sheet name="{name}" sheetId="{i}" r:id="rId{i}"{HIDDEN_STATE if name in hidden else ""}/>'
            for i, (name, _) in enumerate(sheets, start=1)
        )
        + "</sheets></workbook>"
    )
    rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="{REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(sheets) + 1)
        )
        + f'<Relationship Id="rIdS" Type="{REL}/styles" Target="styles.xml"/></Relationships>'
    )
    # Style 1 is a date format, so numbers in cells with s="2" read as dates.
    styles = (
        f'<styleSheet xmlns="{MAIN}"><cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="0"/>'
        '<xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>'
    )
    content_types = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        + "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, len(sheets) + 1)
        )
        + "</Types>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", content_types)
        zf.writestr(
            "_rels/.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        zf.writestr("xl/workbook.xml", workbook)
        zf.writestr("xl/_rels/workbook.xml.rels", rels)
        zf.writestr("xl/styles.xml", styles)
        for i, (_, xml) in enumerate(sheets, start=1):
            zf.writestr(f"xl/worksheets/sheet{i}.xml", xml)
    return buffer.getvalue()


def test_given_workbook_with_sheets_when_extracted_then_one_table_per_sheet_in_order_with_sheet_names():
    data = build_xlsx(
        [
            ("Revenue", sheet_xml({1: ["Region", "Amount"], 2: ["North", 1.0], 3: ["South", 2.5]})),
            ("Empty", sheet_xml({})),
            ("Notes", sheet_xml({2: ["only", "row"]})),
        ]
    )
    document = extract_spreadsheet(data, filename="book.xlsx", options=ExtractOptions())

    assert [(b.kind, b.sheet) for b in document.blocks] == [("table", "Revenue"), ("table", "Notes")]
    assert document.blocks[0].table.rows == [["Region", "Amount"], ["North", "1"], ["South", "2.5"]]
    assert document.blocks[1].meta == {"first_row": 2, "last_row": 2}
    assert document.metadata["sheet_names"] == ["Revenue", "Empty", "Notes"]
    assert document.metadata["sheet_count"] == 3
    assert document.metadata["empty_sheets"] == ["Empty"]
    assert document.metadata["row_count"] == 4
    assert document.format == "xlsx"


def test_given_large_sheet_when_extracted_then_it_is_split_into_blocks_without_repeating_rows():
    rows = {r: [f"r{r}", r] for r in range(1, 1202)}
    document = extract_spreadsheet(
        build_xlsx([("Big", sheet_xml(rows))]), filename="b.xlsx", options=ExtractOptions()
    )

    assert [len(b.table.rows) for b in document.blocks] == [500, 500, 201]
    assert [(b.meta["first_row"], b.meta["last_row"]) for b in document.blocks] == [
        (1, 500),
        (501, 1000),
        (1001, 1201),
    ]
    assert document.blocks[1].table.rows[0] == ["r501", "501"]


def test_given_formulas_without_cached_values_when_extracted_then_a_warning_says_so():
    data = build_xlsx([("Calc", sheet_xml({1: [10, 20, "=A1+B1"]}))])
    document = extract_spreadsheet(data, filename="f.xlsx", options=ExtractOptions())

    assert document.blocks[0].table.rows == [["10", "20"]]
    assert document.metadata["uncached_formula_cells"] == 1
    assert any("not cached" in warning for warning in document.warnings)


def test_given_inflated_declared_dimension_and_styled_far_cell_when_extracted_then_it_reads_only_real_cells():
    rows = {1: ["a", "b"], 2: ["c", "d"], 1048000: [None]}
    data = build_xlsx([("Inflated", sheet_xml(rows, dimension="A1:XFD1048576"))])
    document = extract_spreadsheet(data, filename="i.xlsx", options=ExtractOptions())

    assert document.blocks[0].table.rows == [["a", "b"], ["c", "d"]]


def test_given_far_apart_values_when_extracted_then_too_much_text_before_the_reader_allocates_the_gap():
    data = build_xlsx([("Sparse", sheet_xml({1: ["start"], 900000: ["end"]}))])
    with pytest.raises(ExtractionError) as caught:
        extract_spreadsheet(data, filename="s.xlsx", options=ExtractOptions(max_cells=100_000))
    assert caught.value.error_type == ErrorType.TOO_MUCH_TEXT
    assert "Sparse" in caught.value.message


def test_given_more_cells_than_allowed_when_extracted_then_too_much_text():
    rows = {r: list(range(10)) for r in range(1, 101)}
    with pytest.raises(ExtractionError) as caught:
        extract_spreadsheet(
            build_xlsx([("S", sheet_xml(rows))]), filename="s.xlsx", options=ExtractOptions(max_cells=500)
        )
    assert caught.value.error_type == ErrorType.TOO_MUCH_TEXT


def test_given_more_sheets_than_allowed_when_extracted_then_too_many_pages():
    data = build_xlsx([(f"S{i}", sheet_xml({1: ["x"]})) for i in range(4)])
    with pytest.raises(ExtractionError) as caught:
        extract_spreadsheet(data, filename="s.xlsx", options=ExtractOptions(max_pages=3))
    assert caught.value.error_type == ErrorType.TOO_MANY_PAGES


def test_given_hidden_sheet_when_extracted_then_it_is_read_and_listed():
    data = build_xlsx(
        [("Shown", sheet_xml({1: ["v"]})), ("Secret", sheet_xml({1: ["hidden value"]}))], hidden={"Secret"}
    )
    document = extract_spreadsheet(data, filename="h.xlsx", options=ExtractOptions())

    assert "hidden value" in document.text
    assert document.metadata["hidden_sheets"] == ["Secret"]


def test_given_ods_workbook_when_extracted_then_sheets_are_read():
    content = (
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="Budget">'
        '<table:table-row><table:table-cell office:value-type="string"><text:p>Item</text:p></table:table-cell>'
        '<table:table-cell office:value-type="string"><text:p>Cost</text:p></table:table-cell></table:table-row>'
        '<table:table-row><table:table-cell office:value-type="string"><text:p>Paper</text:p></table:table-cell>'
        '<table:table-cell office:value-type="float" office:value="12"><text:p>12</text:p></table:table-cell>'
        '</table:table-row><table:table-row table:number-rows-repeated="1048570">'
        '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
        "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet", compress_type=zipfile.ZIP_STORED)
        zf.writestr("content.xml", content)
        zf.writestr(
            "META-INF/manifest.xml",
            '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
            '<manifest:file-entry manifest:full-path="/" '
            'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
            '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
            "</manifest:manifest>",
        )
    document = extract_spreadsheet(buffer.getvalue(), filename="b.ods", options=ExtractOptions())

    assert document.format == "ods"
    assert document.blocks[0].sheet == "Budget"
    assert document.blocks[0].table.rows == [["Item", "Cost"], ["Paper", "12"]]


def test_given_password_protected_ods_when_extracted_then_encrypted():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", b"\x8f\x02 encrypted bytes")
        zf.writestr(
            "META-INF/manifest.xml",
            '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
            '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
            '<manifest:encryption-data manifest:checksum-type="SHA1/1K"/></manifest:file-entry></manifest:manifest>',
        )
    with pytest.raises(ExtractionError) as caught:
        extract_spreadsheet(buffer.getvalue(), filename="p.ods", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.ENCRYPTED


def test_given_encrypted_ole_workbook_when_extracted_then_encrypted():
    olefile = pytest.importorskip("olefile")
    assert olefile  # the encrypted container is recognised through olefile
    with pytest.raises(ExtractionError) as caught:
        spreadsheet.extract_spreadsheet(_encrypted_package(), filename="p.xlsx", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.ENCRYPTED


def _encrypted_package() -> bytes:
    """A minimal OLE2 compound file holding EncryptionInfo and EncryptedPackage streams (as Office writes)."""
    sector = 512
    entries = [("Root Entry", 5, 0), ("EncryptionInfo", 2, 1), ("EncryptedPackage", 2, 2)]
    header = bytearray(sector)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    header[0x18:0x1A] = (0x003E).to_bytes(2, "little")  # minor version
    header[0x1A:0x1C] = (3).to_bytes(2, "little")  # major version 3: 512-byte sectors
    header[0x1C:0x1E] = (0xFFFE).to_bytes(2, "little")  # little endian
    header[0x1E:0x20] = (9).to_bytes(2, "little")  # sector shift
    header[0x20:0x22] = (6).to_bytes(2, "little")  # mini sector shift
    header[0x2C:0x30] = (1).to_bytes(4, "little")  # one FAT sector
    header[0x30:0x34] = (1).to_bytes(4, "little")  # directory starts at sector 1
    header[0x38:0x3C] = (0x1000).to_bytes(4, "little")  # mini stream cutoff
    header[0x3C:0x40] = (0xFFFFFFFE).to_bytes(4, "little")  # no mini FAT
    header[0x44:0x48] = (0xFFFFFFFE).to_bytes(4, "little")  # no DIFAT sectors
    header[0x4C:0x50] = (0).to_bytes(4, "little")  # FAT in sector 0
    for i in range(1, 109):
        header[0x4C + 4 * i : 0x50 + 4 * i] = (0xFFFFFFFF).to_bytes(4, "little")
    fat = bytearray(b"\xff" * sector)
    fat[0:4] = (0xFFFFFFFD).to_bytes(4, "little")  # sector 0: FAT
    fat[4:8] = (0xFFFFFFFE).to_bytes(4, "little")  # sector 1: directory, end of chain
    directory = bytearray()
    for index, (name, kind, _) in enumerate(entries):
        entry = bytearray(128)
        encoded = (name + "\0").encode("utf-16-le")
        entry[0 : len(encoded)] = encoded
        entry[0x40:0x42] = len(encoded).to_bytes(2, "little")
        entry[0x42] = kind
        entry[0x43] = 1  # black
        entry[0x44:0x48] = (0xFFFFFFFF).to_bytes(4, "little")  # left sibling
        entry[0x48:0x4C] = (2 if index == 1 else 0xFFFFFFFF).to_bytes(4, "little")  # right sibling
        entry[0x4C:0x50] = (1 if index == 0 else 0xFFFFFFFF).to_bytes(4, "little")  # child
        entry[0x74:0x78] = (0xFFFFFFFE).to_bytes(4, "little")  # start sector (empty stream)
        directory += entry
    directory += b"\x00" * (sector - len(directory))
    return bytes(header) + bytes(fat) + bytes(directory)


def test_given_non_workbook_bytes_when_extracted_then_corrupt():
    with pytest.raises(ExtractionError) as caught:
        extract_spreadsheet(b"just some text", filename="x.xlsx", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.CORRUPT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1"),
        (0.1 + 0.2, "0.3"),
        (2.5, "2.5"),
        (True, "TRUE"),
        (dt.datetime(2024, 3, 5), "2024-03-05"),
        (dt.datetime(2024, 3, 5, 14, 30), "2024-03-05T14:30:00"),
        (dt.date(2024, 3, 5), "2024-03-05"),
        (dt.time(9, 15), "09:15:00"),
        (dt.timedelta(hours=26, minutes=5), "26:05:00"),
        ("text", "text"),
    ],
)
def test_given_cell_values_when_rendered_then_no_float_noise_and_iso_dates(value, expected):
    assert render_cell(value) == expected


def test_given_sheet_xml_when_measured_then_the_occupied_rectangle_ignores_formatting_only_cells():
    xml = sheet_xml({2: ["a", None, "c"], 5: [None, "b"], 1048000: [None]}).encode()
    assert occupied_area(xml) == (5 - 2 + 1) * 3

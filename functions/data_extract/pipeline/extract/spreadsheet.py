"""Spreadsheets (XLSX, XLSM, XLS, ODS) -> one table block per sheet (or per 500-row slice), read with calamine.

calamine (Rust) reads cached formula values, legacy BIFF ``.xls`` and ODS, and sizes a sheet by the cells it
actually holds, so an "inflated" declared dimension (``<dimension ref="A1:Z1048576"/>`` over a few cells) costs
nothing. What calamine cannot survive is a sheet whose *occupied* cells lie far apart (A1 and ZZ500000 in a 5 KB
file): it allocates the whole rectangle. So for XLSX the occupied rectangle of every sheet is measured from the
sheet XML before calamine opens it (rows and the first/last cell of each row, no full parse), and a rectangle
above ``options.max_cells`` fails the file with ``TOO_MUCH_TEXT`` instead of exhausting memory. Legacy ``.xls``
caps a sheet at 65,536 x 256 cells; ODS sheets are measured by calamine after loading.

Decision on ``max_cells``: exceeding it fails the file (``TOO_MUCH_TEXT``) rather than truncating it, because a
silently partial workbook in an audit corpus is worse than a clear, actionable failure; the limit is an option.

Rendering: numbers without float noise (``1.0`` -> ``1``, 15 significant digits like Excel), booleans as
TRUE/FALSE, dates/times ISO 8601, durations as ``[h]:mm:ss``. Trailing empty cells and empty rows are dropped; each
block's ``meta`` carries the 1-based sheet rows it covers. Formulas without cached values (files written by
libraries that do not calculate) read as empty cells and are reported in a warning.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from data_extract.pipeline.extract.limits import TextLimit, check_page_limit
from data_extract.pipeline.extract.ooxml import (
    ZIP_ERRORS,
    inspect_zip,
    ole_container_error,
    parse_xml,
    rels_part_for,
    resolve_target,
)
from data_extract.pipeline.ole import OLE_MAGIC
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions, Table, TableCell

if TYPE_CHECKING:
    from python_calamine import CalamineSheet, CalamineWorkbook

ROWS_PER_BLOCK = 500

_ROW_OPEN = re.compile(rb"(<(?:[\w.-]+:)?row)[\s>]")
_ROW_CLOSE = re.compile(rb"</(?:[\w.-]+:)?row>")
_ROW_NUMBER = re.compile(rb'\sr="(\d{1,7})"')
# Starts with a literal so the regex engine can skip ahead quickly (a leading optional prefix group is 6x slower).
_ROW_ATTRIBUTE = re.compile(rb'row\s[^>]*?\br="(\d{1,9})"')
_THREE_LETTER_REF = re.compile(rb' r="[A-Za-z]{3}\d')
_TWO_LETTER_REF = re.compile(rb' r="[A-Za-z]{2}\d')
_CELL_OPEN = re.compile(rb"<(?:[\w.-]+:)?c[\s>/]")
_CELL_REF = re.compile(rb'\sr="\$?([A-Za-z]{1,3})\$?\d{1,7}"')
# A formula followed directly by the end of its cell (or by an empty value) has no cached result.
_UNCACHED_FORMULA = re.compile(
    rb"(?:</(?:[\w.-]+:)?f>|<(?:[\w.-]+:)?f\b[^>]*/>)\s*"
    rb"(?:<(?:[\w.-]+:)?v\s*/>|<(?:[\w.-]+:)?v>\s*</(?:[\w.-]+:)?v>)?\s*</(?:[\w.-]+:)?c>"
)


def _column_number(letters: bytes) -> int:
    number = 0
    for byte in letters.upper():
        number = number * 26 + (byte - 64)
    return number


def area_upper_bound(sheet_xml: bytes) -> int | None:
    """A cheap upper bound of the occupied rectangle, from C-speed scans only; None when the XML is unusual.

    Rows: the largest row number among rows and among cell references with at least as many digits (few matches).
    Columns: 26, 702 or 16,384 depending on the longest column name referenced.
    """
    if any(sep + b'r="' in sheet_xml for sep in (b"\n", b"\t", b"\r")):
        return None  # attributes separated by other whitespace: leave it to the exact scan
    row_numbers = _ROW_ATTRIBUTE.findall(sheet_xml)
    if not row_numbers:
        return None
    digits = max(len(number) for number in row_numbers)
    max_row = max(int(number) for number in row_numbers)
    longer_refs = re.findall(rb' r="[A-Za-z]{1,3}(\d{%d,})"' % digits, sheet_xml)
    if longer_refs:
        max_row = max(max_row, *(int(number) for number in longer_refs))
    if _THREE_LETTER_REF.search(sheet_xml):
        columns = 16_384
    elif _TWO_LETTER_REF.search(sheet_xml):
        columns = 702
    else:
        columns = 26
    return max_row * columns


def occupied_area(sheet_xml: bytes) -> int:
    """Cells in the rectangle spanned by a worksheet's non-empty cells (what calamine will allocate).

    Rows come in order and cells within a row in column order, so the first and last non-empty cell of each row
    bound the columns. Self-closing cells (``<c r="A9" s="1"/>``, formatting only) hold no value and are ignored,
    as calamine ignores them. Cells without an ``r`` reference are placed by their position in the row.
    """
    row_open = _ROW_OPEN.search(sheet_xml)
    if row_open is None:
        return 0
    row_token = row_open.group(1)  # b"<row" or b"<x:row": text content cannot hold a "<"
    min_row = min_col = None
    max_row = max_col = 0
    row_number = 0
    for chunk in _ROW_CLOSE.split(sheet_xml)[:-1]:
        row_start = max(chunk.rfind(row_token + b" "), chunk.rfind(row_token + b">"))
        tag_end = chunk.find(b">", row_start)
        if row_start < 0 or tag_end < 0:
            continue
        number = _ROW_NUMBER.search(chunk, row_start, tag_end)
        row_number = int(number.group(1)) if number else row_number + 1
        bounds = _row_column_bounds(chunk, tag_end)
        if bounds is None:
            continue
        first_col, last_col = bounds
        min_row = row_number if min_row is None else min(min_row, row_number)
        max_row = max(max_row, row_number)
        min_col = first_col if min_col is None else min(min_col, first_col)
        max_col = max(max_col, last_col)
    if min_row is None or min_col is None:
        return 0
    return (max_row - min_row + 1) * (max_col - min_col + 1)


def _row_column_bounds(chunk: bytes, start: int) -> tuple[int, int] | None:
    """(first, last) column of the non-empty cells of one row's XML, or None when it has none."""
    first_col = None
    first_pos = -1
    position = 0
    search_from = start
    while True:
        match = _CELL_OPEN.search(chunk, search_from)
        if match is None:
            return None
        position += 1
        tag_end = chunk.find(b">", match.start())
        if tag_end < 0:
            return None
        if chunk[tag_end - 1] != 0x2F:  # not "/>": the cell has content
            first_col = _cell_column(chunk, match.start(), tag_end) or position
            first_pos = match.start()
            cell_token = match.group(0)[:-1]  # b"<c" or b"<x:c"
            break
        search_from = tag_end
    last_col = first_col
    end = len(chunk)
    while True:
        pos = max(
            chunk.rfind(cell_token + b" ", first_pos + 1, end), chunk.rfind(cell_token + b">", first_pos + 1, end)
        )
        if pos < 0:
            break
        tag_end = chunk.find(b">", pos)
        if chunk[tag_end - 1] != 0x2F:
            ref = _cell_column(chunk, pos, tag_end)
            last_col = ref if ref is not None else first_col + chunk.count(cell_token, first_pos + 1, pos + 1)
            break
        end = pos
    return first_col, max(first_col, last_col)


def _cell_column(chunk: bytes, cell_pos: int, tag_end: int) -> int | None:
    ref = _CELL_REF.search(chunk, cell_pos, tag_end)
    return _column_number(ref.group(1)) if ref else None


def render_cell(value: object) -> str:
    """One cell as text: no float noise, ISO dates, Excel-style booleans."""
    if value.__class__ is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    if isinstance(value, dt.datetime):
        if value.hour == value.minute == value.second == value.microsecond == 0:
            return value.date().isoformat()
        return value.isoformat(timespec="seconds" if value.microsecond == 0 else "milliseconds")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        total = int(value.total_seconds())
        sign = "-" if total < 0 else ""
        hours, rest = divmod(abs(total), 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{sign}{hours}:{minutes:02d}:{seconds:02d}"
    return str(value)


def _xlsx_sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> worksheet part, from xl/workbook.xml and its relationships (Transitional or Strict)."""
    names = {info.filename.lower(): info.filename for info in zf.infolist()}
    workbook = names.get("xl/workbook.xml")
    if workbook is None:
        return {}
    root = parse_xml(zf.read(workbook), part=workbook, recover=True)
    rels_name = names.get(rels_part_for("xl/workbook.xml").lower())
    targets: dict[str, str] = {}
    if rels_name is not None:
        rels_root = parse_xml(zf.read(rels_name), part=rels_name, recover=True)
        for rel in rels_root:
            if rel.get("Id") and rel.get("Target"):
                targets[rel.get("Id")] = resolve_target("xl/workbook.xml", rel.get("Target"))
    parts: dict[str, str] = {}
    for el in root.iter():
        if not isinstance(el.tag, str) or not el.tag.endswith("}sheet"):
            continue
        rel_id = next((v for k, v in el.attrib.items() if k.endswith("}id")), None)
        target = targets.get(rel_id or "")
        if el.get("name") and target and target.lower() in names:
            parts[el.get("name")] = names[target.lower()]
    return parts


def _precheck_xlsx(data: bytes, options: ExtractOptions) -> dict[str, int]:
    """Refuse sheets whose occupied rectangle exceeds max_cells; count formulas without cached values per sheet."""
    uncached: dict[str, int] = {}
    budget = options.max_unzipped_bytes
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for sheet_name, part in _xlsx_sheet_parts(zf).items():
            info = zf.getinfo(part)
            budget -= info.file_size
            if budget < 0:
                raise ExtractionError(ErrorType.ZIP_BOMB, "The workbook's sheets expand beyond the allowed size.")
            xml = zf.read(part)
            bound = area_upper_bound(xml)
            area = bound if bound is not None and bound <= options.max_cells else occupied_area(xml)
            if area > options.max_cells:
                raise ExtractionError(
                    ErrorType.TOO_MUCH_TEXT,
                    f"Sheet '{sheet_name}' spans {area} cells (limit {options.max_cells}).",
                    sheet=sheet_name,
                    cells=area,
                    max_cells=options.max_cells,
                )
            if any(marker in xml for marker in (b"<f>", b"<f ", b"<f/", b":f>", b":f ", b":f/")):
                count = len(_UNCACHED_FORMULA.findall(xml))
                if count:
                    uncached[sheet_name] = count
    return uncached


def _ods_is_encrypted(data: bytes, names: list[str]) -> bool:
    if "META-INF/manifest.xml" not in names:
        return False
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        if zf.getinfo("META-INF/manifest.xml").file_size > 1_000_000:
            return False  # a manifest lists parts; a huge one is not a real manifest
        return b"encryption-data" in zf.read("META-INF/manifest.xml")


def _container_format(data: bytes, filename: str) -> str:
    if data.startswith(OLE_MAGIC):
        return "xls"
    if data.startswith(b"PK"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = {name.lower() for name in zf.namelist()}
        except ZIP_ERRORS as exc:
            raise ExtractionError(ErrorType.CORRUPT, f"The workbook is not a readable ZIP package ({exc}).") from exc
        if "xl/workbook.xml" in names:
            return "xlsx"
        if "xl/workbook.bin" in names:
            return "xlsb"
        if "content.xml" in names:
            return "ods"
        raise ExtractionError(
            ErrorType.CORRUPT, "The ZIP package holds no workbook (xl/workbook.xml or content.xml)."
        )
    raise ExtractionError(ErrorType.CORRUPT, "The file is not a spreadsheet calamine can read (unknown container).")


def is_parser_failure(exc: BaseException) -> bool:
    """Errors a native parser raises on bad input: ordinary exceptions and pyo3's PanicException, which derives
    from BaseException. Interpreter exits and interrupts are not parser failures."""
    return not isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError))


def _open_workbook(data: bytes, container: str) -> CalamineWorkbook:
    import python_calamine

    try:
        return python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except python_calamine.PasswordError as exc:
        raise ExtractionError(ErrorType.ENCRYPTED, "The workbook is password-protected.") from exc
    except BaseException as exc:
        if not is_parser_failure(exc):
            raise
        message = str(exc).lower()
        if "password" in message or "encrypt" in message:
            raise ExtractionError(ErrorType.ENCRYPTED, "The workbook is password-protected.") from exc
        raise ExtractionError(
            ErrorType.CORRUPT, f"The {container.upper()} workbook cannot be read ({type(exc).__name__}: {exc})."
        ) from exc


@dataclass
class _WorkbookRead:
    """What reading the sheets of a workbook found, sheet by sheet."""

    limit: TextLimit
    blocks: list[Block] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sheet_names: list[str] = field(default_factory=list)
    empty_sheets: list[str] = field(default_factory=list)
    hidden_sheets: list[str] = field(default_factory=list)
    unreadable_sheets: list[str] = field(default_factory=list)
    row_count: int = 0
    cells_read: int = 0


def extract_spreadsheet(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    container = _container_format(data, filename)
    uncached = _check_container(data, container, options)
    workbook = _open_workbook(data, container)
    read = _WorkbookRead(limit=TextLimit(options))
    try:
        _read_sheets(workbook, options, read)
    finally:
        workbook.close()

    if read.unreadable_sheets and len(read.unreadable_sheets) == len(read.sheet_names):
        raise ExtractionError(ErrorType.CORRUPT, "No sheet of the workbook could be read.")
    for sheet_name, count in uncached.items():
        read.warnings.append(
            f"Sheet '{sheet_name}' has {count} formula cell(s) whose values were not cached by the program that "
            "saved the file; they read as empty. Open and save the file in a spreadsheet program to compute them."
        )
    doc_format = "xls" if container == "xls" else "ods" if container == "ods" else "xlsx"
    return Document(
        format=doc_format,
        blocks=read.blocks,
        metadata=_workbook_metadata(read, container, uncached),
        warnings=read.warnings,
    )


def _check_container(data: bytes, container: str, options: ExtractOptions) -> dict[str, int]:
    """Refuse encrypted and oversized containers before calamine opens them; for XLSX, the formula cells
    without cached values per sheet."""
    if container == "xls":
        ole_error = ole_container_error(data, "XLSX")
        if ole_error is not None and ole_error.error_type == ErrorType.ENCRYPTED:
            raise ole_error
        return {}
    names = inspect_zip(data, options, container.upper())
    if container == "ods" and _ods_is_encrypted(data, names):
        raise ExtractionError(ErrorType.ENCRYPTED, "The ODS workbook is password-protected.")
    if container != "xlsx":
        return {}
    try:
        return _precheck_xlsx(data, options)
    except ExtractionError:
        raise
    except (*ZIP_ERRORS, KeyError, RuntimeError) as exc:
        raise ExtractionError(ErrorType.CORRUPT, f"The XLSX workbook cannot be read ({exc}).") from exc


def _read_sheets(workbook: CalamineWorkbook, options: ExtractOptions, read: _WorkbookRead) -> None:
    import python_calamine

    try:
        metadata_list = list(workbook.sheets_metadata)
    except BaseException as exc:
        if not is_parser_failure(exc):
            raise
        raise ExtractionError(ErrorType.CORRUPT, "The workbook's sheet list cannot be read.") from exc
    check_page_limit(len(metadata_list), options, "sheets")
    for sheet_meta in metadata_list:
        name = sheet_meta.name
        read.sheet_names.append(name)
        if sheet_meta.visible != python_calamine.SheetVisibleEnum.Visible:
            read.hidden_sheets.append(name)
        if sheet_meta.typ not in (
            python_calamine.SheetTypeEnum.WorkSheet,
            python_calamine.SheetTypeEnum.MacroSheet,
        ):
            read.empty_sheets.append(name)  # chart and dialog sheets hold no cells
            continue
        _read_sheet(workbook, name, options, read)


def _read_sheet(workbook: CalamineWorkbook, name: str, options: ExtractOptions, read: _WorkbookRead) -> None:
    """One worksheet's blocks; an unreadable sheet is skipped with a warning, an oversized one fails the file."""
    try:
        sheet = workbook.get_sheet_by_name(name)
        # skip_empty_area: rows start at the first occupied row (sheet.start), not at row 1.
        rows = sheet.to_python(skip_empty_area=True)
    except BaseException as exc:
        if not is_parser_failure(exc):
            raise
        read.warnings.append(f"Sheet '{name}' could not be read ({type(exc).__name__}) and was skipped.")
        read.unreadable_sheets.append(name)
        return
    read.cells_read += sheet.height * sheet.width
    if read.cells_read > options.max_cells:
        raise ExtractionError(
            ErrorType.TOO_MUCH_TEXT,
            f"The workbook holds more than {options.max_cells} cells (sheet '{name}').",
            sheet=name,
            max_cells=options.max_cells,
        )
    first_row = (sheet.start[0] + 1) if sheet.start else 1
    first_col = sheet.start[1] if sheet.start else 0
    merged = _merged_ranges(sheet)
    sheet_blocks, sheet_rows = _sheet_blocks(rows, name, first_row, read.limit, merged, first_col)
    if not sheet_blocks:
        read.empty_sheets.append(name)
        return
    read.blocks.extend(sheet_blocks)
    read.row_count += sheet_rows


def _workbook_metadata(read: _WorkbookRead, container: str, uncached: dict[str, int]) -> dict[str, object]:
    metadata: dict[str, object] = {
        "sheet_names": read.sheet_names,
        "sheet_count": len(read.sheet_names),
        "row_count": read.row_count,
        "empty_sheets": read.empty_sheets,
        "container": container,
    }
    if read.hidden_sheets:
        metadata["hidden_sheets"] = read.hidden_sheets
    if read.unreadable_sheets:
        metadata["unreadable_sheets"] = read.unreadable_sheets
    if uncached:
        metadata["uncached_formula_cells"] = sum(uncached.values())
    return metadata


def _merged_ranges(sheet: CalamineSheet) -> list[tuple[int, int, int, int]]:
    """A sheet's merged ranges as 0-based (first row, first col, last row, last col); [] when unknown."""
    try:
        ranges = sheet.merged_cell_ranges or []
    except BaseException as exc:
        if not is_parser_failure(exc):
            raise
        return []
    out = []
    for (r0, c0), (r1, c1) in ranges:
        if r1 > r0 or c1 > c0:
            out.append((r0, c0, r1, c1))
    return out


def _table_cells(
    rows: list[list[str]], row_numbers: list[int], merged: list[tuple[int, int, int, int]], first_col: int
) -> list[TableCell]:
    """Cells of a slice of sheet rows, merged ranges as spans over the rows the slice holds."""
    position = {number - 1: index for index, number in enumerate(row_numbers)}  # 0-based sheet row -> table row
    anchors: dict[tuple[int, int], tuple[int, int]] = {}
    covered: set[tuple[int, int]] = set()
    for r0, c0, r1, c1 in merged:
        present = [position[r] for r in range(r0, r1 + 1) if r in position]
        if not present or r0 not in position:
            continue
        anchors[(position[r0], c0 - first_col)] = (len(present), c1 - c0 + 1)
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                if (r, c) != (r0, c0) and r in position:
                    covered.add((position[r], c - first_col))
    cells: list[TableCell] = []
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            if (r, c) in covered or not text.strip():
                continue
            row_span, col_span = anchors.get((r, c), (1, 1))
            cells.append(TableCell(row=r, col=c, text=text.strip(), row_span=row_span, col_span=col_span))
    return cells


def _sheet_blocks(
    sheet_rows: Sequence[Sequence[object]],
    name: str,
    first_row: int,
    limit: TextLimit,
    merged: list[tuple[int, int, int, int]] | None = None,
    first_col: int = 0,
) -> tuple[list[Block], int]:
    """Non-empty rows of one sheet, sliced into blocks of ROWS_PER_BLOCK rows with their sheet row numbers."""
    blocks: list[Block] = []
    rows: list[list[str]] = []
    row_numbers: list[int] = []
    total_rows = 0

    def flush() -> None:
        table = Table(rows=rows[:])
        if merged:
            table.cells = _table_cells(rows, row_numbers, merged, first_col)
        if blocks:
            table.continues_previous = True  # the next slice of the same sheet
        text = limit.add(table.to_text())
        blocks.append(
            Block(
                kind="table",
                text=text,
                sheet=name,
                table=table,
                meta={"first_row": row_numbers[0], "last_row": row_numbers[-1]},
            )
        )
        rows.clear()
        row_numbers.clear()

    for offset, raw in enumerate(sheet_rows):
        cells = [value if value.__class__ is str else render_cell(value) for value in raw]
        while cells and not cells[-1].strip():
            cells.pop()
        if not cells:
            continue
        rows.append(cells)
        row_numbers.append(first_row + offset)
        total_rows += 1
        if len(rows) >= ROWS_PER_BLOCK:
            flush()
    if rows:
        flush()
    return blocks, total_rows

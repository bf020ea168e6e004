"""Tables: rows and cells through content-control wrappers, horizontal merges (``gridSpan``, ``gridBefore``,
``gridAfter``) padded so columns stay aligned, vertical merges (``vMerge``) as row spans, header rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lxml import etree

from data_extract.pipeline.extract.docx.names import BLOCK_KINDS, Names
from data_extract.pipeline.extract.docx.values import parse_int
from data_extract.pipeline.types import Table, TableCell


@dataclass
class _Row:
    texts: list[str]  # one per grid column, spans padded with empty cells
    cells: list[TableCell]  # the cells this row starts
    continued: list[tuple[int, TableCell]]  # grid column -> the cell a vMerge carries on below this row
    is_header: bool


def read_table(tbl: etree._Element, n: Names, cell_text: Callable[[etree._Element], str]) -> Table:
    """One ``w:tbl``; ``cell_text`` renders a cell's blocks (a nested table stays inside its cell's text)."""
    rows: list[list[str]] = []
    cells: list[TableCell] = []
    open_merges: dict[int, TableCell] = {}  # grid column -> the cell a vMerge continues
    header_rows = 0
    for tr in table_children(tbl, n.tr, n):
        row = _read_row(tr, n, open_merges, cell_text)
        new_here = {id(cell) for cell in row.cells}
        if any(cell.strip() for cell in row.texts) or any(id(c) not in new_here for _col, c in row.continued):
            r = len(rows)
            rows.append(row.texts)
            for cell in row.cells:
                cell.row = r
                cell.header = row.is_header
                if cell.text:
                    cells.append(cell)
            open_merges = _carry_merges(row, new_here)
            if row.is_header and header_rows == r:
                header_rows = r + 1
    return Table(rows=rows, cells=cells, header_rows=header_rows)


def _read_row(
    tr: etree._Element, n: Names, open_merges: dict[int, TableCell], cell_text: Callable[[etree._Element], str]
) -> _Row:
    row = _Row(texts=[], cells=[], continued=[], is_header=False)
    trpr = tr.find(n.trPr)
    before = after = 0
    if trpr is not None:
        before = _grid_count(trpr.find(n.gridBefore), n.val)
        after = _grid_count(trpr.find(n.gridAfter), n.val)
        row.is_header = trpr.find(n.tblHeader) is not None
    row.texts.extend([""] * before)
    for tc in table_children(tr, n.tc, n):
        tcpr = tc.find(n.tcPr)
        vmerge = tcpr.find(n.vMerge) if tcpr is not None else None
        # A vertically merged continuation cell shows nothing: Word displays the first cell's content.
        hidden = vmerge is not None and vmerge.get(n.val, "continue") == "continue"
        column = len(row.texts)
        span = max(_grid_count(tcpr.find(n.gridSpan), n.val), 1) if tcpr is not None else 1
        text = "" if hidden else cell_text(tc)
        row.texts.append(text)
        row.texts.extend([""] * (span - 1))
        if hidden and column in open_merges:
            row.continued.append((column, open_merges[column]))
            continue
        cell = TableCell(row=0, col=column, text=text.strip(), col_span=span)
        row.cells.append(cell)
        if vmerge is not None:
            row.continued.append((column, cell))
    row.texts.extend([""] * after)
    return row


def _carry_merges(row: _Row, new_here: set[int]) -> dict[int, TableCell]:
    """The vertical merges still open below a kept row; a cell continued here spans one more row."""
    still_open: dict[int, TableCell] = {}
    for column, cell in row.continued:
        if id(cell) not in new_here:
            cell.row_span += 1
        still_open[column] = cell
    return still_open


def table_children(parent: etree._Element, tag: str, n: Names) -> Iterator[etree._Element]:
    """Rows of a table / cells of a row, looking through content controls and custom XML wrappers."""
    for child in parent:
        if child.tag == tag:
            yield child
        elif BLOCK_KINDS.get(child.tag) in ("sdt", "container"):
            inner = child.find(n.sdtContent) if BLOCK_KINDS[child.tag] == "sdt" else child
            if inner is not None:
                yield from table_children(inner, tag, n)


def _grid_count(el: etree._Element | None, val_attr: str) -> int:
    if el is None:
        return 0
    value = parse_int(el.get(val_attr))
    # A corrupt span must not make a row of a million empty cells.
    return max(0, min(value or 0, 64))

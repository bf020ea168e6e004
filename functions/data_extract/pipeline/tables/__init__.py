"""Tables as data: ids, continuation across pages, and the per-file ``tables`` array.

Every extractor that knows tables (PDF, DOCX, XLSX/ODS, PPTX, HTML, ODT) puts a
``Table`` on a ``table`` block, with its cells and spans when the format has
them. Before chunking, ``assign_table_ids`` numbers the tables of a document in
reading order (``t1``, ``t2``, ...) and resolves an extractor's "continues the
previous table" mark into ``continued_from``; table chunks then carry the
``table_id`` of the table they come from, and the per-file JSON lists every
table in ``tables`` (``table_payload``).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from data_extract.pipeline.types import Block, Document, Table

# Tables of these kinds are data; form fields read from a PDF's widgets are a table too.
TABLE_BLOCK_KIND = "table"


def table_blocks(document: Document) -> list[Block]:
    return [block for block in document.blocks if block.table is not None]


def assign_table_ids(document: Document) -> None:
    """Number the document's tables in reading order and link continued tables. Idempotent."""
    previous: Table | None = None
    tables = [block.table for block in document.blocks if block.table is not None]
    for position, table in enumerate(tables, start=1):
        table.table_id = f"t{position}"
        if table.continues_previous and previous is not None:
            table.continued_from = previous.table_id
        previous = table


def table_payload(block: Block) -> dict[str, Any]:
    """The JSON object of one table: where it is, its size, and its cells with spans."""
    table = block.table
    if table is None:
        raise ValueError(f"A {block.kind} block holds no table.")
    payload: dict[str, Any] = {"table_id": table.table_id}
    if block.page is not None:
        payload["page"] = block.page
    if block.sheet is not None:
        payload["sheet"] = block.sheet
    if block.slide is not None:
        payload["slide"] = block.slide
    payload["bbox"] = list(table.bbox) if table.bbox is not None else None
    payload["n_rows"] = table.n_rows
    payload["n_cols"] = table.n_cols
    payload["header_rows"] = table.header_rows
    payload["caption"] = table.caption
    payload["continued_from"] = table.continued_from
    payload["cells"] = [cell.as_dict() for cell in table.grid_cells()]
    return payload


def tables_payload(document: Document) -> list[dict[str, Any]]:
    return [table_payload(block) for block in table_blocks(document)]


def table_csv(table: Table) -> str:
    """One table as CSV (UTF-8 text, no BOM added here): one line per row, a spanning cell's
    text in its first row and column, the positions it covers left empty."""
    grid = [["" for _ in range(table.n_cols)] for _ in range(table.n_rows)]
    for cell in table.grid_cells():
        if 0 <= cell.row < len(grid) and 0 <= cell.col < len(grid[cell.row]):
            grid[cell.row][cell.col] = cell.text
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(grid)
    return out.getvalue()

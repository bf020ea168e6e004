"""Tables of one PDF page, found and rebuilt cell by cell from word and rule geometry.

Three kinds of evidence, used together:

* Ruled grids: horizontal and vertical rules that cross form a grid; its cells
  are the grid's boxes, merged across missing inner rules (spanning cells).
* Rules as boundaries: a rule wider than most of a block of aligned lines marks
  where a table starts and ends (booktabs' top, middle and bottom rules, or a
  rule under the header only); lines between a top rule and the first aligned
  line are header lines.
* Whitespace alignment: consecutive text lines split into several runs of words
  (cells) by gaps much wider than a word space, whose gaps line up from line to
  line, form a table; its columns are the vertical white bands left free by
  every line but a few (spanning header cells may cross them).

Rows are text lines, joined where a cell's text wraps onto a line of its own (a
continuation starts in lowercase, or carries text only in columns the line above
also fills and sits closer than the row pitch). Captions ("Table 3: ...") above
or below become the table's caption, not a row. Running headers, page numbers
and prose are left alone: a block must have at least two columns over at least
two rows of short cells, and a block whose every column holds long runs of words
is two columns of prose, not a table.
"""

from __future__ import annotations

import dataclasses
import re
import statistics
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from operator import attrgetter

from data_extract.pipeline.tables.pdf_geometry import Drawing, Line, Rule, Word, group_lines
from data_extract.pipeline.types import Table, TableCell

# Two words further apart than this many glyph heights are in different cells.
CELL_GAP_RATIO = 0.9
# Lines further apart than this many line heights do not belong to one table.
MAX_ROW_GAP_RATIO = 2.6
RULE_TOLERANCE = 2.0
MAX_RULES_PER_AXIS = 400
MAX_GRID_CELLS = 5000
MIN_ALIGNED_ROWS = 3
MIN_FILL = 0.4
WORD_SPACE_RATIO = 0.4
MIN_WORD_GUTTER = 0.45

_CAPTION = re.compile(r"^\s*(table|tab\.|tableau|tabelle|exhibit|schedule)\s*[\dIVXivxA-Z][\w.\-]*\s*[:.\-–—]?", re.I)
_X0 = attrgetter("x0")
_CAPTION_STARTS = frozenset({"tab", "exh", "sch"})
_FIGURE = re.compile(r"^\s*(figure|fig\.|chart|graph|graphique|abbildung|source|sources|note|notes)\b", re.I)
Box = tuple[float, float, float, float]  # x0, y0, x1, y1
# Per text line of an aligned block: its cells as (column, column span, words).
Placed = list[tuple[int, int, list[Word]]]
# Per table row: its cells as (column, column span, the words of each text line of the cell).
GroupedRow = list[tuple[int, int, list[list[Word]]]]
_NUMERIC = re.compile(r"^[\s(\[{<>≤≥~+\-–−]*[$€£¥%]?\s*[\d.,]+\s*[%)\]}*a-zA-Z]{0,3}$|^[-–—.n/a]+$")


@dataclass
class FoundTable:
    """A table found on a page: its cells, where it is, and what it owns."""

    table: Table
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1 in display space
    words: list[Word]
    kind: str  # ruled_grid | rules | aligned
    region: list[_Row] = field(default_factory=list)  # the text lines of an aligned block
    col_edges: list[float] = field(default_factory=list)  # a ruled grid's column edges, left to right
    caption_words: list[Word] = field(default_factory=list)

    @property
    def visible_chars(self) -> int:
        return sum(len(w.text) for w in self.words) + sum(len(w.text) for w in self.caption_words)

    def char_indexes(self) -> set[int]:
        owned: set[int] = set()
        for word in (*self.words, *self.caption_words):
            owned.update(range(word.first, word.last + 1))
        return owned


# --- rules ----------------------------------------------------------------------


def merge_rules(rules: list[Rule]) -> list[Rule]:
    """Join collinear, touching rules (tables are often drawn cell edge by cell edge)."""
    merged: list[list[float]] = []
    for position, start, end in sorted(rules):
        joined = False
        for last in reversed(merged[-6:]):
            if (
                abs(position - last[0]) <= RULE_TOLERANCE
                and start <= last[2] + RULE_TOLERANCE
                and end >= last[1] - RULE_TOLERANCE
            ):
                last[1] = min(last[1], start)
                last[2] = max(last[2], end)
                joined = True
                break
        if not joined:
            merged.append([position, start, end])
    return [(p, s, e) for p, s, e in merged if e - s > 4.0]


def _cluster(values: list[float], tolerance: float = RULE_TOLERANCE) -> list[float]:
    clusters: list[list[float]] = []
    for value in sorted(values):
        if clusters and value - clusters[-1][-1] <= tolerance:
            clusters[-1].append(value)
        else:
            clusters.append([value])
    return [sum(c) / len(c) for c in clusters]


# --- entry point ------------------------------------------------------------------


def find_tables(
    lines: list[Line],
    rules: Callable[[], tuple[list[Rule], list[Rule]]],
    page_height: float | None = None,
    drawings: Callable[[], list[Drawing]] | None = None,
) -> list[FoundTable]:
    """Every table on the page, top to bottom. ``rules()`` gives the page's horizontal (y, x0, x1)
    and vertical (x, y0, y1) rules; it is not called for a page whose lines never split into cells.
    ``drawings()`` gives the paths a chart is drawn with, (x0, y0, x1, y1, is_box): curves and
    polylines, and stroked boxes; a block without a grid drawn over several of them is a chart's
    labels, not a table."""
    if page_height is not None:
        lines = _without_running_lines(lines, page_height)
    if not lines or not any(len(_chunks(line)) >= 2 for line in lines):
        return []
    horizontals, verticals = rules()
    horizontals = merge_rules(horizontals)
    verticals = merge_rules(verticals)
    if len(horizontals) > MAX_RULES_PER_AXIS or len(verticals) > MAX_RULES_PER_AXIS:
        horizontals, verticals = [], []
    heights = sorted(line.height for line in lines)
    line_height = max(heights[len(heights) // 2], 1.0)

    tables: list[FoundTable] = []
    for grid_box, grid_h, grid_v in _grids(horizontals, verticals):
        found = _build_ruled(grid_box, grid_h, grid_v, lines, line_height)
        if found is not None:
            tables.append(found)
    taken = {id(w) for t in tables for w in t.words}
    free_lines = _free_lines(lines, taken)
    for region in _aligned_regions(free_lines, line_height):
        found = _build_aligned(region, horizontals, verticals, line_height)
        if found is not None:
            tables.append(found)
    tables.sort(key=lambda t: -t.bbox[3])
    tables = _join_split_headers(tables, horizontals, verticals, line_height)
    if drawings is not None and any(t.kind != "ruled_grid" for t in tables):
        drawn = drawings()
        tables = [t for t in tables if t.kind == "ruled_grid" or not _over_chart(t, drawn)]
    _attach_captions(tables, lines, line_height)
    return tables


# A block without a grid whose box holds this many chart marks is a chart's labels and legend.
MIN_CHART_MARKS = 3
# A stroked box this small and square is a check box, not a bar or a legend swatch.
CHECK_BOX_SIDE = 12.0


def _over_chart(found: FoundTable, drawings: list[Drawing]) -> bool:
    """Is the block drawn over a chart: curves or polylines, or stroked boxes with no text in them
    (bars, legend swatches), with their centres inside the block? Cell borders hold their text."""
    x0, y0, x1, y1 = found.bbox
    centres: list[tuple[float, float]] | None = None
    marks = 0
    for dx0, dy0, dx1, dy1, is_box in drawings:
        cx, cy = (dx0 + dx1) / 2, (dy0 + dy1) / 2
        if not (x0 <= cx <= x1 and y0 <= cy <= y1):
            continue
        if is_box:
            width, height = dx1 - dx0, dy1 - dy0
            if max(width, height) <= CHECK_BOX_SIDE and abs(width - height) <= 2.0:
                continue
            if centres is None:
                centres = [((w.x0 + w.x1) / 2, (w.y0 + w.y1) / 2) for w in found.words]
            if any(dx0 <= wx <= dx1 and dy0 <= wy <= dy1 for wx, wy in centres):
                continue
        marks += 1
        if marks >= MIN_CHART_MARKS:
            return True
    return False


def _join_split_headers(
    tables: list[FoundTable], horizontals: list[Rule], verticals: list[Rule], line_height: float
) -> list[FoundTable]:
    """A block of a few lines right above a table is its header, cut off by a rule or a gap."""
    out: list[FoundTable] = []
    for found in tables:
        if out:
            above = out[-1]
            gap = above.bbox[1] - found.bbox[3]
            overlap = min(above.bbox[2], found.bbox[2]) - max(above.bbox[0], found.bbox[0])
            if (
                above.kind == "ruled_grid"
                and found.kind == "ruled_grid"
                and above.table.n_rows <= 4
                and above.table.caption is None
                and -2.0 <= gap <= 1.5 * line_height
                and abs(above.bbox[0] - found.bbox[0]) <= 6
                and abs(above.bbox[2] - found.bbox[2]) <= 6
            ):
                out[-1] = _stack_grids(above, found)
                continue
            if (
                above.kind != "ruled_grid"
                and above.table.n_rows <= 4
                and above.table.caption is None
                and -1.0 <= gap <= 2.5 * line_height
                and overlap >= 0.5 * (above.bbox[2] - above.bbox[0])
            ):
                joined = None
                if found.kind != "ruled_grid" and found.region:
                    joined = _build_aligned(above.region + found.region, horizontals, verticals, line_height)
                elif found.kind == "ruled_grid":
                    joined = _header_over_grid(above, found)
                if joined is not None:
                    out[-1] = joined
                    continue
        out.append(found)
    return out


def _header_over_grid(header: FoundTable, grid: FoundTable) -> FoundTable | None:
    edges = grid.col_edges
    if len(edges) < 3:
        return None
    cells: list[TableCell] = []
    rows = 0
    for r, row in enumerate(header.region):
        rows = r + 1
        for chunk in row.chunks:
            x0, x1 = chunk[0].x0, chunk[-1].x1
            cols = [
                c
                for c in range(len(edges) - 1)
                if min(x1, edges[c + 1]) - max(x0, edges[c]) > 0.3 * min(x1 - x0, edges[c + 1] - edges[c])
            ]
            if not cols:
                cols = [_bisect_edges(edges, (x0 + x1) / 2, ascending=True)]
            cells.append(
                TableCell(row=r, col=cols[0], text=_join_words(chunk), col_span=cols[-1] - cols[0] + 1, header=True)
            )
    cells = _merge_cell_overlaps(cells)
    for cell in grid.table.cells:
        cells.append(dataclasses.replace(cell, row=cell.row + rows))
    table = _table_from_cells(cells, grid.table.n_rows + rows, grid.table.n_cols)
    table.header_rows = rows + grid.table.header_rows
    table.caption = grid.table.caption
    bbox = (min(header.bbox[0], grid.bbox[0]), grid.bbox[1], max(header.bbox[2], grid.bbox[2]), header.bbox[3])
    return FoundTable(
        table=table,
        bbox=bbox,
        words=header.words + grid.words,
        kind="ruled_grid",
        col_edges=edges,
        caption_words=grid.caption_words,
    )


def _stack_grids(above: FoundTable, below: FoundTable) -> FoundTable:
    """Two ruled grids drawn one under the other (a header grid over a body grid) as one table,
    in the lower grid's columns."""
    edges = below.col_edges
    cells: list[TableCell] = []
    for cell in above.table.cells:
        x0, x1 = above.col_edges[cell.col], above.col_edges[min(cell.col + cell.col_span, len(above.col_edges) - 1)]
        cols = [
            c
            for c in range(len(edges) - 1)
            if min(x1, edges[c + 1]) - max(x0, edges[c]) > 0.5 * (edges[c + 1] - edges[c])
        ]
        if not cols:
            cols = [_bisect_edges(edges, (x0 + x1) / 2, ascending=True)]
        cells.append(
            TableCell(
                row=cell.row,
                col=cols[0],
                text=cell.text,
                row_span=cell.row_span,
                col_span=cols[-1] - cols[0] + 1,
                header=True,
            )
        )
    cells = _merge_cell_overlaps(cells)
    rows = above.table.n_rows
    for cell in below.table.cells:
        cells.append(dataclasses.replace(cell, row=cell.row + rows))
    table = _table_from_cells(cells, below.table.n_rows + rows, len(edges) - 1)
    table.header_rows = rows
    table.caption = below.table.caption
    bbox = (min(above.bbox[0], below.bbox[0]), below.bbox[1], max(above.bbox[2], below.bbox[2]), above.bbox[3])
    return FoundTable(
        table=table,
        bbox=bbox,
        words=above.words + below.words,
        kind="ruled_grid",
        col_edges=edges,
        caption_words=below.caption_words,
    )


def _merge_cell_overlaps(cells: list[TableCell]) -> list[TableCell]:
    """Two runs of one header line that land in the same columns are one cell."""
    out: list[TableCell] = []
    for cell in sorted(cells, key=lambda c: (c.row, c.col)):
        if out and out[-1].row == cell.row and out[-1].col + out[-1].col_span > cell.col:
            last = out[-1]
            end = max(last.col + last.col_span, cell.col + cell.col_span)
            last.text = f"{last.text} {cell.text}"
            last.col_span = end - last.col
            continue
        out.append(cell)
    return out


# A page's first or last line this close to the page edge, and set apart from the text, is a running
# header or footer (or a page number): never a table row.
RUNNING_MARGIN = 0.08
RUNNING_GAP_RATIO = 1.5


def _without_running_lines(lines: list[Line], page_height: float) -> list[Line]:
    if len(lines) < 3:
        return lines
    heights = sorted(line.height for line in lines)
    line_height = max(heights[len(heights) // 2], 1.0)
    start, end = 0, len(lines)
    # Up to two header lines (a title and a date, say) and two footer lines.
    for _ in range(2):
        first, following = lines[start], lines[start + 1]
        if (
            first.y0 > (1 - RUNNING_MARGIN) * page_height
            and first.y0 - following.y1 > RUNNING_GAP_RATIO * line_height
        ):
            start += 1
        if end - start < 3:
            break
        last, preceding = lines[end - 1], lines[end - 2]
        if last.y1 < RUNNING_MARGIN * page_height and preceding.y0 - last.y1 > RUNNING_GAP_RATIO * line_height:
            end -= 1
        if end - start < 3:
            break
    return lines[start:end]


def _free_lines(lines: list[Line], taken: set[int]) -> list[Line]:
    out: list[Line] = []
    for line in lines:
        words = [w for w in line.words if id(w) not in taken]
        if words:
            out.append(line if len(words) == len(line.words) else Line(words=words))
    return out


# --- ruled grids --------------------------------------------------------------------


def _grids(horizontals: list[Rule], verticals: list[Rule]) -> list[tuple[Box, list[Rule], list[Rule]]]:
    """Connected components of crossing rules with at least two rules each way."""
    if len(horizontals) < 2 or len(verticals) < 2:
        return []
    parent = list(range(len(horizontals) + len(verticals)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    tol = RULE_TOLERANCE
    offset = len(horizontals)
    for hi, (hy, hx0, hx1) in enumerate(horizontals):
        for vi, (vx, vy0, vy1) in enumerate(verticals):
            if hx0 - tol <= vx <= hx1 + tol and vy0 - tol <= hy <= vy1 + tol:
                a, b = find(hi), find(offset + vi)
                if a != b:
                    parent[a] = b
    groups: dict[int, tuple[list[Rule], list[Rule]]] = {}
    for hi, rule in enumerate(horizontals):
        groups.setdefault(find(hi), ([], []))[0].append(rule)
    for vi, rule in enumerate(verticals):
        groups.setdefault(find(offset + vi), ([], []))[1].append(rule)
    out: list[tuple[Box, list[Rule], list[Rule]]] = []
    for h_members, v_members in groups.values():
        if len(h_members) < 2 or len(v_members) < 2:
            continue
        x0 = min(*(h[1] for h in h_members), *(v[0] for v in v_members))
        x1 = max(*(h[2] for h in h_members), *(v[0] for v in v_members))
        y0 = min(*(v[1] for v in v_members), *(h[0] for h in h_members))
        y1 = max(*(v[2] for v in v_members), *(h[0] for h in h_members))
        out.append(((x0, y0, x1, y1), h_members, v_members))
    return out


GridCell = tuple[int, int, int, int, list[list[Word]]]  # row, col, row_span, col_span, text lines


def _build_ruled(
    box: Box, horizontals: list[Rule], verticals: list[Rule], lines: list[Line], line_height: float
) -> FoundTable | None:
    row_edges, col_edges = _grid_edges(box, horizontals, verticals)
    n_rows, n_cols = len(row_edges) - 1, len(col_edges) - 1
    if n_rows < 1 or n_cols < 2 or n_rows * n_cols < 4 or n_rows * n_cols > MAX_GRID_CELLS:
        return None
    roots = _merged_boxes(row_edges, col_edges, horizontals, verticals)
    groups: dict[int, list[int]] = {}
    for cell, root in enumerate(roots):
        groups.setdefault(root, []).append(cell)
    if len(groups) < 4:
        return None  # a frame or two around text, not a table

    inside, by_cell = _words_by_box(lines, box, row_edges, col_edges, roots)
    filled = sum(1 for root in groups if by_cell.get(root))
    # Plots and diagrams are grids too, with a few labels in mostly empty cells.
    if filled < 2 or filled < 0.35 * len(groups):
        return None
    cells, multi_line_rows = _grid_cells(groups, by_cell, col_edges)
    bbox = (col_edges[0], row_edges[-1], col_edges[-1], row_edges[0])
    # A grid with two or three ruled rows each holding many lines is a frame around aligned text
    # (rules in the header or around the whole table only): its rows are the text lines.
    if n_rows <= 3 and multi_line_rows >= 2:
        return None  # handled as an aligned block bounded by these rules
    table = _grid_to_table(cells, n_rows, n_cols, row_edges)
    if table is None:
        return None
    return FoundTable(table=table, bbox=bbox, words=inside, kind="ruled_grid", col_edges=col_edges)


def _grid_edges(box: Box, horizontals: list[Rule], verticals: list[Rule]) -> tuple[list[float], list[float]]:
    """The grid's row edges (top to bottom) and column edges (left to right), the grid's box closing it."""
    x0, y0, x1, y1 = box
    row_edges = _cluster([h[0] for h in horizontals])
    col_edges = _cluster([v[0] for v in verticals])
    if x0 < col_edges[0] - 3 * RULE_TOLERANCE:
        col_edges.insert(0, x0)
    if x1 > col_edges[-1] + 3 * RULE_TOLERANCE:
        col_edges.append(x1)
    if y0 < row_edges[0] - 3 * RULE_TOLERANCE:
        row_edges.insert(0, y0)
    if y1 > row_edges[-1] + 3 * RULE_TOLERANCE:
        row_edges.append(y1)
    row_edges.reverse()  # top to bottom
    return row_edges, col_edges


def _rules_by_edge(rules: list[Rule], edges: list[float]) -> dict[int, list[tuple[float, float]]]:
    """Rules by the grid edge they lie on, so each test looks at the few rules of one edge."""
    found: dict[int, list[tuple[float, float]]] = {}
    for position, start, end in rules:
        for index, edge in enumerate(edges):
            if abs(position - edge) <= RULE_TOLERANCE:
                found.setdefault(index, []).append((start, end))
    return found


def _merged_boxes(
    row_edges: list[float], col_edges: list[float], horizontals: list[Rule], verticals: list[Rule]
) -> list[int]:
    """For each grid box (row by row), the box it merges into where no rule separates neighbours (spans)."""
    n_rows, n_cols = len(row_edges) - 1, len(col_edges) - 1
    vertical_at = _rules_by_edge(verticals, col_edges)
    horizontal_at = _rules_by_edge(horizontals, row_edges)

    def ruled(at: dict[int, list[tuple[float, float]]], edge: int, start: float, end: float) -> bool:
        return any(min(e, end) - max(s, start) >= 0.6 * (end - start) for s, e in at.get(edge, ()))

    parent = list(range(n_rows * n_cols))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for r in range(n_rows):
        top, bottom = row_edges[r], row_edges[r + 1]
        for c in range(n_cols):
            left, right = col_edges[c], col_edges[c + 1]
            if c + 1 < n_cols and not ruled(vertical_at, c + 1, bottom, top):
                parent[find(r * n_cols + c)] = find(r * n_cols + c + 1)
            if r + 1 < n_rows and not ruled(horizontal_at, r + 1, left, right):
                parent[find(r * n_cols + c)] = find((r + 1) * n_cols + c)
    return [find(cell) for cell in range(n_rows * n_cols)]


def _words_by_box(
    lines: list[Line], box: Box, row_edges: list[float], col_edges: list[float], roots: list[int]
) -> tuple[list[Word], dict[int, list[Word]]]:
    """The words inside the grid, and by the (merged) grid box holding their centre."""
    _x0, y0, _x1, y1 = box
    n_cols = len(col_edges) - 1
    inside: list[Word] = []
    by_cell: dict[int, list[Word]] = {}
    for line in lines:
        if line.y0 > y1 + 1 or line.y1 < y0 - 1:
            continue
        for word in line.words:
            cx, cy = (word.x0 + word.x1) / 2, word.cy
            if not (col_edges[0] <= cx <= col_edges[-1] and row_edges[-1] <= cy <= row_edges[0]):
                continue
            c = _bisect_edges(col_edges, cx, ascending=True)
            r = _bisect_edges(row_edges, cy, ascending=False)
            inside.append(word)
            by_cell.setdefault(roots[r * n_cols + c], []).append(word)
    return inside, by_cell


def _grid_cells(
    groups: dict[int, list[int]], by_cell: dict[int, list[Word]], col_edges: list[float]
) -> tuple[list[GridCell], int]:
    """The cells of the merged boxes with their text lines, and how many boxes hold more than three lines."""
    n_cols = len(col_edges) - 1
    multi_line_rows = 0
    cells: list[GridCell] = []
    for root, members in groups.items():
        r_min = min(m // n_cols for m in members)
        r_max = max(m // n_cols for m in members)
        c_min = min(m % n_cols for m in members)
        c_max = max(m % n_cols for m in members)
        cell_words = by_cell.get(root, [])
        cell_lines = _text_lines(cell_words)
        split = _split_by_columns(cell_words, cell_lines, col_edges, c_min, c_max) if c_max > c_min else None
        if split is not None:
            for c, words in split.items():
                cells.append((r_min, c, r_max - r_min + 1, 1, _text_lines(words)))
            continue
        if len(cell_lines) > 3:
            multi_line_rows += 1
        cells.append((r_min, c_min, r_max - r_min + 1, c_max - c_min + 1, cell_lines))
    return cells, multi_line_rows


def _split_by_columns(
    words: list[Word],
    lines: list[list[Word]],
    col_edges: list[float],
    c_min: int,
    c_max: int,
) -> dict[int, list[Word]] | None:
    """A box merged across columns whose text still sits in those columns (rules drawn in the
    header only): its words by column. None when a run of words crosses a column edge (a
    real spanning cell, such as a centred group heading)."""
    if len(words) < 2:
        return None
    by_column: dict[int, list[Word]] = {}
    for line in lines:  # the words' text lines
        for chunk in _chunks(Line(words=list(line))):
            x0, x1 = chunk[0].x0, chunk[-1].x1
            inner = [e for e in col_edges[c_min + 1 : c_max + 1] if x0 + 1 < e < x1 - 1]
            if inner:
                return None
            column = _bisect_edges(col_edges, (x0 + x1) / 2, ascending=True)
            by_column.setdefault(column, []).extend(chunk)
    return by_column if len(by_column) >= 2 else None


def _bisect_edges(edges: list[float], value: float, *, ascending: bool) -> int:
    """The first box between two consecutive edges (strictly ascending, or strictly descending)
    that holds ``value``; the last box when none does."""
    last = len(edges) - 2
    if last < 0:
        return last
    if ascending:
        if value < edges[0]:
            return last
        index = bisect_left(edges, value) - 1
    else:
        if value > edges[0]:
            return last
        index = bisect_left(edges, -value, key=_negated) - 1
    return 0 if index < 0 else (index if index < last else last)


def _negated(value: float) -> float:
    return -value


def _text_lines(words: list[Word]) -> list[list[Word]]:
    if not words:
        return []
    if len(words) == 1:
        return [words]
    # Words of one line in one font (most cells) need no grouping: the same as group_lines gives.
    first = words[0]
    y0, y1 = first.y0, first.y1
    if all(w.y0 == y0 and w.y1 == y1 for w in words):
        return [sorted(words, key=_X0)]
    return [line.words for line in group_lines(words)]


def _grid_to_table(cells: list[GridCell], n_rows: int, n_cols: int, row_edges: list[float]) -> Table | None:
    """Cells of a ruled grid; a ruled row whose cells stack the same number of lines is split into rows."""
    # Split rows: for each grid row r, how many sub-rows it holds.
    depth = [1] * n_rows
    for r in range(n_rows):
        row_cells = [cell for cell in cells if cell[0] == r and cell[2] == 1]
        counts = [len(cell[4]) for cell in row_cells if cell[4]]
        stacked = [n for n in counts if n > 1]
        if len(stacked) >= 2 and len(set(stacked)) == 1 and len(stacked) >= len(counts) / 2:
            depth[r] = stacked[0]
    offsets = [0] * (n_rows + 1)
    for r in range(n_rows):
        offsets[r + 1] = offsets[r] + depth[r]
    out: list[TableCell] = []
    for r, c, row_span, col_span, cell_lines in cells:
        if not cell_lines:
            continue
        if row_span == 1 and depth[r] > 1 and len(cell_lines) == depth[r]:
            for k, words in enumerate(cell_lines):
                out.append(TableCell(row=offsets[r] + k, col=c, text=_join_words(words), col_span=col_span))
            continue
        span = offsets[r + row_span] - offsets[r]
        text = " ".join(_join_words(words) for words in cell_lines)
        out.append(TableCell(row=offsets[r], col=c, text=text, row_span=span, col_span=col_span))
    if not out:
        return None
    return _table_from_cells(out, offsets[n_rows], n_cols)


def _join_words(words: list[Word]) -> str:
    if len(words) == 1:
        return words[0].text
    if any(b.x0 < a.x0 for a, b in pairwise(words)):  # runs of one line are in order already
        words = sorted(words, key=lambda w: w.x0)
    text = ""
    for word in words:
        if text.endswith("-") and word.text[:1].islower():
            text = text[:-1] + word.text
        else:
            text = f"{text} {word.text}" if text else word.text
    return text


# --- aligned blocks -------------------------------------------------------------------


@dataclass
class _Row:
    line: Line
    chunks: list[list[Word]]  # runs of words separated by cell-sized gaps

    @property
    def top(self) -> float:
        return self.line.y1

    @property
    def bottom(self) -> float:
        return self.line.y0


def _chunks(line: Line) -> list[list[Word]]:
    words = line.words
    if not words:
        return []
    first = words[0]
    current = [first]
    chunks: list[list[Word]] = [current]
    previous_x1, previous_height = first.x1, first.y1 - first.y0
    for word in words[1:]:
        word_height = word.y1 - word.y0
        height = previous_height if previous_height < word_height else word_height
        if height < 1.0:
            height = 1.0
        if word.x0 - previous_x1 <= CELL_GAP_RATIO * height:
            current.append(word)
        else:
            current = [word]
            chunks.append(current)
        previous_x1, previous_height = word.x1, word_height
    # A list bullet is not a cell of its own.
    if (
        len(chunks) >= 2
        and len(chunks[0]) == 1
        and (chunks[0][0].text in _BULLETS or (len(chunks[0][0].text) == 1 and not chunks[0][0].text.isalnum()))
    ):
        chunks[1] = chunks[0] + chunks[1]
        del chunks[0]
    return chunks


_BULLETS = frozenset("•◦▪▫■□●○‣⁃–—-*·►➢✓✔")


def _aligned_regions(lines: list[Line], line_height: float) -> list[list[_Row]]:
    """Runs of consecutive lines that split into aligned cells.

    A short single-cell line may sit inside a run (a section label, a wrapped stub); a
    wide one, a caption or a figure's caption ends it, and so does a gap of a few lines.
    """
    rows = [_Row(line, _chunks(line)) for line in lines]
    regions: list[list[_Row]] = []
    current: list[_Row] = []
    singles = 0
    for row in rows:
        multi = len(row.chunks) >= 2
        if current:
            previous = current[-1]
            gap = previous.bottom - row.top
            if gap > MAX_ROW_GAP_RATIO * line_height:
                regions.append(current)
                current, singles = [], 0
        if multi and _FIGURE.match(row.line.text):
            # A figure's caption or a source line, even when split in two, is not a row.
            if current:
                regions.append(current)
            current, singles = [], 0
            continue
        if multi:
            current.append(row)
            singles = 0
        elif (
            current
            and singles < 2
            and not _is_wide(row, current)
            and not _CAPTION.match(row.line.text)
            and not _FIGURE.match(row.line.text)
        ):
            current.append(row)
            singles += 1
        else:
            if current:
                regions.append(current)
            current, singles = [], 0
    if current:
        regions.append(current)
    out = []
    taken: set[int] = set()
    for region in regions:
        while region and len(region[-1].chunks) < 2:
            region.pop()
        if sum(1 for r in region if len(r.chunks) >= 2) >= 2:
            taken.update(id(r) for r in region)
            out.append(region)
    index = {id(row): i for i, row in enumerate(rows)}
    for region in out:
        _extend_with_spanning_headers(region, rows, index[id(region[0])], taken, line_height)
    return out


def _extend_with_spanning_headers(
    region: list[_Row], rows: list[_Row], start: int, taken: set[int], line_height: float
) -> None:
    """Single-cell lines right above a block, over its data columns: spanning header cells."""
    x0 = min(r.line.x0 for r in region)
    x1 = max(r.line.x1 for r in region)
    width = max(x1 - x0, 1.0)
    for position in range(start - 1, max(start - 3, -1), -1):
        row = rows[position]
        if id(row) in taken or len(row.chunks) != 1:
            return
        line = row.line
        gap = row.bottom - region[0].top
        if gap > 1.2 * line_height or gap < -1.0:
            return
        if line.x0 < x0 + 0.15 * width or line.x1 > x1 + 0.1 * width or _is_wide(row, region):
            return
        if _CAPTION.match(line.text) or _FIGURE.match(line.text):
            return
        region.insert(0, row)
        taken.add(id(row))


def _is_wide(row: _Row, region: list[_Row]) -> bool:
    x0 = min(r.line.x0 for r in region)
    x1 = max(r.line.x1 for r in region)
    return row.line.x1 - row.line.x0 > 0.6 * max(x1 - x0, 1.0)


def _build_aligned(
    region: list[_Row], horizontals: list[Rule], verticals: list[Rule], line_height: float
) -> FoundTable | None:
    gutters = _gutters(region, line_height)
    if not gutters:
        return None
    n_cols = len(gutters) + 1
    multi = [row for row in region if len({_column_of(c, gutters)[0] for c in row.chunks}) >= 2]
    if len(multi) < 2 or (len(multi) < MIN_ALIGNED_ROWS and not _has_rules_around(region, horizontals)):
        return None
    if _is_prose(region, gutters):
        return None
    # Assign chunks to columns; spanning chunks cover every column they cross.
    placed: list[Placed] = []  # per line: (col, span, words)
    for row in region:
        items: Placed = []
        for chunk in row.chunks:
            if not _crosses_gutter(chunk, gutters):
                # Words of a run that the columns separate (a dense table) are cells of their own.
                pieces: dict[int, list[Word]] = {}
                for word in chunk:
                    pieces.setdefault(bisect_left(gutters, (word.x0 + word.x1) / 2), []).append(word)
                for col in sorted(pieces):
                    items.append((col, 1, pieces[col]))
                continue
            first, last = _column_of(chunk, gutters)
            items.append((first, last - first + 1, chunk))
        placed.append(_merge_same_column(items))
    grouped = _join_wrapped_lines(region, placed, line_height)
    cells: list[TableCell] = []
    words: list[Word] = []
    for r, entries in enumerate(grouped):
        for col, span, chunk_lines in entries:
            text = " ".join(_join_words(ws) for ws in chunk_lines)
            for ws in chunk_lines:
                words += ws
            cells.append(TableCell(row=r, col=col, text=text, col_span=span))
    if not cells:
        return None
    table = _table_from_cells(cells, len(grouped), n_cols)
    # Chart axes and scattered labels leave most of their grid empty.
    if len(cells) < MIN_FILL * table.n_rows * table.n_cols:
        return None
    _mark_header(table, region, grouped, horizontals)
    x0 = min(w.x0 for w in words)
    x1 = max(w.x1 for w in words)
    y0 = min(w.y0 for w in words)
    y1 = max(w.y1 for w in words)
    kind = "rules" if _has_rules_around(region, horizontals) else "aligned"
    return FoundTable(table=table, bbox=(x0, y0, x1, y1), words=words, kind=kind, region=region)


def _crosses_gutter(chunk: list[Word], gutters: list[float]) -> bool:
    """Does a word of the run stand over a gutter (more than half a point on both sides)?
    ``gutters`` ascend, so only those between a word's edges are looked at."""
    count = len(gutters)
    for word in chunk:
        x0, x1 = word.x0, word.x1
        index = bisect_left(gutters, x0)
        while index < count:
            g = gutters[index]
            if g >= x1:
                break
            if x0 < g - 0.5 and x1 > g + 0.5:
                return True
            index += 1
    return False


def _has_rules_around(region: list[_Row], horizontals: list[Rule]) -> bool:
    x0 = min(r.line.x0 for r in region)
    x1 = max(r.line.x1 for r in region)
    top, bottom = region[0].top, region[-1].bottom
    width = x1 - x0
    near = [
        y
        for y, rx0, rx1 in horizontals
        if bottom - 20 <= y <= top + 20 and min(rx1, x1) - max(rx0, x0) >= 0.6 * width
    ]
    return len(near) >= 2


def _gutters(region: list[_Row], line_height: float) -> list[float]:
    """x positions of white bands between words that every line but a few leaves free.

    Bands between words, not between runs of words: in a dense table the gap between two
    columns is barely wider than a word space. A band counts when lines have text on both
    of its sides (two lines for a wide band, a quarter of the lines for a narrow one), and
    not when it is only the space inside a phrase repeated on every line.
    """
    spans = [(w.x0, w.x1) for row in region for w in row.line.words]
    if not spans:
        return []
    x_min = min(s[0] for s in spans)
    x_max = max(s[1] for s in spans)
    n = len(region)
    # Spanning header cells and the odd overlong stub may cross a column gap.
    tolerance = max(1, int(0.12 * n)) if n >= 4 else 0
    # (x, -delta): a word's start (+1) sorts before another's end (-1) at the same x.
    events: list[tuple[float, int]] = []
    for a, b in spans:
        events.append((a, -1))
        events.append((b, 1))
    events.sort()
    bands: list[tuple[float, float]] = []
    depth = 0
    open_at: float | None = None
    for x, negated in events:
        was_open = depth <= tolerance
        depth -= negated
        now_open = depth <= tolerance
        if now_open and not was_open:
            open_at = x
        elif was_open and not now_open and open_at is not None:
            if open_at > x_min and x < x_max and x - open_at >= MIN_WORD_GUTTER * line_height:
                bands.append((open_at, x))
            open_at = None
    # Per line: where its first word ends and its last word starts (text on both sides of a band).
    extremes = [(min(w.x1 for w in row.line.words), max(w.x0 for w in row.line.words)) for row in region]
    gutters = []
    word_space: list[float | None] = []  # the region's median word space, once a band needs it
    for a, b in bands:
        both = sum(1 for first_end, last_start in extremes if first_end <= a + 0.5 and last_start >= b - 0.5)
        if both < (2 if b - a >= line_height else max(2, 0.25 * n)):
            continue
        if not word_space:
            word_space.append(_word_space(region))
        if not _inside_word_spaces(region, a, b, word_space[0]):
            gutters.append((a + b) / 2)
    return gutters


def _word_space(region: list[_Row]) -> float | None:
    """The median space between words of one run, over a block (None for fewer than three)."""
    spaces = [b.x0 - a.x1 for row in region for chunk in row.chunks for a, b in pairwise(chunk) if b.x0 > a.x1]
    return statistics.median(spaces) if len(spaces) >= 3 else None


def _inside_word_spaces(region: list[_Row], a: float, b: float, word_space: float | None) -> bool:
    """Is a white band only the space between words of one phrase ("40 years", "45 years", ...)?

    Words that line up in every row leave a band between them; it separates columns only if
    the words on its two sides stand further apart than a word space in most rows
    (``word_space``: the block's median, from ``_word_space``).
    """
    spaced = joined = 0
    for row in region:
        left = right = None
        for word in row.line.words:
            if word.x1 <= a + 0.5:
                left = word
            elif word.x0 >= b - 0.5 and right is None:
                right = word
        if left is None or right is None:
            continue
        limit = WORD_SPACE_RATIO * max(min(left.height, right.height), 1.0)
        if word_space is not None:
            limit = max(limit, 1.3 * word_space)
        if right.x0 - left.x1 < limit:
            joined += 1
        else:
            spaced += 1
    return joined > spaced


def _column_of(chunk: list[Word], gutters: list[float]) -> tuple[int, int]:
    x0, x1 = chunk[0].x0, chunk[-1].x1
    first = bisect_left(gutters, x0)
    last = bisect_left(gutters, x1)
    if first != last:
        # Crossing a gutter by a hair is a long cell, not a span.
        words_by_col: dict[int, float] = {}
        for word in chunk:
            col = bisect_left(gutters, (word.x0 + word.x1) / 2)
            words_by_col[col] = words_by_col.get(col, 0.0) + (word.x1 - word.x0)
        cols = sorted(words_by_col)
        first, last = cols[0], cols[-1]
    return first, last


def _merge_same_column(items: Placed) -> Placed:
    """Two chunks of one line in the same column (a wide word space) are one cell."""
    merged: Placed = []
    for col, span, words in items:
        if merged and merged[-1][0] + merged[-1][1] - 1 >= col:
            pcol, pspan, pwords = merged[-1]
            end = max(pcol + pspan - 1, col + span - 1)
            merged[-1] = (pcol, end - pcol + 1, pwords + words)
        else:
            merged.append((col, span, list(words)))
    return merged


def _is_prose(region: list[_Row], gutters: list[float]) -> bool:
    """Two or three columns of running text: every column's cells are long runs of words, or
    most lines are two wide runs side by side (the two text columns of a page)."""
    x0 = min(r.line.x0 for r in region)
    x1 = max(r.line.x1 for r in region)
    width = max(x1 - x0, 1.0)
    multi = [r for r in region if len(r.chunks) >= 2]
    side_by_side = sum(
        1
        for r in multi
        if len(r.chunks) == 2 and all(c[-1].x1 - c[0].x0 >= 0.3 * width and len(c) >= 4 for c in r.chunks)
    )
    if multi and side_by_side >= 0.5 * len(multi):
        return True
    if len(gutters) > 2:
        return False
    per_column: dict[int, list[int]] = {}
    for row in region:
        for chunk in row.chunks:
            col, _ = _column_of(chunk, gutters)
            per_column.setdefault(col, []).append(len(chunk))
    if len(per_column) < 2:
        return True
    return all(statistics.median(counts) >= 5 for counts in per_column.values())


def _is_numeric(text: str) -> bool:
    return bool(_NUMERIC.match(text.strip()))


def _join_wrapped_lines(region: list[_Row], placed: list[Placed], line_height: float) -> list[GroupedRow]:
    """Group lines into rows: a line that continues the wrapped cells of the line above joins its row."""
    rows: list[GroupedRow] = []
    pitches = [region[i].bottom - region[i + 1].top for i in range(len(region) - 1)]
    typical_gap = statistics.median(pitches) if pitches else 0.0
    previous_line: _Row | None = None
    for row, items in zip(region, placed, strict=True):
        if (
            rows
            and previous_line is not None
            and _continues(previous_line, row, rows[-1], items, typical_gap, line_height)
        ):
            target = rows[-1]
            for col, span, words in items:
                for tcol, tspan, tlines in target:
                    if tcol <= col < tcol + tspan:
                        tlines.append(words)
                        break
                else:
                    target.append((col, span, [words]))
                    target.sort(key=lambda e: e[0])
        else:
            rows.append([(col, span, [words]) for col, span, words in items])
        previous_line = row
    return rows


def _continues(
    previous: _Row, row: _Row, target: GroupedRow, items: Placed, typical_gap: float, line_height: float
) -> bool:
    gap = previous.bottom - row.top
    if gap > 0.8 * line_height:
        return False
    occupied = {col for col, _span, _lines in target}
    cols = [col for col, _span, _words in items]
    texts = [_join_words(words) for _c, _s, words in items]
    if any(_is_numeric(t) for t in texts):
        return False
    starts_lower = bool(texts) and texts[0][:1].islower()
    if not set(cols) <= occupied:
        return False
    if starts_lower:
        return True
    # Fewer cells than the row it follows, and no wider a gap than the lines of a wrapped cell.
    return len(items) < len(target) and gap < typical_gap - 0.15 * line_height


def _mark_header(table: Table, region: list[_Row], grouped: list[GroupedRow], horizontals: list[Rule]) -> None:
    """Header rows: above a rule inside the block, or the top rows without numbers over a numeric body."""
    if not table.cells:
        return
    n_rows = table.n_rows
    ruled = _rows_above_inner_rule(grouped, horizontals)
    if ruled:
        for cell in table.cells:
            cell.header = cell.row < ruled
        table.header_rows = ruled
        return
    header_rows = 0
    numeric_rows = [False] * n_rows
    for c in table.cells:
        if c.col > 0 and not numeric_rows[c.row] and _is_numeric(c.text):
            numeric_rows[c.row] = True
    for r in range(n_rows):
        if numeric_rows[r]:
            break
        header_rows = r + 1
    if header_rows >= n_rows or not any(numeric_rows):
        header_rows = 1 if any(c.col_span > 1 for c in table.cells if c.row == 0) else 0
    header_rows = min(header_rows, max(1, n_rows // 2))
    for cell in table.cells:
        cell.header = cell.row < header_rows
    table.header_rows = header_rows


def _rows_above_inner_rule(grouped: list[GroupedRow], horizontals: list[Rule]) -> int:
    """How many rows sit above the first rule that runs between two rows in the top half; 0 if none."""
    spans = []
    for entries in grouped[: max(3, len(grouped) // 2 + 1)]:
        words = [w for _col, _span, lines in entries for ws in lines for w in ws]
        if not words:
            return 0
        spans.append(
            (min(w.y0 for w in words), max(w.y1 for w in words), min(w.x0 for w in words), max(w.x1 for w in words))
        )
    if len(spans) < 3 or len(grouped) < 3:
        return 0
    x0 = min(s[2] for s in spans)
    x1 = max(s[3] for s in spans)
    for r in range(min(len(spans) - 1, max(1, len(grouped) // 2))):
        lower_top, upper_bottom = spans[r + 1][1], spans[r][0]
        for y, rx0, rx1 in horizontals:
            if lower_top - 1 <= y <= upper_bottom + 1 and min(rx1, x1) - max(rx0, x0) >= 0.5 * (x1 - x0):
                return r + 1
    return 0


# --- shared ---------------------------------------------------------------------------


def _table_from_cells(cells: list[TableCell], n_rows: int, n_cols: int) -> Table:
    rows = [["" for _ in range(n_cols)] for _ in range(n_rows)]
    for cell in cells:
        if 0 <= cell.row < n_rows and 0 <= cell.col < n_cols:
            rows[cell.row][cell.col] = cell.text
    return Table(rows=rows, cells=sorted(cells, key=lambda c: (c.row, c.col)))


def _attach_captions(tables: list[FoundTable], lines: list[Line], line_height: float) -> None:
    """A "Table N ..." line just above (or below) a table is its caption."""
    if not tables:
        return
    # Only a line whose first word starts like a caption's can be one (see _CAPTION).
    candidates = [line for line in lines if line.words and line.words[0].text[:3].lower() in _CAPTION_STARTS]
    if not candidates:
        return
    owned = {id(w) for t in tables for w in t.words}
    for found in tables:
        x0, y0, x1, y1 = found.bbox
        best: Line | None = None
        for line in candidates:
            if any(id(w) in owned for w in line.words):
                continue
            if line.x1 < x0 - 20 or line.x0 > x1 + 20:
                continue
            above = 0 <= line.y0 - y1 <= 4 * line_height
            below = 0 <= y0 - line.y1 <= 3 * line_height
            if (
                (above or below)
                and _CAPTION.match(line.text)
                and (best is None or abs(line.y0 - y1) < abs(best.y0 - y1))
            ):
                best = line
        if best is not None:
            found.table.caption = best.text
            found.caption_words = list(best.words)
            owned.update(id(w) for w in best.words)

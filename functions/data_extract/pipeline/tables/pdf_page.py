"""The PDF extractor's entry to table finding: one pdfium page in, its tables and text blocks out."""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import pairwise
from typing import TYPE_CHECKING

from data_extract.pipeline.tables.pdf_geometry import Drawing, Rotation, Rule, group_lines, page_text, read_words
from data_extract.pipeline.tables.pdf_tables import FoundTable, find_tables
from data_extract.pipeline.types import Block

if TYPE_CHECKING:
    from data_extract.pipeline.tables.pdfium_objects import PdfPage, PdfTextPage

# A run of this many short lines with figures in them, in the page's text stream, is worth a look
# for a table even when the page draws no rules and its text runs do not line up (generators that
# write a whole table row as one run).
ROW_LIKE_RUN = 3
ROW_LIKE_MAX_CHARS = 90
_FIGURE_TOKEN = re.compile(r"\S*\d\S*")


def text_may_hold_table(stream_text: str) -> bool:
    """Cheap test on the page's stream text: consecutive short lines holding figures."""
    run = 0
    for line in stream_text.splitlines():
        if len(line) > ROW_LIKE_MAX_CHARS + 8:
            run = 0
            continue
        stripped = line.strip()
        # Figures after the row's label, at least every other word: "North 1,204 1,310", "20-29
        # 0.2650" (a line that only starts with a number is a numbered heading or a list item).
        parts = stripped.split(None, 1)
        tail = parts[1] if len(parts) == 2 else ""
        figures = len(_FIGURE_TOKEN.findall(tail)) if tail else 0
        if figures and len(stripped) <= ROW_LIKE_MAX_CHARS and figures >= (tail.count(" ") + 1) // 2:
            run += 1
            if run >= ROW_LIKE_RUN:
                return True
        elif stripped:
            run = 0
    return False


def page_tables(
    page: PdfPage,
    textpage: PdfTextPage,
    rules: Callable[[], tuple[list[Rule], list[Rule]]],
    stream_text: str | None = None,
    drawings: Callable[[], list[Drawing]] | None = None,
) -> list[FoundTable]:
    """Tables of a page. ``rules()`` gives its rules in unrotated page space ((y, x0, x1) and
    (x, y0, y1)); it is called only when the page's words line up anywhere, as every table's do.
    ``stream_text`` is the page's text as already read, if it was (see ``page_text``).
    ``drawings()`` gives what a chart draws, (x0, y0, x1, y1, is_box) in unrotated page space:
    paths of many segments and stroked boxes (asked for only when a table without a grid is found)."""
    width, height = float(page.get_width()), float(page.get_height())
    rotation = Rotation(page.get_rotation(), width, height)
    words = read_words(textpage, rotation, page_text(textpage, stream_text))
    if len(words) < 4:
        return []
    lines = group_lines(words)

    def display_rules() -> tuple[list[Rule], list[Rule]]:
        horizontals, verticals = rules()
        if rotation.degrees:
            return _rotate_rules(rotation, horizontals, verticals)
        return list(horizontals), list(verticals)

    def display_drawings() -> list[Drawing]:
        found = drawings() if drawings is not None else []
        if not rotation.degrees:
            return found
        return [(*rotation.box(x0, y0, x1, y1), is_box) for x0, y0, x1, y1, is_box in found]

    return find_tables(lines, display_rules, rotation.display_size[1], display_drawings if drawings else None)


def _rotate_rules(
    rotation: Rotation, horizontals: list[Rule], verticals: list[Rule]
) -> tuple[list[Rule], list[Rule]]:
    out_h: list[Rule] = []
    out_v: list[Rule] = []
    segments = [((x0, y), (x1, y)) for y, x0, x1 in horizontals] + [((x, y0), (x, y1)) for x, y0, y1 in verticals]
    for a, b in segments:
        (ax, ay), (bx, by) = rotation.point(*a), rotation.point(*b)
        if abs(ay - by) < abs(ax - bx):
            out_h.append(((ay + by) / 2, min(ax, bx), max(ax, bx)))
        else:
            out_v.append(((ax + bx) / 2, min(ay, by), max(ay, by)))
    return out_h, out_v


def text_around_tables(
    textpage: PdfTextPage,
    tables: list[FoundTable],
    stream_text: str | None = None,
) -> list[tuple[str, FoundTable | None]]:
    """The page in character order: runs of text outside every table, and each table where it starts.

    Every character lands in exactly one place, so nothing is lost or repeated whatever
    the geometry; a run holding only whitespace between two parts of one table is dropped.
    """
    text = page_text(textpage, stream_text)
    if text is None:
        return []
    count = len(text)
    # Each table owns the character ranges of its words; walk them in order.
    spans = sorted(
        (word.first, min(word.last, count - 1), position)
        for position, found in enumerate(tables)
        for word in (*found.words, *found.caption_words)
        if word.first < count
    )
    pieces: list[tuple[str, FoundTable | None]] = []
    emitted: set[int] = set()
    cursor = 0  # first character not yet placed
    run_parts: list[str] = []  # outside text since the last table piece
    blank = True  # every part of run_parts is whitespace
    for first, last, position in spans:
        if last < cursor:
            continue
        if first > cursor:
            part = text[cursor:first]
            run_parts.append(part)
            if blank and not part.isspace():
                blank = False
        cursor = max(cursor, last + 1)
        if position not in emitted:
            outside = "".join(run_parts)
            if outside.strip():
                pieces.append((outside, None))
            run_parts = []
            blank = True
            emitted.add(position)
            pieces.append(("", tables[position]))
        elif run_parts and blank:
            run_parts = []
    if cursor < count:
        run_parts.append(text[cursor:])
    outside = "".join(run_parts)
    if outside.strip():
        pieces.append((outside, None))
    return pieces


# Text between a table and the page break (a footnote, a page number, a running header)
# shorter than this still lets the table continue on the next page.
CONTINUATION_GAP_CHARS = 200


def mark_continuations(pages: list[list[Block]]) -> None:
    """Mark a table that continues the last table of the page before (same columns, no caption
    of its own, nothing but a running header or footer between them)."""
    for previous_blocks, blocks in pairwise(pages):
        last = next(
            (i for i in range(len(previous_blocks) - 1, -1, -1) if previous_blocks[i].table is not None), None
        )
        first = next((i for i, block in enumerate(blocks) if block.table is not None), None)
        if last is None or first is None:
            continue
        before, after = previous_blocks[last].table, blocks[first].table
        if before is None or after is None:  # not so: both were picked for holding a table
            continue
        if before.n_cols != after.n_cols or after.caption is not None or before.n_cols < 2:
            continue
        if (
            previous_blocks[last].meta.get("detected") == "form_fields"
            or blocks[first].meta.get("detected") == "form_fields"
        ):
            continue
        trailing = sum(len(b.text) for b in previous_blocks[last + 1 :])
        leading = sum(len(b.text) for b in blocks[:first])
        if trailing <= CONTINUATION_GAP_CHARS and leading <= CONTINUATION_GAP_CHARS:
            after.continues_previous = True

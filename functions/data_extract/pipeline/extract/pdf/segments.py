"""Line segments of a text page: pdfium's text rectangles merged along each line, and whether they line up
like the cells of a table."""

from __future__ import annotations

import ctypes
import math
from typing import TYPE_CHECKING

from data_extract.pipeline.tables.pdf_geometry import address_of, bare_function

if TYPE_CHECKING:
    from data_extract.pipeline.tables.pdfium_objects import PdfTextPage

Segment = list[float]  # x0, y0, x1, y1; a list, grown in place while rectangles merge into it


def line_segments(textpage: PdfTextPage) -> list[Segment]:
    """pdfium's text rectangles (one per run of one text object, in stream order),
    with consecutive ones on the same line and close together merged: [x0, y0, x1, y1].

    Runs on every page, so it is written for speed: one pass, no intermediate list.
    """
    import pypdfium2.raw as raw

    handle = address_of(textpage.raw)
    count = raw.FPDFText_CountRects(textpage.raw, 0, -1)
    left, top, right, bottom = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    corners = [ctypes.addressof(value) for value in (left, top, right, bottom)]
    ptr = ctypes.c_void_p
    get_rect = bare_function(raw.FPDFText_GetRect, ptr, ctypes.c_int, ptr, ptr, ptr, ptr)
    segments: list[Segment] = []
    append = segments.append
    cx0 = cy0 = cx1 = cy1 = 0.0
    current: Segment | None = None
    for i in range(max(count, 0)):
        if not get_rect(handle, i, *corners):
            continue
        x0, y0, x1, y1 = left.value, bottom.value, right.value, top.value
        height = y1 - y0
        if height <= 0.1 or x1 - x0 <= 0.01:
            continue
        if current is not None:
            current_height = cy1 - cy0
            line_height = current_height if current_height > height else height
            gap = x0 - cx1
            if -0.5 * line_height <= gap <= 0.9 * line_height:
                overlap = (cy1 if cy1 < y1 else y1) - (cy0 if cy0 > y0 else y0)
                if overlap >= 0.5 * (height if height < current_height else current_height):
                    if x0 < cx0:
                        cx0 = x0
                    if y0 < cy0:
                        cy0 = y0
                    if x1 > cx1:
                        cx1 = x1
                    if y1 > cy1:
                        cy1 = y1
                    current[0], current[1], current[2], current[3] = cx0, cy0, cx1, cy1
                    continue
        cx0, cy0, cx1, cy1 = x0, y0, x1, y1
        current = [x0, y0, x1, y1]
        append(current)
    return segments


def may_hold_table(segments: list[Segment], line_height: float) -> bool:
    """Do several rows hold separate, narrow runs of text that line up like cells?

    Lines of two text columns also come in pairs per row; they are wide, so only
    runs narrower than a third of the text width count as cells.
    """
    if len(segments) < 6:
        return False
    text_width = max(s[2] for s in segments) - min(s[0] for s in segments)
    narrow_limit = text_width / 3
    ordered = sorted(segments, key=lambda s: -(s[1] + s[3]))
    rows: list[list[Segment]] = []
    row_center = math.inf
    for segment in ordered:
        center = (segment[1] + segment[3]) / 2
        if rows and row_center - center <= 0.5 * line_height:
            rows[-1].append(segment)
        else:
            rows.append([segment])
            row_center = center
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for row in rows:
        if len(row) < 2:
            continue
        row.sort(key=lambda s: s[0])
        for position, segment in enumerate(row):
            if segment[2] - segment[0] > narrow_limit:
                continue
            if position > 0:
                key = round(segment[0] / 3)
                starts[key] = starts.get(key, 0) + 1
            if position < len(row) - 1:
                key = round(segment[2] / 3)
                ends[key] = ends.get(key, 0) + 1
    return max([*starts.values(), *ends.values(), 0]) >= 3

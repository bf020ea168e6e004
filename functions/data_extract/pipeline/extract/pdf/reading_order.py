"""Reading order of a page whose text runs in columns: full-width bands and columns, top to bottom.

Only a page whose stream keeps jumping between its columns (columns interleaved line by line) gets a plan;
every other page keeps pdfium's stream order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from data_extract.pipeline.extract.pdf.segments import Segment

Region = tuple[float, float, float, float]  # x0, y0, x1, y1 of a run of text read as one paragraph


def plan_reading_order(segments: list[Segment], line_height: float) -> list[Region] | None:
    """Regions in reading order, or None when the stream order is right."""
    if not segments:
        return None

    gutters = _find_gutters(segments, line_height)
    if not gutters:
        return None
    columns = _assign_columns(segments, gutters)
    zones = _zones(segments, columns, gutters)
    zones = [_validate_zone(zone, line_height) for zone in zones]
    if not any(zone.columns > 1 for zone in zones):
        return None
    if not _stream_order_is_broken(segments, zones, line_height):
        return None

    plan: list[Region] = []
    for zone in zones:
        for column in range(zone.columns):
            items = zone.members(column)
            plan += _blocks(items, line_height)
    return plan


def _find_gutters(segments: list[Segment], line_height: float) -> list[float]:
    """x positions of vertical white bands that split the page's text into columns."""
    x_min = min(s[0] for s in segments)
    x_max = max(s[2] for s in segments)
    width = x_max - x_min
    if width <= 0:
        return []
    # Full-width lines (titles, abstracts, captions) cross gutters by design.
    narrow = [s for s in segments if s[2] - s[0] < 0.55 * width and s[3] - s[1] < 3 * line_height]
    if len(narrow) < 10:
        return []
    events: list[tuple[float, int]] = []
    for s in narrow:
        events.append((s[0], 1))
        events.append((s[2], -1))
    events.sort()
    tolerance = max(1, len(narrow) // 50)
    inner_left, inner_right = x_min + 0.15 * width, x_max - 0.15 * width
    min_gutter = max(0.8 * line_height, 4.0)

    gutters: list[float] = []
    depth = 0
    open_at: float | None = None
    for x, delta in events:
        was_open = depth <= tolerance
        depth += delta
        now_open = depth <= tolerance
        if now_open and not was_open:
            open_at = x
        elif was_open and not now_open and open_at is not None:
            start, end = max(open_at, inner_left), min(x, inner_right)
            if end - start >= min_gutter:
                gutters.append((start + end) / 2)
            open_at = None
    return gutters


def _assign_columns(segments: list[Segment], gutters: list[float]) -> list[int]:
    """Column index of each segment, or -1 when it crosses a gutter (spans columns)."""
    assigned = []
    for x0, _y0, x1, _y1 in segments:
        column = 0
        spanning = False
        for gutter in gutters:
            if x1 <= gutter + 1.0:
                break
            if x0 < gutter - 1.0:
                spanning = True
                break
            column += 1
        assigned.append(-1 if spanning else column)
    return assigned


@dataclass
class _Zone:
    """A horizontal band of the page: full width (one column) or split into columns."""

    columns: int
    items: list[tuple[int, Segment]] = field(default_factory=list)  # (column, segment)

    def members(self, column: int) -> list[Segment]:
        return [item for col, item in self.items if col == column]


def _zones(segments: list[Segment], columns: list[int], gutters: list[float]) -> list[_Zone]:
    n_columns = len(gutters) + 1
    entries: list[tuple[float, int, Segment]] = [
        ((s[1] + s[3]) / 2, column, s) for s, column in zip(segments, columns, strict=True)
    ]
    entries.sort(key=lambda e: -e[0])

    zones: list[_Zone] = []
    for _center, column, item in entries:
        spanning = column == -1 or n_columns == 1
        if spanning:
            if not zones or zones[-1].columns != 1:
                zones.append(_Zone(columns=1))
            zones[-1].items.append((0, item))
        else:
            if not zones or zones[-1].columns == 1:
                zones.append(_Zone(columns=n_columns))
            zones[-1].items.append((column, item))
    return zones


def _validate_zone(zone: _Zone, line_height: float) -> _Zone:
    """Keep a multi-column zone only if every column holds lines of running text.

    Tables without rules also have white vertical bands; their cells are short and
    ragged, while text columns are filled lines of similar width.
    """
    if zone.columns == 1:
        return zone
    widths: list[float] = []
    for column in range(zone.columns):
        members = zone.members(column)
        if len(members) < 3:
            return _merged(zone)
        left = min(m[0] for m in members)
        right = max(m[2] for m in members)
        column_width = right - left
        if column_width < 8 * line_height:
            return _merged(zone)
        filled = sum(1 for m in members if m[2] - m[0] >= 0.6 * column_width)
        if filled < 0.4 * len(members):
            return _merged(zone)
        widths.append(column_width)
    if min(widths) < 0.4 * max(widths):
        return _merged(zone)
    return zone


def _merged(zone: _Zone) -> _Zone:
    return _Zone(columns=1, items=[(0, item) for _column, item in zone.items])


def _stream_order_is_broken(segments: list[Segment], zones: list[_Zone], line_height: float) -> bool:
    """Does the stream keep jumping back between the columns of a zone (or upward within one)?"""
    where: dict[int, tuple[int, int]] = {}
    for zone_index, zone in enumerate(zones):
        if zone.columns == 1:
            continue
        for column, item in zone.items:
            where[id(item)] = (zone_index, column)
    if not where:
        return False
    backward = 0
    previous: Segment | None = None
    for segment in segments:
        location = where.get(id(segment))
        if location is None:
            previous = None
            continue
        if previous is not None:
            previous_location = where[id(previous)]
            same_zone = previous_location[0] == location[0]
            back_to_earlier_column = location[1] < previous_location[1]
            up_within_column = location[1] == previous_location[1] and segment[1] > previous[3] + 1.5 * line_height
            if same_zone and (back_to_earlier_column or up_within_column):
                backward += 1
        previous = segment
    # Interleaved columns jump back on nearly every other line; a handful of jumps
    # is a caption, a footnote or a table read row by row, which the stream has right.
    return backward >= 4 and backward >= 0.2 * len(where)


def _blocks(items: list[Segment], line_height: float) -> list[Region]:
    """Group a column's segments into text regions split at wide vertical gaps."""
    entries = sorted(items, key=lambda item: -item[3])
    plan: list[Segment] = []
    current: Segment | None = None
    gap_limit = 1.2 * line_height
    for item in entries:
        if current is not None and current[1] - item[3] <= gap_limit:
            current[0] = min(current[0], item[0])
            current[1] = min(current[1], item[1])
            current[2] = max(current[2], item[2])
            continue
        current = list(item)
        plan.append(current)
    return [(x0, y0, x1, y1) for x0, y0, x1, y1 in plan]

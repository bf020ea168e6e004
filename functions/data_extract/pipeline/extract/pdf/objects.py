"""The walk over a page's objects (form objects included): what the page draws, in one pass.

Images (how much of the page they cover), paths (how many), horizontal and vertical rules, and the marks a
chart is drawn with.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from data_extract.pipeline.extract.pdf.matrix import Box, Matrix, apply, compose, transform_box
from data_extract.pipeline.tables.pdf_geometry import Drawing, Rule, address_of, bare_function

if TYPE_CHECKING:
    from data_extract.pipeline.tables.pdfium_objects import PdfPage

# Table detection: skip pages that are vector drawings rather than documents.
MAX_PATHS_FOR_TABLES = 20000  # a page drawing more paths is a vector drawing, not a table
RULE_THICKNESS = 2.5  # points; thicker paths are shapes, not rules
MAX_PATH_SEGMENTS_INSPECTED = 64
MAX_DRAWINGS_KEPT = 4000

_PATH, _IMAGE, _FORM = 2, 3, 5  # FPDF_PAGEOBJ_* types
_SEGMENT_LINETO, _SEGMENT_BEZIERTO, _SEGMENT_MOVETO = 0, 1, 2
_FORM_NESTING_LIMIT = 4


@dataclass
class Inventory:
    """What a page draws, from one walk over its objects."""

    width: float
    height: float
    image_area: float = 0.0
    path_count: int = 0
    horizontal_rules: list[Rule] = field(default_factory=list)  # (y, x0, x1)
    vertical_rules: list[Rule] = field(default_factory=list)  # (x, y0, y1)
    # What a chart draws, for telling a chart's labels from a table: (x0, y0, x1, y1, is_box) of
    # paths with many segments (curves, polylines), slanted lines, and stroked boxes (bars, legend
    # swatches).
    drawings: list[Drawing] = field(default_factory=list)

    @property
    def image_ratio(self) -> float:
        page_area = max(self.width * self.height, 1.0)
        return min(self.image_area / page_area, 1.0)


def take_inventory(page: PdfPage) -> Inventory:
    inventory = Inventory(width=float(page.get_width()), height=float(page.get_height()))
    calls = _object_calls()
    page_handle = address_of(page.raw)
    count = calls.count_objects(page_handle)
    _walk_objects(page_handle, count, calls.get_object, None, inventory, 0, calls)
    return inventory


class _ObjectCalls:
    """The pdfium calls of a walk over a page's objects, as bare C calls on addresses (see
    ``bare_function``): a page can draw thousands of objects, each read with a few calls."""

    def __init__(self) -> None:
        import pypdfium2.raw as raw

        ptr, i32, u32 = ctypes.c_void_p, ctypes.c_int, ctypes.c_ulong
        self.count_objects = bare_function(raw.FPDFPage_CountObjects, ptr)
        self.get_object = bare_function(raw.FPDFPage_GetObject, ptr, i32, restype=ptr)
        self.form_count = bare_function(raw.FPDFFormObj_CountObjects, ptr)
        self.form_get_object = bare_function(raw.FPDFFormObj_GetObject, ptr, u32, restype=ptr)
        self.get_type = bare_function(raw.FPDFPageObj_GetType, ptr)
        self.get_bounds = bare_function(raw.FPDFPageObj_GetBounds, ptr, ptr, ptr, ptr, ptr)
        self.get_matrix = bare_function(raw.FPDFPageObj_GetMatrix, ptr, ptr)
        self.count_segments = bare_function(raw.FPDFPath_CountSegments, ptr)
        self.get_draw_mode = bare_function(raw.FPDFPath_GetDrawMode, ptr, ptr, ptr)
        self.get_segment = bare_function(raw.FPDFPath_GetPathSegment, ptr, i32, restype=ptr)
        self.segment_point = bare_function(raw.FPDFPathSegment_GetPoint, ptr, ptr, ptr)
        self.segment_type = bare_function(raw.FPDFPathSegment_GetType, ptr)
        self.segment_close = bare_function(raw.FPDFPathSegment_GetClose, ptr)
        # Out-parameters, reused by every call of a walk (each thread has its own).
        self.floats = [ctypes.c_float() for _ in range(4)]
        self.float_addresses = [ctypes.addressof(value) for value in self.floats]
        self.ints = [ctypes.c_int(), ctypes.c_int()]
        self.int_addresses = [ctypes.addressof(value) for value in self.ints]
        self.matrix = raw.FS_MATRIX()
        self.matrix_address = ctypes.addressof(self.matrix)


_OBJECT_CALLS = threading.local()


def _object_calls() -> _ObjectCalls:
    calls = getattr(_OBJECT_CALLS, "calls", None)
    if calls is None:
        calls = _OBJECT_CALLS.calls = _ObjectCalls()
    return calls


def _walk_objects(
    container: int,
    count: int,
    getter: Callable[[int, int], int | None],  # the container's i-th object (a bare call: an address or None)
    matrix: Matrix | None,
    inventory: Inventory,
    depth: int,
    calls: _ObjectCalls,
) -> None:
    left, bottom, right, top = calls.floats
    bounds_at = calls.float_addresses
    get_type = calls.get_type
    get_bounds = calls.get_bounds
    for i in range(count):
        obj = getter(container, i)
        if not obj:
            continue
        kind = get_type(obj)
        if kind == _PATH:
            inventory.path_count += 1
            if inventory.path_count > MAX_PATHS_FOR_TABLES:
                continue
            if not get_bounds(obj, *bounds_at):
                continue
            box = transform_box((left.value, bottom.value, right.value, top.value), matrix)
            _collect_rules(obj, box, matrix, inventory, calls)
        elif kind == _IMAGE:
            if get_bounds(obj, *bounds_at):
                x0, y0, x1, y1 = transform_box((left.value, bottom.value, right.value, top.value), matrix)
                x0, x1 = max(x0, 0.0), min(x1, inventory.width)
                y0, y1 = max(y0, 0.0), min(y1, inventory.height)
                if x1 > x0 and y1 > y0:
                    inventory.image_area += (x1 - x0) * (y1 - y0)
        elif kind == _FORM and depth < _FORM_NESTING_LIMIT:
            child_count = calls.form_count(obj)
            if child_count > 0:
                form_matrix = _object_matrix(obj, calls)
                combined = compose(form_matrix, matrix)
                _walk_objects(obj, child_count, calls.form_get_object, combined, inventory, depth + 1, calls)


def _object_matrix(obj: int, calls: _ObjectCalls) -> Matrix | None:
    if not calls.get_matrix(obj, calls.matrix_address):
        return None
    m = calls.matrix
    return (m.a, m.b, m.c, m.d, m.e, m.f)


def _collect_rules(obj: int, box: Box, matrix: Matrix | None, inventory: Inventory, calls: _ObjectCalls) -> None:
    """Horizontal/vertical rules drawn by a path: thin boxes, or the edges of stroked outlines."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    if height <= RULE_THICKNESS and width > 3 * max(height, 0.5):
        inventory.horizontal_rules.append(((y0 + y1) / 2, x0, x1))
        if calls.count_segments(obj) > 6:
            _add_drawing(inventory, box, False)  # a thin curve: a chart's line or a legend's marker
        return
    if width <= RULE_THICKNESS and height > 3 * max(width, 0.5):
        inventory.vertical_rules.append(((x0 + x1) / 2, y0, y1))
        if calls.count_segments(obj) > 6:
            _add_drawing(inventory, box, False)
        return
    segment_count = calls.count_segments(obj)
    if segment_count > 6:
        _add_drawing(inventory, box, False)  # a curve or a polyline
    elif segment_count < 4 and _is_slanted(obj, segment_count, matrix, calls):
        _add_drawing(inventory, box, False)  # a chart's line drawn segment by segment
    # A rectangle is 4-5 segments; a grid drawn as one path is large. Anything else
    # (curves of figures, glyph outlines) is not worth reading point by point.
    if not (4 <= segment_count <= 6 or (segment_count <= MAX_PATH_SEGMENTS_INSPECTED and width > 40 and height > 15)):
        return
    _fill_mode, stroke = calls.ints
    if not calls.get_draw_mode(obj, *calls.int_addresses) or not stroke.value:
        return  # a filled shape (cell shading, a logo): not a rule
    if 4 <= segment_count <= 6:
        _add_drawing(inventory, box, True)
    full_matrix = compose(_object_matrix(obj, calls), matrix)
    px, py = calls.floats[0], calls.floats[1]
    point_at = calls.float_addresses[0], calls.float_addresses[1]
    get_segment, segment_point = calls.get_segment, calls.segment_point
    segment_type, segment_close = calls.segment_type, calls.segment_close
    start: tuple[float, float] | None = None
    previous: tuple[float, float] | None = None
    for i in range(segment_count):
        segment = get_segment(obj, i)
        if not segment or not segment_point(segment, *point_at):
            continue
        point = apply(full_matrix, px.value, py.value)
        kind = segment_type(segment)
        if kind == _SEGMENT_BEZIERTO:
            return  # a curve: a drawing, not a table outline
        if kind == _SEGMENT_MOVETO:
            start = previous = point
            continue
        if kind == _SEGMENT_LINETO and previous is not None:
            _add_rule(previous, point, inventory)
        previous = point
        if segment_close(segment) and start is not None:
            _add_rule(point, start, inventory)


def _is_slanted(obj: int, segment_count: int, matrix: Matrix | None, calls: _ObjectCalls) -> bool:
    """Does a path of a few segments run slanted (its points spread both ways)? Its box alone cannot
    tell: a dot or a short rule drawn with a wide pen has a square box too."""
    full_matrix = compose(_object_matrix(obj, calls), matrix)
    px, py = calls.floats[0], calls.floats[1]
    point_at = calls.float_addresses[0], calls.float_addresses[1]
    xs: list[float] = []
    ys: list[float] = []
    for i in range(segment_count):
        segment = calls.get_segment(obj, i)
        if not segment or not calls.segment_point(segment, *point_at):
            continue
        x, y = apply(full_matrix, px.value, py.value)
        xs.append(x)
        ys.append(y)
    return bool(xs) and max(xs) - min(xs) > RULE_THICKNESS and max(ys) - min(ys) > RULE_THICKNESS


def _add_drawing(inventory: Inventory, box: Box, is_box: bool) -> None:
    if len(inventory.drawings) < MAX_DRAWINGS_KEPT:
        x0, y0, x1, y1 = box
        inventory.drawings.append((x0, y0, x1, y1, is_box))


def _add_rule(a: tuple[float, float], b: tuple[float, float], inventory: Inventory) -> None:
    (ax, ay), (bx, by) = a, b
    if abs(ay - by) <= 0.5 and abs(ax - bx) > 2:
        inventory.horizontal_rules.append(((ay + by) / 2, min(ax, bx), max(ax, bx)))
    elif abs(ax - bx) <= 0.5 and abs(ay - by) > 2:
        inventory.vertical_rules.append(((ax + bx) / 2, min(ay, by), max(ay, by)))

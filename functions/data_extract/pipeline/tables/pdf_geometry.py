"""Words, text lines and rules of one PDF page, in display space, from pdfium.

Table finding works on what a reader sees: a page with ``/Rotate 90`` is turned
upright first, so its rows run left to right like any other page's. Coordinates
are PDF points with y growing upwards (pdfium's convention), after rotation.
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from data_extract.pipeline.tables.pdfium_objects import PdfTextPage

Rule = tuple[float, float, float]  # (y, x0, x1) of a horizontal rule, (x, y0, y1) of a vertical one
Drawing = tuple[float, float, float, float, bool]  # x0, y0, x1, y1, is_box: a path a chart may be drawn with


@dataclass(slots=True)
class Word:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    first: int  # index of its first character in the text page
    last: int  # index of its last character

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass(slots=True)
class Line:
    """Words on one baseline, left to right."""

    words: list[Word]
    x0: float = 0.0
    y0: float = 0.0
    x1: float = 0.0
    y1: float = 0.0

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        words = self.words
        if len(words) > 1:
            words.sort(key=_X0)
        first = words[0]
        x0, y0, x1, y1 = first.x0, first.y0, first.x1, first.y1
        for word in words:
            if word.y0 < y0:
                y0 = word.y0
            if word.x1 > x1:
                x1 = word.x1
            if word.y1 > y1:
                y1 = word.y1
        self.x0, self.y0, self.x1, self.y1 = x0, y0, x1, y1

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


_X0 = attrgetter("x0")


class Rotation:
    """Maps unrotated page space to display space for a page's /Rotate."""

    def __init__(self, degrees: int, width: float, height: float) -> None:
        self.degrees = degrees % 360
        self.width = width  # unrotated
        self.height = height

    @property
    def display_size(self) -> tuple[float, float]:
        if self.degrees in (90, 270):
            return self.height, self.width
        return self.width, self.height

    def point(self, x: float, y: float) -> tuple[float, float]:
        d = self.degrees
        if d == 90:
            return y, self.width - x
        if d == 180:
            return self.width - x, self.height - y
        if d == 270:
            return self.height - y, x
        return x, y

    def box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        if self.degrees == 0:
            return x0, y0, x1, y1
        ax, ay = self.point(x0, y0)
        bx, by = self.point(x1, y1)
        return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


_WORD = re.compile(r"[^\s\x00\x02\ufffe\u3000]+")


def bare_function(function: Any, *argtypes: Any, restype: Any = ctypes.c_int) -> Any:
    """A pdfium function called through a plain C prototype (the given result and argument types).

    pypdfium2's bindings check and convert every argument against its declared pointer types,
    which costs more than pdfium's own work for the small per-character and per-object calls
    that table finding makes by the thousand; handles and buffers are passed as addresses
    (``ctypes.c_void_p`` arguments and results are plain ints).
    """
    key = (id(function), restype, argtypes)  # ctypes functions do not hash; the bindings keep theirs alive
    found = _BARE.get(key)
    if found is None:
        address = ctypes.cast(function, ctypes.c_void_p).value
        if address is None:
            raise ValueError(f"{getattr(function, '__name__', function)!r} has no address to call.")
        found = _BARE[key] = ctypes.CFUNCTYPE(restype, *argtypes)(address)
    return found


_BARE: dict[Any, Any] = {}


def address_of(handle: Any) -> int:
    """The address a pypdfium2 raw handle points to (for ``bare_function`` calls)."""
    return ctypes.cast(handle, ctypes.c_void_p).value or 0


def page_text(textpage: PdfTextPage, stream_text: str | None = None) -> str | None:
    """The text page's characters, one string position per character index (None if they do not map).

    ``stream_text``, the page's whole text already read through pypdfium2, is taken as it is when it
    has one position per character index (reading it again costs as much as the first time).
    """
    import pypdfium2.raw as raw

    count = raw.FPDFText_CountChars(textpage.raw)
    if count <= 0:
        return ""
    if stream_text is not None and len(stream_text) == count:
        return stream_text
    buffer = (ctypes.c_ushort * (count + 1))()
    written = raw.FPDFText_GetText(textpage.raw, 0, count, buffer)
    if written <= 0:
        return ""
    text = ctypes.string_at(buffer, (written - 1) * 2).decode("utf-16-le", "replace")
    # One UTF-16 unit per character index; characters outside the BMP take two units, and
    # pdfium leaves out some it cannot map: either would shift every later index, so such a
    # page is read one character at a time.
    if len(text) == count:
        return text
    get_unicode = raw.FPDFText_GetUnicode
    return "".join(
        chr(code) if 0 < (code := get_unicode(textpage.raw, i)) < 0x110000 else "\x00" for i in range(count)
    )


def read_words(textpage: PdfTextPage, rotation: Rotation, text: str | None = None) -> list[Word]:
    """Words of the text page in character order, split at whitespace (pdfium inserts a space
    where glyphs stand apart).

    A word's box is the union of its first and last characters' loose boxes (font ascent to
    descent, so every glyph of a line has the same height): two calls per word instead of
    two per character, which keeps table finding cheap enough to run on every page.
    """
    import pypdfium2.raw as raw

    if text is None:
        text = page_text(textpage)
    if not text:
        return []
    handle = address_of(textpage.raw)
    get_box = bare_function(raw.FPDFText_GetLooseCharBox, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)
    rect = raw.FS_RECTF()
    rect_address = ctypes.addressof(rect)
    rotated = rotation.degrees != 0
    words: list[Word] = []
    append = words.append
    for match in _WORD.finditer(text):
        first, end = match.span()
        last = end - 1
        if not get_box(handle, first, rect_address):
            continue
        x0, x1, y0, y1 = rect.left, rect.right, rect.bottom, rect.top
        if last != first and get_box(handle, last, rect_address):
            # The last glyph of a word is right of the first and on its line: only its right edge
            # (and a taller glyph's top or bottom) can widen the box.
            right, bottom, top = rect.right, rect.bottom, rect.top
            if right > x1:
                x1 = right
            if bottom < y0:
                y0 = bottom
            if top > y1:
                y1 = top
        if y0 > y1:
            y0, y1 = y1, y0
        if rotated:
            x0, y0, x1, y1 = rotation.box(x0, y0, x1, y1)
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            continue
        append(Word(x0, y0, x1, y1, match.group(), first, last))
    return words


def group_lines(words: list[Word]) -> list[Line]:
    """Words grouped into text lines by vertical overlap, top to bottom.

    Superscripts and footnote marks overlap the line they belong to by more than
    half their own height, so they join it rather than making a line of their own.
    """
    ordered = sorted(words, key=lambda w: -(w.y0 + w.y1))
    lines: list[list[Word]] = []
    bounds: list[list[float]] = []  # y0, y1 of each open line
    for word in ordered:
        wy0, wy1 = word.y0, word.y1
        height = wy1 - wy0
        # Only the last few lines can still overlap a word further down the page.
        position = len(lines) - 1
        stop = position - 3 if position >= 3 else -1
        while position > stop:
            bound = bounds[position]
            y0, y1 = bound
            overlap = (y1 if y1 < wy1 else wy1) - (y0 if y0 > wy0 else wy0)
            line_height = y1 - y0
            if overlap >= 0.5 * (height if height < line_height else line_height):
                lines[position].append(word)
                if height < 2.5 * line_height:
                    if wy0 < y0:
                        bound[0] = wy0
                    if wy1 > y1:
                        bound[1] = wy1
                break
            position -= 1
        else:
            lines.append([word])
            bounds.append([wy0, wy1])
    result = [Line(words=members) for members in lines]
    result.sort(key=lambda line: -line.y1)
    return result

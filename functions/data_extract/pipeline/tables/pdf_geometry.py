"""Words, text lines and rules of one PDF page, in display space, from pdfium.

Table finding works on what a reader sees: a page with ``/Rotate 90`` is turned
upright first, so its rows run left to right like any other page's. Coordinates
are PDF points with y growing upwards (pdfium's convention), after rotation.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any

# A gap wider than this fraction of the glyph height splits a run of characters into two words
# even without a space between them (generators that position every word or cell absolutely).
WORD_GAP_RATIO = 0.35


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
        self.words.sort(key=lambda w: w.x0)
        self.x0 = min(w.x0 for w in self.words)
        self.x1 = max(w.x1 for w in self.words)
        self.y0 = min(w.y0 for w in self.words)
        self.y1 = max(w.y1 for w in self.words)

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass
class PageGeometry:
    width: float
    height: float
    words: list[Word]
    horizontal_rules: list[tuple[float, float, float]] = field(default_factory=list)  # (y, x0, x1)
    vertical_rules: list[tuple[float, float, float]] = field(default_factory=list)  # (x, y0, y1)


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


def read_words(textpage: Any, rotation: Rotation) -> list[Word]:
    """Words of the text page in character order, split at whitespace and at wide gaps."""
    import pypdfium2.raw as raw

    handle = textpage.raw
    count = raw.FPDFText_CountChars(handle)
    get_unicode = raw.FPDFText_GetUnicode
    get_box = raw.FPDFText_GetCharBox
    left, right, bottom, top = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    words: list[Word] = []
    chars: list[str] = []
    wx0 = wy0 = wx1 = wy1 = 0.0
    first = last = -1
    rotated = rotation.degrees != 0

    def close() -> None:
        if chars:
            words.append(Word(wx0, wy0, wx1, wy1, "".join(chars), first, last))
            chars.clear()

    for index in range(max(count, 0)):
        code = get_unicode(handle, index)
        if code in (32, 9, 10, 13, 0, 0xA0, 0xFFFE, 2) or code == 0x3000:
            close()
            continue
        if not get_box(handle, index, left, right, bottom, top):
            continue
        x0, x1, y0, y1 = left.value, right.value, bottom.value, top.value
        if rotated:
            x0, y0, x1, y1 = rotation.box(x0, y0, x1, y1)
        if x1 - x0 <= 0 and y1 - y0 <= 0:
            continue
        if chars:
            height = max(wy1 - wy0, y1 - y0, 1.0)
            same_line = min(wy1, y1) - max(wy0, y0) > -0.2 * height
            gap = x0 - wx1
            if not same_line or gap > WORD_GAP_RATIO * height or gap < -2.0 * height:
                close()
        if not chars:
            wx0, wy0, wx1, wy1 = x0, y0, x1, y1
            first = index
        else:
            wx0, wy0 = min(wx0, x0), min(wy0, y0)
            wx1, wy1 = max(wx1, x1), max(wy1, y1)
        last = index
        chars.append(chr(code) if code < 0x110000 else "")
    close()
    return words


def group_lines(words: list[Word]) -> list[Line]:
    """Words grouped into text lines by vertical overlap, top to bottom.

    Superscripts and footnote marks overlap the line they belong to by more than
    half their own height, so they join it rather than making a line of their own.
    """
    ordered = sorted(words, key=lambda w: -w.cy)
    lines: list[list[Word]] = []
    bounds: list[list[float]] = []  # y0, y1 of each open line
    for word in ordered:
        placed = False
        # Only the last few lines can still overlap a word further down the page.
        for position in range(len(lines) - 1, max(len(lines) - 4, -1), -1):
            y0, y1 = bounds[position]
            overlap = min(y1, word.y1) - max(y0, word.y0)
            if overlap >= 0.5 * min(word.height, y1 - y0):
                lines[position].append(word)
                bounds[position] = [min(y0, word.y0), max(y1, word.y1)] if word.height < 2.5 * (y1 - y0) else [y0, y1]
                placed = True
                break
        if not placed:
            lines.append([word])
            bounds.append([word.y0, word.y1])
    result = [Line(words=members) for members in lines]
    result.sort(key=lambda line: -line.y1)
    return result

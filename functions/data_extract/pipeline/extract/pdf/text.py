"""Reading a pdfium text page: the text inside rectangles, its visible characters, pdfium's markers cleaned."""

from __future__ import annotations

import ctypes
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from data_extract.pipeline.tables.pdfium_objects import PdfTextPage

# pdfium marks a hyphen that ends a line with U+FFFE in stream text and U+0002 in
# bounded text; with or without the line break after it.
_PDFIUM_LINE_END_HYPHEN = re.compile("[\ufffe\x02](?:\r?\n)?")


class BoundedText:
    """Text inside rectangles of one text page, one pdfium call per rectangle.

    pypdfium2's ``get_text_bounded`` asks pdfium twice (size, then text), and each
    call scans every character of the page; with one buffer sized for the whole
    page a single call suffices.
    """

    def __init__(self, textpage: PdfTextPage) -> None:
        import pypdfium2.raw as raw

        self._textpage = textpage
        self._function = raw.FPDFText_GetBoundedText
        # Every character may be preceded by an inserted line break or space.
        self._capacity = 3 * max(textpage.count_chars(), 0) + 64
        self._buffer = (ctypes.c_ushort * self._capacity)()

    def read(self, x0: float, y0: float, x1: float, y1: float) -> str:
        written = self._function(self._textpage.raw, x0, y1, x1, y0, self._buffer, self._capacity)
        if written <= 0:
            return ""
        if written >= self._capacity:  # cannot happen by the bound above; stay correct anyway
            return str(self._textpage.get_text_bounded(left=x0, bottom=y0, right=x1, top=y1))
        # The count includes the terminating NUL when the buffer had room for it.
        return ctypes.string_at(self._buffer, written * 2).decode("utf-16-le", "ignore").rstrip("\x00")


def visible_chars(text: str) -> int:
    return len(text) - sum(text.count(ch) for ch in (" ", "\r", "\n", "\t", "\ufffe", "\x02", "\x00"))


def clean_text(text: str) -> str:
    """Hand pdfium's line-end hyphen marker on as a plain hyphen and line break.

    The normalize stage decides whether a hyphen at a line end joins a broken word
    or belongs to a compound; it can only do that if the line break is kept.
    """
    text = _PDFIUM_LINE_END_HYPHEN.sub("-\n", text)
    return text.replace("\r\n", "\n").replace("\x00", "")

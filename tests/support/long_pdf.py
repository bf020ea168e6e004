"""Long PDFs generated on the spot for the page-range tests and the big-document benchmark: text pages (with a
ruled table that runs on onto the next page, when asked) and scanned pages (text rendered into an image)."""

from __future__ import annotations

import io

from tests.unit.pipeline.pdf_builder import Line, Page, Picture, Text, build_pdf, text_grid

WORDS = ("audit", "control", "ledger", "review", "sample", "evidence", "finding", "owner", "quarter", "policy")


def page_lines(number: int, lines: int = 30) -> list[str]:
    """Distinct, deterministic sentences for page ``number``: a chunk's text says which page it came from."""
    return [
        f"Page {number} line {i}: the {WORDS[(number + i) % 10]} of {WORDS[(number * 3 + i) % 10]} was checked."
        for i in range(lines)
    ]


def ruled_table(rows: list[list[str]], top: float) -> list[Text | Line]:
    """A grid of rules with one text run per cell (three columns, 150 points wide)."""
    items: list[Text | Line] = []
    left, width, height = 72.0, 150.0, 20.0
    bottom = top - height * len(rows)
    for r in range(len(rows) + 1):
        items.append(Line(left, top - r * height, left + width * 3, top - r * height))
    for c in range(4):
        items.append(Line(left + c * width, top, left + c * width, bottom))
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            items.append(Text(left + c * width + 4, top - (r + 1) * height + 6, cell))
    return items


def text_pdf(pages: int, *, lines: int = 30, table_across: int | None = None) -> bytes:
    """``pages`` pages of text; with ``table_across`` = n, page n ends and page n + 1 starts with one table."""
    specs = []
    for number in range(1, pages + 1):
        items: list[Text | Line | Picture] = list(text_grid(72, 740, page_lines(number, lines)))
        if table_across is not None and number == table_across:
            items = list(text_grid(72, 740, page_lines(number, 8)))
            items += ruled_table([["Item", "Owner", "State"], ["A1", "Kim", "open"], ["A2", "Lee", "done"]], 200)
        if table_across is not None and number == table_across + 1:
            items = ruled_table([["A3", "Ana", "open"], ["A4", "Bo", "done"], ["A5", "Cy", "open"]], 740)
            items += text_grid(72, 600, page_lines(number, 8))
        specs.append(Page(items))
    return build_pdf(specs)


def scanned_pdf(pages: int) -> bytes:
    """``pages`` image-only pages, each a rendering of two short lines of large text (Tesseract reads them)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=56)
    specs = []
    for number in range(1, pages + 1):
        image = Image.new("L", (1240, 400), 255)
        draw = ImageDraw.Draw(image)
        draw.text((60, 80), f"Scanned page {number}", fill=0, font=font)
        draw.text((60, 200), f"Ledger entry {number * 7}", fill=0, font=font)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        specs.append(Page([Picture(0, 792 - 256, 612, 256, Image.open(io.BytesIO(buffer.getvalue())))]))
    return build_pdf(specs)

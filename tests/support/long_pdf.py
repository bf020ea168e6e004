"""Long PDFs generated on the spot for the page-range tests and the big-document benchmark: text pages (with a
ruled table that runs on onto the next page, when asked) and scanned pages (text rendered into an image)."""

from __future__ import annotations

from tests.unit.pipeline.pdf_builder import Line, Text, text_grid

SCAN_WIDTH, SCAN_HEIGHT = 1240, 400  # pixels of a scanned page's image
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
        items: list[Text | Line] = list(text_grid(72, 740, page_lines(number, lines)))
        if table_across is not None and number == table_across:
            items = list(text_grid(72, 740, page_lines(number, 8)))
            items += ruled_table([["Item", "Owner", "State"], ["A1", "Kim", "open"], ["A2", "Lee", "done"]], 200)
        if table_across is not None and number == table_across + 1:
            items = ruled_table([["A3", "Ana", "open"], ["A4", "Bo", "done"], ["A5", "Cy", "open"]], 740)
            items += text_grid(72, 600, page_lines(number, 8))
        specs.append(items)
    return _written_pdf(specs)


def _written_pdf(pages: list[list[Text | Line]], images: list[bytes] | None = None) -> bytes:
    """Text runs (Helvetica), rules and one page-wide image a page (``images``: a scan's deflated 8-bit gray
    pixels, SCAN_WIDTH x SCAN_HEIGHT) written as PDF objects directly: linear in the page count, where building
    thousands of pages through pdfium's editing API slows down with every page added."""
    count, per_page = len(pages), 3 if images else 2
    kids = b" ".join(b"%d 0 R" % (4 + per_page * i) for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for i, items in enumerate(pages):
        first = 4 + per_page * i
        stream = b"\n".join(_drawn(item) for item in items)
        xobject = b""
        if images:
            stream += b"\nq 612 0 0 %.2f 0 %.2f cm /Im1 Do Q" % (SCAN_HEIGHT * 612 / SCAN_WIDTH, 300.0)
            xobject = b" /XObject << /Im1 %d 0 R >>" % (first + 2)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >>%s >> "
            b"/Contents %d 0 R >>" % (xobject, first + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        if images:
            objects.append(
                b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                b"/BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n"
                % (SCAN_WIDTH, SCAN_HEIGHT, len(images[i]))
                + images[i]
                + b"\nendstream"
            )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _drawn(item: Text | Line) -> bytes:
    if isinstance(item, Line):
        return b"%.2f w %.2f %.2f m %.2f %.2f l S" % (item.width, item.x0, item.y0, item.x1, item.y1)
    text = item.text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("cp1252")
    return b"BT /F1 %.1f Tf %.2f %.2f Td (" % (item.size, item.x, item.y) + text + b") Tj ET"


def scanned_pdf(pages: int) -> bytes:
    """``pages`` image-only pages, each a rendering of two short lines of large text (Tesseract reads them)."""
    import zlib

    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=56)
    images = []
    for number in range(1, pages + 1):
        image = Image.new("L", (SCAN_WIDTH, SCAN_HEIGHT), 255)
        draw = ImageDraw.Draw(image)
        draw.text((60, 80), f"Scanned page {number}", fill=0, font=font)
        draw.text((60, 200), f"Ledger entry {number * 7}", fill=0, font=font)
        images.append(zlib.compress(image.tobytes(), 6))
    return _written_pdf([[] for _ in range(pages)], images)

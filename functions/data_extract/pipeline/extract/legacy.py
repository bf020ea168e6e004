"""Legacy binary Office files (OLE2): Word 97-2003 ``.doc`` is read; PowerPoint ``.ppt`` is rejected clearly.

``.doc``: the text is rebuilt from the WordDocument stream's piece table ([MS-DOC] 2.4.1): the FIB gives the
table stream (0Table/1Table), the character counts of each story and the location of the ``Clx``; each piece of
the ``PlcPcd`` maps a character range to bytes that are either cp1252 ("compressed") or UTF-16LE. Stories come out
as blocks: the main text (one paragraph per paragraph mark, consecutive table rows as a table block), footnotes,
headers/footers (deduplicated), comments, endnotes and text boxes. Field codes are dropped and their displayed
results kept; picture and object anchors are removed. Encrypted or XOR-obfuscated files are ``ENCRYPTED``; Word
6/95 files (older FIB) are ``UNSUPPORTED_FORMAT`` with a request to resave as .docx. Paragraph styles are not
decoded, so there are no heading levels.

``.ppt``: no lean, permissive, pure-Python reader extracts slide text reliably (text lives in per-slide drawing
records reached through a persist directory of incremental saves), so the file is ``UNSUPPORTED_FORMAT`` with a
request to resave as .pptx.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import IO, Protocol

from data_extract.pipeline.extract.limits import TextLimit
from data_extract.pipeline.ole import OLE_MAGIC, is_encrypted_package
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions, Table

WORD_IDENT = 0xA5EC
MIN_WORD97_NFIB = 0x0065  # Word 97; smaller values are Word 6/95 (different FIB layout)
FLAG_ENCRYPTED = 0x0100
FLAG_WHICH_TABLE = 0x0200
FLAG_OBFUSCATED = 0x8000
FC_CLX_PAIR_INDEX = 33  # fcClx/lcbClx in FibRgFcLcb97
COMPRESSED_BIT = 0x40000000
# Stories in character-position order after the main text (FibRgLw97 indexes).
STORY_COUNTS = (("paragraph", 3), ("footnote", 4), ("header", 5), ("comment", 7), ("endnote", 8), ("textbox", 9),
                ("textbox", 10))  # fmt: skip

PPT_MESSAGE = "Legacy PowerPoint 97-2003 .ppt files are not supported; save it as .pptx and resend."
DOC95_MESSAGE = "Word 6.0/95 .doc files are not supported; save it as .docx and resend."

# Characters with a structural meaning in Word's text stream.
_FIELD_BEGIN, _FIELD_SEPARATOR, _FIELD_END = "\x13", "\x14", "\x15"
_TRANSLATION = str.maketrans(
    {
        "\r": "\n",  # paragraph mark
        "\x0b": "\n",  # line break
        "\x0c": "\n",  # page or section break
        "\x0e": "\n",  # column break
        "\x1e": "-",  # non-breaking hyphen
        "\x1f": None,  # optional hyphen
        "\x01": None,  # picture anchor
        "\x02": None,  # auto-numbered footnote reference
        "\x03": None,  # footnote separator
        "\x04": None,  # footnote continuation separator
        "\x05": None,  # annotation reference
        "\x08": None,  # drawn object anchor
        "\x00": None,
    }
)


def _u16(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<H", data, offset)[0]
    return value


def _u32(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<I", data, offset)[0]
    return value


def _i16(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<h", data, offset)[0]
    return value


@dataclass(frozen=True)
class WordFib:
    """What the File Information Block says about where the text is."""

    n_fib: int  # the file format version
    encrypted: bool  # encrypted or XOR-obfuscated
    table_stream: str  # "0Table" or "1Table"
    story_lengths: list[tuple[str, int]]  # characters of each story, in document order
    fc_clx: int  # offset of the piece table (Clx) in the table stream
    lcb_clx: int  # its size


class _OleStreams(Protocol):
    """What is read of an olefile.OleFileIO."""

    def exists(self, filename: str) -> bool: ...
    def openstream(self, filename: str) -> IO[bytes]: ...


def word_fib(word_document: bytes) -> WordFib:
    """The FIB facts needed to read the text: flags, story lengths and the Clx location."""
    if len(word_document) < 0x22 or _u16(word_document, 0) != WORD_IDENT:
        raise ExtractionError(ErrorType.CORRUPT, "The WordDocument stream has no valid Word header (FIB).")
    n_fib = _u16(word_document, 2)
    flags = _u16(word_document, 0x0A)
    pos = 0x20
    csw = _u16(word_document, pos)
    pos += 2 + csw * 2
    cslw = _u16(word_document, pos)
    lw_start = pos + 2
    pos = lw_start + cslw * 4
    cb_rg_fc_lcb = _u16(word_document, pos)
    blob = pos + 2
    if cslw < 11 or cb_rg_fc_lcb <= FC_CLX_PAIR_INDEX:
        raise ExtractionError(ErrorType.CORRUPT, "The Word header (FIB) is truncated.")
    return WordFib(
        n_fib=n_fib,
        encrypted=bool(flags & (FLAG_ENCRYPTED | FLAG_OBFUSCATED)),
        table_stream="1Table" if flags & FLAG_WHICH_TABLE else "0Table",
        story_lengths=[(kind, _u32(word_document, lw_start + index * 4)) for kind, index in STORY_COUNTS],
        fc_clx=_u32(word_document, blob + FC_CLX_PAIR_INDEX * 8),
        lcb_clx=_u32(word_document, blob + FC_CLX_PAIR_INDEX * 8 + 4),
    )


def piece_table_text(word_document: bytes, table: bytes, fc_clx: int, lcb_clx: int) -> str:
    """All text of the document in character-position order, decoded piece by piece."""
    clx = table[fc_clx : fc_clx + lcb_clx]
    if len(clx) != lcb_clx or not clx:
        raise ExtractionError(ErrorType.CORRUPT, "The Word piece table lies outside the table stream.")
    pos = 0
    while pos < len(clx) and clx[pos] == 0x01:  # Prc: property modifiers we do not need
        pos += 3 + max(_i16(clx, pos + 1), 0)
    if pos >= len(clx) or clx[pos] != 0x02:
        raise ExtractionError(ErrorType.CORRUPT, "The Word piece table (Pcdt) is missing.")
    lcb = _u32(clx, pos + 1)
    plc = clx[pos + 5 : pos + 5 + lcb]
    if len(plc) != lcb or lcb < 16 or (lcb - 4) % 12:
        raise ExtractionError(ErrorType.CORRUPT, "The Word piece table has an invalid size.")
    count = (lcb - 4) // 12
    cps = struct.unpack_from(f"<{count + 1}I", plc, 0)
    parts: list[str] = []
    for index in range(count):
        start_cp, end_cp = cps[index], cps[index + 1]
        if end_cp < start_cp:
            raise ExtractionError(ErrorType.CORRUPT, "The Word piece table is out of order.")
        fc_value = _u32(plc, (count + 1) * 4 + index * 8 + 2)
        length = end_cp - start_cp
        if fc_value & COMPRESSED_BIT:
            offset = (fc_value & ~COMPRESSED_BIT) // 2
            raw = word_document[offset : offset + length]
            parts.append(raw.decode("cp1252", errors="replace"))
        else:
            offset = fc_value & 0x3FFFFFFF
            raw = word_document[offset : offset + 2 * length]
            parts.append(raw.decode("utf-16-le", errors="replace"))
        if len(raw) < (length if fc_value & COMPRESSED_BIT else 2 * length):
            raise ExtractionError(ErrorType.CORRUPT, "A piece of the Word text lies outside the document stream.")
    return "".join(parts)


def _drop_field_codes(text: str) -> str:
    """Keep fields' displayed results (between separator and end), drop their codes; nested fields work."""
    if _FIELD_BEGIN not in text:
        return text
    out: list[str] = []
    stack: list[bool] = []  # per open field: True once its separator was seen (result is visible)
    for char in text:
        if char == _FIELD_BEGIN:
            stack.append(False)
        elif char == _FIELD_SEPARATOR:
            if stack:
                stack[-1] = True
        elif char == _FIELD_END:
            if stack:
                stack.pop()
        elif all(stack):
            out.append(char)
    return "".join(out)


CELL_MARK = "\x07"


def clean_story(text: str) -> str:
    """Readable text of one story; table cells stay separated by CELL_MARK, one table row per line."""
    text = _drop_field_codes(text)
    # A cell ends with \x07 and a row with one more \x07 (the row-end mark).
    text = text.replace(CELL_MARK + CELL_MARK, "\n").translate(_TRANSLATION)
    lines = (" ".join(line.split()).strip(CELL_MARK + " ") for line in text.split("\n"))
    return "\n".join(line for line in lines if line.replace(CELL_MARK, "").strip())


def _main_story_blocks(story: str) -> list[Block]:
    """Paragraph lines, with consecutive table rows gathered into table blocks."""
    blocks: list[Block] = []
    rows: list[list[str]] = []
    for line in [*story.split("\n"), ""]:
        if CELL_MARK in line:
            rows.append([" ".join(cell.split()) for cell in line.split(CELL_MARK)])
            continue
        if rows:
            table = Table(rows=rows)
            blocks.append(Block(kind="table", text=table.to_text(), table=table))
            rows = []
        if line:
            blocks.append(Block(kind="paragraph", text=line))
    return blocks


def doc_blocks(text: str, story_lengths: list[tuple[str, int]]) -> list[Block]:
    blocks: list[Block] = []
    position = 0
    seen_headers: set[str] = set()
    for kind, length in story_lengths:
        story = clean_story(text[position : position + length])
        position += length
        if not story:
            continue
        if kind == "paragraph":
            blocks.extend(_main_story_blocks(story))
            continue
        story = story.replace(CELL_MARK, " | ")
        if kind == "header":
            lines = [line for line in story.split("\n") if line.lower() not in seen_headers]
            seen_headers.update(line.lower() for line in lines)
            if lines:
                blocks.append(Block(kind="header", text="\n".join(lines)))
        else:
            blocks.append(Block(kind=kind, text=story))
    return blocks


def _extract_doc(ole: _OleStreams, options: ExtractOptions) -> Document:
    word_document = ole.openstream("WordDocument").read()
    try:
        fib = word_fib(word_document)
    except struct.error as exc:
        raise ExtractionError(ErrorType.CORRUPT, "The Word header (FIB) is truncated.") from exc
    if fib.encrypted:
        raise ExtractionError(ErrorType.ENCRYPTED, "The Word document is password-protected.")
    if fib.n_fib < MIN_WORD97_NFIB:
        raise ExtractionError(ErrorType.UNSUPPORTED_FORMAT, DOC95_MESSAGE)
    if not ole.exists(fib.table_stream):
        raise ExtractionError(ErrorType.CORRUPT, f"The Word document is missing its {fib.table_stream} stream.")
    table = ole.openstream(fib.table_stream).read()
    try:
        text = piece_table_text(word_document, table, fib.fc_clx, fib.lcb_clx)
    except struct.error as exc:
        raise ExtractionError(ErrorType.CORRUPT, "The Word piece table is truncated.") from exc
    blocks = doc_blocks(text, fib.story_lengths)
    limit = TextLimit(options)
    for block in blocks:
        limit.add(block.text)
    return Document(
        format="doc",
        blocks=blocks,
        metadata={
            "word_version_nfib": fib.n_fib,
            "paragraph_count": sum(1 for b in blocks if b.kind == "paragraph"),
        },
        warnings=["Legacy .doc: text and tables are read without styles, so headings and lists are not marked."],
    )


def extract_legacy_office(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    if not data.startswith(OLE_MAGIC):
        raise ExtractionError(ErrorType.CORRUPT, "The file is not a legacy Office document (no OLE2 container).")
    import olefile

    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception as exc:
        raise ExtractionError(ErrorType.CORRUPT, f"The OLE2 container cannot be read ({exc}).") from exc
    try:
        if ole.exists("WordDocument"):
            return _extract_doc(ole, options)
        if ole.exists("PowerPoint Document"):
            raise ExtractionError(ErrorType.UNSUPPORTED_FORMAT, PPT_MESSAGE)
        if is_encrypted_package(ole):
            raise ExtractionError(ErrorType.ENCRYPTED, "The Office document is password-protected.")
        if ole.exists("Workbook") or ole.exists("Book"):
            raise ExtractionError(
                ErrorType.UNSUPPORTED_FORMAT, "This is an Excel workbook; it is read by the spreadsheet extractor."
            )
        raise ExtractionError(ErrorType.UNSUPPORTED_FORMAT, "This OLE2 file is not a Word or PowerPoint document.")
    except ExtractionError:
        raise
    except (OSError, ValueError, IndexError) as exc:
        raise ExtractionError(ErrorType.CORRUPT, f"The legacy Office document cannot be read ({exc}).") from exc
    finally:
        ole.close()

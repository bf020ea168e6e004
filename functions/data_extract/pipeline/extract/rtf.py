"""RTF -> paragraphs and tables with striprtf.

The code page comes from ``\\ansicpg`` (cp1252 when absent) and is used for ``\\'xx`` escapes; ``\\uN`` escapes
are Unicode. striprtf renders a table row as cells each followed by ``|``; consecutive such lines become one
table block, every other non-empty line a paragraph.
"""

from __future__ import annotations

import codecs
import re

from data_extract.pipeline.extract.limits import TextLimit
from data_extract.pipeline.textcodec import without_utf8_bom
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions, Table

_CODE_PAGE = re.compile(rb"\\ansicpg(\d{3,5})")


def _code_page(head: bytes) -> str:
    match = _CODE_PAGE.search(head)
    if match:
        name = f"cp{int(match.group(1))}"
        try:
            codecs.lookup(name)
            return name
        except LookupError:
            pass
    return "cp1252"


def strip_rtf(source: str, *, encoding: str = "cp1252", errors: str = "strict") -> str:
    """striprtf's plain text of an RTF source; ``encoding`` decodes the ``\\'xx`` escapes."""
    from striprtf.striprtf import rtf_to_text

    # striprtf ships py.typed but leaves rtf_to_text unannotated; it returns str.
    text: str = rtf_to_text(source, encoding=encoding, errors=errors)  # type: ignore[no-untyped-call]
    return text


def _blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    rows: list[list[str]] = []

    def flush_table() -> None:
        if rows:
            table = Table(rows=rows[:])
            if table.to_text():
                blocks.append(Block(kind="table", text=table.to_text(), table=table))
            rows.clear()

    for raw_line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw_line.strip()
        if line.endswith("|"):
            rows.append([cell.strip() for cell in line[:-1].split("|")])
            continue
        flush_table()
        if line:
            blocks.append(Block(kind="paragraph", text=" ".join(line.split())))
    flush_table()
    return blocks


def rtf_blocks(data: bytes) -> list[Block]:
    """Blocks of an RTF document (also used for RTF content embedded in other formats)."""
    body = without_utf8_bom(data)
    if not body.lstrip().startswith(b"{\\rtf"):
        raise ExtractionError(ErrorType.CORRUPT, "The file does not start with an RTF header ({\\rtf).")
    try:
        # RTF is 7-bit; Latin-1 maps any stray 8-bit byte 1:1 so striprtf sees the source unchanged.
        text = strip_rtf(body.decode("latin-1"), encoding=_code_page(body[:4096]), errors="replace")
    except (ValueError, IndexError, RecursionError) as exc:
        raise ExtractionError(ErrorType.CORRUPT, f"The RTF document cannot be read ({type(exc).__name__}).") from exc
    return _blocks(text)


def extract_rtf(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    blocks = rtf_blocks(data)
    limit = TextLimit(options)
    for block in blocks:
        limit.add(block.text)
    body = without_utf8_bom(data)
    return Document(
        format="rtf",
        blocks=blocks,
        metadata={"code_page": _code_page(body[:4096]), "table_count": sum(1 for b in blocks if b.kind == "table")},
    )

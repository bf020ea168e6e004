"""Plain text, Markdown and log files."""

from __future__ import annotations

import re

from data_extract.pipeline.sections import SectionTrail
from data_extract.pipeline.textcodec import decode_text
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def extract_text(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    text, encoding = decode_text(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if len(text) > options.max_chars:
        raise ExtractionError(
            ErrorType.TOO_MUCH_TEXT, f"Text has {len(text)} characters; the limit is {options.max_chars}."
        )
    is_markdown = filename.lower().endswith((".md", ".markdown"))
    blocks: list[Block] = []
    trail = SectionTrail()
    for para in _PARAGRAPH_BREAK.split(text):
        if not para.strip():
            continue
        heading = _MD_HEADING.match(para.strip()) if is_markdown and "\n" not in para.strip() else None
        if heading:
            level = len(heading.group(1))
            trail.enter(level, heading.group(2))
            blocks.append(Block("heading", heading.group(2), level=level, section=trail.current))
        else:
            blocks.append(Block("paragraph", para, section=trail.current))
    return Document(
        format="md" if is_markdown else "txt",
        blocks=blocks,
        metadata={"encoding": encoding, "line_count": text.count("\n") + (1 if text else 0), "char_count": len(text)},
    )

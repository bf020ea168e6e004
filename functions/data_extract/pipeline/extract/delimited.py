"""CSV and TSV files (any encoding, sniffed delimiter, ragged rows kept)."""

from __future__ import annotations

import csv
import io

from data_extract.pipeline.textcodec import decode_text
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions, Table

ROWS_PER_BLOCK = 200
_CANDIDATE_DELIMITERS = ",;\t|"


def _sniff_delimiter(sample: str, default: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=_CANDIDATE_DELIMITERS).delimiter
    except csv.Error:
        pass
    # Fall back to the candidate that appears most consistently on the first lines.
    lines = [ln for ln in sample.splitlines()[:20] if ln.strip()]
    best, best_score = default, 0
    for cand in _CANDIDATE_DELIMITERS:
        counts = [ln.count(cand) for ln in lines]
        if counts and min(counts) > 0 and min(counts) > best_score:
            best, best_score = cand, min(counts)
    return best


def extract_delimited(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    text, encoding = decode_text(data)
    text = text.replace("\x00", "")
    if len(text) > options.max_chars:
        raise ExtractionError(
            ErrorType.TOO_MUCH_TEXT, f"File has {len(text)} characters; the limit is {options.max_chars}."
        )
    is_tsv = filename.lower().endswith((".tsv", ".tab"))
    delimiter = "\t" if is_tsv else _sniff_delimiter(text[:8192], ",")
    csv.field_size_limit(max(options.max_chars, 131072))
    try:
        rows = [
            row
            for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            if any(c.strip() for c in row)
        ]
    except csv.Error as exc:
        raise ExtractionError(ErrorType.CORRUPT, f"Unreadable delimited text: {exc}") from None
    if len(rows) * max((len(r) for r in rows), default=0) > options.max_cells:
        raise ExtractionError(ErrorType.TOO_MUCH_TEXT, f"File has more than {options.max_cells} cells.")
    blocks: list[Block] = []
    header = rows[0] if rows else []
    for start in range(0, len(rows), ROWS_PER_BLOCK):
        part = rows[start : start + ROWS_PER_BLOCK]
        if start > 0:
            part = [header, *part]  # each block stays readable on its own
        table = Table(rows=[list(r) for r in part])
        blocks.append(Block("table", table.to_text(), table=table, meta={"row_start": start + 1}))
    return Document(
        format="tsv" if is_tsv else "csv",
        blocks=blocks,
        metadata={
            "encoding": encoding,
            "delimiter": delimiter,
            "row_count": len(rows),
            "column_count": max((len(r) for r in rows), default=0),
        },
    )

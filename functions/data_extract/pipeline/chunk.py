"""Chunk stage: one sentence-aware chunker for every format.

Tokens
    ``chunk_size`` and ``overlap`` count tokens, and a token means the same for
    every format: a whitespace-delimited word, except that CJK ideographs,
    kana and hangul syllables count one token each (``pipeline.tokens`` holds
    the definition and ``estimate_tokens``).

Prose
    Each non-table block is cut into sentences with nupunkt (a Punkt model,
    offline, loaded once per process on first use; blank lines inside a block
    are hard boundaries) and at the CJK sentence marks 。！？. Whole sentences are packed
    greedily while the chunk stays within ``chunk_size`` tokens. A sentence
    longer than ``chunk_size`` is cut at token boundaries into pieces of at most
    ``chunk_size`` tokens. A chunk never ends with a heading when more text
    follows: the heading moves to the next chunk, beside the text it titles.

    Text between sentences is kept as it was (a space, a line break), and
    blocks are joined with a blank line, so paragraph breaks survive and a prose
    chunk is always an exact slice of ``Document.text``
    (``metadata["char_start"]:metadata["char_end"]``).

Overlap
    A new chunk starts with the trailing whole sentences of the previous chunk
    whose tokens add up to at most ``overlap`` (0 means none). Pieces of an
    over-long sentence are never carried. Nothing is carried across a table or
    a change of sheet or slide.

Tables
    A table block becomes its own chunk(s), never mixed with prose: one chunk
    when it fits, otherwise split between rows with the header row repeated in
    each part (when the header and the row fit together). A chunk exceeds
    ``chunk_size`` only when one table row (or the header) alone is larger.
    The chunk text is the rows as ``cell | cell`` lines, and sizes are counted
    on that text, so the ``|`` separators count as tokens like any other word.
    ``metadata["text_as_html"]`` and ``metadata["text_as_markdown"]`` hold the
    rows of that chunk; ``table_part``/``table_parts`` number the parts.

Provenance (``Chunk.metadata``)
    ``pages`` (sorted page numbers of its blocks; a chunk may run across PDF
    pages), ``sheet`` (a chunk never spans sheets), ``slides`` (never spans
    slides), ``block_kinds`` (in order of appearance), ``section_context`` (the
    heading breadcrumb of the first block the chunk adds, i.e. not counting the
    overlap), ``char_start``/``char_end``, ``entities``/``entity_tags`` (see
    ``entities``), ``quality`` (see ``quality``), ``ocr_confidence`` when known,
    ``page_sources`` for pages read by OCR or carrying an earlier OCR's text layer
    (per page: ``text_source`` ``ocr``/``text_layer``, the OCR confidence, rotation,
    skew, scale and segmentation mode, and ``text_layer`` ``kept``/``replaced``/
    ``kept_poor`` with its ``text_layer_score``).

Ids
    ``f"{source_key}_chunk_{index:04d}"``; the caller derives ``source_key`` from
    the source, its content hash and the chunk options, so ids are stable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from data_extract.pipeline.entities import entity_tags, find_entities
from data_extract.pipeline.quality import chunk_quality
from data_extract.pipeline.sections import SectionTrail
from data_extract.pipeline.tokens import CJK_CHAR, TOKEN, estimate_tokens
from data_extract.pipeline.types import CELL_SEPARATOR, Block, Chunk, Document, Table

MIN_CHUNK_SIZE = 16

# Punkt needs a space after the period; CJK full stops have none and are unambiguous.
_CJK_SENTENCE_END = re.compile(r"[。！？]+[」』）〕】]*")
_SENTENCE_PUNCTUATION = re.compile(r"[.!?。！？]")
_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")


class _SentenceTokenizer(Protocol):
    """The part of nupunkt's tokenizer the chunker uses."""

    def span_tokenize(self, text: str) -> Iterable[tuple[int, int]]: ...


@lru_cache(maxsize=1)
def _sentence_tokenizer() -> _SentenceTokenizer:
    import nupunkt  # imported here so workers that never chunk do not pay for it

    tokenizer: _SentenceTokenizer = nupunkt.load("default")
    return tokenizer


@dataclass(slots=True)
class _Unit:
    """A sentence (or a piece of an over-long one) of one block."""

    text: str
    tokens: int
    block: int  # index into the document's blocks
    start: int  # offset in Document.text, or -1 when the block is not part of it
    gap: str  # text between the previous unit of the same block and this one; "\n\n" for a block's first unit
    whole: bool  # False for a piece of a sentence cut at chunk_size


def chunk_document(doc: Document, *, source_key: str, chunk_size: int, overlap: int) -> list[Chunk]:
    """Split ``doc`` into chunks; an empty document gives ``[]``."""
    if chunk_size < MIN_CHUNK_SIZE:
        raise ValueError(f"chunk_size must be at least {MIN_CHUNK_SIZE} tokens, got {chunk_size}")
    if not 0 <= overlap < chunk_size:
        raise ValueError(f"overlap must be between 0 and chunk_size - 1 ({chunk_size - 1}), got {overlap}")
    if not source_key:
        raise ValueError("source_key must not be empty")
    from data_extract.pipeline.tables import assign_table_ids

    assign_table_ids(doc)
    return _Chunker(doc, source_key, chunk_size, overlap).run()


class _Chunker:
    def __init__(self, doc: Document, source_key: str, chunk_size: int, overlap: int) -> None:
        self.doc = doc
        self.source_key = source_key
        self.chunk_size = chunk_size
        self.overlap = overlap
        self.blocks = doc.blocks
        self.offsets = _block_offsets(doc.blocks)
        self.sections = _breadcrumbs(doc.blocks)
        self.ocr_by_page = _ocr_confidence_by_page(doc.metadata.get("ocr_confidence"))
        self.chunks: list[Chunk] = []
        self.current: list[_Unit] = []
        self.current_tokens = 0
        self.carried = 0  # how many units at the head of ``current`` repeat the previous chunk

    def run(self) -> list[Chunk]:
        group: tuple[str | None, int | None] | None = None
        for index, block in enumerate(self.blocks):
            key = (block.sheet, block.slide)
            if group is not None and key != group:
                self._flush(carry=False)
            group = key
            if block.table is not None:
                self._flush(carry=False)
                self._emit_table(index, block, block.table)
                continue
            for unit in self._units(index, block):
                self._add(unit)
        self._flush(carry=False)
        return self.chunks

    # --- prose -------------------------------------------------------------

    def _units(self, index: int, block: Block) -> list[_Unit]:
        text = block.text
        if not text.strip():
            return []
        base = self.offsets[index]
        units: list[_Unit] = []
        previous_end = None
        for start, end in _sentence_spans(text):
            gap = "\n\n" if previous_end is None else text[previous_end:start]
            sentence = text[start:end]
            tokens = estimate_tokens(sentence)
            absolute = base + start if base >= 0 else -1
            if tokens <= self.chunk_size:
                units.append(_Unit(sentence, tokens, index, absolute, gap, True))
            else:
                units.extend(self._split_long(sentence, index, absolute, gap))
            previous_end = end
        return units

    def _split_long(self, sentence: str, index: int, absolute: int, gap: str) -> list[_Unit]:
        pieces: list[_Unit] = []
        spans = [m.span() for m in TOKEN.finditer(sentence)]
        piece_gap = gap
        for first in range(0, len(spans), self.chunk_size):
            last = min(first + self.chunk_size, len(spans)) - 1
            start, end = spans[first][0], spans[last][1]
            if first:
                piece_gap = sentence[spans[first - 1][1] : start]
            pieces.append(
                _Unit(
                    sentence[start:end],
                    last - first + 1,
                    index,
                    absolute + start if absolute >= 0 else -1,
                    piece_gap,
                    False,
                )
            )
        return pieces

    def _add(self, unit: _Unit) -> None:
        if self.current_tokens + unit.tokens > self.chunk_size and len(self.current) > self.carried:
            self._flush(carry=True)
        # Overlap gives way to new text: drop carried sentences until the unit fits.
        while self.carried and self.current_tokens + unit.tokens > self.chunk_size:
            self.current_tokens -= self.current.pop(0).tokens
            self.carried -= 1
        if self.current_tokens + unit.tokens > self.chunk_size and self.current:
            # Only headings moved forward remain and they cannot share with this unit.
            self._flush(carry=False)
        self.current.append(unit)
        self.current_tokens += unit.tokens

    def _flush(self, *, carry: bool) -> None:
        fresh = self.current[self.carried :]
        if not fresh:
            self._reset([])
            return
        held_headings: list[_Unit] = []
        if carry:
            # A heading belongs with the text after it, not at the end of a chunk.
            while len(fresh) > 1 and self.blocks[fresh[-1].block].kind == "heading":
                held_headings.insert(0, fresh.pop())
        emitted = self.current[: self.carried] + fresh
        self._emit_prose(emitted, first_fresh=self.carried)
        carried = self._overlap_of(emitted) if carry else []
        self._reset(carried + held_headings)
        self.carried = len(carried)

    def _reset(self, units: list[_Unit]) -> None:
        self.current = units
        self.current_tokens = sum(u.tokens for u in units)
        self.carried = 0

    def _overlap_of(self, units: list[_Unit]) -> list[_Unit]:
        if self.overlap <= 0:
            return []
        carried: list[_Unit] = []
        total = 0
        for unit in reversed(units):
            if not unit.whole or total + unit.tokens > self.overlap:
                break
            carried.insert(0, unit)
            total += unit.tokens
        return carried

    def _emit_prose(self, units: list[_Unit], *, first_fresh: int) -> None:
        parts: list[str] = []
        for position, unit in enumerate(units):
            if position:
                parts.append(unit.gap if unit.block == units[position - 1].block else "\n\n")
            parts.append(unit.text)
        text = "".join(parts)
        blocks = list(dict.fromkeys(u.block for u in units))
        metadata = self._provenance(blocks, section_block=units[first_fresh].block)
        if units[0].start >= 0 and units[-1].start >= 0:
            metadata["char_start"] = units[0].start
            metadata["char_end"] = units[-1].start + len(units[-1].text)
        self._append(text, metadata)

    # --- tables ------------------------------------------------------------

    def _emit_table(self, index: int, block: Block, table: Table) -> None:
        rows = [[cell.strip() for cell in row] for row in table.rows if any(c.strip() for c in row)]
        if not rows:
            return
        lines = [CELL_SEPARATOR.join(row) for row in rows]
        line_tokens = [estimate_tokens(line) for line in lines]
        line_starts = self._table_line_offsets(index, block, lines)
        parts = _table_parts(line_tokens, self.chunk_size)
        for part_number, (with_header, body) in enumerate(parts, start=1):
            row_indexes = ([0] if with_header else []) + body
            part_rows = [rows[i] for i in row_indexes]
            part = Table(rows=part_rows)
            metadata = self._provenance([index], section_block=index)
            metadata["text_as_html"] = part.to_html()
            metadata["text_as_markdown"] = part.to_markdown()
            if table.table_id is not None:
                metadata["table_id"] = table.table_id
            if len(parts) > 1:
                metadata["table_part"] = part_number
                metadata["table_parts"] = len(parts)
            if line_starts is not None:
                # The span of the rows this part adds (a repeated header is not new text).
                own = body or row_indexes
                if part_number == 1:
                    own = row_indexes
                metadata["char_start"] = line_starts[own[0]]
                metadata["char_end"] = line_starts[own[-1]] + len(lines[own[-1]])
            self._append("\n".join(lines[i] for i in row_indexes), metadata)

    def _table_line_offsets(self, index: int, block: Block, lines: list[str]) -> list[int] | None:
        base = self.offsets[index]
        if base < 0 or block.text != "\n".join(lines):
            return None  # the block's text is not the table rendering; no exact offsets
        starts: list[int] = []
        position = base
        for line in lines:
            starts.append(position)
            position += len(line) + 1
        return starts

    # --- shared ------------------------------------------------------------

    def _provenance(self, block_indexes: list[int], *, section_block: int) -> dict[str, Any]:
        blocks = [self.blocks[i] for i in block_indexes]
        metadata: dict[str, Any] = {}
        pages = sorted({b.page for b in blocks if b.page is not None})
        if pages:
            metadata["pages"] = pages
        sheets = list(dict.fromkeys(b.sheet for b in blocks if b.sheet is not None))
        if len(sheets) == 1:
            metadata["sheet"] = sheets[0]
        slides = sorted({b.slide for b in blocks if b.slide is not None})
        if slides:
            metadata["slides"] = slides
        metadata["block_kinds"] = list(dict.fromkeys(b.kind for b in blocks))
        metadata["section_context"] = self.sections[section_block]
        confidence = self._ocr_confidence(blocks, pages)
        if confidence is not None:
            metadata["ocr_confidence"] = confidence
        sources = _page_sources(blocks)
        if sources:
            metadata["page_sources"] = sources
        return metadata

    def _ocr_confidence(self, blocks: list[Block], pages: list[int]) -> float | None:
        values = [float(b.meta["ocr_confidence"]) for b in blocks if b.meta.get("ocr_confidence") is not None]
        if not values and self.ocr_by_page:
            values = [self.ocr_by_page[p] for p in pages if p in self.ocr_by_page]
        if not values and self.ocr_by_page and None in self.ocr_by_page:
            values = [self.ocr_by_page[None]]
        return round(sum(values) / len(values), 4) if values else None

    def _append(self, text: str, metadata: dict[str, Any]) -> None:
        entities = find_entities(text)
        metadata["entities"] = entities
        metadata["entity_tags"] = entity_tags(entities)
        metadata["quality"] = chunk_quality(text, ocr_confidence=metadata.get("ocr_confidence"))
        index = len(self.chunks)
        self.chunks.append(
            Chunk(
                id=f"{self.source_key}_chunk_{index:04d}",
                text=text,
                position_index=index,
                token_count=estimate_tokens(text),
                word_count=len(text.split()),
                section_context=metadata["section_context"],
                metadata=metadata,
            )
        )


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """Tight (start, end) spans of the sentences of one block, covering all its text."""
    if not _SENTENCE_PUNCTUATION.search(text):
        spans = [_strip_span(text, 0, len(text))]  # a heading, label or list item: one unit
    else:
        # Blank lines are hard boundaries. nupunkt's own layout layer does the same
        # but costs ~3x more per sentence, so paragraphs are cut here.
        tokenizer = _sentence_tokenizer()
        spans = []
        for paragraph_start, paragraph_end in _paragraph_spans(text):
            paragraph = text[paragraph_start:paragraph_end]
            for token_start, token_end in tokenizer.span_tokenize(paragraph):
                start, end = _strip_span(text, paragraph_start + token_start, paragraph_start + token_end)
                if spans and spans[-1][1] == start:
                    # No space between: "friendly.[4]" is one word, never cut.
                    spans[-1] = (spans[-1][0], end)
                else:
                    spans.append((start, end))
        if CJK_CHAR.search(text):
            spans = [piece for start, end in spans for piece in _split_cjk_sentences(text, start, end)]
    return _cover(text, [span for span in spans if span[1] > span[0]])


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    position = 0
    for match in _BLANK_LINE.finditer(text):
        spans.append((position, match.start()))
        position = match.end()
    spans.append((position, len(text)))
    return [span for span in spans if span[1] > span[0]]


def _split_cjk_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    pieces: list[tuple[int, int]] = []
    piece_start = start
    for match in _CJK_SENTENCE_END.finditer(text, start, end):
        if match.end() < end:
            pieces.append(_strip_span(text, piece_start, match.end()))
            piece_start = match.end()
    pieces.append(_strip_span(text, piece_start, end))
    return pieces


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cover(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Make sure no visible character falls between spans (the segmenter must not lose text)."""
    if not spans:
        return [_strip_span(text, 0, len(text))] if text.strip() else []
    covered: list[tuple[int, int]] = []
    position = 0
    for span_start, end in spans:
        start = span_start
        if text[position:start].strip():
            if covered:
                covered[-1] = (covered[-1][0], start)
                covered[-1] = _strip_span(text, *covered[-1])
            else:
                start = _strip_span(text, position, start)[0]
        covered.append((start, end))
        position = end
    if text[position:].strip():
        covered[-1] = _strip_span(text, covered[-1][0], len(text))
    return covered


def _table_parts(line_tokens: list[int], chunk_size: int) -> list[tuple[bool, list[int]]]:
    """Group row indexes 1.. into parts of at most chunk_size tokens: (repeat header?, rows)."""
    header_tokens = line_tokens[0]
    parts: list[tuple[bool, list[int]]] = []
    rows: list[int] = []
    tokens = 0
    with_header = True
    for row in range(1, len(line_tokens)):
        row_tokens = line_tokens[row]
        base = header_tokens if with_header else 0
        if rows and base + tokens + row_tokens > chunk_size:
            parts.append((with_header, rows))
            rows, tokens, with_header = [], 0, True
            base = header_tokens
        if not rows and with_header and base + row_tokens > chunk_size:
            if not parts:
                parts.append((True, []))  # the header still appears once, on its own
            with_header = False
        rows.append(row)
        tokens += row_tokens
    parts.append((with_header, rows))
    return parts


def _block_offsets(blocks: list[Block]) -> list[int]:
    """Offset of each block's text in Document.text ("\\n\\n".join of non-empty texts), -1 if absent."""
    offsets: list[int] = []
    position = 0
    first = True
    for block in blocks:
        if not block.text:
            offsets.append(-1)
            continue
        if not first:
            position += 2
        offsets.append(position)
        position += len(block.text)
        first = False
    return offsets


def _breadcrumbs(blocks: list[Block]) -> list[str]:
    """Each block's heading breadcrumb: its own ``section`` or one built from the headings before it."""
    trail = SectionTrail()
    crumbs: list[str] = []
    for block in blocks:
        if block.kind == "heading" and block.text:
            trail.enter(block.level or 1, block.text)
        crumbs.append(block.section if block.section else (trail.current or ""))
    return crumbs


# Block facts that say how a page's text was obtained (see ``ocr.OcrPage.provenance``, ``text_layer``).
_PAGE_SOURCE_KEYS = (
    "ocr_confidence",
    "ocr_rotation",
    "ocr_skew",
    "ocr_scale",
    "ocr_psm",
    "ocr_low_confidence",
    "text_layer",
    "text_layer_score",
)


def _page_sources(blocks: list[Block]) -> list[dict[str, Any]]:
    """Per page, where its text came from when that was not simply the file's text: OCR, or an earlier OCR's layer."""
    by_page: dict[int, dict[str, Any]] = {}
    for block in blocks:
        facts = {key: block.meta[key] for key in _PAGE_SOURCE_KEYS if key in block.meta}
        if block.page is None or not facts:
            continue
        entry = by_page.setdefault(block.page, {"page": block.page})
        if block.kind == "ocr" or "text_source" not in entry:
            entry["text_source"] = "ocr" if block.kind == "ocr" else "text_layer"
        entry.update(facts)
    return [by_page[page] for page in sorted(by_page)]


def _ocr_confidence_by_page(value: Any) -> dict[int | None, float]:
    """Read ``Document.metadata["ocr_confidence"]``: ``{page: 0..1}`` or one number for the document."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {None: float(value)}
    if not isinstance(value, dict):
        return {}
    by_page: dict[int | None, float] = {}
    for page, confidence in value.items():
        try:
            by_page[int(page)] = float(confidence)
        except (TypeError, ValueError):
            continue
    return by_page

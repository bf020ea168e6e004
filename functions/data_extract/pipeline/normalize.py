"""Normalize stage: clean the text of every block without dropping content.

What it does to each block (in this order, all regexes compiled once):

1. Unicode NFC, so "é" typed two ways searches the same.
2. Line breaks: CRLF, CR and the other Unicode line/paragraph separators become
   LF; vertical tab and form feed (page and manual line breaks) become LF too,
   so the words on either side stay separate.
3. Mojibake repair: UTF-8 that was decoded as Latin-1 (``â\\x80\\x93``) or as
   cp1252 (``donâ€™t``, ``cafÃ©``), once or twice over, is decoded back by ftfy.
   ftfy runs only on blocks that carry proof of such damage, found by one cheap
   regex: a C1 control character after a UTF-8 lead byte, ``â€`` (the cp1252
   reading of the lead bytes of every General Punctuation character), ``Â``
   before a Latin-1 symbol (``Â£``), ``Ã`` before a continuation character inside
   a word (``rÃ©sumÃ©``), or two Cyrillic letters read the same way. A lone
   ``Ã©`` proves nothing and is left alone.
4. Soft hyphens are invisible wrap hints: one at a line end joins the lines, the
   rest are removed.
5. Control characters and NUL are removed; a tab becomes a space; zero-width
   spaces and stray byte-order marks are removed.
6. Typographic ligatures (U+FB00-U+FB06, "ﬁ" -> "fi") are expanded with NFKC.
   NFKC is applied to those characters only: on the whole text it would also
   rewrite superscripts, fractions and full-width CJK punctuation.
7. OCR and layout artifact runs are removed: ``^^^``, ``■■■``, ``~~~``, 10+ of
   ``_``, ``-``, ``=``, ``*``, ``#`` and dot leaders (10+ dots).
8. Horizontal whitespace runs (including NBSP and other Unicode spaces) collapse
   to one space; every line is stripped.
9. PDF and OCR text only: a word broken across lines with a hyphen is joined
   (``infor-\\nmation`` -> ``information``) when the continuation starts in lower
   case. A compound that the same document spells with a hyphen elsewhere
   (``self-locking``), or whose first part is a prefix that is always
   hyphenated (``self-``, ``ex-``, ...), keeps its hyphen and only loses the line
   break. Hyphens inside a line are never touched.
10. Three or more newlines become two; the block is trimmed; empty blocks are
    dropped.

Headers, footers and repeated lines are deliberately kept: users search for
phrases that only appear there. Table cells get steps 1-8 (not the line joins)
and the table keeps its shape; a table block's text is re-rendered from its
cleaned cells.

Counts land in ``Document.metadata["normalization"]``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from data_extract.pipeline.types import Block, Document

# Formats whose text comes from page layout (hard line wraps with hyphenation).
_HYPHENATED_LAYOUT_FORMATS = frozenset({"pdf", "png", "jpeg", "tiff", "bmp", "gif", "webp"})

_LINE_BREAKS = re.compile(r"\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")

# What a UTF-8 continuation byte (0x80..0xBF) becomes when read as Latin-1 or as cp1252.
_CONTINUATION = (
    "\u0080-\u00bf\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u017d"
    "\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u017e\u0178"
)
# Proof that a block went through a wrong decode (see step 3): none of these occurs in real text.
_MOJIBAKE_EVIDENCE = re.compile(
    "[\u00c2-\u00f4][\u0080-\u009f]"
    "|\u00e2\u20ac"
    "|\u00c2[\u00a0-\u00bf]"
    f"|(?<=[^\\W\\d_])\u00c3[{_CONTINUATION}]|\u00c3[{_CONTINUATION}](?=[^\\W\\d_])"
    f"|(?:[\u00d0\u00d1][{_CONTINUATION}]){{2}}"
)
_C1_CONTROL = re.compile("[\u0080-\u009f]")
# Every alternative of the evidence holds a C1 control or one of these: substring tests find them far faster than
# the regex scans a block that has none (most non-ASCII text).
_MOJIBAKE_LEADS = ("\u00c2", "\u00c3", "\u00e2\u20ac", "\u00d0", "\u00d1")


def _has_mojibake(text: str) -> bool:
    if not (_C1_CONTROL.search(text) or any(lead in text for lead in _MOJIBAKE_LEADS)):
        return False
    return _MOJIBAKE_EVIDENCE.search(text) is not None


_SOFT_HYPHEN_AT_LINE_END = re.compile("\u00ad[ \t]*\n[ \t]*")
_SOFT_HYPHEN = "\u00ad"

# C0 controls except \t and \n, DEL, C1 controls; zero-width space and BOM are
# invisible noise (ZWJ/ZWNJ are kept: they change the meaning of Indic and
# Persian text and of emoji).
_CONTROL_CHARS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b\ufeff]")

_LIGATURES = re.compile("[\ufb00-\ufb06]")

# Each alternative starts with the same character class, so the regex engine can
# skip straight to candidate characters (an alternation of runs is ~10x slower).
_ARTIFACT_RUNS = re.compile(
    r"[\^■□▪▫~_\-=*#.…](?:(?<=\^)\^{2,}|(?<=[■□▪▫])[■□▪▫]{2,}|(?<=~)~{2,}|(?<=_)_{9,}|(?<=-)-{9,}"
    r"|(?<==)={9,}|(?<=\*)\*{9,}|(?<=#)#{9,}|(?<=\.)\.{9,}|(?<=\.)(?: \.){9,}|(?<=…)…{2,})"
)

_UNICODE_SPACE = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_SPACE_RUN = re.compile(" {2,}")
_SPACE_AT_LINE_EDGE = re.compile(r" \n ?|\n ")
_EXCESS_NEWLINES = re.compile(r"\n{3,}")

# The letters before a line-end hyphen, and the letters that start the next line.
_WORD_TAIL = re.compile(r"[^\W\d_]+$")
_WORD_HEAD = re.compile(r"[^\W\d_]+")
_LONGEST_WORD = 64
# Prefixes that English writes with a hyphen: "self-locking" split at the hyphen
# must keep it even when the document never spells the compound in one line.
_ALWAYS_HYPHENATED_PREFIXES = frozenset(
    {"self", "ex", "all", "non", "anti", "quasi", "semi", "pre", "post", "co", "cross", "well", "half"}
)
_WORDS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")


class _Counters:
    __slots__ = (
        "artifacts_removed",
        "control_chars_removed",
        "hyphenations_joined",
        "ligatures_expanded",
        "mojibake_repaired",
    )

    def __init__(self) -> None:
        self.artifacts_removed = 0
        self.control_chars_removed = 0
        self.ligatures_expanded = 0
        self.mojibake_repaired = 0
        self.hyphenations_joined = 0


def normalize_document(doc: Document) -> Document:
    """Return a new Document with cleaned block text; the input is not modified."""
    counters = _Counters()
    dehyphenate_all = doc.format in _HYPHENATED_LAYOUT_FORMATS
    chars_before = 0
    # First pass: character-level cleaning. Line joins need the whole document's
    # vocabulary, so they run in a second pass.
    cleaned: list[tuple[Block, str, bool]] = []
    for block in doc.blocks:
        if block.table is not None:
            chars_before += len(block.text) if block.text else sum(len(c) for row in block.table.rows for c in row)
            table = replace(
                block.table,
                rows=[[_finish(_clean(cell, counters)) for cell in row] for row in block.table.rows],
                cells=[replace(cell, text=_finish(_clean(cell.text, counters))) for cell in block.table.cells],
            )
            cleaned.append((replace(block, table=table), table.to_text(), False))
        else:
            chars_before += len(block.text)
            wants_join = dehyphenate_all or block.kind == "ocr" or bool(block.meta.get("ocr"))
            cleaned.append((block, _clean(block.text, counters), wants_join))

    vocabulary = _hyphen_vocabulary(cleaned)
    blocks: list[Block] = []
    chars_after = 0
    for block, cleaned_text, wants_join in cleaned:
        joined = (
            _join_hyphenated_lines(cleaned_text, vocabulary, counters)
            if wants_join and "-\n" in cleaned_text
            else cleaned_text
        )
        text = _finish(joined)
        if not text:
            continue
        chars_after += len(text)
        blocks.append(replace(block, text=text, section=_clean_label(block.section, counters)))

    metadata = dict(doc.metadata)
    metadata["normalization"] = {
        "chars_before": chars_before,
        "chars_after": chars_after,
        "artifacts_removed": counters.artifacts_removed,
        "control_chars_removed": counters.control_chars_removed,
        "ligatures_expanded": counters.ligatures_expanded,
        "mojibake_repaired": counters.mojibake_repaired,
        "hyphenations_joined": counters.hyphenations_joined,
        "blocks_before": len(doc.blocks),
        "blocks_after": len(blocks),
    }
    return Document(format=doc.format, blocks=blocks, metadata=metadata, warnings=list(doc.warnings))


def normalize_text(text: str) -> str:
    """Clean one string the way block text is cleaned (without the PDF line joins)."""
    return _finish(_clean(text, _Counters()))


def _finish(text: str) -> str:
    if "\n\n\n" in text:
        text = _EXCESS_NEWLINES.sub("\n\n", text)
    return text.strip()


def _clean(text: str, counters: _Counters) -> str:
    if not text:
        return ""
    if text.isascii() and text.isprintable() and "  " not in text and not _ARTIFACT_RUNS.search(text):
        return text.strip()  # the common case for table cells and short lines: nothing to do
    if not text.isascii():
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
        if _has_mojibake(text):
            text = _repair_mojibake(text, counters)
        if _SOFT_HYPHEN in text:
            text = _SOFT_HYPHEN_AT_LINE_END.sub("", text).replace(_SOFT_HYPHEN, "")
        if _LIGATURES.search(text):
            text, count = _LIGATURES.subn(lambda m: unicodedata.normalize("NFKC", m.group(0)), text)
            counters.ligatures_expanded += count
        text = _UNICODE_SPACE.sub(" ", text)
    text = _LINE_BREAKS.sub("\n", text)
    if "\t" in text:
        text = text.replace("\t", " ")
    text, count = _CONTROL_CHARS.subn("", text)
    counters.control_chars_removed += count
    text, count = _ARTIFACT_RUNS.subn(" ", text)
    counters.artifacts_removed += count
    if "  " in text:
        text = _SPACE_RUN.sub(" ", text)
    if " \n" in text or "\n " in text:
        text = _SPACE_AT_LINE_EDGE.sub("\n", text)
    return text.strip(" ")


def _clean_label(label: str | None, counters: _Counters) -> str | None:
    if not label:
        return label
    return " ".join(_clean(label, counters).split()) or None


def _repair_mojibake(text: str, counters: _Counters) -> str:
    import ftfy  # only blocks with proof of damage get here

    repaired = ftfy.fix_encoding(text)
    if repaired != text:
        counters.mojibake_repaired += 1
        if not unicodedata.is_normalized("NFC", repaired):
            repaired = unicodedata.normalize("NFC", repaired)
    return repaired


def _hyphen_vocabulary(cleaned: list[tuple[Block, str, bool]]) -> set[str]:
    """Lower-case words and hyphenated compounds that appear inside a line."""
    if not any(wants and "-\n" in text for _, text, wants in cleaned):
        return set()
    return set(_WORDS.findall("\n".join(text for _, text, _wants in cleaned).lower()))


def _join_hyphenated_lines(text: str, vocabulary: set[str], counters: _Counters) -> str:
    # Anchored on the literal "-\n" (found with str.find) rather than a regex that
    # starts at every letter: the text is long and the breaks are few.
    pieces: list[str] = []
    copied_to = 0
    position = text.find("-\n")
    while position != -1:
        head = _WORD_TAIL.search(text, max(copied_to, position - _LONGEST_WORD), position)
        tail = _WORD_HEAD.match(text, position + 2)
        if head and tail and tail.group(0)[0].islower():
            # "Anglo-\nSaxon", "COVID-\n19": an upper-case or digit start is a real hyphen.
            head_word, tail_word = head.group(0), tail.group(0)
            joined = f"{head_word}{tail_word}".lower()
            keep_hyphen = joined not in vocabulary and (
                f"{head_word}-{tail_word}".lower() in vocabulary or head_word.lower() in _ALWAYS_HYPHENATED_PREFIXES
            )
            pieces.append(text[copied_to:position])
            pieces.append("-" if keep_hyphen else "")
            copied_to = position + 2
            if not keep_hyphen:
                counters.hyphenations_joined += 1
        position = text.find("-\n", position + 2)
    if not pieces:
        return text
    pieces.append(text[copied_to:])
    return "".join(pieces)

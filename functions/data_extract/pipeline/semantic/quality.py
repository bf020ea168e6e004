"""Per-chunk readability and the stage's composite quality score (the published formulas, no textstat).

The readability set is the reference's, computed with the published formulas over a vowel-group syllable
counter (the same approximation textstat makes without its dictionary; textstat itself pulls in Pyphen, whose
licences are copyleft, and costs ~1.5 ms a chunk, too slow for 100,000 chunks):

- flesch_reading_ease = 206.835 - 1.015 W/S - 84.6 Syl/W, clamped to 0..100;
- flesch_kincaid_grade = 0.39 W/S + 11.8 Syl/W - 15.59; gunning_fog = 0.4 (W/S + 100 complex/W);
  smog_index = 1.043 sqrt(30 poly/S) + 3.1291; coleman_liau_index = 0.0588 L - 0.296 S100 - 15.8;
  automated_readability_index = 4.71 chars/W + 0.5 W/S - 21.43; linsear_write_formula (easy words 1, hard
  words 3, over the first 100 words): each clamped to 0..30. Dale-Chall needs a licensed list of familiar words
  and is not computed.
- syllable_count and lexical_diversity (distinct words / words).

Anomaly score (the reference's rules): special characters over 30% of the text -> 0.9; lexical diversity under
0.1 -> 0.8; over 30% of the words (longer than 3) made of one repeated character -> 0.85; long text (over 100
characters) with under 3 bits of character entropy -> 0.8; a Flesch-Kincaid grade over 20 or under 0 -> 0.7;
the worker's extraction check finding gibberish (broken font encodings, bad OCR) -> 0.8. The highest applies.

Composite = 0.2 (FRE/100) + 0.2 max(0, 1 - FK/12) + 0.2 diversity + 0.4 (1 - anomaly), capped at
(1 - anomaly) 0.3 when the anomaly is over 0.5. Without readability (``skip_readability``) the two readability
terms are left out and the other two are reweighted to sum to 1.

Flag: ``review`` when the text is shorter than 10 characters, the grade is over 25 or under -5, or the
diversity is under 0.05 on more than 50 characters; otherwise ``high`` (>= 0.7), ``medium`` (>= 0.3) or ``low``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any, NamedTuple

import numpy as np

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_VOWELS = "aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ"
_VOWEL_GROUP = re.compile(f"[{_VOWELS}]+")
_SILENT_E = re.compile(f"[^{_VOWELS}l]e$")
_REPEATED = re.compile(r"^(.)\1+$")
_SPACE = re.compile(r"\s")
_UNPUNCTUATED_LINE = re.compile(r"[^.!?\s][ \t]*$", re.MULTILINE)
_SPECIAL = re.compile(r"[^\w\s]|_")
# Texts scored together by ``chunk_qualities`` (bounds the memory of their word arrays).
QUALITY_BATCH = 10_000


@lru_cache(maxsize=200_000)
def syllables(word: str) -> int:
    count = len(_VOWEL_GROUP.findall(word))
    if count > 1 and _SILENT_E.search(word):
        count -= 1
    return max(1, count)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _entropy(text: str) -> float:
    counts = Counter(text)
    total = len(text)
    return -sum(c / total * math.log2(c / total) for c in counts.values())


def readability(text: str) -> dict[str, float]:
    """The readability set of one text (zeros for a text without words)."""
    return _measure(text)[0]


def _unpunctuated_lines(text: str) -> int:
    """The number of matches of ``_UNPUNCTUATED_LINE`` (a line whose last character before trailing spaces and
    tabs is neither end punctuation nor whitespace), counted line by line: the regular expression tries every
    position of the text and costs thirty times as much (a test compares both on random texts)."""
    count = 0
    for raw_line in text.split("\n"):
        line = raw_line.rstrip(" \t")
        if line and line[-1] not in ".!?" and not line[-1].isspace():
            count += 1
    return count


def _sentence_count(text: str) -> int:
    # Lines without end punctuation (headings, list items, table rows) end a sentence too.
    return max(1, len(_SENTENCE_END.findall(text)) + _unpunctuated_lines(text))


_NO_WORDS = {
    "flesch_reading_ease": 0.0,
    "flesch_kincaid_grade": 0.0,
    "gunning_fog": 0.0,
    "smog_index": 0.0,
    "coleman_liau_index": 0.0,
    "automated_readability_index": 0.0,
    "linsear_write_formula": 0.0,
    "syllable_count": 0,
    "lexical_diversity": 0.0,
}


def _readability_from(
    n_words: int, distinct: int, n_syllables: int, poly: int, letters: int, sentences: int, sample: int, hard: int
) -> dict[str, float]:
    """The readability set from a text's counts: words, distinct words, syllables, words of 3+ syllables,
    letters, sentences, and the words and the words of 3+ syllables among its first 100."""
    if not n_words:
        return dict(_NO_WORDS)
    wps = n_words / sentences
    spw = n_syllables / n_words
    sample_sentences = max(1, round(sentences * sample / n_words))
    linsear = (sample - hard + 3 * hard) / sample_sentences
    linsear = linsear / 2 if linsear > 20 else (linsear - 2) / 2
    return {
        "flesch_reading_ease": round(_clamp(206.835 - 1.015 * wps - 84.6 * spw, 0.0, 100.0), 2),
        "flesch_kincaid_grade": round(0.39 * wps + 11.8 * spw - 15.59, 2),
        "gunning_fog": round(_clamp(0.4 * (wps + 100.0 * poly / n_words), 0.0, 30.0), 2),
        "smog_index": round(_clamp(1.043 * math.sqrt(poly * 30.0 / sentences) + 3.1291, 0.0, 30.0), 2),
        "coleman_liau_index": round(
            _clamp(0.0588 * (100.0 * letters / n_words) - 0.296 * (100.0 * sentences / n_words) - 15.8, 0.0, 30.0), 2
        ),
        "automated_readability_index": round(_clamp(4.71 * letters / n_words + 0.5 * wps - 21.43, 0.0, 30.0), 2),
        "linsear_write_formula": round(_clamp(linsear, 0.0, 30.0), 2),
        "syllable_count": n_syllables,
        "lexical_diversity": round(distinct / n_words, 4),
    }


def _measure(text: str) -> tuple[dict[str, float], Counter[str]]:
    """The readability set and the text's lower-cased word counts (one pass over the words, shared with the
    anomaly checks)."""
    words = _WORD.findall(text.lower())
    n_words = len(words)
    counts = Counter(words)
    if not n_words:
        return dict(_NO_WORDS), counts
    n_syllables = poly = letters = 0
    for word, count in counts.items():
        word_syllables = syllables(word)
        n_syllables += word_syllables * count
        letters += len(word) * count
        if word_syllables >= 3:
            poly += count
    sample = words[:100]
    hard = sum(1 for w in sample if syllables(w) >= 3)
    return _readability_from(
        n_words, len(counts), n_syllables, poly, letters, _sentence_count(text), len(sample), hard
    ), counts


def anomaly_score(
    text: str, metrics: dict[str, float], extraction_flags: tuple[str, ...] = (), counts: Counter[str] | None = None
) -> float:
    stripped = text.strip()
    if not stripped:
        return 1.0
    if counts is None:
        counts = Counter(_WORD.findall(text.lower()))
    # Counted by regular expressions (C loops), not per character in Python: chunks run to thousands of characters.
    visible = len(stripped) - len(_SPACE.findall(stripped))
    special = len(_SPECIAL.findall(stripped))
    long_total = repeated = 0
    for word, count in counts.items():
        if len(word) > 3:
            long_total += count
            if _REPEATED.match(word):
                repeated += count
    low_entropy = len(stripped) > 100 and _entropy(stripped) < 3.0
    return _anomaly_from(
        visible, special, sum(counts.values()), long_total, repeated, low_entropy, metrics, extraction_flags
    )


def _anomaly_from(
    visible: int,
    special: int,
    n_words: int,
    long_total: int,
    repeated: int,
    low_entropy: bool,
    metrics: dict[str, float],
    extraction_flags: tuple[str, ...],
) -> float:
    """The anomaly score of a non-blank text from its counts (see the module docstring)."""
    scores = [0.0]
    if visible and special / visible > 0.3:
        scores.append(0.9)
    if n_words and metrics["lexical_diversity"] < 0.1:
        scores.append(0.8)
    if long_total and repeated / long_total > 0.3:
        scores.append(0.85)
    if low_entropy:
        scores.append(0.8)
    grade = metrics.get("flesch_kincaid_grade")
    if grade is not None and n_words and (grade > 20 or grade < 0):
        scores.append(0.7)
    if "gibberish" in extraction_flags:
        scores.append(0.8)
    return max(scores)


def chunk_quality(
    text: str, *, extraction_flags: tuple[str, ...] = (), skip_readability: bool = False
) -> dict[str, Any]:
    """``{quality_score, quality_flag, anomaly_score, readability}`` of one chunk (see the module docstring)."""
    metrics, counts = _measure(text)
    anomaly = anomaly_score(text, metrics, extraction_flags, counts)
    return _quality_from(metrics, anomaly, len(text.strip()), skip_readability)


def _quality_from(
    metrics: dict[str, float], anomaly: float, stripped_length: int, skip_readability: bool
) -> dict[str, Any]:
    diversity = metrics["lexical_diversity"]
    grade = metrics["flesch_kincaid_grade"]
    if skip_readability:
        score = (0.2 * diversity + 0.4 * (1.0 - anomaly)) / 0.6
    else:
        score = (
            0.2 * metrics["flesch_reading_ease"] / 100.0
            + 0.2 * max(0.0, 1.0 - grade / 12.0)
            + 0.2 * diversity
            + 0.4 * (1.0 - anomaly)
        )
    if anomaly > 0.5:
        score = min(score, (1.0 - anomaly) * 0.3)
    score = round(_clamp(score, 0.0, 1.0), 4)
    if stripped_length < 10 or grade > 25 or grade < -5 or (diversity < 0.05 and stripped_length > 50):
        flag = "review"
    elif score >= 0.7:
        flag = "high"
    elif score >= 0.3:
        flag = "medium"
    else:
        flag = "low"
    return {
        "quality_score": score,
        "quality_flag": flag,
        "anomaly_score": anomaly,
        "readability": None if skip_readability else metrics,
        "lexical_diversity": diversity,
    }


# ---------------------------------------------------------------- many chunks at once
#
# ``chunk_qualities`` gives, for every text, the dict ``chunk_quality`` gives, at about a third of the CPU time.
# The formulas are the same functions (``_readability_from``, ``_anomaly_from``, ``_quality_from``); only the
# integer counts behind them are computed another way, so every value is the same to the last bit:
# - the per-word sums (syllables, letters, words of 3+ syllables, long and repeated-letter words) are sums over
#   the word occurrences of a property of the word, looked up by word number in arrays (one Python-level call per
#   word instead of a loop with several calls per distinct word), and summed per text by numpy in integers;
# - whitespace and special characters are counted through per-code-point tables built from the same regular
#   expressions, over the text's UTF-32 code points;
# - the character entropy is compared with 3.0 from numpy's sum, and recomputed the exact way when it falls
#   within 1e-9 of 3.0 (the two sums differ by rounding only, ~1e-15), so the comparison never differs.


class _WordNumbers(dict[str, int]):
    """Word -> number, numbering new words in order of first sight."""

    def __missing__(self, word: str) -> int:
        number = self[word] = len(self)
        return number


@cache
def _character_tables() -> tuple[np.ndarray, np.ndarray]:
    """(is whitespace, is special) for every code point, from ``_SPACE`` and ``_SPECIAL`` themselves (special is
    "neither a word character nor whitespace, or the underscore", the complement of ``[\\w\\s]`` plus "_")."""
    every = np.arange(0x110000, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass")
    space = np.zeros(0x110000, dtype=bool)
    space[[m.start() for m in _SPACE.finditer(every)]] = True
    word_or_space = np.zeros(0x110000, dtype=bool)
    for match in re.finditer(r"[\w\s]+", every):  # runs of code points: a few hundred matches
        word_or_space[match.start() : match.end()] = True
    special = ~word_or_space
    special[ord("_")] = True
    return space, special


def _character_counts(stripped: str) -> tuple[int, int, bool]:
    """(visible characters, special characters, entropy under 3 bits) of a stripped non-blank text."""
    try:
        codes = np.frombuffer(stripped.encode("utf-32-le"), dtype=np.uint32)
    except UnicodeEncodeError:  # a lone surrogate (broken extraction): the plain way
        return (
            len(stripped) - len(_SPACE.findall(stripped)),
            len(_SPECIAL.findall(stripped)),
            len(stripped) > 100 and _entropy(stripped) < 3.0,
        )
    space, special = _character_tables()
    visible = len(stripped) - int(np.count_nonzero(space[codes]))
    n_special = int(np.count_nonzero(special[codes]))
    low_entropy = False
    if len(stripped) > 100:
        ordered = np.sort(codes)
        edges = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
        counts = np.diff(np.concatenate(([0], edges, [len(ordered)])))
        p = counts / len(ordered)
        entropy = float(-(p * np.log2(p)).sum())
        low_entropy = _entropy(stripped) < 3.0 if abs(entropy - 3.0) < 1e-9 else entropy < 3.0
    return visible, n_special, low_entropy


def chunk_qualities(
    texts: Sequence[str], extraction_flags: Sequence[tuple[str, ...]] | None = None, *, skip_readability: bool = False
) -> list[dict[str, Any]]:
    """``chunk_quality`` of every text (with its extraction flags), in order; see the note above."""
    out: list[dict[str, Any]] = []
    words = _WordTable()
    for batch_start in range(0, len(texts), QUALITY_BATCH):
        batch = texts[batch_start : batch_start + QUALITY_BATCH]
        n_words_of, distinct, sentences, n_syllables, n_letters, poly, hard, long_total, repeated = _batch_counts(
            batch, words
        )
        for index, text in enumerate(batch):
            n_words = int(n_words_of[index])
            metrics = _readability_from(
                n_words,
                distinct[index],
                n_syllables[index],
                poly[index],
                n_letters[index],
                sentences[index],
                min(n_words, 100),
                hard[index],
            )
            stripped = text.strip()
            flags = tuple(extraction_flags[batch_start + index]) if extraction_flags is not None else ()
            if not stripped:
                anomaly = 1.0
            else:
                visible, special, low_entropy = _character_counts(stripped)
                anomaly = _anomaly_from(
                    visible, special, n_words, long_total[index], repeated[index], low_entropy, metrics, flags
                )
            out.append(_quality_from(metrics, anomaly, len(stripped), skip_readability))
    return out


class _WordTable:
    """Every word seen so far, numbered in order of first sight, with the properties the counts sum."""

    def __init__(self) -> None:
        self.numbers = _WordNumbers()
        self.syllables = np.zeros(0, dtype=np.int64)
        self.letters = np.zeros(0, dtype=np.int64)
        self.repeated = np.zeros(0, dtype=np.int64)  # 1 for a word longer than 3 of one repeated character

    def add_new_words(self) -> None:
        """The properties of the words numbered since the last call."""
        new_words = list(self.numbers)[len(self.syllables) :]
        count = len(new_words)
        self.syllables = np.concatenate((self.syllables, np.fromiter(map(syllables, new_words), np.int64, count)))
        self.letters = np.concatenate((self.letters, np.fromiter(map(len, new_words), np.int64, count)))
        repeated = (len(w) > 3 and _REPEATED.match(w) is not None for w in new_words)
        self.repeated = np.concatenate((self.repeated, np.fromiter(repeated, np.int64, count)))


class _BatchCounts(NamedTuple):
    """Per text of a batch, the integer counts behind its readability and anomaly scores."""

    n_words: np.ndarray
    distinct: list[int]
    sentences: list[int]
    n_syllables: list[int]
    n_letters: list[int]
    poly: list[int]  # words of 3+ syllables
    hard: list[int]  # words of 3+ syllables among the first 100
    long_total: list[int]  # words longer than 3
    repeated: list[int]


def _batch_counts(batch: Sequence[str], words: _WordTable) -> _BatchCounts:
    word_ids, distinct, sentences = [], [], []
    number_of = words.numbers.__getitem__
    for text in batch:
        text_words = _WORD.findall(text.lower())
        word_ids.append(np.fromiter(map(number_of, text_words), dtype=np.int64, count=len(text_words)))
        distinct.append(len(set(text_words)))
        sentences.append(_sentence_count(text))
    words.add_new_words()
    lengths = np.fromiter(map(len, word_ids), dtype=np.int64, count=len(word_ids))
    ids = np.concatenate(word_ids) if word_ids else np.zeros(0, dtype=np.int64)
    text_of = np.repeat(np.arange(len(batch)), lengths)
    position = np.arange(len(ids)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    syl = words.syllables[ids]
    letters = words.letters[ids]
    return _BatchCounts(
        n_words=lengths,
        distinct=distinct,
        sentences=sentences,
        n_syllables=_per_text(text_of, syl, len(batch)),
        n_letters=_per_text(text_of, letters, len(batch)),
        poly=_per_text(text_of, syl >= 3, len(batch)),
        hard=_per_text(text_of, (syl >= 3) & (position < 100), len(batch)),
        long_total=_per_text(text_of, letters > 3, len(batch)),
        repeated=_per_text(text_of, words.repeated[ids], len(batch)),
    )


def _per_text(text_of: np.ndarray, values: np.ndarray, n_texts: int) -> list[int]:
    """The sum of ``values`` (one per word occurrence) per text."""
    summed: list[int] = np.bincount(text_of, weights=values, minlength=n_texts).astype(np.int64).tolist()
    return summed

"""Per-chunk readability and the stage's composite quality score (pure Python, no textstat).

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
from functools import lru_cache
from typing import Any

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_VOWELS = "aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ"
_VOWEL_GROUP = re.compile(f"[{_VOWELS}]+")
_SILENT_E = re.compile(f"[^{_VOWELS}l]e$")
_REPEATED = re.compile(r"^(.)\1+$")
_SPACE = re.compile(r"\s")
_UNPUNCTUATED_LINE = re.compile(r"[^.!?\s][ \t]*$", re.MULTILINE)
_SPECIAL = re.compile(r"[^\w\s]|_")


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


def _measure(text: str) -> tuple[dict[str, float], Counter]:
    """The readability set and the text's lower-cased word counts (one pass over the words, shared with the
    anomaly checks)."""
    words = _WORD.findall(text.lower())
    n_words = len(words)
    counts = Counter(words)
    if not n_words:
        return {"flesch_reading_ease": 0.0, "flesch_kincaid_grade": 0.0, "gunning_fog": 0.0, "smog_index": 0.0,
                "coleman_liau_index": 0.0, "automated_readability_index": 0.0, "linsear_write_formula": 0.0,
                "syllable_count": 0, "lexical_diversity": 0.0}, counts
    n_syllables = poly = letters = 0
    for word, count in counts.items():
        word_syllables = syllables(word)
        n_syllables += word_syllables * count
        letters += len(word) * count
        if word_syllables >= 3:
            poly += count
    # Lines without end punctuation (headings, list items, table rows) end a sentence too.
    sentences = len(_SENTENCE_END.findall(text)) + len(_UNPUNCTUATED_LINE.findall(text))
    sentences = max(1, sentences)
    wps = n_words / sentences
    spw = n_syllables / n_words
    sample = words[:100]
    hard = sum(1 for w in sample if syllables(w) >= 3)
    sample_sentences = max(1, round(sentences * len(sample) / n_words))
    linsear = (len(sample) - hard + 3 * hard) / sample_sentences
    linsear = linsear / 2 if linsear > 20 else (linsear - 2) / 2
    return {
        "flesch_reading_ease": round(_clamp(206.835 - 1.015 * wps - 84.6 * spw, 0.0, 100.0), 2),
        "flesch_kincaid_grade": round(0.39 * wps + 11.8 * spw - 15.59, 2),
        "gunning_fog": round(_clamp(0.4 * (wps + 100.0 * poly / n_words), 0.0, 30.0), 2),
        "smog_index": round(_clamp(1.043 * math.sqrt(poly * 30.0 / sentences) + 3.1291, 0.0, 30.0), 2),
        "coleman_liau_index": round(_clamp(0.0588 * (100.0 * letters / n_words) - 0.296 * (100.0 * sentences / n_words)
                                           - 15.8, 0.0, 30.0), 2),
        "automated_readability_index": round(_clamp(4.71 * letters / n_words + 0.5 * wps - 21.43, 0.0, 30.0), 2),
        "linsear_write_formula": round(_clamp(linsear, 0.0, 30.0), 2),
        "syllable_count": n_syllables,
        "lexical_diversity": round(len(counts) / n_words, 4),
    }, counts


def anomaly_score(text: str, metrics: dict[str, float], extraction_flags: tuple[str, ...] = (),
                  counts: Counter | None = None) -> float:
    stripped = text.strip()
    if not stripped:
        return 1.0
    if counts is None:
        counts = Counter(_WORD.findall(text.lower()))
    scores = [0.0]
    # Counted by regular expressions (C loops), not per character in Python: chunks run to thousands of characters.
    visible = len(stripped) - len(_SPACE.findall(stripped))
    special = len(_SPECIAL.findall(stripped))
    if visible and special / visible > 0.3:
        scores.append(0.9)
    if counts and metrics["lexical_diversity"] < 0.1:
        scores.append(0.8)
    long_total = repeated = 0
    for word, count in counts.items():
        if len(word) > 3:
            long_total += count
            if _REPEATED.match(word):
                repeated += count
    if long_total and repeated / long_total > 0.3:
        scores.append(0.85)
    if len(stripped) > 100 and _entropy(stripped) < 3.0:
        scores.append(0.8)
    grade = metrics.get("flesch_kincaid_grade")
    if grade is not None and counts and (grade > 20 or grade < 0):
        scores.append(0.7)
    if "gibberish" in extraction_flags:
        scores.append(0.8)
    return max(scores)


def chunk_quality(text: str, *, extraction_flags: tuple[str, ...] = (), skip_readability: bool = False
                  ) -> dict[str, Any]:
    """``{quality_score, quality_flag, anomaly_score, readability}`` of one chunk (see the module docstring)."""
    metrics, counts = _measure(text)
    anomaly = anomaly_score(text, metrics, extraction_flags, counts)
    diversity = metrics["lexical_diversity"]
    grade = metrics["flesch_kincaid_grade"]
    if skip_readability:
        score = (0.2 * diversity + 0.4 * (1.0 - anomaly)) / 0.6
    else:
        score = (0.2 * metrics["flesch_reading_ease"] / 100.0 + 0.2 * max(0.0, 1.0 - grade / 12.0)
                 + 0.2 * diversity + 0.4 * (1.0 - anomaly))
    if anomaly > 0.5:
        score = min(score, (1.0 - anomaly) * 0.3)
    score = round(_clamp(score, 0.0, 1.0), 4)
    stripped_length = len(text.strip())
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

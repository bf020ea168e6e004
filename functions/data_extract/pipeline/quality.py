"""Per-chunk quality score: how trustworthy and usable the extracted text is.

``chunk_quality`` returns ``overall`` in 0..1, the components it was built
from, flags, and two readability figures. The score answers "did extraction
give us real text?", not "is this well written?", so readability only counts
at its extremes (run-on text with no sentence ends, typical of a broken text
layer or a flattened table).

Components (each 0..1):

``lexical``
    Share of tokens that look like words: alphabetic words (any script, with
    inner ``'``, ``-``, ``.``), numbers, amounts and dates, identifiers made of
    letters then digits (``CTRL-001-01``, ``COVID-19``) or digits then letters
    (``3M``, ``10th``), and tokens holding CJK characters. Tokens fail when they
    mix letters and digits otherwise (``qu1ck``, ``l1l1Il``: OCR confusions),
    are 6+ lower-case consonants (``xkqzvt``), repeat one letter four times or
    more (``aaaa``), run 46+ characters, or are symbol runs longer than three.
    Short punctuation tokens (``|``, ``-``, ``...``) are neutral. This is the
    gibberish detector: broken font encodings and poor OCR fall well under 0.5.
``characters``
    Share of non-space characters that are letters or digits (the ``|`` that
    joins table cells is not counted), scaled so 0.75 and above scores 1.
``readability``
    1 while the Flesch-Kincaid grade is at most 18, falling linearly to 0 at
    grade 40. Absent when the chunk has no Latin/Greek/Cyrillic words.
``ocr``
    The OCR engine's mean word confidence, when the text came from OCR.

``overall`` is the weighted mean of the components present (lexical 0.5,
characters 0.2, readability 0.1, ocr 0.3), then gated by the lexical share:
multiplied by ``min(1, lexical / 0.8)``, so text that is mostly non-words
scores near 0 however clean its characters look; and halved when the chunk
has fewer than three tokens (too little text to stand on its own; CJK
characters count one token each: ``pipeline.tokens``, as in the chunker).

Flags: ``empty``, ``very_short`` (< 3 tokens), ``gibberish`` (lexical < 0.5),
``symbol_heavy`` (alphanumeric share < 0.5), ``low_ocr_confidence`` (< 0.8),
``high_complexity`` (grade > 18).

Readability uses the Flesch formulas with a vowel-group syllable counter (no
dictionary): reading ease = 206.835 - 1.015 * words/sentence - 84.6 *
syllables/word; grade = 0.39 * words/sentence + 11.8 * syllables/word - 15.59.
Sentences are counted at tokens ending in ``.``, ``!`` or ``?`` and at the end
of a line without terminal punctuation that is short (under 8 words: headings,
list items) or a table row; long unpunctuated lines are hard-wrapped prose.

Cost: every distinct token shape (digits read as 0) is classified once per
process (a bounded cache); a chunk then costs one ``str.split``, a ``Counter``
and a dictionary lookup per distinct token, so scoring all chunks of a 1 MB
document takes tens of milliseconds.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import NamedTuple, TypedDict

from data_extract.pipeline.tokens import CJK_CHAR, estimate_tokens

_WEIGHTS = {"lexical": 0.5, "characters": 0.2, "readability": 0.1, "ocr": 0.3}
_LEXICAL_GATE = 0.8
_MIN_TOKENS = 3
_GRADE_OK = 18.0
_GRADE_WORST = 40.0
_LOW_OCR = 0.8
_CACHE_LIMIT = 100_000

_EDGE_PUNCTUATION = "\"'()[]{}<>«»“”‘’„‚.,;:!?¿¡*•·–—/\\|-"
_LETTERS = r"[^\W\d_]"
_WORD_LIKE = re.compile(
    _LETTERS + r"+(?:['’.\-]" + _LETTERS + r"+)*\.?"  # don't, self-locking, U.S.
    r"|[+\-−±]?[$€£¥]?\d[\d.,:/%\-–]*[%$€£¥]?"  # 1,200.50  2024-01-02  12:30  45%
    r"|" + _LETTERS + r"+[-_./:]?\d+(?:[-_./:]\d+)*"  # CTRL-001-01, COVID-19, ISO27001
    r"|\d+[-_./:]?" + _LETTERS + r"+"  # 3M, 10th, 5G
)
_NO_VOWEL_LOWER = re.compile(r"[b-df-hj-np-tv-xz]{6,}")
_REPEATED_LETTER = re.compile(r"([^\W\d_])\1{3,}")
_NOT_ALNUM = re.compile(r"[\W_]+")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff]+(?:['’][A-Za-z\u00c0-\u024f]+)*")
_VOWEL_CLASS = "aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœāēīōūăĕĭŏŭąęįųаеёиоуыэюяαεηιουωάέήίόύώ"
_VOWEL_GROUP = re.compile(f"[{_VOWEL_CLASS}]+")
# A final "e" after a consonant is silent ("make", "state"); "-le" ("table") is not.
_SILENT_E = re.compile(f"[^{_VOWEL_CLASS}l]e$")
_SENTENCE_END = tuple(".!?")
_LINE_CONTINUES = tuple(".!?:;,")
_SHORT_LINE_WORDS = 8


# Facts about one distinct token, as a plain tuple (cheaper to build and unpack
# than a named one on the per-token path):
# (verdict: 1 word-like, 0 gibberish, -1 neutral punctuation;
#  alnum: letters and digits; visible: characters counted for the alphanumeric
#  share, "|" excluded; latin_words: 1 when the readability formulas count it;
#  syllables; ends_sentence: 1 or 0; tokens: chunker tokens, 1 unless CJK)
_TokenFacts = tuple[int, int, int, int, int, int, int]

_facts_cache: dict[str, _TokenFacts] = {}
_DIGITS_AS_ZERO = str.maketrans("123456789", "000000000")


class Readability(TypedDict):
    flesch_reading_ease: float | None
    flesch_kincaid_grade: float | None


class ChunkQuality(TypedDict):
    """What ``chunk_quality`` returns (``Chunk.metadata["quality"]``)."""

    overall: float
    flags: list[str]
    components: dict[str, float]
    readability: Readability


def chunk_quality(text: str, *, ocr_confidence: float | None) -> ChunkQuality:
    """Score one chunk's text; see the module docstring for the definition."""
    counts = Counter(text.split())
    if not counts:
        return {
            "overall": 0.0,
            "flags": ["empty"],
            "components": {},
            "readability": {"flesch_reading_ease": None, "flesch_kincaid_grade": None},
        }
    tally = _tally(counts)
    components: dict[str, float] = {}
    flags: list[str] = []
    lexical = tally.word_like / tally.judged if tally.judged else 0.0
    components["lexical"] = lexical
    alnum_share = tally.alnum / tally.visible if tally.visible else 0.0
    components["characters"] = min(1.0, alnum_share / 0.75)
    readability = _readability(text, tally, components, flags)

    if ocr_confidence is not None:
        components["ocr"] = _clamp(float(ocr_confidence))
        if ocr_confidence < _LOW_OCR:
            flags.append("low_ocr_confidence")

    weight = sum(_WEIGHTS[name] for name in components)
    overall = sum(_WEIGHTS[name] * value for name, value in components.items()) / weight
    overall *= min(1.0, lexical / _LEXICAL_GATE)
    if tally.tokens < _MIN_TOKENS:
        overall *= 0.5
        flags.append("very_short")
    if lexical < 0.5:
        flags.append("gibberish")
    if alnum_share < 0.5:
        flags.append("symbol_heavy")

    return {
        "overall": round(_clamp(overall), 4),
        "flags": flags,
        "components": {name: round(value, 4) for name, value in components.items()},
        "readability": readability,
    }


class _Tally(NamedTuple):
    """A chunk's token facts summed over its tokens (see ``_TokenFacts``)."""

    word_like: int
    judged: int
    alnum: int
    visible: int
    words: int  # counted by the readability formulas
    syllables: int
    sentences: int  # tokens ending a sentence
    tokens: int  # chunker tokens


def _tally(counts: Counter[str]) -> _Tally:
    word_like = judged = alnum = visible = words = syllables = sentences = tokens = 0
    cache = _facts_cache
    for token, count in counts.items():
        # Digit values never change a token's facts, so "CTRL-00017" and "3.50" share
        # an entry with every token of the same shape (tables are full of them).
        facts = cache.get(token)
        if facts is None:
            shape = token.translate(_DIGITS_AS_ZERO)
            facts = cache.get(shape)
            if facts is None:
                facts = _token_facts(shape)
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[shape] = facts
        verdict, token_alnum, token_visible, latin, token_syllables, ends_sentence, token_tokens = facts
        if verdict >= 0:
            judged += count
            word_like += verdict * count
        alnum += token_alnum * count
        visible += token_visible * count
        if latin:
            words += count
            syllables += token_syllables * count
        if ends_sentence:
            sentences += count
        tokens += token_tokens * count
    return _Tally(word_like, judged, alnum, visible, words, syllables, sentences, tokens)


def _readability(text: str, tally: _Tally, components: dict[str, float], flags: list[str]) -> Readability:
    """The Flesch figures of a chunk with Latin/Greek/Cyrillic words; adds their component and flag."""
    if not tally.words:
        return {"flesch_reading_ease": None, "flesch_kincaid_grade": None}
    sentences = tally.sentences + _unpunctuated_line_ends(text)
    words_per_sentence = tally.words / max(1, sentences)
    syllables_per_word = tally.syllables / tally.words
    ease = round(206.835 - 1.015 * words_per_sentence - 84.6 * syllables_per_word, 2)
    grade = round(0.39 * words_per_sentence + 11.8 * syllables_per_word - 15.59, 2)
    components["readability"] = _clamp(1.0 - (grade - _GRADE_OK) / (_GRADE_WORST - _GRADE_OK))
    if grade > _GRADE_OK:
        flags.append("high_complexity")
    return {"flesch_reading_ease": ease, "flesch_kincaid_grade": grade}


def _token_facts(token: str) -> _TokenFacts:
    length = len(token)
    ascii_token = token.isascii()
    if ascii_token and token.isalpha():  # the commonest shape: a plain word
        return (_word_verdict(token), length, length, 1, _syllables(token.lower()), 0, 1)
    if ascii_token:
        cjk = 0
        tokens = 1
    else:
        cjk = len(CJK_CHAR.findall(token))
        tokens = estimate_tokens(token) if cjk else 1
    core = token.strip(_EDGE_PUNCTUATION)
    latin = 0
    if not core:
        verdict = -1 if length <= 3 else 0
    elif cjk:
        verdict = 1
    elif core.isalpha():
        verdict = _word_verdict(core)
        latin = 1 if _LATIN_WORD.fullmatch(core) else 0
    elif core.isdigit():
        verdict = 1 if len(core) <= 45 else 0
    else:
        verdict = 1 if len(core) <= 45 and _WORD_LIKE.fullmatch(core) and not _REPEATED_LETTER.search(core) else 0
        if verdict and _LATIN_WORD.fullmatch(core.rstrip(".")):
            latin = 1  # don't, U.S. (words with inner apostrophes or periods)
    return (
        verdict,
        len(_NOT_ALNUM.sub("", token)),
        length - token.count("|"),
        latin,
        _syllables(core.lower()) if latin else 0,
        1 if token.rstrip("\"')]}”’»").endswith(_SENTENCE_END) else 0,
        tokens,
    )


def _word_verdict(word: str) -> int:
    """1 for a plausible word of letters, 0 for gibberish shapes."""
    if len(word) > 45 or _REPEATED_LETTER.search(word):
        return 0
    if len(word) >= 6 and _NO_VOWEL_LOWER.fullmatch(word):
        return 0  # acronyms (HTTPS) are upper case and pass
    return 1


def _syllables(word: str) -> int:
    count = len(_VOWEL_GROUP.findall(word))
    if count > 1 and _SILENT_E.search(word):
        count -= 1
    return max(1, count)


def _unpunctuated_line_ends(text: str) -> int:
    """Headings, list items and table rows end a sentence without punctuation."""
    ends = 0
    for raw_line in text.split("\n"):
        line = raw_line.strip()
        if line and not line.endswith(_LINE_CONTINUES) and (line.count(" ") < _SHORT_LINE_WORDS or " | " in line):
            ends += 1
    return ends


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))

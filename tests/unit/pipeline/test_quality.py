"""Per-chunk quality score."""

from __future__ import annotations

import pytest

from data_extract.pipeline.quality import _token_facts, chunk_quality
from data_extract.pipeline.tokens import estimate_tokens

CLEAN_PROSE = (
    "The audit committee reviewed the quarterly controls. Each owner signed the attestation "
    "before the deadline, and the evidence was stored in the shared folder."
)


def test_given_clean_prose_when_scoring_then_overall_is_high_and_unflagged():
    result = chunk_quality(CLEAN_PROSE, ocr_confidence=None)

    assert result["overall"] >= 0.9
    assert result["flags"] == []
    assert set(result["components"]) == {"lexical", "characters", "readability"}


def test_given_gibberish_when_scoring_then_overall_is_low_and_flagged():
    garbage = "xkqzvt lllll qu1ck br0wn #$%^&*( zxcvbnm vbnmxz aaaaaa 3j4k5l6 ~~~~~~ qwrtpsdf"
    result = chunk_quality(garbage, ocr_confidence=None)

    assert result["overall"] < 0.3
    assert "gibberish" in result["flags"]
    assert result["overall"] < chunk_quality(CLEAN_PROSE, ocr_confidence=None)["overall"]


def test_given_broken_font_encoding_when_scoring_then_symbol_heavy_text_scores_low():
    result = chunk_quality("□□ ◊◊◊ ¤¤¤¤ ☐☐☐☐ ▯▯▯ §§§§ ¶¶¶¶ ¤¤ ◊◊", ocr_confidence=None)

    assert result["overall"] < 0.2
    assert "symbol_heavy" in result["flags"]


def test_given_low_ocr_confidence_when_scoring_then_overall_drops_and_is_flagged():
    confident = chunk_quality(CLEAN_PROSE, ocr_confidence=0.97)
    doubtful = chunk_quality(CLEAN_PROSE, ocr_confidence=0.4)

    assert doubtful["overall"] < confident["overall"]
    assert "low_ocr_confidence" in doubtful["flags"]
    assert doubtful["components"]["ocr"] == 0.4


def test_given_tables_numbers_and_identifiers_when_scoring_then_they_count_as_real_text():
    table = (
        "Control | Owner | Amount | Date\n"
        "CTRL-001-01 | J. Smith | $1,200.50 | 2024-01-02\n"
        "COVID-19 | 3M | 45% | 12:30"
    )
    result = chunk_quality(table, ocr_confidence=None)

    assert result["components"]["lexical"] == 1.0
    assert result["overall"] >= 0.9


def test_given_simple_and_complex_text_when_scoring_readability_then_formulas_order_them():
    simple = chunk_quality("The cat sat on the mat. It was fun. We ran home.", ocr_confidence=None)["readability"]
    complex_text = chunk_quality(
        "Notwithstanding organizational considerations, comprehensive institutionalization "
        "necessitates multidimensional reconceptualization of interdepartmental accountability.",
        ocr_confidence=None,
    )["readability"]

    assert simple["flesch_reading_ease"] > 90
    assert simple["flesch_kincaid_grade"] < 3
    assert complex_text["flesch_reading_ease"] < 0
    assert complex_text["flesch_kincaid_grade"] > 18


def test_given_cjk_text_when_scoring_then_no_latin_readability_is_claimed():
    result = chunk_quality("東京は日本の首都です。人口は約1400万人です。", ocr_confidence=None)

    assert result["readability"] == {"flesch_reading_ease": None, "flesch_kincaid_grade": None}
    assert result["overall"] >= 0.9


@pytest.mark.parametrize(
    "text",
    [
        "𠀀𠀁",  # CJK extension B (U+20000, U+20001): two tokens, too short
        "𠀀𠀁𠀂",  # three: long enough
        "𪜀2020年",  # extension C, a digit run and an ideograph
        "東京は日本の首都です",
        "Tokyo 東京 2020",
        "ok",
    ],
)
def test_given_cjk_text_of_any_plane_when_scoring_then_quality_counts_the_chunkers_tokens(text):
    # The "very short" rule counts tokens as the chunker does, ideographs outside the BMP included.
    counted = sum(_token_facts(token)[6] for token in text.split())
    flags = chunk_quality(text, ocr_confidence=None)["flags"]

    assert counted == estimate_tokens(text)
    assert ("very_short" in flags) == (estimate_tokens(text) < 3)


def test_given_empty_or_tiny_text_when_scoring_then_it_is_zero_or_halved():
    assert chunk_quality("   ", ocr_confidence=None)["overall"] == 0.0
    assert chunk_quality("", ocr_confidence=None)["flags"] == ["empty"]
    tiny = chunk_quality("Appendix", ocr_confidence=None)
    assert tiny["overall"] <= 0.5
    assert "very_short" in tiny["flags"]


@pytest.mark.parametrize(
    "text",
    ["a", "!!!!", "12 34 56", "Mixed 東京 text, 3M & CTRL-1.", "\n\n\n", "é" * 500, "word " * 2000],
)
def test_given_any_text_when_scoring_then_overall_stays_between_zero_and_one(text):
    result = chunk_quality(text, ocr_confidence=None)
    assert 0.0 <= result["overall"] <= 1.0
    assert all(0.0 <= value <= 1.0 for value in result["components"].values())


def test_given_the_same_text_twice_when_scoring_then_results_are_identical():
    assert chunk_quality(CLEAN_PROSE, ocr_confidence=0.9) == chunk_quality(CLEAN_PROSE, ocr_confidence=0.9)

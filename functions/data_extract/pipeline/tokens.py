"""What a token is, for every stage that counts them (the chunker's sizes, the quality score's "very short").

A whitespace-delimited word, except that CJK ideographs, kana and hangul syllables count one token each (CJK
text has no spaces between words, so one "word" would otherwise be a whole sentence). Inside a word, each CJK
character is one token and each run of other characters is one more: "東京2020" is three tokens.
"""

from __future__ import annotations

import re

# The one CJK character class of the pipeline.
CJK_CLASS = (
    "\u3040-\u309f"  # hiragana
    "\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"  # katakana (+ phonetic extensions, half-width)
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs (+ extension A, compatibility)
    "\U00020000-\U0003134f"  # CJK ideograph extensions B-G
    "\uac00-\ud7af"  # hangul syllables
)
CJK_CHAR = re.compile(f"[{CJK_CLASS}]")
NON_CJK_RUN = re.compile(rf"[^\s{CJK_CLASS}]+")
# One token: a CJK character, or a run of other non-space characters.
TOKEN = re.compile(rf"[{CJK_CLASS}]|[^\s{CJK_CLASS}]+")
# The definition as the outputs state it (``config_snapshot.token_definition``).
TOKEN_DEFINITION = "whitespace-delimited words; CJK ideographs, kana and hangul syllables count one each"  # noqa: S105 - prose, no secret


def estimate_tokens(text: str) -> int:
    """Tokens in ``text`` under the definition above (words; CJK characters). Exact for the definition, not an
    approximation of a model tokenizer."""
    if not CJK_CHAR.search(text):
        return len(text.split())
    return len(CJK_CHAR.findall(text)) + len(NON_CJK_RUN.findall(text))

"""Text layers that an earlier OCR left in a PDF: finding them and judging them.

Scanned PDFs often arrive already "searchable": a scanner or an OCR tool drew
the page image and wrote its recognised text over it in invisible ink (text
render mode 3). That text layer can be as good as a fresh reading, or far worse
(a typewritten letter read by an old engine). The PDF extractor keeps a good
layer (cheap, and it may have been corrected by hand) and reads a poor one again.

Quality is judged by the share of word-like tokens: a word-like token is made of
letters, holds a vowel, is cased like a word (``word``, ``Word``, ``WORD``) and
has no letters and digits mixed. Garbled OCR text (``Tlie qu1ck hr0wn``,
``~|l;''``) fails these tests token after token; real text in Latin-script
languages passes them whatever its language, so no dictionary is needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from data_extract.pipeline.tables.pdfium_objects import PdfTextPage

# A layer with a smaller share of word-like tokens is read again.
POOR_LAYER_SHARE = 0.80
# Fewer tokens than this say nothing about a layer's quality.
MIN_JUDGED_TOKENS = 8
# Characters sampled to see whether a page's text is drawn invisibly.
_SAMPLED_CHARS = 8
_INVISIBLE_RENDER_MODE = 3  # FPDF_TEXTRENDERMODE_INVISIBLE

_TOKEN = re.compile(r"\S+")
_EDGE_PUNCTUATION = "\"'`.,;:!?()[]{}<>«»„“”‘’*"
_NUMBER = re.compile(r"^[\d.,:/%+\-–$€£]+$")
_VOWELS = frozenset("aeiouyäöüàáâãåæèéêëìíîïòóôõøùúûýÿœ")
_CONSONANT_RUN = re.compile(r"[bcdfghjklmnpqrstvwxz]{5,}")
_WORD_CHARS = re.compile(r"^[^\W\d_]+(?:['’\-][^\W\d_]+)*$")


@dataclass(frozen=True)
class LayerVerdict:
    """A text layer's word-like share and whether it is too poor to keep."""

    share: float  # 0..1; 1.0 when too few tokens to judge
    tokens: int
    poor: bool

    def provenance(self, decision: str) -> dict[str, Any]:
        return {"text_layer": decision, "text_layer_score": round(self.share, 3)}


def wordlike_share(text: str) -> tuple[float, int]:
    """The share of word-like tokens among the judged tokens of ``text``, and how many were judged.

    Numbers are neither word-like nor junk and are not judged.
    """
    good = judged = 0
    for raw in _TOKEN.findall(text):
        token = raw.strip(_EDGE_PUNCTUATION)
        if not token:
            if len(raw) >= 2:  # runs of stray marks: '~~', ';;'
                judged += 1
            continue
        if _NUMBER.match(token):
            continue
        judged += 1
        if _is_wordlike(token):
            good += 1
    return (good / judged if judged else 1.0), judged


def _is_wordlike(token: str) -> bool:
    if len(token) > 30 or not _WORD_CHARS.match(token):
        return False
    lower = token.lower()
    letters = lower.replace("'", "").replace("’", "").replace("-", "")
    if len(letters) > 3 and not any(ch in _VOWELS for ch in letters):
        return False
    if _CONSONANT_RUN.search(lower):
        return False
    for part in re.split(r"['’\-]", token):
        if part and not (part.islower() or part.isupper() or (part[0].isupper() and part[1:].islower())):
            return False
    return True


def judge(text: str) -> LayerVerdict:
    """Is this text layer good enough to keep?"""
    share, tokens = wordlike_share(text)
    return LayerVerdict(share=share, tokens=tokens, poor=tokens >= MIN_JUDGED_TOKENS and share < POOR_LAYER_SHARE)


def drawn_invisibly(textpage: PdfTextPage) -> bool:
    """Is the page's text drawn in invisible ink, as OCR tools write it over a scan?

    A handful of characters spread over the page are sampled (one pdfium call
    each), so the check costs the same on every page, whatever its length.
    """
    import pypdfium2.raw as raw

    count = textpage.count_chars()
    if count <= 0:
        return False
    step = max(1, count // _SAMPLED_CHARS)
    sampled = invisible = 0
    for index in range(0, count, step):
        text_object = raw.FPDFText_GetTextObject(textpage.raw, index)
        if not text_object:
            continue  # generated characters (inserted spaces, line breaks) have no object
        sampled += 1
        if raw.FPDFTextObj_GetTextRenderMode(text_object) == _INVISIBLE_RENDER_MODE:
            invisible += 1
        if sampled >= _SAMPLED_CHARS:
            break
    return sampled > 0 and invisible * 2 > sampled

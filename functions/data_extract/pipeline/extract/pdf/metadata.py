"""The document information dictionary: title and author, when a producer wrote real ones."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from data_extract.pipeline.tables.pdfium_objects import PdfDocument

_WHITESPACE = re.compile(r"\s+")
# Values some producers write into the info dictionary instead of leaving it empty.
_PLACEHOLDER_INFO_VALUES = frozenset({"(anonymous)", "anonymous", "untitled", "unknown", "(untitled)", "none", "-"})


def document_info(pdf: PdfDocument) -> dict[str, str]:
    info: dict[str, str] = {}
    for key, name in (("Title", "title"), ("Author", "author")):
        try:
            value = pdf.get_metadata_value(key)
        except Exception:  # noqa: S112 - an unreadable info entry is left out; the document reads without it
            continue
        value = _WHITESPACE.sub(" ", value.replace("\x00", "")).strip()
        if value and value.lower() not in _PLACEHOLDER_INFO_VALUES:
            info[name] = value
    return info

"""Limits every extractor enforces while it reads: characters of text, and pages, sheets or slides."""

from __future__ import annotations

from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions


class TextLimit:
    """Counts extracted characters and raises ``TOO_MUCH_TEXT`` as soon as ``options.max_chars`` is passed,
    so a huge document stops early instead of being fully materialised first."""

    def __init__(self, options: ExtractOptions) -> None:
        self.max_chars = options.max_chars
        self.used = 0

    def add(self, text: str) -> str:
        self.used += len(text)
        if self.used > self.max_chars:
            raise ExtractionError(
                ErrorType.TOO_MUCH_TEXT,
                f"The file holds more than {self.max_chars} characters of text.",
                max_chars=self.max_chars,
            )
        return text


def check_page_limit(count: int, options: ExtractOptions, unit: str) -> None:
    """Raise ``TOO_MANY_PAGES`` when ``count`` pages/sheets/slides exceed ``options.max_pages``."""
    if count > options.max_pages:
        raise ExtractionError(
            ErrorType.TOO_MANY_PAGES,
            f"The file has {count} {unit} (limit {options.max_pages}).",
            count=count,
            max_pages=options.max_pages,
        )

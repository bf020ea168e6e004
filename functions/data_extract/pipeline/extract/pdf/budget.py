"""The character budget of one PDF: extraction stops with a clear error once a file's text passes the limit."""

from __future__ import annotations

from data_extract.pipeline.types import ErrorType, ExtractionError


class CharBudget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def add(self, text: str) -> None:
        self.used += len(text)
        if self.used > self.limit:
            raise ExtractionError(
                ErrorType.TOO_MUCH_TEXT,
                f"The PDF holds more than {self.limit} characters of text, the per-file limit.",
                max_chars=self.limit,
            )

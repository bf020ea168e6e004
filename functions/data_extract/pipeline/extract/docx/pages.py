"""Page numbers of body blocks: Word's rendered page breaks when the file has them, else explicit breaks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from data_extract.pipeline.extract.limits import check_page_limit
from data_extract.pipeline.types import ExtractOptions


class PageCounter:
    """The current page while the body is walked; text boxes, notes, headers and footers never move it."""

    def __init__(self, options: ExtractOptions, *, rendered: bool, marked: bool) -> None:
        self.options = options
        self.rendered = rendered  # Word's pagination hints (w:lastRenderedPageBreak) are in the file
        self.marked = marked  # the file marks pages at all: Block.page is set only then
        self.page = 1
        self.counting = False  # only while walking the body
        self.first_text_page: int | None = None

    def next_page(self) -> None:
        if self.counting:
            self.page += 1
            check_page_limit(self.page, self.options, "pages")

    def break_in_paragraph(self, out: list[str]) -> None:
        """A paragraph starts on the page where its first text is: remember it when a break follows text."""
        if self.first_text_page is None and "".join(out).strip():
            self.first_text_page = self.page
        self.next_page()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Content read out of the body's flow (a text box, a note): its page breaks do not move the body's page."""
        saved = self.counting
        self.counting = False
        try:
            yield
        finally:
            self.counting = saved

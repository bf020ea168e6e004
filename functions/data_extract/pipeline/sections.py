"""The heading breadcrumb ("Intro > Scope"): one rule for the extractors that set a block's ``section`` and for
the chunker that fills it in for formats whose extractor does not."""

from __future__ import annotations


class SectionTrail:
    """Heading breadcrumb ("Intro > Scope") carried on the blocks that follow a heading."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []
        self.current: str | None = None

    def enter(self, level: int, title: str) -> None:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, " ".join(title.split())))
        self.current = " > ".join(text for _, text in self._stack)

"""Page numbers as a message names them: "page 4", "pages 1-3, 5, 7-8"."""

from __future__ import annotations


def describe_pages(numbers: list[int]) -> str:
    return ("page " if len(numbers) == 1 else "pages ") + page_ranges(numbers)


def page_ranges(numbers: list[int]) -> str:
    """1, 2, 3, 5, 7, 8 -> '1-3, 5, 7-8'."""
    ranges: list[str] = []
    ordered = sorted(numbers)
    if not ordered:
        return ""
    start = previous = ordered[0]
    for number in ordered[1:]:
        if number == previous + 1:
            previous = number
        else:
            ranges.append(f"{start}-{previous}" if previous != start else str(start))
            start = previous = number
    ranges.append(f"{start}-{previous}" if previous != start else str(start))
    return ", ".join(ranges)

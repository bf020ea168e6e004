"""Plain text and Markdown: paragraphs, and for Markdown the heading breadcrumb each block carries."""

from __future__ import annotations

from data_extract.pipeline.extract.text import extract_text
from data_extract.pipeline.types import ExtractOptions


def _sections(source: str, filename: str = "notes.md") -> list[tuple[str, str, str | None]]:
    document = extract_text(source.encode("utf-8"), filename=filename, options=ExtractOptions())
    return [(block.kind, block.text, block.section) for block in document.blocks]


def test_given_nested_markdown_headings_when_extracting_then_each_block_carries_its_breadcrumb():
    source = "# Guide\n\nIntro.\n\n## Setup\n\nInstall it.\n\n### Linux\n\napt-get.\n\n## Use\n\nRun it.\n"

    assert _sections(source) == [
        ("heading", "Guide", "Guide"),
        ("paragraph", "Intro.", "Guide"),
        ("heading", "Setup", "Guide > Setup"),
        ("paragraph", "Install it.", "Guide > Setup"),
        ("heading", "Linux", "Guide > Setup > Linux"),
        ("paragraph", "apt-get.", "Guide > Setup > Linux"),
        ("heading", "Use", "Guide > Use"),
        ("paragraph", "Run it.\n", "Guide > Use"),
    ]


def test_given_a_higher_heading_after_a_deeper_one_when_extracting_then_the_deeper_one_is_closed():
    # A level-2 heading ends a level-3 section even when no level-2 heading came before it.
    assert _sections("### Detail\n\nOne.\n\n## Summary\n\nTwo.\n")[-1] == ("paragraph", "Two.\n", "Summary")


def test_given_text_before_any_heading_or_a_plain_text_file_when_extracting_then_blocks_have_no_section():
    assert _sections("Preface.\n\n# Title\n")[0] == ("paragraph", "Preface.", None)
    assert _sections("# Not a heading in .txt\n\nBody.\n", filename="notes.txt") == [
        ("paragraph", "# Not a heading in .txt", None),
        ("paragraph", "Body.\n", None),
    ]

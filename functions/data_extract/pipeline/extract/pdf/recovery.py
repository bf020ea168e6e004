"""Recovery: the text of a PDF pdfium refuses as broken, read page by page by pdfminer's tolerant parser."""

from __future__ import annotations

import io
import struct

from data_extract.pipeline.extract.pdf.budget import CharBudget
from data_extract.pipeline.extract.pdf.text import clean_text
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions


def recover_text(data: bytes, options: ExtractOptions) -> Document | None:
    """Text of a PDF pdfium cannot open, read page by page with pdfminer; None when that fails too."""
    try:
        from pdfminer.high_level import extract_pages
        from pdfminer.layout import LAParams, LTTextContainer
        from pdfminer.pdfparser import PDFSyntaxError
        from pdfminer.psparser import PSException
    except ImportError:
        return None
    blocks: list[Block] = []
    budget = CharBudget(options.max_chars)
    try:
        for number, layout in enumerate(extract_pages(io.BytesIO(data), laparams=LAParams()), start=1):
            if number > options.max_pages:
                raise ExtractionError(
                    ErrorType.TOO_MANY_PAGES,
                    f"The PDF has more than {options.max_pages} pages; the limit is {options.max_pages}.",
                    max_pages=options.max_pages,
                )
            for element in layout:
                if isinstance(element, LTTextContainer):
                    text = clean_text(element.get_text())
                    if text.strip():
                        budget.add(text)
                        blocks.append(Block(kind="paragraph", text=text, page=number))
    except ExtractionError:
        raise
    except (
        PSException,
        PDFSyntaxError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        RecursionError,
        UnicodeError,
        struct.error,
    ):
        return None
    if not blocks:
        return None
    pages = sorted({b.page for b in blocks if b.page})
    return Document(
        format="pdf",
        blocks=blocks,
        metadata={
            "page_count": pages[-1],
            "pages_with_text": len(pages),
            "ocr_pages": [],
            "needs_ocr_pages": [],
            "encrypted": False,
            "recovered_by": "pdfminer",
        },
        warnings=["The PDF's structure is damaged; its text was recovered without layout analysis or tables."],
    )

"""DOCX (WordprocessingML, Transitional and Strict) -> blocks in document order, read directly with lxml.

Why not python-docx: it rejects Strict OOXML, fails on some table grids, drops document order between paragraphs
and tables, and is several times slower than one lxml pass over ``document.xml``.

What comes out, in this order:
1. headers (every variant referenced by a section: default, first, even; identical texts kept once);
2. the body: paragraphs, headings (``level`` from the style's "Heading N" name or outline level, and a ``section``
   breadcrumb carried on every following block), list items (``level`` = numbering level, 1-based; list and heading
   numbers as Word shows them, "1.", "2.a)", "IV.", "•", are prefixed to the text), tables, text
   boxes (``w:txbxContent``; inside ``mc:AlternateContent`` only the first choice is read, the fallback only when
   the choice holds nothing, so a text box is never doubled), content controls (``w:sdt``), hyperlink text, fields'
   displayed results (not their codes), tracked insertions (not deletions), OMML equations linearised as text
   (``(a)/(b)``, ``x^(2)``, ``√(x)``);
   footnotes, endnotes and comments follow the block that references them;
3. notes and comments that nothing references;
4. footers (deduplicated like headers).

Tables are ``Block(kind="table")``. A table nested in a cell is rendered inside that cell's text (one line per
nested row, cells joined by " | ") so the outer grid keeps its shape and every word appears exactly once.
Horizontally merged cells (``gridSpan``) are padded with empty cells so columns stay aligned; the table's
cells keep them as ``col_span``, and vertical merges (``vMerge``) as ``row_span``.

Pages: Word's own pagination hints (``w:lastRenderedPageBreak``) are used when the file has them; otherwise
explicit page breaks, "page break before" and non-continuous section breaks are counted. ``Block.page`` is set
only when the file holds one of these markers (the page count is then a lower bound for the explicit mode).

Modules: ``document`` (the extractor and its metadata), ``walker`` (blocks in document order), ``inline`` (runs),
``tables``, ``styles``, ``numbering``, ``notes``, ``headers``, ``omml`` (equations), ``altchunk`` (imported HTML
and RTF), ``pages``, ``scan`` (the look-ahead pass), ``names`` (namespaces and tags), ``values``.
"""

from data_extract.pipeline.extract.docx.document import extract_docx

__all__ = ["extract_docx"]

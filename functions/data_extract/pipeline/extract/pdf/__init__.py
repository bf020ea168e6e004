"""PDF extraction with pdfium (pypdfium2): text per page in reading order, ruled
tables as tables, OCR for scanned pages.

Per page:

1. pdfium's text page gives the text in content-stream order, which is the
   reading order for nearly every generator (LaTeX, Word, LibreOffice). That text
   is used as is whenever the page's geometry agrees with it: the fast path.
2. Text rectangles (one per text run, cheap to fetch) are merged into line
   segments. A page whose segments form text columns separated by a gutter, but
   whose stream keeps jumping between those columns (columns interleaved line by
   line), is rebuilt region by region: full-width bands and columns top to
   bottom, each region read with ``get_text_bounded``.
3. Ruled tables (a grid of horizontal and vertical line segments taken from the
   page's path objects) become ``table`` blocks; the text around them is rebuilt
   the same way so the table's text is not repeated.
4. A page with no text layer but with images (a scan) is rendered at 300 DPI and
   recognised with Tesseract when available; otherwise it is reported in
   ``needs_ocr_pages`` (or, when no page has text at all, as ``needs_ocr``).
   A page whose text layer an earlier OCR drew invisibly over a page-sized scan
   keeps that layer when it reads well (``text_layer.judge``) and is read again
   when it reads poorly; the fresh reading replaces the layer only if it reads
   better. Either way the page's blocks record the decision (``text_layer``).

Whatever geometry is used, the result is checked against the stream text: if a
rebuilt page lost or repeated characters, the stream text wins.

Modules, in the order a document goes through them: ``document`` (the entry point
and the per-page loop), ``opening`` and ``recovery`` (pdfium, and pdfminer when
pdfium cannot open the file), ``forms`` and ``metadata``, ``page`` (one page),
``layout`` with ``segments``, ``reading_order`` and ``text``, ``objects`` with
``matrix`` (the walk over a page's objects), ``ocr_pages``, and the helpers
``budget`` and ``page_numbers``.
"""

from data_extract.pipeline.extract.pdf.document import extract_pdf

__all__ = ["extract_pdf"]

"""PDF extraction: text per page, reading order, ruled tables, passwords, scans and limits.

The first part builds its PDFs in the test (pdf_builder); the corpus part reads the
shared corpus and skips when it is absent.
"""

from __future__ import annotations

import csv
import re

import pytest
from PIL import Image, ImageDraw, ImageFont

from data_extract.pipeline import ocr
from data_extract.pipeline.extract.pdf import extract_pdf
from data_extract.pipeline.types import Document, ErrorType, ExtractionError, ExtractOptions
from tests.unit.pipeline.pdf_builder import Line, Page, Picture, Text, build_pdf, corpus_dir, plain_pdf, text_grid

NO_OCR = ExtractOptions(ocr=False)

needs_tesseract = pytest.mark.skipif(
    not ocr.tesseract_available(), reason="Tesseract is not installed (apt-get install tesseract-ocr)"
)


def _extract(data: bytes, options: ExtractOptions = NO_OCR) -> Document:
    return extract_pdf(data, filename="test.pdf", options=options)


def _collapsed(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _text_image(lines: list[str], size: tuple[int, int] = (1700, 500)) -> Image.Image:
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=56)
    for i, line in enumerate(lines):
        draw.text((60, 60 + i * 90), line, fill=0, font=font)
    return image


LEFT = [
    "Alpha one begins the left column story",
    "alpha two continues the same sentence",
    "alpha three keeps the narrative going",
    "alpha four is still on the left side",
    "alpha five nearly ends the left text",
    "alpha six closes the left column now",
    "alpha seven is a late addition here",
    "alpha eight is the final left line.",
]
RIGHT = [
    "Bravo one starts the right column text",
    "bravo two follows on the right side",
    "bravo three belongs to the right part",
    "bravo four stays in the right column",
    "bravo five is near the right bottom",
    "bravo six is almost the last of all",
    "bravo seven comes just before the end",
    "bravo eight ends the right column.",
]


def _two_column_page(interleaved: bool) -> Page:
    left = text_grid(50, 700, LEFT)
    right = text_grid(320, 700, RIGHT)
    # Interleaved: line by line across the gutter, as some converters write their streams.
    items = [item for pair in zip(left, right, strict=True) for item in pair] if interleaved else left + right
    return Page(items=items)


# --- text and pages ------------------------------------------------------------


def test_given_two_pages_when_extracting_then_each_block_carries_its_page_number():
    data = build_pdf(
        [Page(items=text_grid(72, 720, ["First page words"])), Page(items=text_grid(72, 720, ["Second page words"]))]
    )

    document = _extract(data)

    assert [(b.page, b.text.strip()) for b in document.blocks] == [(1, "First page words"), (2, "Second page words")]
    assert document.format == "pdf"
    assert document.metadata["page_count"] == 2
    assert document.metadata["pages_with_text"] == 2
    assert document.metadata["encrypted"] is False
    assert document.metadata["needs_ocr_pages"] == [] and document.metadata["ocr_pages"] == []


def test_given_a_title_in_the_info_dictionary_when_extracting_then_it_is_metadata():
    document = _extract(plain_pdf(["Body text"], title="Quarterly Report"))

    assert document.metadata["title"] == "Quarterly Report"
    assert "author" not in document.metadata


def test_given_a_placeholder_title_when_extracting_then_it_is_left_out():
    document = _extract(plain_pdf(["Body text"], title="(anonymous)"))

    assert "title" not in document.metadata


def test_given_a_page_without_any_content_between_text_pages_when_extracting_then_it_is_simply_skipped():
    data = build_pdf([Page(items=text_grid(72, 720, ["Before"])), Page(), Page(items=text_grid(72, 720, ["After"]))])

    document = _extract(data)

    assert [b.page for b in document.blocks] == [1, 3]
    assert document.metadata["pages_with_text"] == 2
    assert document.metadata["needs_ocr_pages"] == []


def test_given_only_blank_pages_when_extracting_then_the_file_is_empty():
    with pytest.raises(ExtractionError) as caught:
        _extract(build_pdf([Page(), Page()]))

    assert caught.value.error_type is ErrorType.EMPTY
    assert "no text" in caught.value.message


# --- reading order ----------------------------------------------------------------


def test_given_two_columns_interleaved_line_by_line_in_the_stream_when_extracting_then_each_column_reads_whole():
    document = _extract(build_pdf([_two_column_page(interleaved=True)]))

    text = _collapsed(document.text)
    assert _collapsed(" ".join(LEFT)) in text
    assert _collapsed(" ".join(RIGHT)) in text
    assert text.index("alpha eight") < text.index("bravo one")
    assert document.metadata["layout_rebuilt_pages"] == [1]


def test_given_two_columns_in_stream_order_when_extracting_then_the_stream_text_is_kept():
    document = _extract(build_pdf([_two_column_page(interleaved=False)]))

    text = _collapsed(document.text)
    assert _collapsed(" ".join(LEFT) + " " + " ".join(RIGHT)) in text
    assert "layout_rebuilt_pages" not in document.metadata


def test_given_an_interleaved_two_column_page_under_a_full_width_title_when_extracting_then_the_title_comes_first():
    page = _two_column_page(interleaved=True)
    page.items.append(Text(150, 750, "A Title That Spans Both Columns Of The Page", 14))

    text = _collapsed(_extract(build_pdf([page])).text)

    assert text.startswith("a title that spans both columns of the page")
    assert _collapsed(" ".join(LEFT)) in text and _collapsed(" ".join(RIGHT)) in text


def test_given_an_unruled_table_read_row_by_row_when_extracting_then_rows_stay_together():
    rows = [
        ("Code", "Meaning", "Owner"),
        ("A1", "Approved", "Finance"),
        ("B2", "Blocked", "Legal"),
        ("C3", "Closed", "Audit"),
        ("D4", "Deferred", "Board"),
        ("E5", "Escalated", "Risk"),
    ]
    items = []
    for i, row in enumerate(rows):
        y = 700 - i * 16
        items += [Text(72, y, row[0]), Text(200, y, row[1]), Text(360, y, row[2])]

    text = _collapsed(_extract(build_pdf([Page(items=items)])).text)

    assert "a1 approved finance" in text
    assert "e5 escalated risk" in text


# --- ruled tables -----------------------------------------------------------------


def _ruled_table_page(*, with_outer_border: bool = True) -> Page:
    columns = [72, 200, 330, 460]
    rows = [700, 680, 660, 640]
    cells = [["Region", "Revenue", "Growth"], ["North", "1200", "4%"], ["South", "950", "7%"]]
    items: list[Text | Line] = [Text(72, 740, "Results by region are shown below.")]
    for y in rows:
        items.append(Line(columns[0], y, columns[-1], y))
    xs = columns if with_outer_border else columns[1:-1]
    for x in xs:
        items.append(Line(x, rows[0], x, rows[-1]))
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            items.append(Text(columns[c] + 5, rows[r] - 14, cell))
    items.append(Text(72, 600, "The table ends the section."))
    return Page(items=items)


def test_given_a_ruled_table_when_extracting_then_it_becomes_a_table_block_between_its_paragraphs():
    document = _extract(build_pdf([_ruled_table_page()]))

    kinds = [b.kind for b in document.blocks]
    assert kinds == ["paragraph", "table", "paragraph"]
    table = document.blocks[1]
    assert table.page == 1
    assert table.table.rows == [["Region", "Revenue", "Growth"], ["North", "1200", "4%"], ["South", "950", "7%"]]
    assert table.text == table.table.to_text()
    assert document.blocks[0].text.strip() == "Results by region are shown below."
    assert document.blocks[2].text.strip() == "The table ends the section."
    assert document.text.count("North") == 1  # the cells are not repeated as paragraph text
    assert document.metadata["table_count"] == 1


def test_given_a_table_ruled_without_outer_border_when_extracting_then_the_outer_columns_are_kept():
    document = _extract(build_pdf([_ruled_table_page(with_outer_border=False)]))

    tables = [b.table for b in document.blocks if b.kind == "table"]
    assert tables and tables[0].rows[1] == ["North", "1200", "4%"]


def test_given_ruled_rows_holding_two_text_lines_each_when_extracting_then_each_line_is_a_row():
    columns, rows = [72, 180, 300], [700, 660, 620]
    items: list[Text | Line] = [Line(columns[0], y, columns[-1], y) for y in rows]
    items += [Line(x, rows[0], x, rows[-1]) for x in columns]
    items += [Text(77, 686, "OTSL"), Text(77, 672, "HTML"), Text(185, 686, "0.965"), Text(185, 672, "0.969")]
    items += [Text(77, 646, "OTSL"), Text(77, 632, "HTML"), Text(185, 646, "0.938"), Text(185, 632, "0.952")]

    document = _extract(build_pdf([Page(items=items)]))

    table = next(b.table for b in document.blocks if b.kind == "table")
    assert table.rows == [["OTSL", "0.965"], ["HTML", "0.969"], ["OTSL", "0.938"], ["HTML", "0.952"]]


def test_given_a_grid_with_few_labels_like_a_plot_when_extracting_then_no_table_is_made():
    items: list[Text | Line] = [Line(72, y, 372, y) for y in range(300, 601, 50)]
    items += [Line(x, 300, x, 600) for x in range(72, 373, 50)]
    items += [Text(60, 290, "0"), Text(370, 290, "10"), Text(72, 250, "Figure 1: a plotted grid with axis labels.")]

    document = _extract(build_pdf([Page(items=items)]))

    assert all(b.kind != "table" for b in document.blocks)
    assert "plotted grid" in document.text


# --- forms ------------------------------------------------------------------------


def test_given_a_filled_form_when_extracting_then_the_typed_values_become_a_table_of_fields():
    data = plain_pdf(
        ["Application form"],
        text_fields={"Customer": "Alice Example", "Reference": "", "City": "Lyon"},
        checkboxes={"Accept terms": True, "Newsletter": False},
    )

    document = _extract(data)

    fields = [b for b in document.blocks if b.meta.get("detected") == "form_fields"]
    assert len(fields) == 1 and fields[0].kind == "table" and fields[0].page == 1
    assert fields[0].table.rows == [["Customer", "Alice Example"], ["City", "Lyon"], ["Accept terms", "Yes"]]
    assert "Alice Example" in document.text


# --- passwords -------------------------------------------------------------------


def test_given_a_pdf_encrypted_with_a_user_password_when_no_password_is_given_then_it_needs_a_password():
    data = plain_pdf(["Secret figures"], user_password="s3cret")

    with pytest.raises(ExtractionError) as caught:
        _extract(data)

    assert caught.value.error_type is ErrorType.ENCRYPTED
    assert "password is needed" in caught.value.message


def test_given_a_pdf_encrypted_with_a_user_password_when_a_wrong_password_is_given_then_it_says_so():
    data = plain_pdf(["Secret figures"], user_password="s3cret")

    with pytest.raises(ExtractionError) as caught:
        _extract(data, ExtractOptions(ocr=False, password="guess"))

    assert caught.value.error_type is ErrorType.ENCRYPTED
    assert "wrong" in caught.value.message


def test_given_a_pdf_encrypted_with_a_user_password_when_the_password_is_given_then_the_text_is_read():
    data = plain_pdf(["Secret figures for the board"], user_password="s3cret")

    document = _extract(data, ExtractOptions(ocr=False, password="s3cret"))

    assert "Secret figures for the board" in document.text
    assert document.metadata["encrypted"] is True


def test_given_a_pdf_with_only_owner_restrictions_when_extracting_then_it_opens_and_is_marked_encrypted():
    document = _extract(plain_pdf(["Readable but restricted"], user_password=""))

    assert "Readable but restricted" in document.text
    assert document.metadata["encrypted"] is True


# --- scans and OCR ---------------------------------------------------------------


def _scanned_page() -> Page:
    return Page(items=[Picture(36, 300, 540, 160, _text_image(["Invoice number 4711", "Total due 250 EUR"]))])


def test_given_an_image_only_pdf_and_ocr_disabled_when_extracting_then_it_needs_ocr_naming_the_pages():
    with pytest.raises(ExtractionError) as caught:
        _extract(build_pdf([_scanned_page(), _scanned_page()]))

    assert caught.value.error_type is ErrorType.NEEDS_OCR
    assert caught.value.details["pages"] == [1, 2]
    assert "pages 1-2 need OCR" in caught.value.message
    assert "disabled" in caught.value.message


def test_given_an_image_only_pdf_and_no_tesseract_when_extracting_then_it_needs_ocr(monkeypatch):
    monkeypatch.setattr(ocr, "tesseract_available", lambda: False)

    with pytest.raises(ExtractionError) as caught:
        _extract(build_pdf([_scanned_page()]), ExtractOptions(ocr=True))

    assert caught.value.error_type is ErrorType.NEEDS_OCR
    assert caught.value.details["pages"] == [1]
    assert "Tesseract is not installed" in caught.value.message


def test_given_text_pages_and_one_scanned_page_without_ocr_when_extracting_then_text_is_kept_and_the_page_listed():
    data = build_pdf([Page(items=text_grid(72, 720, ["Native text page"])), _scanned_page()])

    document = _extract(data)

    assert "Native text page" in document.text
    assert document.metadata["needs_ocr_pages"] == [2]
    assert any("page 2" in warning for warning in document.warnings)


@needs_tesseract
def test_given_an_image_only_page_and_tesseract_when_extracting_then_the_page_is_recognised():
    data = build_pdf([Page(items=text_grid(72, 720, ["Cover letter"])), _scanned_page()])

    document = _extract(data, ExtractOptions(ocr=True))

    ocr_blocks = [b for b in document.blocks if b.kind == "ocr"]
    assert [b.page for b in ocr_blocks] == [2]
    assert "invoice number 4711" in _collapsed(ocr_blocks[0].text)
    assert 0.5 < ocr_blocks[0].meta["ocr_confidence"] <= 1.0
    assert document.metadata["ocr_pages"] == [2]
    assert document.metadata["needs_ocr_pages"] == []


def _stamped_scan() -> Page:
    scan = _text_image(["Purchase order 8812", "Delivery to warehouse B"], size=(1700, 2200))
    return Page(items=[Picture(0, 0, 612, 792, scan), Text(540, 20, "p. 7", 8)])


def test_given_a_scan_with_a_page_number_stamped_on_it_and_no_ocr_when_extracting_then_it_is_listed_for_ocr():
    document = _extract(build_pdf([_stamped_scan()]))

    assert "p. 7" in document.text
    assert document.metadata["needs_ocr_pages"] == [1]
    assert document.metadata["pages_with_text"] == 1


@needs_tesseract
def test_given_a_scan_with_a_page_number_stamped_on_it_and_tesseract_when_extracting_then_both_are_kept():
    document = _extract(build_pdf([_stamped_scan()]), ExtractOptions(ocr=True))

    assert [b.kind for b in document.blocks] == ["paragraph", "ocr"]
    assert "p. 7" in document.blocks[0].text
    assert "purchase order 8812" in _collapsed(document.blocks[1].text)
    assert document.metadata["ocr_pages"] == [1]


# --- limits and damage -----------------------------------------------------------


def test_given_more_pages_than_allowed_when_extracting_then_too_many_pages():
    data = build_pdf([Page(items=text_grid(72, 720, [f"Page {n}"])) for n in range(3)])

    with pytest.raises(ExtractionError) as caught:
        _extract(data, ExtractOptions(ocr=False, max_pages=2))

    assert caught.value.error_type is ErrorType.TOO_MANY_PAGES
    assert "3 pages" in caught.value.message


def test_given_more_text_than_allowed_when_extracting_then_too_much_text():
    data = build_pdf([Page(items=text_grid(72, 720, ["A line of about forty characters here."] * 10))])

    with pytest.raises(ExtractionError) as caught:
        _extract(data, ExtractOptions(ocr=False, max_chars=100))

    assert caught.value.error_type is ErrorType.TOO_MUCH_TEXT


def test_given_bytes_that_only_start_like_a_pdf_when_extracting_then_corrupt():
    with pytest.raises(ExtractionError) as caught:
        _extract(b"%PDF-1.7\n" + bytes(range(256)) * 20)

    assert caught.value.error_type is ErrorType.CORRUPT


def test_given_a_pdf_missing_its_cross_reference_table_when_extracting_then_pdfium_recovers_the_text():
    data = plain_pdf(["Recovered despite damage"])
    damaged = data[: data.rindex(b"xref")]  # no xref, no trailer: readers rebuild from the objects

    document = _extract(damaged)

    assert "Recovered despite damage" in document.text


# --- the shared corpus -------------------------------------------------------------

CORPUS = corpus_dir()
corpus = pytest.mark.skipif(CORPUS is None, reason="document corpus not found at ../shared/corpus")


def _corpus_pdf(name: str, options: ExtractOptions = NO_OCR) -> Document:
    return extract_pdf((CORPUS / name).read_bytes(), filename=name.rsplit("/", 1)[-1], options=options)


def _expectations() -> list[tuple[str, str]]:
    if CORPUS is None:
        return []
    with open(CORPUS / "EXPECT.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [(row["path"], row["phrase"]) for row in rows if row["path"].endswith(".pdf")]


def _manifest_pages() -> dict[str, int]:
    if CORPUS is None:
        return {}
    with open(CORPUS / "MANIFEST.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return {
        row["path"]: int(row["pages_or_sheets_or_slides"])
        for row in rows
        if row["path"].endswith(".pdf") and row["pages_or_sheets_or_slides"]
    }


@pytest.mark.corpus
@corpus
@pytest.mark.parametrize(("path", "phrase"), _expectations())
def test_given_a_corpus_pdf_when_extracting_then_its_expected_phrase_is_found(path, phrase):
    options = ExtractOptions(ocr=False, password="openpassword" if "password" in path else None)

    document = _corpus_pdf(path, options)

    assert _collapsed(phrase) in _collapsed(document.text)


@pytest.mark.corpus
@corpus
def test_given_the_two_column_paper_when_extracting_then_column_text_is_not_interleaved():
    document = _corpus_pdf("pdf/multi-column.pdf")

    page_two = _collapsed("\n".join(b.text for b in document.blocks if b.page == 2))
    # Consecutive lines of the left column, then of the right column, read on.
    assert (
        _collapsed(
            "First, ICT pretraining is computationally intensive and it is not completely clear that "
            "regular sentences "
            "are good surrogates of questions in the objective function."
        )
        in page_two
    )
    assert (
        _collapsed(
            "The problem of open-domain QA studied in this paper can be described as follows. "
            "Given a factoid question,"
        )
        in page_two
    )
    assert "\ufffe" not in document.text
    assert [b.page for b in document.blocks if b.page is not None] == sorted(b.page for b in document.blocks)


@pytest.mark.corpus
@corpus
def test_given_the_corpus_text_pdfs_when_extracting_then_page_counts_match_the_manifest():
    for path, pages in _manifest_pages().items():
        if path.startswith("broken/") or path in _SCANNED or "password" in path:
            continue
        assert _corpus_pdf(path).metadata["page_count"] == pages, path


@pytest.mark.corpus
@corpus
def test_given_the_copy_protected_pdf_when_extracting_then_it_opens_with_the_empty_user_password():
    document = _corpus_pdf("pdf/copy-protected.pdf")

    assert document.metadata["encrypted"] is True
    assert "large-scale document digitization projects" in _collapsed(document.text)


@pytest.mark.corpus
@corpus
def test_given_the_password_protected_pdf_when_no_or_a_wrong_password_is_given_then_encrypted():
    for password, wording in ((None, "password is needed"), ("not-it", "wrong")):
        with pytest.raises(ExtractionError) as caught:
            _corpus_pdf("pdf/libreoffice-writer-password.pdf", ExtractOptions(ocr=False, password=password))
        assert caught.value.error_type is ErrorType.ENCRYPTED
        assert wording in caught.value.message


@pytest.mark.corpus
@corpus
def test_given_the_password_protected_pdf_and_its_password_when_extracting_then_the_text_is_read():
    document = _corpus_pdf("pdf/libreoffice-writer-password.pdf", ExtractOptions(ocr=False, password="openpassword"))

    assert document.metadata["encrypted"] is True
    assert len(document.text.strip()) > 100


@pytest.mark.corpus
@corpus
def test_given_the_libreoffice_form_when_extracting_then_the_filled_in_names_are_found():
    document = _corpus_pdf("pdf/libreoffice-form.pdf")

    fields = next(b.table for b in document.blocks if b.meta.get("detected") == "form_fields")
    assert ["First Name", "Alice"] in fields.rows and ["First Name_2", "Bob"] in fields.rows


_SCANNED = {
    "pdf/audit-scan.pdf": 5,
    "pdf/grayscale-image.pdf": 1,
    "pdf/loremipsum-flat.pdf": 1,
    "pdf/nemotron_multipage.pdf": 4,
    "pdf/table-multi-row-column-cells.pdf": 1,
}


@pytest.mark.corpus
@corpus
@pytest.mark.parametrize("path", sorted(_SCANNED))
def test_given_an_image_only_corpus_pdf_without_ocr_when_extracting_then_it_needs_ocr_on_every_page(path):
    with pytest.raises(ExtractionError) as caught:
        _corpus_pdf(path)

    assert caught.value.error_type is ErrorType.NEEDS_OCR
    assert caught.value.details["pages"] == list(range(1, _SCANNED[path] + 1))


# What OCR must find on each scanned corpus PDF (grayscale-image.pdf is a drawing without text).
_OCR_PHRASES = {
    "pdf/audit-scan.pdf": "confidential audit report",
    "pdf/loremipsum-flat.pdf": "lorem ipsum",
    "pdf/nemotron_multipage.pdf": "docling bundles pdf document conversion",
    "pdf/table-multi-row-column-cells.pdf": "dexterity 5 4 1 98.3%",
}


@pytest.mark.corpus
@corpus
@needs_tesseract
@pytest.mark.parametrize("path", sorted(_OCR_PHRASES))
def test_given_an_image_only_corpus_pdf_and_tesseract_when_extracting_then_its_pages_are_recognised(path):
    document = _corpus_pdf(path, ExtractOptions(ocr=True))

    assert document.metadata["ocr_pages"] == list(range(1, _SCANNED[path] + 1))
    assert document.metadata["pages_with_text"] == 0
    assert all(b.kind == "ocr" and b.meta["ocr_confidence"] > 0 for b in document.blocks)
    assert _OCR_PHRASES[path] in _collapsed(document.text)


@pytest.mark.corpus
@corpus
@needs_tesseract
def test_given_a_scanned_drawing_without_words_and_tesseract_when_extracting_then_it_is_empty():
    with pytest.raises(ExtractionError) as caught:
        _corpus_pdf("pdf/grayscale-image.pdf", ExtractOptions(ocr=True))

    assert caught.value.error_type is ErrorType.EMPTY


@pytest.mark.corpus
@corpus
def test_given_the_recoverable_broken_pdf_when_extracting_then_its_text_is_recovered():
    document = _corpus_pdf("broken/invalid-pdf-structure-pdfminer-one-page.pdf")

    text = _collapsed(document.text)
    assert "threats highlight the importance of establishing leadership in cybersecurity" in text
    assert document.metadata["page_count"] == 2


@pytest.mark.corpus
@corpus
def test_given_the_pdf_with_a_destroyed_page_tree_when_extracting_then_its_text_is_recovered():
    document = _corpus_pdf("broken/unreadablemetadata.pdf")

    assert "Rotary Potentiometer" in document.text
    assert document.metadata["recovered_by"] == "pdfminer"


def _outcome(data: bytes, name: str) -> str:
    try:
        extract_pdf(data, filename=name, options=NO_OCR)
    except ExtractionError as error:
        return error.error_type.value
    return "ok"


@pytest.mark.corpus
@corpus
def test_given_the_broken_pdfs_in_the_guard_when_extracting_then_the_worker_stays_below_512_mb():
    from data_extract.pipeline.guard import run_isolated_with_stats

    outcomes = {}
    for name in ("broken/invalid-pdf-structure-pdfminer-one-page.pdf", "broken/unreadablemetadata.pdf"):
        outcome, stats = run_isolated_with_stats(
            _outcome, (CORPUS / name).read_bytes(), name, timeout_s=60, memory_mb=512
        )
        outcomes[name] = outcome
        assert stats["max_rss_mb"] < 512, name
    assert outcomes == {
        "broken/invalid-pdf-structure-pdfminer-one-page.pdf": "ok",
        "broken/unreadablemetadata.pdf": "ok",
    }

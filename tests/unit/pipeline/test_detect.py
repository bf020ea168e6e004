"""Format detection: content first, the name second; precise errors for what cannot be read."""

from __future__ import annotations

import csv
import io
import json
import struct
import zipfile

import pytest
from PIL import Image, features

from data_extract.pipeline.detect import detect_format
from data_extract.pipeline.extract import REGISTRY
from data_extract.pipeline.types import ErrorType, ExtractionError
from tests.unit.pipeline.pdf_builder import corpus_dir, plain_pdf


def _error(data: bytes, filename: str) -> ExtractionError:
    with pytest.raises(ExtractionError) as caught:
        detect_format(data, filename)
    return caught.value


def _zip(members: dict[str, bytes], *, stored_first: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if stored_first:
            archive.writestr(zipfile.ZipInfo(stored_first), members[stored_first], compress_type=zipfile.ZIP_STORED)
        for name, content in members.items():
            if name != stored_first:
                archive.writestr(name, content)
    return buffer.getvalue()


def _ooxml(part_folder: str, main_part: str) -> bytes:
    return _zip(
        {
            "[Content_Types].xml": b'<?xml version="1.0"?><Types/>',
            "_rels/.rels": b"<Relationships/>",
            f"{part_folder}/{main_part}": b"<root/>",
        }
    )


def _odf(mimetype: str) -> bytes:
    return _zip(
        {
            "mimetype": mimetype.encode(),
            "content.xml": b"<office:document-content/>",
            "META-INF/manifest.xml": b"<m/>",
        },
        stored_first="mimetype",
    )


_FREE, _END, _FAT_SECTOR, _NO_STREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def _compound_file(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE compound file (CFB v3) holding the given root streams.

    Each stream is padded to 4096 bytes, the mini-stream cutoff, so it lives in
    regular sectors and no mini FAT is needed.
    """
    names = list(streams)
    directory_sectors = (1 + len(names) + 3) // 4
    fat = [_FREE] * 128
    fat[0] = _FAT_SECTOR
    for i in range(directory_sectors):
        fat[1 + i] = 2 + i if i + 1 < directory_sectors else _END
    starts = []
    for k in range(len(names)):
        first = 1 + directory_sectors + 8 * k
        starts.append(first)
        for j in range(8):
            fat[first + j] = first + j + 1 if j < 7 else _END

    def entry(name: str, kind: int, start: int, size: int, child: int = _NO_STREAM, right: int = _NO_STREAM) -> bytes:
        encoded = (name + "\x00").encode("utf-16-le")
        return (
            encoded.ljust(64, b"\x00")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", _NO_STREAM, right, child)
            + bytes(36)
            + struct.pack("<IQ", start, size)
        )

    directory = entry("Root Entry", 5, _END, 0, child=1 if names else _NO_STREAM)
    for k, name in enumerate(names):
        directory += entry(name, 2, starts[k], 4096, right=k + 2 if k + 1 < len(names) else _NO_STREAM)
    header = (
        bytes.fromhex("D0CF11E0A1B11AE1")
        + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + bytes(6)
        + struct.pack("<9I", 0, 1, 1, 0, 4096, _END, 0, _END, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", _FREE) * 108
    )
    body = struct.pack("<128I", *fat) + directory.ljust(directory_sectors * 512, b"\x00")
    for name in names:
        body += streams[name][:4096].ljust(4096, b"\x00")
    return header + body


def _image(fmt: str, **save_options: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 16), (200, 30, 30)).save(buffer, format=fmt, **save_options)
    return buffer.getvalue()


# --- every answer is an extractor ------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name"),
    [
        pytest.param(plain_pdf(["x"]), "a.pdf", id="pdf"),
        pytest.param(_ooxml("word", "document.xml"), "a.docx", id="docx"),
        pytest.param(_ooxml("xl", "workbook.xml"), "a.xlsx", id="xlsx"),
        pytest.param(_ooxml("ppt", "presentation.xml"), "a.pptx", id="pptx"),
        pytest.param(_odf("application/vnd.oasis.opendocument.text"), "a.odt", id="odt"),
        pytest.param(_image("PNG"), "a.png", id="png"),
        pytest.param(b"hello", "a.txt", id="txt"),
        pytest.param(b"a,b\n1,2\n", "a.csv", id="csv"),
    ],
)
def test_given_any_detected_format_when_looking_it_up_then_an_extractor_is_registered(data, name):
    assert detect_format(data, name) in REGISTRY


# --- PDF ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["report.pdf", "report.bin", "no-extension"])
def test_given_a_pdf_header_when_detecting_then_pdf_whatever_the_name(name):
    assert detect_format(plain_pdf(["Hello"]), name) == "pdf"


def test_given_junk_before_the_pdf_header_within_the_first_kilobyte_when_detecting_then_pdf():
    data = b"\x00\x17garbage from a mail gateway\r\n" + bytes(range(128, 256)) + plain_pdf(["Hello"])

    assert detect_format(data, "scan.pdf") == "pdf"


def test_given_a_text_file_that_mentions_the_pdf_header_when_detecting_then_it_stays_text():
    assert detect_format(b"Every PDF file starts with %PDF-1.7 and a newline.\n", "notes.txt") == "txt"


def test_given_a_pdf_name_on_bytes_that_are_no_pdf_when_detecting_then_corrupt():
    assert _error(bytes(range(256)) * 8, "report.pdf").error_type is ErrorType.CORRUPT
    error = _error(b"This is not a PDF at all.\n", "report.pdf")
    assert error.error_type is ErrorType.CORRUPT
    assert ".pdf" in error.message


# --- ZIP containers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folder", "part", "expected"),
    [("word", "document.xml", "docx"), ("xl", "workbook.xml", "xlsx"), ("ppt", "presentation.xml", "pptx")],
)
def test_given_an_ooxml_package_when_detecting_then_its_member_names_decide(folder, part, expected):
    data = _ooxml(folder, part)

    assert detect_format(data, f"file.{expected}") == expected
    assert detect_format(data, "renamed.zip") == expected


@pytest.mark.parametrize(
    ("folder", "part", "name", "expected"),
    [
        pytest.param("word", "document.xml", "letter.doc", "docx", id="docx-named-doc"),
        pytest.param("xl", "workbook.xml", "sales.xlsm", "xlsx", id="macro-enabled-workbook"),
    ],
)
def test_given_an_ooxml_package_under_another_extension_when_detecting_then_the_package_decides(
    folder, part, name, expected
):
    assert detect_format(_ooxml(folder, part), name) == expected


def test_given_a_binary_excel_workbook_when_detecting_then_unsupported_naming_it():
    data = _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.bin": b"\x00"})

    error = _error(data, "big.xlsb")

    assert error.error_type is ErrorType.UNSUPPORTED_FORMAT
    assert "xlsb" in error.message


@pytest.mark.parametrize(
    ("mimetype", "expected"),
    [
        ("application/vnd.oasis.opendocument.text", "odt"),
        ("application/vnd.oasis.opendocument.spreadsheet", "ods"),
        ("application/vnd.oasis.opendocument.presentation", "odp"),
        ("application/epub+zip", "epub"),
    ],
)
def test_given_an_odf_or_epub_mimetype_member_when_detecting_then_it_decides(mimetype, expected):
    assert detect_format(_odf(mimetype), "document.zip") == expected


def test_given_a_plain_zip_archive_when_detecting_then_unsupported_naming_a_zip():
    error = _error(_zip({"a.txt": b"hello"}), "bundle.zip")

    assert error.error_type is ErrorType.UNSUPPORTED_FORMAT
    assert "ZIP archive" in error.message and ".zip" in error.message


def test_given_a_truncated_docx_when_detecting_then_corrupt():
    data = _ooxml("word", "document.xml")

    error = _error(data[: len(data) // 2], "broken.docx")

    assert error.error_type is ErrorType.CORRUPT
    assert "Word document" in error.message


# --- OLE containers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("streams", "name", "expected"),
    [
        pytest.param({"WordDocument": b"\xec\xa5" + bytes(20), "1Table": b"t"}, "a.doc", "doc", id="word"),
        pytest.param(
            {"Workbook": struct.pack("<HH", 0x0809, 16) + bytes(16) + struct.pack("<HH", 0x0085, 0)},
            "a.xls",
            "xls",
            id="excel",
        ),
        pytest.param({"PowerPoint Document": b"p", "Current User": b"u"}, "a.ppt", "ppt", id="powerpoint"),
        pytest.param(
            {"__substg1.0_0037001F": "Subject".encode("utf-16-le"), "__properties_version1.0": b"p"},
            "mail.msg",
            "msg",
            id="outlook-message",
        ),
        pytest.param({"WordDocument": b"\xec\xa5" + bytes(20)}, "misnamed.docx", "doc", id="word-named-docx"),
    ],
)
def test_given_ole_files_when_detecting_then_their_streams_decide(streams, name, expected):
    assert detect_format(_compound_file(streams), name) == expected


def test_given_a_password_protected_ooxml_file_when_detecting_then_encrypted_naming_the_format():
    data = _compound_file({"EncryptionInfo": b"\x04\x00\x04\x00", "EncryptedPackage": b"\x00" * 8})

    error = _error(data, "budget.xlsx")

    assert error.error_type is ErrorType.ENCRYPTED
    assert "Excel workbook" in error.message and "password" in error.message


def test_given_legacy_files_with_their_encryption_flag_when_detecting_then_encrypted():
    fib = bytearray(b"\xec\xa5" + bytes(30))
    struct.pack_into("<H", fib, 0x0A, 0x0100)
    assert _error(_compound_file({"WordDocument": bytes(fib)}), "a.doc").error_type is ErrorType.ENCRYPTED

    workbook = struct.pack("<HH", 0x0809, 16) + bytes(16) + struct.pack("<HH", 0x002F, 6) + bytes(6)
    error = _error(_compound_file({"Workbook": workbook}), "a.xls")
    assert error.error_type is ErrorType.ENCRYPTED
    assert "Excel 97-2003" in error.message


def test_given_an_unknown_ole_file_when_detecting_then_unsupported():
    error = _error(_compound_file({"Contents": b"x"}), "drawing.pub")

    assert error.error_type is ErrorType.UNSUPPORTED_FORMAT
    assert ".pub" in error.message


# --- images -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected"), [("PNG", "png"), ("JPEG", "jpeg"), ("TIFF", "tiff"), ("BMP", "bmp"), ("GIF", "gif")]
)
def test_given_an_image_when_detecting_then_its_magic_decides(fmt, expected):
    assert detect_format(_image(fmt), "picture.dat") == expected


@pytest.mark.skipif(not features.check("webp"), reason="Pillow was built without WebP")
def test_given_a_webp_image_when_detecting_then_webp():
    assert detect_format(_image("WEBP"), "picture") == "webp"


def test_given_text_starting_with_bm_when_detecting_then_it_is_not_a_bitmap():
    assert detect_format(b"BM25 is a ranking function used by search engines.\n", "notes.txt") == "txt"


# --- text families -------------------------------------------------------------------


_MESSAGE = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: Hi\r\nMIME-Version: 1.0\r\n\r\nBody\r\n"
_NDJSON = b'{"id": 1}\n{"id": 2}\n{"id": 3}\n'


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        pytest.param(b"{\\rtf1\\ansi Hello}", "letter.doc", "rtf", id="rtf-even-if-named-doc"),
        # HTML by content or by name
        pytest.param(b"<!DOCTYPE html><html><body>Hi</body></html>", "page.txt", "html", id="html-doctype-named-txt"),
        pytest.param(b"\xef\xbb\xbf  <html lang='en'><p>Hi</p></html>", "page", "html", id="html-after-a-bom"),
        pytest.param(b"<div>fragment</div>", "fragment.htm", "html", id="html-fragment-named-htm"),
        # RFC 822 headers at the top make a mail, whatever the name
        pytest.param(_MESSAGE, "message.txt", "eml", id="mail-headers-named-txt"),
        pytest.param(_MESSAGE, "message", "eml", id="mail-headers-without-extension"),
        pytest.param(_MESSAGE.decode().encode("utf-16"), "message.eml", "eml", id="mail-headers-in-utf16"),
        pytest.param(
            b"Title: My notes\nAuthor: Me\n\n# Heading\n", "notes.md", "md", id="key-value-lines-that-are-no-mail"
        ),
        pytest.param(b"just some text that lost its headers\n", "broken.eml", "eml", id="eml-name-on-any-text"),
        # JSON or NDJSON
        pytest.param(json.dumps({"a": [1, 2]}, indent=2).encode(), "data.json", "json", id="json-indented"),
        pytest.param(_NDJSON, "events.json", "ndjson", id="ndjson-named-json"),
        pytest.param(_NDJSON, "events.jsonl", "ndjson", id="ndjson-named-jsonl"),
        pytest.param(b'{"a": 1}', "payload", "json", id="json-without-extension"),
        pytest.param(b'{"records": [{"id": 1}, {"id"', "dump.txt", "txt", id="truncated-json-named-txt"),
        pytest.param(b"name\tamount\nAlice\t10\nBob\t20\n", "export.xls", "tsv", id="tab-separated-export-named-xls"),
    ],
)
def test_given_text_when_detecting_then_its_content_and_name_pick_the_text_format(data, name, expected):
    assert detect_format(data, name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.txt", "txt"),
        ("a.text", "txt"),
        ("a.md", "md"),
        ("a.markdown", "md"),
        ("a.log", "log"),
        ("a.csv", "csv"),
        ("a.tsv", "tsv"),
        ("README", "txt"),
    ],
)
def test_given_plain_text_when_detecting_then_the_extension_names_the_text_format(name, expected):
    assert detect_format(b"col1,col2\nvalue,other\n", name) == expected


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_given_utf16_text_without_bom_when_detecting_then_it_is_still_text(codec):
    data = "This text was saved as UTF-16 without a byte order mark.\n".encode(codec)

    assert detect_format(data, "notes.txt") == "txt"


@pytest.mark.parametrize("codec", ["utf-16", "utf-32", "utf-8-sig"])
def test_given_text_with_a_bom_when_detecting_then_text(codec):
    assert detect_format("Grüße aus Köln\n".encode(codec), "notes.txt") == "txt"


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        pytest.param(
            "文書抽出サービスの試験です。".encode("utf-16-le"), "notes.txt", "txt", id="cjk-utf16-without-bom-or-nul"
        ),
        pytest.param("Äpfel, Öl und Übergrößen\n".encode("cp1252"), "umlauts.md", "md", id="latin1"),
    ],
)
def test_given_text_in_a_legacy_or_wide_encoding_when_detecting_then_text(data, name, expected):
    assert detect_format(data, name) == expected


def test_given_text_at_the_head_and_binary_after_it_when_detecting_then_only_the_head_is_read():
    data = b"A perfectly ordinary line of text.\n" * 300 + bytes(range(256)) * 64

    assert detect_format(data, "mixed.log") == "log"


# --- refusals -------------------------------------------------------------------------


def test_given_no_bytes_when_detecting_then_empty():
    error = _error(b"", "empty.txt")

    assert error.error_type is ErrorType.EMPTY
    assert error.status == "skipped"


def test_given_text_with_an_unknown_extension_when_detecting_then_unsupported_naming_it():
    error = _error(b"print('hello')\n", "script.py")

    assert error.error_type is ErrorType.UNSUPPORTED_FORMAT
    assert "'.py'" in error.message and "pdf" in error.message


def test_given_unknown_binary_when_detecting_then_unsupported():
    error = _error(bytes(range(256)) * 4, "blob.bin")

    assert error.error_type is ErrorType.UNSUPPORTED_FORMAT
    assert "binary" in error.message


def test_given_a_known_unsupported_binary_when_detecting_then_the_message_names_it():
    error = _error(b"\x1f\x8b\x08\x00" + bytes(64), "logs.gz")

    assert error.error_type is ErrorType.UNSUPPORTED_FORMAT
    assert "gzip" in error.message


# --- the shared corpus ------------------------------------------------------------------

CORPUS = corpus_dir()
_KIND_TO_FORMAT = {"jpg": "jpeg", "xlsm": "xlsx"}
_CORPUS_ERRORS = {"text/empty.txt": ErrorType.EMPTY, "xlsx/password_protected.xlsx": ErrorType.ENCRYPTED}


def _manifest() -> list[tuple[str, str]]:
    if CORPUS is None:
        return []
    with open(CORPUS / "MANIFEST.tsv", encoding="utf-8", newline="") as handle:
        return [(row["path"], row["kind"]) for row in csv.DictReader(handle, delimiter="\t")]


@pytest.mark.corpus
@pytest.mark.skipif(CORPUS is None, reason="document corpus not found at ../shared/corpus")
@pytest.mark.parametrize(("path", "kind"), _manifest())
def test_given_a_corpus_file_when_detecting_then_its_manifest_kind_is_found(path, kind):
    data = (CORPUS / path).read_bytes()
    name = path.rsplit("/", 1)[-1]

    if path in _CORPUS_ERRORS:
        assert _error(data, name).error_type is _CORPUS_ERRORS[path]
    else:
        assert detect_format(data, name) == _KIND_TO_FORMAT.get(kind, kind)

"""Decide a file's format from its content first and its name second.

Runs on every file, so it only looks at the head of the data (and, for ZIP
containers, at the central directory: member names, never member contents except
the few bytes of an ODF/EPUB ``mimetype`` member). The answer is a key of
``pipeline.extract.REGISTRY``; anything else is an ``ExtractionError``:

- ``empty`` for zero bytes;
- ``encrypted`` for password-protected Office files (an OLE container holding
  ``EncryptionInfo`` + ``EncryptedPackage``, or a legacy file with its encryption flag);
- ``corrupt`` when the name promises a format the bytes do not hold;
- ``unsupported_format`` for everything we have no extractor for, naming the type.
"""

from __future__ import annotations

import codecs
import io
import json
import re
import struct
import zipfile

from data_extract.pipeline.formats import supported_formats
from data_extract.pipeline.ole import OLE_MAGIC, OleStreams, is_encrypted_package
from data_extract.pipeline.textcodec import bom_codec, nul_pattern_codec
from data_extract.pipeline.types import ErrorType, ExtractionError

_HEAD_BYTES = 8192
_PDF_HEADER_WINDOW = 1024

# Extension -> format, for the formats a name alone may decide (plain-text families).
_TEXT_EXTENSIONS = {
    "txt": "txt",
    "text": "txt",
    "md": "md",
    "markdown": "md",
    "log": "log",
    "csv": "csv",
    "tsv": "tsv",
    "tab": "tsv",
    "json": "json",
    "ndjson": "ndjson",
    "jsonl": "ndjson",
    "html": "html",
    "htm": "html",
    "xhtml": "html",
    "eml": "eml",
}

# Extensions of container/binary formats: a file named like this whose bytes are
# not that format is damaged (or mislabelled), not merely unsupported.
_BINARY_EXTENSION_NAMES = {
    "pdf": "PDF document",
    "docx": "Word document",
    "docm": "Word document",
    "dotx": "Word template",
    "xlsx": "Excel workbook",
    "xlsm": "Excel workbook",
    "xltx": "Excel template",
    "pptx": "PowerPoint presentation",
    "pptm": "PowerPoint presentation",
    "ppsx": "PowerPoint slide show",
    "odt": "OpenDocument text",
    "ods": "OpenDocument spreadsheet",
    "odp": "OpenDocument presentation",
    "epub": "EPUB book",
    "doc": "Word 97-2003 document",
    "xls": "Excel 97-2003 workbook",
    "ppt": "PowerPoint 97-2003 presentation",
    "msg": "Outlook message",
    "rtf": "RTF document",
    "png": "PNG image",
    "jpg": "JPEG image",
    "jpeg": "JPEG image",
    "tif": "TIFF image",
    "tiff": "TIFF image",
    "bmp": "BMP image",
    "gif": "GIF image",
    "webp": "WebP image",
}

# Office formats that Office encrypts into an OLE container (named in the "encrypted" message).
_OOXML_KIND_BY_EXTENSION = {
    ext: _BINARY_EXTENSION_NAMES[ext]
    for ext in ("docx", "docm", "dotx", "xlsx", "xlsm", "xltx", "pptx", "pptm", "ppsx")
} | {"xlsb": "Excel binary workbook"}

_ODF_MIMETYPES = {
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.text-template": "odt",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.spreadsheet-template": "ods",
    "application/vnd.oasis.opendocument.presentation": "odp",
    "application/vnd.oasis.opendocument.presentation-template": "odp",
    "application/epub+zip": "epub",
}

# Signatures of common formats we do not extract, so the message can name them.
_UNSUPPORTED_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x1f\x8b", "gzip archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (0, b"Rar!\x1a\x07", "RAR archive"),
    (0, b"BZh", "bzip2 archive"),
    (0, b"\xfd7zXZ\x00", "xz archive"),
    (0, b"\x7fELF", "executable (ELF)"),
    (0, b"MZ", "Windows executable"),
    (0, b"SQLite format 3\x00", "SQLite database"),
    (0, b"%!PS", "PostScript document"),
    (0, b"AT&TFORM", "DjVu document"),
    (0, b"ID3", "MP3 audio"),
    (0, b"OggS", "Ogg media"),
    (0, b"fLaC", "FLAC audio"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM video"),
    (0, b"\x00\x00\x01\x00", "Windows icon"),
    (0, b"8BPS", "Photoshop document"),
    (0, b"II*\x00\x10\x00\x00\x00CR", "Canon raw image"),
    (0, b"II+\x00", "BigTIFF image"),
    (0, b"MM\x00+", "BigTIFF image"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000 image"),
    (0, b"\xff\x4f\xff\x51", "JPEG 2000 codestream"),
)

_EMAIL_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "received",
        "return-path",
        "delivered-to",
        "reply-to",
        "in-reply-to",
        "references",
        "content-type",
        "content-transfer-encoding",
        "sender",
        "x-mailer",
        "thread-topic",
        "x-gmail-labels",
        "dkim-signature",
        "arc-seal",
        "authentication-results",
    }
)
# At least one of these must be present: they do not occur in generic "Key: value" text.
_EMAIL_ANCHOR_HEADERS = frozenset(
    {"from", "mime-version", "received", "message-id", "return-path", "delivered-to", "x-gmail-labels"}
)
_HEADER_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_-]{0,76}):")
_HTML_START = re.compile(
    r"^(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.I | re.S
)
_HTML_ANYWHERE = re.compile(r"<html[\s>]|<!doctype\s+html", re.I)
_SPREADSHEET_ML = re.compile(r"<\?mso-application\s+progid=\"Excel\.Sheet\"", re.I)

# Bytes that never appear in text: C0 controls other than \t \n \v \f \r and ESC.
_BINARY_BYTES = bytes(range(0x09)) + bytes(range(0x0E, 0x1B)) + bytes(range(0x1C, 0x20))
_CONTROL_CHARS = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f\ufffd]")

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")


def detect_format(data: bytes, filename: str) -> str:
    """Return the format key (``pdf``, ``docx``, ``txt``, ...) for these bytes."""
    extension = _extension(filename)
    if not data:
        raise ExtractionError(ErrorType.EMPTY, "The file is empty (0 bytes).")
    head = data[:_HEAD_BYTES]

    pdf_header_at = data.find(b"%PDF-", 0, _PDF_HEADER_WINDOW)
    if pdf_header_at == 0:
        return "pdf"
    if pdf_header_at > 0 and _decode_head(head, extension) is None:
        # Junk before the header (mail or HTTP wrapping) is common and readers allow
        # it; a text file that merely mentions "%PDF-" stays text.
        return "pdf"
    if head.startswith(_ZIP_MAGICS):
        return _detect_zip(data, extension)
    if head.startswith(OLE_MAGIC):
        return _detect_ole(data, extension)
    image = _detect_image(head, len(data))
    if image:
        return image

    text = _decode_head(head, extension)
    if text is not None:
        return _detect_text(text, extension)

    named = _named_signature(head)
    if named == "HEIC/HEIF image":
        # Every HEIC decoder available as a wheel bundles LGPL/GPL codecs (libheif, libde265, x265).
        raise ExtractionError(
            ErrorType.UNSUPPORTED_FORMAT,
            "HEIC/HEIF photos cannot be read. Export the photo as JPEG or PNG and upload that instead "
            "(on an iPhone: Settings > Camera > Formats > Most Compatible takes JPEG photos).",
        )
    if extension in _BINARY_EXTENSION_NAMES and named is None:
        raise ExtractionError(
            ErrorType.CORRUPT,
            f"The file is named '.{extension}' but its content is not a valid "
            f"{_BINARY_EXTENSION_NAMES[extension]}; it may be damaged or truncated.",
        )
    raise ExtractionError(ErrorType.UNSUPPORTED_FORMAT, _unsupported_message(extension, named or "binary file"))


# --- containers -------------------------------------------------------------


def _detect_zip(data: bytes, extension: str) -> str:
    try:
        # ZipFile reads only the central directory here; members stay compressed.
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            mimetype = _read_small_member(archive, "mimetype")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise _damaged_container(extension, "ZIP container", "damaged ZIP archive") from exc

    if "[Content_Types].xml" in names:
        prefixes = {name.split("/", 1)[0] for name in names if "/" in name}
        if "xl" in prefixes:
            if "xl/workbook.bin" in names:
                raise ExtractionError(
                    ErrorType.UNSUPPORTED_FORMAT,
                    _unsupported_message(extension, "Excel binary workbook (.xlsb)"),
                )
            return "xlsx"
        if "word" in prefixes:
            return "docx"
        if "ppt" in prefixes:
            return "pptx"
        if "visio" in prefixes:
            raise ExtractionError(ErrorType.UNSUPPORTED_FORMAT, _unsupported_message(extension, "Visio drawing"))
        if "Documents" in prefixes or "FixedDocumentSequence.fdseq" in names:
            raise ExtractionError(ErrorType.UNSUPPORTED_FORMAT, _unsupported_message(extension, "XPS document"))
    if mimetype is not None:
        fmt = _ODF_MIMETYPES.get(mimetype)
        if fmt:
            return fmt
        if mimetype.startswith("application/vnd.oasis.opendocument."):
            kind = mimetype.rsplit(".", 1)[-1]
            raise ExtractionError(
                ErrorType.UNSUPPORTED_FORMAT, _unsupported_message(extension, f"OpenDocument {kind}")
            )
    if "content.xml" in names and "META-INF/manifest.xml" in names and extension in ("odt", "ods", "odp"):
        return extension  # an ODF package that lost its mimetype member
    if "META-INF/container.xml" in names and extension == "epub":
        return "epub"
    if extension in _BINARY_EXTENSION_NAMES and extension not in ("pdf",):
        raise ExtractionError(
            ErrorType.CORRUPT,
            f"The file is named '.{extension}' but is a ZIP archive without the parts of a "
            f"{_BINARY_EXTENSION_NAMES[extension]}.",
        )
    raise ExtractionError(ErrorType.UNSUPPORTED_FORMAT, _unsupported_message(extension, "ZIP archive"))


def _read_small_member(archive: zipfile.ZipFile, name: str) -> str | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > 256 or info.compress_size > 256:
        return None
    try:
        return archive.read(info).decode("ascii", "replace").strip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError):
        return None


def _detect_ole(data: bytes, extension: str) -> str:
    import olefile

    try:
        ole = olefile.OleFileIO(data)
    except Exception as exc:
        raise _damaged_container(extension, "OLE container", "damaged OLE compound file") from exc
    try:
        roots = {entry[0] for entry in ole.listdir(streams=True, storages=True) if entry}
        if is_encrypted_package(ole):
            kind = _OOXML_KIND_BY_EXTENSION.get(extension, "Office document")
            raise ExtractionError(
                ErrorType.ENCRYPTED,
                f"The {kind} is password-protected (encrypted); it cannot be read without the password. "
                "Remove the password and upload it again.",
            )
        if any(name.startswith("__substg1.0_") for name in roots) or "__properties_version1.0" in roots:
            return "msg"
        if "WordDocument" in roots:
            if _word_binary_encrypted(ole):
                raise ExtractionError(
                    ErrorType.ENCRYPTED,
                    "The Word 97-2003 document is password-protected (encrypted); it cannot be read without "
                    "the password.",
                )
            return "doc"
        if "Workbook" in roots or "Book" in roots:
            if _excel_binary_encrypted(ole, "Workbook" if "Workbook" in roots else "Book"):
                raise ExtractionError(
                    ErrorType.ENCRYPTED,
                    "The Excel 97-2003 workbook is password-protected (encrypted); it cannot be read without "
                    "the password.",
                )
            return "xls"
        if "PowerPoint Document" in roots:
            if "EncryptedSummary" in roots:
                raise ExtractionError(
                    ErrorType.ENCRYPTED,
                    "The PowerPoint 97-2003 presentation is password-protected (encrypted); it cannot be read "
                    "without the password.",
                )
            return "ppt"
        kind = "Hancom HWP document" if "FileHeader" in roots and "BodyText" in roots else "OLE compound file"
        raise ExtractionError(ErrorType.UNSUPPORTED_FORMAT, _unsupported_message(extension, kind))
    finally:
        ole.close()


def _word_binary_encrypted(ole: OleStreams) -> bool:
    """The FIB's fEncrypted bit (offset 0x0A, bit 0x0100) of a .doc."""
    try:
        with ole.openstream("WordDocument") as stream:
            fib = stream.read(12)
    except Exception:
        return False
    if len(fib) < 12:
        return False
    (flags,) = struct.unpack_from("<H", fib, 0x0A)
    return bool(flags & 0x0100)


def _excel_binary_encrypted(ole: OleStreams, stream_name: str) -> bool:
    """A BIFF FILEPASS record (0x002F) directly after the first BOF marks an encrypted .xls."""
    try:
        with ole.openstream(stream_name) as stream:
            head = stream.read(4096)
    except Exception:
        return False
    offset = 0
    for _ in range(8):  # BOF, then possibly a few small records before FILEPASS
        if offset + 4 > len(head):
            return False
        record_type, length = struct.unpack_from("<HH", head, offset)
        if record_type == 0x002F:
            return True
        if record_type in (0x0085, 0x00FC):  # BOUNDSHEET / SST: past the point FILEPASS can appear
            return False
        offset += 4 + length
    return False


# --- images -----------------------------------------------------------------


def _detect_image(head: bytes, size: int) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM") and len(head) >= 18:
        # "BM" alone also starts text ("BM25 ..."): check the header's sizes.
        declared_size, _reserved, pixel_offset, dib_size = struct.unpack_from("<IIII", head, 2)
        plausible_header = dib_size in (12, 16, 40, 52, 56, 64, 108, 124) and pixel_offset <= size
        if plausible_header and (declared_size == 0 or abs(declared_size - size) <= 1024):
            return "bmp"
    return None


# --- text -------------------------------------------------------------------


def _decode_head(head: bytes, extension: str) -> str | None:
    """Decode the head as text, or None when it is binary.

    Handles UTF-8/16/32 with a BOM, UTF-16/32 without one (by where the NUL bytes
    sit), UTF-8, and legacy single-byte encodings (cp1252, Latin-1, ...).
    """
    marked = bom_codec(head)
    if marked:
        codec, length = marked
        return _decode_plausible(head[length:], codec)

    if b"\x00" in head:
        guessed = nul_pattern_codec(head)
        return _decode_plausible(head, guessed) if guessed else None

    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        # final=False: a multi-byte character cut by the head boundary is not an error.
        text = decoder.decode(head, final=False)
    except UnicodeDecodeError:
        text = None
    if text is not None:
        return text if _looks_like_text(text) else None

    # Legacy 8-bit text: no NULs, (almost) no C0 control bytes.
    controls = sum(head.count(bytes([b])) for b in _BINARY_BYTES)
    if controls <= len(head) // 200:
        return head.decode("cp1252", "replace")
    if extension in _TEXT_EXTENSIONS:
        # BOM-less UTF-16 of a script with no NUL bytes (CJK, Cyrillic...).
        for codec in ("utf-16-le", "utf-16-be"):
            text = _decode_plausible(head, codec)
            if text is not None:
                return text
    return None


def _decode_plausible(raw: bytes, codec: str) -> str | None:
    unit = 4 if "32" in codec else 2 if "16" in codec else 1
    raw = raw[: len(raw) - len(raw) % unit]
    decoder = codecs.getincrementaldecoder(codec)("replace")
    text = decoder.decode(raw, final=False)
    return text if _looks_like_text(text) else None


def _looks_like_text(text: str) -> bool:
    if not text:
        return True
    bad = len(_CONTROL_CHARS.findall(text))
    return bad <= max(1, len(text) // 100)


def _detect_text(text: str, extension: str) -> str:
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("{\\rtf"):
        return "rtf"
    if _HTML_START.match(stripped) or (extension in ("html", "htm", "xhtml") and stripped.startswith("<")):
        return "html"
    if _looks_like_email(stripped):
        return "eml"

    fmt = _TEXT_EXTENSIONS.get(extension)
    if fmt == "html":
        return "html" if _HTML_ANYWHERE.search(stripped[:4096]) or stripped.startswith("<") else "txt"
    if fmt in ("json", "ndjson"):
        return _json_flavour(stripped, fmt) or fmt  # never None when the extension names the flavour
    if fmt is not None:
        return fmt

    if _SPREADSHEET_ML.search(stripped[:2048]):
        raise ExtractionError(
            ErrorType.UNSUPPORTED_FORMAT, _unsupported_message(extension, "Excel 2003 XML spreadsheet")
        )
    if extension in ("xls", "xlsx", "ods"):
        # Web applications often export tab- or comma-separated text named .xls.
        first_lines = stripped.splitlines()[:5]
        if first_lines and all("\t" in line for line in first_lines if line.strip()):
            return "tsv"
        if first_lines and all("," in line for line in first_lines if line.strip()):
            return "csv"
    if extension in _BINARY_EXTENSION_NAMES:
        raise ExtractionError(
            ErrorType.CORRUPT,
            f"The file is named '.{extension}' but holds plain text, not a valid "
            f"{_BINARY_EXTENSION_NAMES[extension]}.",
        )
    if not extension:
        if stripped[:1] in ("{", "["):
            flavour = _json_flavour(stripped, None)
            if flavour:
                return flavour
        return "txt"
    raise ExtractionError(ErrorType.UNSUPPORTED_FORMAT, _unsupported_message(extension, "text file"))


def _looks_like_email(text: str) -> bool:
    lines = text.splitlines()
    if lines and lines[0].startswith("From "):  # mbox separator line
        lines = lines[1:]
    names: set[str] = set()
    header_lines = 0
    for line in lines[:80]:
        if not line.strip():
            break
        if line[0] in " \t":  # folded continuation of the previous header
            if header_lines == 0:
                return False
            continue
        match = _HEADER_LINE.match(line)
        if not match:
            return False
        header_lines += 1
        names.add(match.group(1).lower())
    known = names & _EMAIL_HEADERS
    return bool(names & _EMAIL_ANCHOR_HEADERS) and len(known) >= 2


def _json_flavour(text: str, by_extension: str | None) -> str | None:
    """json or ndjson from the head: several top-level values, one per line, make NDJSON."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    complete_values = 0
    for line in lines[:3]:
        try:
            json.loads(line)
        except ValueError:
            break
        complete_values += 1
    if complete_values >= 2 and lines[0][:1] in ("{", "["):
        return "ndjson"
    if by_extension == "ndjson":
        return "ndjson"
    if by_extension == "json":
        return "json"
    if complete_values == 1 and len(lines) == 1:
        return "json"
    try:
        json.loads(text)
    except ValueError:
        return None
    return "json"


# --- messages ---------------------------------------------------------------


def _extension(filename: str) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in name.strip("."):
        return ""
    return name.rsplit(".", 1)[-1].strip().lower()


def _named_signature(head: bytes) -> str | None:
    for offset, magic, name in _UNSUPPORTED_SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return name
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"):
            return "HEIC/HEIF image"
        if brand.startswith(b"avi"):
            return "AVIF image"
        return "MP4/QuickTime media"
    if head[:4] == b"RIFF":
        kind = head[8:12]
        return {b"WAVE": "WAV audio", b"AVI ": "AVI video"}.get(kind, "RIFF media")
    return None


def _damaged_container(extension: str, container: str, description: str) -> ExtractionError:
    """A container that cannot be read: corrupt when its name promised a document, else unsupported."""
    if extension in _BINARY_EXTENSION_NAMES:
        return ExtractionError(
            ErrorType.CORRUPT, f"The {_BINARY_EXTENSION_NAMES[extension]} is damaged: its {container} cannot be read."
        )
    return ExtractionError(ErrorType.UNSUPPORTED_FORMAT, _unsupported_message(extension, description))


def _unsupported_message(extension: str, kind: str) -> str:
    shown = f"'.{extension}' file ({kind})" if extension else kind[:1].upper() + kind[1:]
    supported = ", ".join(supported_formats())
    return f"Unsupported file type: {shown}. Supported formats: {supported}."

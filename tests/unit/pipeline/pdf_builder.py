"""Small PDFs built inside the tests, so the PDF tests run on a fresh clone.

``build_pdf`` draws text runs (standard Helvetica), straight lines and images with
pdfium itself, in exactly the order given: the order of the content stream is
part of what the tests control. ``plain_pdf`` writes a one-page PDF by hand,
encrypted with the standard security handler (RC4, 40-bit, revision 2), because
pdfium can neither encrypt nor set a title.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as raw

REPO = Path(__file__).resolve().parents[3]


def corpus_dir() -> Path | None:
    """The shared document corpus, or None when it is not beside the repository."""
    configured = os.environ.get("DATA_EXTRACT_CORPUS_DIR")
    path = Path(configured) if configured else REPO.parent / "shared" / "corpus"
    return path if (path / "MANIFEST.tsv").is_file() else None


@dataclass
class Text:
    x: float
    y: float  # baseline, from the bottom of the page
    text: str
    size: float = 10.0


@dataclass
class Line:
    x0: float
    y0: float
    x1: float
    y1: float
    width: float = 0.8


@dataclass
class Picture:
    x: float
    y: float
    width: float
    height: float
    image: object  # PIL.Image.Image


@dataclass
class Page:
    items: list[Text | Line | Picture] = field(default_factory=list)
    width: float = 612.0
    height: float = 792.0


def build_pdf(pages: list[Page]) -> bytes:
    pdf = pdfium.PdfDocument.new()
    try:
        for spec in pages:
            page = pdf.new_page(spec.width, spec.height)
            for item in spec.items:
                if isinstance(item, Text):
                    _add_text(pdf, page, item)
                elif isinstance(item, Line):
                    _add_line(page, item)
                else:
                    _add_picture(pdf, page, item)
            page.gen_content()
            page.close()
        buffer = io.BytesIO()
        pdf.save(buffer)
        return buffer.getvalue()
    finally:
        pdf.close()


def _add_text(pdf: pdfium.PdfDocument, page: pdfium.PdfPage, item: Text) -> None:
    obj = raw.FPDFPageObj_NewTextObj(pdf.raw, b"Helvetica", ctypes.c_float(item.size))
    encoded = (item.text + "\x00").encode("utf-16-le")
    buffer = ctypes.create_string_buffer(encoded, len(encoded))
    raw.FPDFText_SetText(obj, ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ushort)))
    raw.FPDFPageObj_Transform(obj, 1, 0, 0, 1, item.x, item.y)
    raw.FPDFPage_InsertObject(page.raw, obj)


def _add_line(page: pdfium.PdfPage, item: Line) -> None:
    path = raw.FPDFPageObj_CreateNewPath(item.x0, item.y0)
    raw.FPDFPath_LineTo(path, item.x1, item.y1)
    raw.FPDFPageObj_SetStrokeColor(path, 0, 0, 0, 255)
    raw.FPDFPageObj_SetStrokeWidth(path, ctypes.c_float(item.width))
    raw.FPDFPath_SetDrawMode(path, 0, 1)  # no fill, stroke
    raw.FPDFPage_InsertObject(page.raw, path)


def _add_picture(pdf: pdfium.PdfDocument, page: pdfium.PdfPage, item: Picture) -> None:
    image = pdfium.PdfImage.new(pdf)
    bitmap = pdfium.PdfBitmap.from_pil(item.image)
    image.set_bitmap(bitmap)
    bitmap.close()
    image.set_matrix(pdfium.PdfMatrix().scale(item.width, item.height).translate(item.x, item.y))
    page.insert_obj(image)


def text_grid(x: float, y_top: float, lines: list[str], *, leading: float = 14.0, size: float = 10.0) -> list[Text]:
    return [Text(x, y_top - i * leading, line, size) for i, line in enumerate(lines)]


# --- a hand-written PDF, optionally encrypted ---------------------------------

_PASSWORD_PADDING = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def _padded(password: str) -> bytes:
    return (password.encode("latin-1") + _PASSWORD_PADDING)[:32]


def plain_pdf(
    lines: list[str],
    *,
    title: str | None = None,
    user_password: str | None = None,
    owner_password: str = "owner-secret",  # noqa: S107 - a test file's owner password, not a credential
    text_fields: dict[str, str] | None = None,
    checkboxes: dict[str, bool] | None = None,
) -> bytes:
    """One page with the given lines in Helvetica; encrypted (RC4-40) when a user password is given.

    An empty user password gives a file that opens without a password but is
    still encrypted (owner restrictions only), like ``copy-protected.pdf``.
    ``text_fields`` (name -> typed value) and ``checkboxes`` (name -> checked) add
    an AcroForm with one widget per field; they are written unencrypted, so they
    are meant for unencrypted files.
    """
    fields = [(name, value, "Tx") for name, value in (text_fields or {}).items()]
    fields += [(name, "Yes" if checked else "Off", "Btn") for name, checked in (checkboxes or {}).items()]
    if fields and user_password is not None:
        raise ValueError("form fields are written unencrypted; do not combine them with a password")
    content = (
        "BT /F1 12 Tf 72 720 Td 14 TL "
        + " ".join("(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '" for line in lines)
        + " ET"
    )
    content_bytes = content.encode("latin-1")
    file_id = hashlib.md5(b"data-extract test document", usedforsecurity=False).digest()
    permissions = -3904  # printing and copying not allowed: owner restrictions

    encrypt_key: bytes | None = None
    encrypt_dict = ""
    if user_password is not None:
        owner_key = hashlib.md5(_padded(owner_password), usedforsecurity=False).digest()[:5]
        owner_entry = _rc4(owner_key, _padded(user_password))
        digest = hashlib.md5(
            _padded(user_password) + owner_entry + permissions.to_bytes(4, "little", signed=True) + file_id,
            usedforsecurity=False,
        ).digest()
        encrypt_key = digest[:5]
        user_entry = _rc4(encrypt_key, _PASSWORD_PADDING)
        encrypt_dict = (
            f"<< /Filter /Standard /V 1 /R 2 /O <{owner_entry.hex()}> /U <{user_entry.hex()}> /P {permissions} >>"
        )

    def crypt(number: int, data: bytes) -> bytes:
        if encrypt_key is None:
            return data
        object_key = hashlib.md5(
            encrypt_key + number.to_bytes(3, "little") + (0).to_bytes(2, "little"), usedforsecurity=False
        ).digest()
        return _rc4(object_key[:10], data)

    field_refs = b" ".join(b"%d 0 R" % (6 + i) for i in range(len(fields)))
    acroform = b" /AcroForm << /Fields [%s] /NeedAppearances true >>" % field_refs if fields else b""
    annots = b" /Annots [%s]" % field_refs if fields else b""
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R" + acroform + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R" + annots + b" >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    stream = crypt(5, content_bytes)
    objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    for i, (name, value, kind) in enumerate(fields):
        y = 500 - 30 * i
        state = b" /AS /%s" % value.encode() if kind == "Btn" else b""
        value_entry = b"/%s" % value.encode() if kind == "Btn" else b"(" + value.encode("latin-1") + b")"
        objects.append(
            b"<< /Type /Annot /Subtype /Widget /FT /%s /T (%s) /V %s%s /Rect [72 %d 300 %d] /P 3 0 R /F 4 >>"
            % (kind.encode(), name.encode("latin-1"), value_entry, state, y, y + 20)
        )
    info_number = None
    if title is not None:
        info_number = len(objects) + 1
        objects.append(b"<< /Title <" + crypt(info_number, title.encode("latin-1")).hex().encode() + b"> >>")
    encrypt_number = None
    if encrypt_dict:
        encrypt_number = len(objects) + 1
        objects.append(encrypt_dict.encode("latin-1"))

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    identifier = file_id.hex().encode()
    trailer = b"<< /Size %d /Root 1 0 R /ID [<%s> <%s>]" % (len(objects) + 1, identifier, identifier)
    if info_number:
        trailer += b" /Info %d 0 R" % info_number
    if encrypt_number:
        trailer += b" /Encrypt %d 0 R" % encrypt_number
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)

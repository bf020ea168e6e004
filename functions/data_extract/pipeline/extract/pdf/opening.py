"""Opening a PDF with pdfium: the empty password, then the given one; real encryption told from damage."""

from __future__ import annotations

import io
import struct
from typing import TYPE_CHECKING, Any

from data_extract.pipeline.types import ErrorType, ExtractionError

if TYPE_CHECKING:
    from data_extract.pipeline.tables.pdfium_objects import PdfDocument


def open_document(data: bytes, password: str | None) -> tuple[PdfDocument, bool]:
    """Open with the empty user password first, then the given one."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    attempts: list[str | None] = [None]
    if password:
        attempts.append(password)
    last_error: Exception | None = None
    for attempt in attempts:
        try:
            pdf = pdfium.PdfDocument(data, password=attempt)
        except pdfium.PdfiumError as exc:
            last_error = exc
            if exc.err_code == raw.FPDF_ERR_PASSWORD:
                continue
            if exc.err_code == raw.FPDF_ERR_SECURITY:
                if _encryption_is_damaged(data, attempt):
                    raise _damaged_error() from exc
                raise ExtractionError(
                    ErrorType.ENCRYPTED, "The PDF uses an encryption scheme that cannot be opened."
                ) from exc
            raise _damaged_error() from exc
        encrypted = raw.FPDF_GetSecurityHandlerRevision(pdf.raw) != -1
        return pdf, encrypted
    # pdfium reports a password error for files whose encryption dictionary (or the structure
    # around it) is broken too; a second parser tells a real password from damage.
    if _encryption_is_damaged(data, password):
        raise _damaged_error() from last_error
    if password:
        message = "The PDF is password-protected and the password given is wrong."
    else:
        message = "The PDF is password-protected: a password is needed to open it."
    raise ExtractionError(ErrorType.ENCRYPTED, message) from last_error


def _damaged_error() -> ExtractionError:
    return ExtractionError(ErrorType.CORRUPT, "The PDF is damaged beyond repair and cannot be opened.")


def _encryption_is_damaged(data: bytes, password: str | None) -> bool:
    """Is the encryption pdfium refused broken rather than real? Asked of pdfminer's parser.

    Damage: the file opens with the empty (or given) password once parsed tolerantly, or its
    encryption dictionary names no handler, or its password entries have impossible lengths
    (a real standard handler writes 32 bytes, 48 from revision 5). Anything pdfminer cannot
    decide leaves pdfium's verdict (encrypted) standing, unless the file has no /Encrypt at all.
    """
    if b"/Encrypt" not in data:
        return True
    try:
        from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
        from pdfminer.pdfparser import PDFParser
        from pdfminer.psparser import PSException
    except ImportError:
        return False
    seen: list[dict[str, Any]] = []

    class _Probe(PDFDocument):
        def _initialize_password(self, password: str = "") -> None:
            seen.append(dict(self.encryption[1]) if self.encryption else {})
            super()._initialize_password(password)

    try:
        _Probe(PDFParser(io.BytesIO(data)), password=password or "")
    except PDFPasswordIncorrect:
        return not _standard_entries_plausible(seen[0] if seen else {})
    except PDFEncryptionError:
        return not (seen and seen[0].get("Filter"))
    except (
        PSException,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        RecursionError,
        UnicodeError,
        struct.error,
    ):
        return False
    return True  # it opens: what pdfium refused is the structure, not the password


def _standard_entries_plausible(encryption: dict[str, Any]) -> bool:
    try:
        revision = int(encryption.get("R", 0))
    except (TypeError, ValueError):
        return False
    wanted = 48 if revision >= 5 else 32
    entries = [encryption.get("O"), encryption.get("U")]
    return all(isinstance(entry, bytes) and len(entry) >= wanted for entry in entries)

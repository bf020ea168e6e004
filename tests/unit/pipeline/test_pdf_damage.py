"""A damaged PDF is corrupt, a password-protected one encrypted: told apart by what the parsers say."""

from __future__ import annotations

import pytest

from data_extract.pipeline.extract.pdf import extract_pdf
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions
from tests.unit.pipeline.pdf_builder import plain_pdf
from tests.unit.pipeline.test_extract_pdf_recovery import _pdf_with_broken_page_tree


def _error(data: bytes, password: str | None = None) -> ExtractionError:
    with pytest.raises(ExtractionError) as caught:
        extract_pdf(data, filename="d.pdf", options=ExtractOptions(ocr=False, password=password))
    return caught.value


@pytest.mark.parametrize(
    "encrypt_entry",
    [
        b"/Encrypt << >>",  # pdfium: unknown security handler
        b"/Encrypt << /Filter /Standard /V 1 /R 2 /O <00> /U <00> /P -4 >>",  # pdfium: password error
    ],
    ids=["empty-encryption-dictionary", "truncated-password-entries"],
)
def test_given_no_page_tree_and_a_broken_encryption_dictionary_when_extracted_then_corrupt(encrypt_entry):
    data = _pdf_with_broken_page_tree("Some text.").replace(b"/Root 1 0 R", b"/Root 1 0 R " + encrypt_entry)
    for password in (None, "guess"):
        error = _error(data, password)
        assert error.error_type is ErrorType.CORRUPT
        assert "password" not in error.message


def test_given_a_password_protected_pdf_without_its_password_when_extracted_then_still_encrypted():
    error = _error(plain_pdf(["Confidential figures"], user_password="openpassword"))
    assert error.error_type is ErrorType.ENCRYPTED
    assert "password-protected" in error.message


def test_given_a_password_protected_pdf_with_no_page_tree_when_extracted_with_its_password_then_corrupt():
    data = plain_pdf(["Confidential figures"], user_password="openpassword").replace(b"/Pages 2 0 R", b"")
    assert _error(data).error_type is ErrorType.ENCRYPTED  # without the password nobody can tell
    assert _error(data, "openpassword").error_type is ErrorType.CORRUPT

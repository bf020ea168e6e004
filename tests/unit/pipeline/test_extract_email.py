"""E-mail extractor: messages built with the stdlib email package (and raw MIME for malformed cases)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from data_extract.pipeline.extract.email import extract_eml, extract_msg, list_attachments
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions


def build_message(*, html: str | None = None, plain: str | None = None, attachments=()) -> bytes:
    message = EmailMessage()
    message["From"] = "Ann Example <ann@example.com>"
    message["To"] = "Bob <bob@example.com>, carol@example.com"
    message["Cc"] = "dave@example.com"
    message["Subject"] = "Quarterly review ☀"
    message["Date"] = "Tue, 05 Mar 2024 10:15:00 +0100"
    if plain is not None:
        message.set_content(plain)
    if html is not None:
        if plain is None:
            message.set_content(html, subtype="html")
        else:
            message.add_alternative(html, subtype="html")
    for name, payload in attachments:
        message.add_attachment(payload, maintype="application", subtype="octet-stream", filename=name)
    return message.as_bytes()


def test_given_plain_message_when_extracted_then_headers_body_and_attachments_come_in_order():
    data = build_message(
        plain="Hello team,\n\nThe numbers are in.\nSee attached.\n",
        html="<p>HTML twin that must not be used</p>",
        attachments=[("report.pdf", b"%PDF-1.4 fake"), ("data.csv", b"a,b\n1,2\n")],
    )
    document = extract_eml(data, filename="m.eml", options=ExtractOptions())

    assert [b.kind for b in document.blocks] == ["metadata", "paragraph", "paragraph", "metadata"]
    header = document.blocks[0].text
    assert "From: Ann Example <ann@example.com>" in header
    assert "Subject: Quarterly review ☀" in header
    assert "Cc: dave@example.com" in header
    assert document.blocks[1].text == "Hello team,"
    assert document.blocks[2].text == "The numbers are in.\nSee attached."
    assert document.blocks[3].text == "Attachments: report.pdf, data.csv"
    assert "HTML twin" not in document.text
    assert document.metadata["date"] == "2024-03-05T10:15:00+01:00"
    assert document.metadata["attachments"] == [
        {"filename": "report.pdf", "size_bytes": 13, "content_type": "application/octet-stream"},
        {"filename": "data.csv", "size_bytes": 8, "content_type": "application/octet-stream"},
    ]


def test_given_html_only_message_when_extracted_then_the_html_body_is_read_without_markup():
    data = build_message(
        html="<html><head><style>p{}</style></head><body><h1>Notice</h1><ul><li>Point A</li></ul></body></html>"
    )
    document = extract_eml(data, filename="m.eml", options=ExtractOptions())

    assert [(b.kind, b.text) for b in document.blocks[1:]] == [("heading", "Notice"), ("list_item", "Point A")]
    assert document.metadata["body_format"] == "html"


def test_given_rfc2047_subject_when_extracted_then_it_is_decoded():
    raw = (
        b"From: a@example.com\r\nTo: b@example.com\r\n"
        b"Subject: =?UTF-8?B?U2ltcGxlIGVtYWlsIHdpdGgg4pi44pi/IFVuaWNvZGUgc3ViamVjdA==?=\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nBody.\r\n"
    )
    document = extract_eml(raw, filename="m.eml", options=ExtractOptions())
    assert document.metadata["subject"] == "Simple email with ☸☿ Unicode subject"


def test_given_broken_transfer_encoding_and_charset_when_extracted_then_the_body_is_still_read():
    raw = (
        b"From: a@example.com\r\nSubject: Broken\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="XX"\r\n\r\n'
        b'--XX\r\nContent-Type: text/plain; charset = "UTF-8"Content-Transfer-Encoding: 8bit\r\n\r\n'
        b"Readable despite the header.\r\n"
        b"--XX\r\nContent-Type: text/plain; charset=no-such-charset\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"!!!not base64!!!\r\n--XX--\r\n"
    )
    document = extract_eml(raw, filename="m.eml", options=ExtractOptions())
    assert "Readable despite the header." in document.text


def test_given_utf16_encoded_file_when_extracted_then_headers_and_body_are_read():
    raw = "From: a@example.com\nSubject: Wide\nContent-Type: text/plain\n\nWide body text.\n"
    document = extract_eml(raw.encode("utf-16"), filename="m.eml", options=ExtractOptions())

    assert document.metadata["subject"] == "Wide"
    assert document.blocks[-1].text == "Wide body text."


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_given_wide_file_without_byte_order_mark_when_extracted_then_headers_and_body_are_read(codec):
    raw = "From: a@example.com\nSubject: Wide\nContent-Type: text/plain\n\nWide body text.\n"
    document = extract_eml(raw.encode(codec), filename="m.eml", options=ExtractOptions())

    assert document.metadata["subject"] == "Wide"
    assert document.blocks[-1].text == "Wide body text."


def test_given_pgp_encrypted_message_when_extracted_then_encrypted():
    raw = (
        b"From: a@example.com\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/encrypted; boundary=foo; protocol="application/pgp-encrypted"\r\n\r\n'
        b"--foo\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
        b"--foo\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n--foo--\r\n"
    )
    with pytest.raises(ExtractionError) as caught:
        extract_eml(raw, filename="m.eml", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.ENCRYPTED


def test_given_text_without_mail_headers_when_extracted_then_corrupt():
    with pytest.raises(ExtractionError) as caught:
        extract_eml(b"just a note, not an email", filename="m.eml", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.CORRUPT


def test_given_message_with_attachments_when_listed_then_names_and_bytes_are_returned_in_order():
    data = build_message(plain="see files", attachments=[("a.txt", b"alpha"), ("b.bin", b"\x00\x01")])
    assert list_attachments(data, "eml") == [("a.txt", b"alpha"), ("b.bin", b"\x00\x01")]


def test_given_forwarded_message_attachment_when_listed_then_it_is_named_after_its_subject():
    inner = EmailMessage()
    inner["Subject"] = "Original note"
    inner.set_content("inner body")
    outer = EmailMessage()
    outer["From"] = "a@example.com"
    outer["Subject"] = "Fwd"
    outer.set_content("forwarding")
    outer.add_attachment(inner)
    attachments = list_attachments(outer.as_bytes(), "eml")
    assert attachments[0][0] == "Original note.eml"
    assert b"inner body" in attachments[0][1]


def test_given_bytes_that_are_not_an_outlook_file_when_extracted_as_msg_then_corrupt():
    with pytest.raises(ExtractionError) as caught:
        extract_msg(b"From: a@example.com\r\n\r\nhello", filename="m.msg", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.CORRUPT


def test_given_unknown_format_when_listing_attachments_then_unsupported():
    with pytest.raises(ExtractionError) as caught:
        list_attachments(b"", "pdf")
    assert caught.value.error_type == ErrorType.UNSUPPORTED_FORMAT


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "fake-email.msg",
            {
                "from": '"Matthew Robinson" <mrobinson@unstructured.io>',
                "subject": "Test Email",
                "to": '"Matthew Robinson" <mrobinson@unstructured.io>',
                "date": "2023-03-28T17:00:31+00:00",
                "attachment_count": 0,
            },
        ),
        (
            "fake-email-with-cc-and-bcc.msg",
            {
                "from": '"John" <johnjennings702@gmail.com>',
                "to": '"John Jennings" <john-ctr@unstructured.io>',
                "cc": "steve@unstructured.io",
                "attachment_count": 0,
            },
        ),
        ("fake-email-attachment.msg", {"subject": "Fake email with attachment", "attachment_count": 1}),
    ],
)
def test_given_a_corpus_outlook_message_when_extracted_then_headers_body_and_attachments_are_read(
    corpus, name, expected
):
    data = (corpus / "email" / name).read_bytes()

    document = extract_msg(data, filename=name, options=ExtractOptions())

    for key, value in expected.items():
        assert document.metadata[key] == value, key
    assert document.metadata["body_format"] == "plain"
    assert "bcc" not in document.metadata  # blind copies stay blind
    text = "\n".join(block.text for block in document.blocks)
    assert expected.get("subject", document.metadata["subject"]) in text


@pytest.mark.corpus
def test_given_a_corpus_outlook_message_with_an_attachment_when_listed_then_its_bytes_are_returned(corpus):
    data = (corpus / "email" / "fake-email-attachment.msg").read_bytes()

    (attachment,) = list_attachments(data, "msg")

    assert attachment[0] == "fake-attachment.txt"
    assert len(attachment[1]) == 30 and attachment[1].strip()

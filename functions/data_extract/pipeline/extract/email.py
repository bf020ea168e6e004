"""E-mail messages: RFC 822/MIME ``.eml`` (stdlib ``email``) and Outlook ``.msg`` (python-oxmsg on olefile).

Blocks: one ``metadata`` block with the headers (From, To, Cc, Subject decoded from RFC 2047, Date), the body
(the text/plain part split into paragraphs; else the HTML part through the HTML extractor, keeping its headings,
lists and tables), then a ``metadata`` block naming the attachments. ``Document.metadata`` carries the same
headers, the date in ISO 8601 and ``attachments: [{filename, size_bytes, content_type}]``.

Robustness: UTF-16/32 encoded ``.eml`` files are decoded before parsing; a part whose transfer encoding or charset
is malformed is decoded leniently instead of failing the message; ``multipart/encrypted`` and S/MIME enveloped
messages are ``ENCRYPTED``. ``list_attachments`` returns the attachment bytes for callers that process them as
separate file units (kept out of ``Document.metadata``, which must stay JSON-serialisable).

The ``.msg`` reader is imported only when a ``.msg`` file is extracted.
"""

from __future__ import annotations

import email
import email.message
import email.utils
import re
from collections.abc import Callable
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message, MIMEPart
from functools import partial
from typing import TYPE_CHECKING, TypedDict

from data_extract.pipeline.extract.html import html_to_blocks
from data_extract.pipeline.extract.limits import TextLimit
from data_extract.pipeline.extract.rtf import strip_rtf
from data_extract.pipeline.ole import OLE_MAGIC
from data_extract.pipeline.textcodec import bom_codec, nul_pattern_codec, without_utf8_bom
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions

if TYPE_CHECKING:
    import oxmsg
    import oxmsg.attachment
    import oxmsg.recipient

HEADER_FIELDS = (("From", "from"), ("To", "to"), ("Cc", "cc"), ("Subject", "subject"), ("Date", "date"))
_KNOWN_HEADERS = {"from", "to", "cc", "subject", "date", "message-id", "mime-version", "content-type", "received"}
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")
_ENCRYPTED_TYPES = {"multipart/encrypted", "application/pgp-encrypted"}
_LATIN1_LABELS = {"iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii", "iso8859-1", "l1"}
_SMIME_TYPES = {"application/pkcs7-mime", "application/x-pkcs7-mime"}


class AttachmentInfo(TypedDict):
    """One attachment as ``Document.metadata["attachments"]`` lists it."""

    filename: str
    size_bytes: int
    content_type: str


# -- EML -------------------------------------------------------------------------------------------------------------


def _decode_wide(data: bytes) -> str | None:
    """UTF-16/32 text (with or without a byte-order mark); None for ordinary 8-bit messages."""
    marked = bom_codec(data)
    if marked and marked[0] != "utf-8":
        name, length = marked
        return data[length:].decode(name, errors="replace")
    codec = nul_pattern_codec(data[:4096])
    return data.decode(codec, errors="replace") if codec else None


def parse_eml(data: bytes) -> EmailMessage:
    data = without_utf8_bom(data)
    wide = _decode_wide(data)
    try:
        if wide is not None:
            message = email.message_from_string(wide, policy=policy.default)
        else:
            message = email.message_from_bytes(data, policy=policy.default)
    except Exception as exc:
        raise ExtractionError(
            ErrorType.CORRUPT, f"The e-mail message cannot be parsed ({type(exc).__name__})."
        ) from exc
    names = {name.lower() for name in message}
    if not names & _KNOWN_HEADERS:
        raise ExtractionError(ErrorType.CORRUPT, "The file has no e-mail headers (From, To, Subject, Date, ...).")
    return message


def _header(message: Message, name: str) -> str:
    """A header as readable text; malformed encoded words or addresses fall back to a lenient decoding."""
    try:
        value = message.get(name)
        return " ".join(str(value).split()) if value is not None else ""
    except Exception:
        return _raw_header(message, name)


def _raw_header(message: Message, name: str) -> str:
    """A header decoded leniently from its raw value, for when the policy's parser rejects it."""
    for key, raw in message.raw_items() if hasattr(message, "raw_items") else []:
        if key.lower() == name.lower():
            try:
                return " ".join(str(make_header(decode_header(raw))).split())
            except Exception:
                return " ".join(str(raw).split())
    return ""


def _iso_date(value: str) -> str:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return value
    return parsed.isoformat() if parsed is not None else value


def _is_encrypted(message: Message) -> bool:
    content_type = message.get_content_type()
    if content_type in _ENCRYPTED_TYPES:
        return True
    if content_type in _SMIME_TYPES:
        smime_type = message.get_param("smime-type")
        if isinstance(smime_type, tuple):  # an RFC 2231 encoded parameter: (charset, language, value)
            smime_type = email.utils.collapse_rfc2231_value(smime_type)
        return (smime_type or "enveloped-data").lower() != "signed-data"
    return False


def _part_text(part: MIMEPart) -> str:
    """Decoded text of a leaf part, tolerating unknown charsets and broken transfer encodings."""
    content = _content_text(part)
    if content is not None:
        return content
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):  # None: a multipart or undecodable part
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _content_text(part: MIMEPart) -> str | None:
    """The part's text as the content manager decodes it; None when it is not text or cannot be decoded."""
    try:
        content = part.get_content()
        if isinstance(content, str):
            if (part.get_content_charset() or "") in _LATIN1_LABELS:
                # Mail labelled Latin-1/ASCII is in practice Windows-1252 (curly quotes in 0x80-0x9F), as browsers
                # assume; Latin-1 decoding is byte-for-byte, so re-encoding recovers the original bytes.
                try:
                    return content.encode("latin-1").decode("cp1252")
                except (UnicodeEncodeError, UnicodeDecodeError):
                    return content
            return content
    except Exception:
        return None
    return None


def _attachment_parts(message: EmailMessage, body_parts: set[int]) -> list[EmailMessage]:
    parts: list[EmailMessage] = []
    for part in message.walk():
        if part.is_multipart() and part.get_content_type() != "message/rfc822":
            continue
        if id(part) in body_parts or part is message:
            continue
        disposition = part.get_content_disposition()
        filename = _filename(part)
        if disposition == "attachment" or filename or part.get_content_type() == "message/rfc822":
            parts.append(part)
    return parts


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name:
        return " ".join(str(name).split())
    return None


def _attachment_payload(part: Message) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = _attached_message(part)
        if inner is not None:
            try:
                return inner.as_bytes()
            except Exception:
                return b""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    return payload if isinstance(payload, bytes) else b""


def _attached_message(part: Message) -> Message | None:
    """The message a ``message/rfc822`` part holds; None when the part holds none (or only text)."""
    inner = part.get_payload()
    if isinstance(inner, list) and inner:
        first = inner[0]
        return first if isinstance(first, Message) else None
    return None


def _attachment_name(part: Message, index: int) -> str:
    name = _filename(part)
    if name:
        return name
    if part.get_content_type() == "message/rfc822":
        inner = _attached_message(part)
        subject = _header(inner, "Subject") if inner is not None else ""
        return f"{subject or f'attached-message-{index}'}.eml"
    return f"attachment-{index}"


def _body_parts(message: EmailMessage) -> tuple[list[MIMEPart], str]:
    """The parts that make the readable body and their kind ("plain" or "html")."""
    try:
        plain = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
    except Exception:
        plain = html = None
    if plain is not None and _part_text(plain).strip():
        return [plain], "plain"
    if html is not None:
        return [html], "html"
    # Non-standard structures (e.g. text parts marked inline with a name): every text leaf that is not an attachment.
    leaves = [
        part
        for part in message.walk()
        if not part.is_multipart()
        and part.get_content_maintype() == "text"
        and part.get_content_disposition() != "attachment"
    ]
    if any(part.get_content_subtype() == "plain" for part in leaves):
        return [p for p in leaves if p.get_content_subtype() == "plain"], "plain"
    return [p for p in leaves if p.get_content_subtype() == "html"], "html"


def _plain_blocks(text: str) -> list[Block]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[Block] = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        lines = [line.rstrip() for line in paragraph.strip("\n").split("\n")]
        cleaned = "\n".join(lines).strip()
        if cleaned:
            blocks.append(Block(kind="paragraph", text=cleaned))
    return blocks


def _header_block(headers: dict[str, str]) -> Block | None:
    lines = [f"{label}: {headers[key]}" for label, key in HEADER_FIELDS if headers.get(key)]
    return Block(kind="metadata", text="\n".join(lines), meta={"headers": True}) if lines else None


def _attachments_block(attachments: list[AttachmentInfo]) -> Block | None:
    if not attachments:
        return None
    names = ", ".join(item["filename"] for item in attachments)
    return Block(kind="metadata", text=f"Attachments: {names}", meta={"attachments": True})


def _finish(
    fmt: str,
    headers: dict[str, str],
    body: list[Block],
    attachments: list[AttachmentInfo],
    options: ExtractOptions,
    extra: dict[str, str],
) -> Document:
    limit = TextLimit(options)
    blocks: list[Block] = []
    head = _header_block(headers)
    # Headers alone (a message without subject, body or attachments) are not content.
    if head is not None and (body or attachments or headers.get("subject")):
        blocks.append(head)
    blocks.extend(body)
    tail = _attachments_block(attachments)
    if tail is not None:
        blocks.append(tail)
    for block in blocks:
        limit.add(block.text)
    metadata: dict[str, object] = {key: value for key, value in headers.items() if value}
    if headers.get("date"):
        metadata["date"] = _iso_date(headers["date"])
    metadata.update(extra)
    metadata["attachments"] = attachments
    metadata["attachment_count"] = len(attachments)
    return Document(format=fmt, blocks=blocks, metadata=metadata)


def extract_eml(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    message = parse_eml(data)
    if _is_encrypted(message):
        raise ExtractionError(ErrorType.ENCRYPTED, "The e-mail message is encrypted (PGP/MIME or S/MIME).")
    headers = {key: _header(message, name) for name, key in HEADER_FIELDS}
    body_parts, body_format = _body_parts(message)
    body: list[Block] = []
    for part in body_parts:
        text = _part_text(part)
        body.extend(html_to_blocks(text) if body_format == "html" else _plain_blocks(text))
    attachment_parts = _attachment_parts(message, {id(p) for p in body_parts})
    attachments = [
        AttachmentInfo(
            filename=_attachment_name(part, index),
            size_bytes=len(_attachment_payload(part)),
            content_type=part.get_content_type(),
        )
        for index, part in enumerate(attachment_parts, start=1)
    ]
    extra: dict[str, str] = {}
    if body:
        extra["body_format"] = body_format
    message_id = _header(message, "Message-ID")
    if message_id:
        extra["message_id"] = message_id
    defects = sum(len(part.defects) for part in message.walk())
    document = _finish("eml", headers, body, attachments, options, extra)
    if defects:
        document.warnings.append(f"The message has {defects} MIME defect(s); it was read leniently.")
    return document


# -- MSG -------------------------------------------------------------------------------------------------------------


def _open_msg(data: bytes) -> oxmsg.Message:
    if not data.startswith(OLE_MAGIC):
        raise ExtractionError(ErrorType.CORRUPT, "The file is not an Outlook message (no OLE container).")
    from oxmsg import Message

    try:
        return Message.load(data)
    except Exception as exc:
        raise ExtractionError(
            ErrorType.CORRUPT, f"The Outlook message cannot be read ({type(exc).__name__}: {exc})."
        ) from exc


def _msg_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _msg_rtf_text(msg: oxmsg.Message) -> str:
    """The plain text of a message whose only body is compressed RTF (PR_RTF_COMPRESSED)."""
    from oxmsg.domain import constants

    compressed = msg.properties.binary_prop_value(constants.PID_RTF_COMPRESSED)
    if not compressed:
        return ""
    from compressed_rtf import decompress

    rtf: bytes = decompress(compressed)
    return strip_rtf(rtf.decode("cp1252", errors="replace"), errors="ignore")


def _msg_body(msg: oxmsg.Message) -> tuple[list[Block], str | None]:
    plain = _msg_text(_safe(lambda: msg.body))
    if plain.strip():
        return _plain_blocks(plain), "plain"
    html = _safe(lambda: msg.html_body)
    if html:
        blocks = html_to_blocks(html)
        if blocks:
            return blocks, "html"
    text = _safe(lambda: _msg_rtf_text(msg)) or ""
    if text.strip():
        return _plain_blocks(text), "rtf"
    return [], None


def _safe[T](getter: Callable[[], T]) -> T | None:
    """What ``getter`` returns, None when it raises: one damaged property must not lose the whole message."""
    try:
        return getter()
    except Exception:
        return None


# PR_RECIPIENT_TYPE values (MS-OXOMSG 2.2.3.1): which header a recipient row belongs to.
_RECIPIENT_HEADERS = {1: "to", 2: "cc"}


def _msg_recipients(msg: oxmsg.Message) -> dict[str, str]:
    """To and Cc as the sender's mail program wrote them: the transport headers when the message kept them,
    else the recipient table (``"Name" <address>``), else the display strings Outlook stores."""
    from oxmsg.domain import constants

    headers = _safe(lambda: msg.message_headers) or {}
    by_name = {name.lower(): value for name, value in headers.items()}
    listed: dict[str, list[str]] = {"to": [], "cc": []}
    for recipient in _safe(lambda: msg.recipients) or ():
        entry = _recipient_entry(recipient)
        if entry is not None:
            listed[entry[0]].append(entry[1])
    display = {"to": constants.PID_DISPLAY_TO, "cc": constants.PID_DISPLAY_CC}
    result: dict[str, str] = {}
    for kind in ("to", "cc"):
        value = by_name.get(kind) or ", ".join(item for item in listed[kind] if item)
        result[kind] = value or _msg_text(_safe(partial(_string_property, msg, display[kind])))
    return result


def _string_property(msg: oxmsg.Message, pid: int) -> str | None:
    return msg.properties.str_prop_value(pid)


def _recipient_entry(recipient: oxmsg.recipient.Recipient) -> tuple[str, str] | None:
    """(header, ``"Name" <address>``) of one row of the recipient table; None for rows that are not To or Cc."""
    from oxmsg.domain import constants

    recipient_type = _safe(lambda: recipient.properties.int_prop_value(constants.PID_RECIPIENT_TYPE))
    kind = _RECIPIENT_HEADERS.get(recipient_type) if recipient_type is not None else None
    if kind is None:
        return None
    name = _msg_text(_safe(lambda: recipient.name)).strip()
    address = _msg_text(_safe(lambda: recipient.email_address)).strip()
    return kind, f'"{name}" <{address}>' if name and address and name != address else address or name


def _msg_attachments(msg: oxmsg.Message) -> list[tuple[str, bytes, str]]:
    return [
        _msg_attachment(attachment, index)
        for index, attachment in enumerate(_safe(lambda: msg.attachments) or [], start=1)
    ]


def _msg_attachment(attachment: oxmsg.attachment.Attachment, index: int) -> tuple[str, bytes, str]:
    """(filename, bytes, content type) of one attachment; an embedded message or object has no bytes here."""
    name = _safe(lambda: attachment.file_name) or f"attachment-{index}"
    data = _safe(lambda: attachment.file_bytes)
    mimetype = _safe(lambda: attachment.mime_type) or "application/octet-stream"
    if isinstance(data, bytes):
        return str(name), data, str(mimetype)
    return str(name), b"", "application/vnd.ms-outlook"


def extract_msg(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    msg = _open_msg(data)
    date = _safe(lambda: msg.sent_date)
    headers = {
        "from": _msg_text(_safe(lambda: msg.sender)),
        **_msg_recipients(msg),
        "subject": _msg_text(_safe(lambda: msg.subject)),
        "date": date.isoformat() if date is not None else "",
    }
    headers = {key: " ".join(value.split()) for key, value in headers.items()}
    body, body_format = _msg_body(msg)
    attachments = [
        AttachmentInfo(filename=name, size_bytes=len(payload), content_type=mimetype)
        for name, payload, mimetype in _msg_attachments(msg)
    ]
    extra = {"body_format": body_format} if body_format else {}
    return _finish("msg", headers, body, attachments, options, extra)


# -- attachments as separate file units ------------------------------------------------------------------------------


def list_attachments(data: bytes, fmt: str) -> list[tuple[str, bytes]]:
    """(filename, bytes) of every attachment of an ``eml`` or ``msg`` message, in message order.

    Embedded Outlook items without bytes of their own are left out. Raises ``ExtractionError`` like the extractors.
    """
    if fmt == "eml":
        message = parse_eml(data)
        if _is_encrypted(message):
            raise ExtractionError(ErrorType.ENCRYPTED, "The e-mail message is encrypted (PGP/MIME or S/MIME).")
        body_parts, _ = _body_parts(message)
        parts = _attachment_parts(message, {id(p) for p in body_parts})
        return [(_attachment_name(part, i), _attachment_payload(part)) for i, part in enumerate(parts, start=1)]
    if fmt == "msg":
        msg = _open_msg(data)
        return [(name, payload) for name, payload, _ in _msg_attachments(msg) if payload]
    raise ExtractionError(ErrorType.UNSUPPORTED_FORMAT, f"Attachments cannot be listed for format '{fmt}'.")

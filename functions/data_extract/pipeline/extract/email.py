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

import codecs
import email
import email.message
import email.utils
import re
from email import policy
from email.header import decode_header, make_header

from data_extract.pipeline.extract.html import html_to_blocks
from data_extract.pipeline.extract.limits import TextLimit
from data_extract.pipeline.ole import OLE_MAGIC
from data_extract.pipeline.textcodec import bom_codec, decode_text
from data_extract.pipeline.types import Block, Document, ErrorType, ExtractionError, ExtractOptions

HEADER_FIELDS = (("From", "from"), ("To", "to"), ("Cc", "cc"), ("Subject", "subject"), ("Date", "date"))
_KNOWN_HEADERS = {"from", "to", "cc", "subject", "date", "message-id", "mime-version", "content-type", "received"}
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")
_ENCRYPTED_TYPES = {"multipart/encrypted", "application/pgp-encrypted"}
_LATIN1_LABELS = {"iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii", "iso8859-1", "l1"}
_SMIME_TYPES = {"application/pkcs7-mime", "application/x-pkcs7-mime"}


# -- EML --------------------------------------------------------------------------------------------------------------


def _decode_wide(data: bytes) -> str | None:
    """UTF-16/32 text (with or without a byte-order mark); None for ordinary 8-bit messages."""
    marked = bom_codec(data)
    if marked and marked[0] != "utf-8":
        name, length = marked
        return data[length:].decode(name, errors="replace")
    head = data[:200]
    if head.count(b"\x00") > len(head) // 3:
        return decode_text(data)[0]
    return None


def parse_eml(data: bytes) -> email.message.EmailMessage:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
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
    return message  # type: ignore[return-value]


def _header(message: email.message.Message, name: str) -> str:
    """A header as readable text; malformed encoded words or addresses fall back to a lenient decoding."""
    try:
        value = message.get(name)
        return " ".join(str(value).split()) if value is not None else ""
    except Exception:
        pass
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


def _is_encrypted(message: email.message.Message) -> bool:
    content_type = message.get_content_type()
    if content_type in _ENCRYPTED_TYPES:
        return True
    if content_type in _SMIME_TYPES:
        return (message.get_param("smime-type") or "enveloped-data").lower() != "signed-data"
    return False


def _part_text(part: email.message.Message) -> str:
    """Decoded text of a leaf part, tolerating unknown charsets and broken transfer encodings."""
    try:
        content = part.get_content()  # type: ignore[attr-defined]
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
        pass
    payload = part.get_payload(decode=True)
    if payload is None:
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _attachment_parts(message: email.message.Message, body_parts: set[int]) -> list[email.message.Message]:
    parts: list[email.message.Message] = []
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


def _filename(part: email.message.Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name:
        return " ".join(str(name).split())
    return None


def _attachment_payload(part: email.message.Message) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner:
            try:
                return inner[0].as_bytes()
            except Exception:
                return b""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    return payload or b""


def _attachment_name(part: email.message.Message, index: int) -> str:
    name = _filename(part)
    if name:
        return name
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        subject = _header(inner[0], "Subject") if isinstance(inner, list) and inner else ""
        return f"{subject or f'attached-message-{index}'}.eml"
    return f"attachment-{index}"


def _body_parts(message: email.message.Message) -> tuple[list[email.message.Message], str]:
    """The parts that make the readable body and their kind ("plain" or "html")."""
    try:
        plain = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
        html = message.get_body(preferencelist=("html",))  # type: ignore[attr-defined]
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
    blocks = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        lines = [line.rstrip() for line in paragraph.strip("\n").split("\n")]
        cleaned = "\n".join(lines).strip()
        if cleaned:
            blocks.append(Block(kind="paragraph", text=cleaned))
    return blocks


def _header_block(headers: dict[str, str]) -> Block | None:
    lines = [f"{label}: {headers[key]}" for label, key in HEADER_FIELDS if headers.get(key)]
    return Block(kind="metadata", text="\n".join(lines), meta={"headers": True}) if lines else None


def _attachments_block(attachments: list[dict]) -> Block | None:
    if not attachments:
        return None
    names = ", ".join(item["filename"] for item in attachments)
    return Block(kind="metadata", text=f"Attachments: {names}", meta={"attachments": True})


def _finish(
    fmt: str,
    headers: dict[str, str],
    body: list[Block],
    attachments: list[dict],
    options: ExtractOptions,
    extra: dict,
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
    metadata = {key: value for key, value in headers.items() if value}
    if "date" in metadata:
        metadata["date"] = _iso_date(metadata["date"])
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
        {
            "filename": _attachment_name(part, index),
            "size_bytes": len(_attachment_payload(part)),
            "content_type": part.get_content_type(),
        }
        for index, part in enumerate(attachment_parts, start=1)
    ]
    extra = {"body_format": body_format if body else None, "message_id": _header(message, "Message-ID") or None}
    defects = sum(len(part.defects) for part in message.walk())
    document = _finish("eml", headers, body, attachments, options, {k: v for k, v in extra.items() if v})
    if defects:
        document.warnings.append(f"The message has {defects} MIME defect(s); it was read leniently.")
    return document


# -- MSG --------------------------------------------------------------------------------------------------------------


def _open_msg(data: bytes):
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


def _msg_rtf_text(msg) -> str:
    """The plain text of a message whose only body is compressed RTF (PR_RTF_COMPRESSED)."""
    from oxmsg.domain import constants

    compressed = msg.properties.binary_prop_value(constants.PID_RTF_COMPRESSED)
    if not compressed:
        return ""
    from compressed_rtf import decompress
    from striprtf.striprtf import rtf_to_text

    rtf = decompress(compressed)
    return rtf_to_text(rtf.decode("cp1252", errors="replace"), errors="ignore")


def _msg_body(msg) -> tuple[list[Block], str | None]:
    plain = _msg_text(_safe(lambda: msg.body))
    if plain.strip():
        return _plain_blocks(plain), "plain"
    html = _safe(lambda: msg.html_body)
    if html:
        blocks = html_to_blocks(html if isinstance(html, bytes) else str(html))
        if blocks:
            return blocks, "html"
    text = _safe(lambda: _msg_rtf_text(msg)) or ""
    if text.strip():
        return _plain_blocks(text), "rtf"
    return [], None


def _safe(getter):
    try:
        return getter()
    except Exception:
        return None


# PR_RECIPIENT_TYPE values (MS-OXOMSG 2.2.3.1): which header a recipient row belongs to.
_RECIPIENT_HEADERS = {1: "to", 2: "cc"}


def _msg_recipients(msg) -> dict[str, str]:
    """To and Cc as the sender's mail program wrote them: the transport headers when the message kept them,
    else the recipient table (``"Name" <address>``), else the display strings Outlook stores."""
    from oxmsg.domain import constants

    headers = _safe(lambda: msg.message_headers) or {}
    by_name = {name.lower(): value for name, value in headers.items()}
    listed: dict[str, list[str]] = {"to": [], "cc": []}
    for recipient in _safe(lambda: msg.recipients) or ():
        kind = _RECIPIENT_HEADERS.get(
            _safe(lambda r=recipient: r.properties.int_prop_value(constants.PID_RECIPIENT_TYPE))
        )
        if kind is None:
            continue
        name = _msg_text(_safe(lambda r=recipient: r.name)).strip()
        address = _msg_text(_safe(lambda r=recipient: r.email_address)).strip()
        listed[kind].append(f'"{name}" <{address}>' if name and address and name != address else address or name)
    display = {"to": constants.PID_DISPLAY_TO, "cc": constants.PID_DISPLAY_CC}
    result = {}
    for kind in ("to", "cc"):
        value = by_name.get(kind) or ", ".join(item for item in listed[kind] if item)
        result[kind] = value or _msg_text(_safe(lambda pid=display[kind]: msg.properties.str_prop_value(pid)))
    return result


def _msg_attachments(msg) -> list[tuple[str, bytes, str]]:
    items: list[tuple[str, bytes, str]] = []
    for index, attachment in enumerate(_safe(lambda: msg.attachments) or [], start=1):
        name = _safe(lambda a=attachment: a.file_name) or f"attachment-{index}"
        data = _safe(lambda a=attachment: a.file_bytes)
        mimetype = _safe(lambda a=attachment: a.mime_type) or "application/octet-stream"
        if isinstance(data, bytes):
            items.append((str(name), data, str(mimetype)))
        else:  # an embedded message or object: named, no bytes of its own here
            items.append((str(name), b"", "application/vnd.ms-outlook"))
    return items


def extract_msg(data: bytes, *, filename: str, options: ExtractOptions) -> Document:
    msg = _open_msg(data)
    date = _safe(lambda: msg.sent_date)
    headers = {
        "from": _msg_text(_safe(lambda: msg.sender)),
        **_msg_recipients(msg),
        "subject": _msg_text(_safe(lambda: msg.subject)),
        "date": date.isoformat() if hasattr(date, "isoformat") else _msg_text(date),
    }
    headers = {key: " ".join(value.split()) for key, value in headers.items()}
    body, body_format = _msg_body(msg)
    attachments = [
        {"filename": name, "size_bytes": len(payload), "content_type": mimetype}
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

"""Decode text files whatever their encoding: BOMs, BOM-less UTF-16/32, UTF-8, legacy 8-bit."""

from __future__ import annotations

import codecs

# Byte-order marks and the codec each names. UTF-32 LE comes before UTF-16 LE: its mark starts with UTF-16 LE's.
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def bom_codec(data: bytes) -> tuple[str, int] | None:
    """(codec, length of the mark) when the data starts with a byte-order mark."""
    for bom, name in BOMS:
        if data.startswith(bom):
            return name, len(bom)
    return None


def without_utf8_bom(data: bytes) -> bytes:
    """The bytes after a UTF-8 byte-order mark, for parsers that read bytes themselves (RTF, e-mail)."""
    return data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data


def nul_pattern_codec(head: bytes) -> str | None:
    """Guess BOM-less UTF-16/32 from where the NUL bytes sit in mostly-ASCII text."""
    if len(head) < 4 or b"\x00" not in head:
        return None
    n = len(head) - len(head) % 4
    sample = head[:n]
    zeros = [sample[i::4].count(0) for i in range(4)]
    quarter = n // 4
    if min(zeros[1], zeros[2], zeros[3]) > 0.7 * quarter:
        return "utf-32-le"
    if min(zeros[0], zeros[1], zeros[2]) > 0.7 * quarter:
        return "utf-32-be"
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    half = n // 2
    if odd > 0.3 * half and even < 0.05 * half:
        return "utf-16-le"
    if even > 0.3 * half and odd < 0.05 * half:
        return "utf-16-be"
    return None


def decode_text(data: bytes) -> tuple[str, str]:
    """Return (text, encoding name). Never raises; undecodable bytes become U+FFFD only as a last resort."""
    marked = bom_codec(data)
    if marked:
        name, length = marked
        return data[length:].decode(name, errors="replace"), name
    guessed = nul_pattern_codec(data[:4096])
    if guessed:
        return data.decode(guessed, errors="replace"), guessed
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[:65536]).best()
    if best is not None and best.encoding not in ("utf_8", "ascii"):
        try:
            return data.decode(best.encoding), best.encoding
        except (UnicodeDecodeError, LookupError):
            pass
    # cp1252 decodes almost every byte; latin-1 decodes all of them.
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"

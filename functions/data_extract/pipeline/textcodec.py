"""Decode text files whatever their encoding: BOMs, BOM-less UTF-16/32, UTF-8, legacy 8-bit."""

from __future__ import annotations

import codecs

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _nul_pattern_encoding(head: bytes) -> str | None:
    """Guess BOM-less UTF-16/32 from where the NUL bytes sit in mostly-ASCII text."""
    if len(head) < 4 or b"\x00" not in head:
        return None
    n = len(head) - len(head) % 4
    sample = head[:n]
    zeros = [sample[i::4].count(0) for i in range(4)]
    quarter = n // 4
    if zeros[1] > 0.7 * quarter and zeros[2] > 0.7 * quarter and zeros[3] > 0.7 * quarter:
        return "utf-32-le"
    if zeros[0] > 0.7 * quarter and zeros[1] > 0.7 * quarter and zeros[2] > 0.7 * quarter:
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
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(name, errors="replace"), name
    guessed = _nul_pattern_encoding(data[:4096])
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

"""Legacy Office extractor: Word 97-2003 piece tables in OLE2 files built in the test; .ppt rejection."""

from __future__ import annotations

import struct

import pytest

from data_extract.pipeline.extract.legacy import PPT_MESSAGE, clean_story, extract_legacy_office
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions, Table

SECTOR = 512
FREE, END_OF_CHAIN, FAT_SECTOR = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def ole_file(streams: dict[str, bytes]) -> bytes:
    """A version-3 compound file: sector 0 holds the FAT, sector 1 the directory, then each stream.

    Streams are padded to 4096 bytes so they live in regular sectors (no mini stream needed); at most three.
    """
    assert len(streams) <= 3
    fat = [FAT_SECTOR, END_OF_CHAIN]
    body = b""
    placed: list[tuple[str, int, int]] = []
    for name, data in streams.items():
        payload = data.ljust(4096, b"\x00")
        count = -(-len(payload) // SECTOR)
        start = 2 + len(body) // SECTOR
        fat += [start + i + 1 for i in range(count - 1)] + [END_OF_CHAIN]
        body += payload.ljust(count * SECTOR, b"\x00")
        placed.append((name, start, len(payload)))
    header = bytearray(SECTOR)
    header[0:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9, 6)
    struct.pack_into("<I", header, 0x2C, 1)  # FAT sectors
    struct.pack_into("<I", header, 0x30, 1)  # first directory sector
    struct.pack_into("<I", header, 0x38, 4096)  # mini stream cutoff
    struct.pack_into("<III", header, 0x3C, END_OF_CHAIN, 0, END_OF_CHAIN)  # mini FAT, count, DIFAT
    struct.pack_into("<I", header, 0x4C, 0)
    for i in range(1, 109):
        struct.pack_into("<I", header, 0x4C + 4 * i, FREE)
    fat_sector = b"".join(struct.pack("<I", v) for v in fat).ljust(SECTOR, b"\xff")

    def entry(name: str, kind: int, right: int, child: int, start: int, size: int) -> bytes:
        raw = bytearray(128)
        encoded = (name + "\0").encode("utf-16-le")
        raw[0 : len(encoded)] = encoded
        struct.pack_into("<HBB", raw, 0x40, len(encoded), kind, 1)
        struct.pack_into("<III", raw, 0x44, FREE, right, child)
        struct.pack_into("<II", raw, 0x74, start, size)
        return bytes(raw)

    directory = entry("Root Entry", 5, FREE, 1 if placed else FREE, END_OF_CHAIN, 0)
    for index, (name, start, size) in enumerate(placed, start=1):
        directory += entry(name, 2, index + 1 if index < len(placed) else FREE, FREE, start, size)
    return bytes(header) + fat_sector + directory.ljust(SECTOR, b"\x00") + body


def word_document(pieces: list[tuple[str, bool]], story_lengths: dict[int, int], *, n_fib: int = 0x00C1,
                  flags: int = 0x0200) -> tuple[bytes, bytes]:  # fmt: skip
    """(WordDocument, 1Table) streams for text stored in ``pieces`` of (text, compressed)."""
    stream = bytearray(0x800)
    struct.pack_into("<HH", stream, 0, 0xA5EC, n_fib)
    struct.pack_into("<H", stream, 0x0A, flags)
    struct.pack_into("<H", stream, 0x20, 14)  # csw
    struct.pack_into("<H", stream, 0x3E, 22)  # cslw
    for index, length in story_lengths.items():
        struct.pack_into("<I", stream, 0x40 + index * 4, length)
    struct.pack_into("<H", stream, 0x98, 93)  # cbRgFcLcb
    cps, pcds = [0], b""
    for text, compressed in pieces:
        offset = len(stream)
        if compressed:
            stream += text.encode("cp1252")
            fc = (offset * 2) | 0x40000000
        else:
            stream += text.encode("utf-16-le")
            fc = offset
        cps.append(cps[-1] + len(text))
        pcds += struct.pack("<HIH", 0, fc, 0)
    plc = b"".join(struct.pack("<I", cp) for cp in cps) + pcds
    table = b"\x02" + struct.pack("<I", len(plc)) + plc
    struct.pack_into("<II", stream, 0x9A + 33 * 8, 0, len(table))
    return bytes(stream), table


def doc_file(pieces, story_lengths, **kwargs) -> bytes:
    main, table = word_document(pieces, story_lengths, **kwargs)
    return ole_file({"WordDocument": main, "1Table": table})


def test_given_doc_with_table_field_and_footnote_when_extracted_then_stories_become_blocks():
    main = "Hello Word\rA\x07B\x07\x07C\x07D\x07\x07Total \x13 PAGE \x143\x15 pages\r"
    note = "\x02 The note\r"
    data = doc_file([(main, True), (note, True)], {3: len(main), 4: len(note)})
    document = extract_legacy_office(data, filename="d.doc", options=ExtractOptions())

    assert [(b.kind, b.text) for b in document.blocks] == [
        ("paragraph", "Hello Word"),
        ("table", Table([["A", "B"], ["C", "D"]]).to_text()),
        ("paragraph", "Total 3 pages"),
        ("footnote", "The note"),
    ]
    assert document.blocks[1].table.rows == [["A", "B"], ["C", "D"]]
    assert document.format == "doc"


def test_given_unicode_piece_after_compressed_piece_when_extracted_then_both_decode():
    first, second = "Caf\xe9 ", "\u0416\u0443\u0440\u043d\u0430\u043b \u2013 done\r"
    data = doc_file([(first, True), (second, False)], {3: len(first) + len(second)})
    document = extract_legacy_office(data, filename="d.doc", options=ExtractOptions())
    assert document.text == "Café Журнал – done"


def test_given_encrypted_doc_when_extracted_then_encrypted():
    data = doc_file([("secret\r", True)], {3: 7}, flags=0x0200 | 0x0100)
    with pytest.raises(ExtractionError) as caught:
        extract_legacy_office(data, filename="d.doc", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.ENCRYPTED


def test_given_word95_doc_when_extracted_then_unsupported_with_advice():
    data = doc_file([("old\r", True)], {3: 4}, n_fib=0x0065 - 1)
    with pytest.raises(ExtractionError) as caught:
        extract_legacy_office(data, filename="d.doc", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.UNSUPPORTED_FORMAT
    assert ".docx" in caught.value.message


def test_given_piece_table_pointing_outside_the_stream_when_extracted_then_corrupt():
    main, table = word_document([("text\r", True)], {3: 5})
    broken = bytearray(table)
    struct.pack_into("<I", broken, 5 + 8 + 2, (0x10000 * 2) | 0x40000000)  # the piece's text starts past the end
    with pytest.raises(ExtractionError) as caught:
        extract_legacy_office(ole_file({"WordDocument": main, "1Table": bytes(broken)}), filename="d.doc",
                              options=ExtractOptions())  # fmt: skip
    assert caught.value.error_type == ErrorType.CORRUPT


def test_given_powerpoint_file_when_extracted_then_unsupported_asking_for_pptx():
    with pytest.raises(ExtractionError) as caught:
        extract_legacy_office(
            ole_file({"PowerPoint Document": b"\x00" * 16}), filename="s.ppt", options=ExtractOptions()
        )
    assert caught.value.error_type == ErrorType.UNSUPPORTED_FORMAT
    assert caught.value.message == PPT_MESSAGE


def test_given_non_ole_bytes_when_extracted_then_corrupt():
    with pytest.raises(ExtractionError) as caught:
        extract_legacy_office(b"PK\x03\x04 not ole", filename="d.doc", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.CORRUPT


def test_given_nested_fields_when_cleaned_then_only_results_remain():
    text = "a \x13 REF x \x13 inner \x14in\x15\x14shown\x15 b \x13 TOC \x15c"
    assert clean_story(text) == "a shown b c"

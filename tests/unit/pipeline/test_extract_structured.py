"""JSON/NDJSON extractor: key paths per top-level item, precise parse errors."""

from __future__ import annotations

import json

import pytest

from data_extract.pipeline.extract.structured import extract_json, flatten
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions


def test_given_object_when_extracted_then_one_block_per_top_level_key_with_key_paths():
    data = json.dumps(
        {"audit": {"owner": "Ann", "controls": [{"id": "C1"}, {"id": "C2"}]}, "year": 2024.0, "tags": []}
    )
    document = extract_json(data.encode(), filename="a.json", options=ExtractOptions())

    assert [b.text for b in document.blocks] == [
        "audit.owner: Ann\naudit.controls[0].id: C1\naudit.controls[1].id: C2",
        "year: 2024",
        "tags: []",
    ]
    assert [b.section for b in document.blocks] == ["audit", "year", "tags"]
    assert document.metadata["top_level"] == "object"


def test_given_array_when_extracted_then_one_block_per_item():
    document = extract_json(b'[{"a": true}, null, "x"]', filename="a.json", options=ExtractOptions())
    assert [b.text for b in document.blocks] == ["[0].a: true", "[1]: null", "[2]: x"]


def test_given_keys_that_are_not_identifiers_when_flattened_then_they_are_quoted():
    assert flatten({"first name": {"a.b": 1}}) == ['["first name"]["a.b"]: 1']


@pytest.mark.parametrize("name", ["events.ndjson", "events.json"])
def test_given_ndjson_by_name_or_by_content_when_extracted_then_one_block_per_line(name):
    data = b'{"id": 1}\n\n{"id": 2, "ok": false}\n'
    document = extract_json(data, filename=name, options=ExtractOptions())
    assert document.format == "ndjson"
    assert [(b.text, b.meta["line"]) for b in document.blocks] == [("id: 1", 1), ("id: 2\nok: false", 3)]


def test_given_truncated_json_when_extracted_then_corrupt_with_the_position():
    with pytest.raises(ExtractionError) as caught:
        extract_json(b'{\n  "a": [1, 2,\n', filename="t.json", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.CORRUPT
    assert caught.value.details["line"] == 3
    assert "line 3" in caught.value.message


def test_given_bad_ndjson_line_when_extracted_then_the_line_number_is_reported():
    with pytest.raises(ExtractionError) as caught:
        extract_json(b'{"a": 1}\n{"a": \n', filename="x.jsonl", options=ExtractOptions())
    assert caught.value.details["line"] == 2


def test_given_deeply_nested_json_when_extracted_then_corrupt_not_a_crash():
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ExtractionError) as caught:
        extract_json(deep, filename="d.json", options=ExtractOptions())
    assert caught.value.error_type == ErrorType.CORRUPT


def test_given_utf16_json_with_bom_when_extracted_then_it_is_decoded():
    document = extract_json('{"name": "Zoë"}'.encode("utf-16"), filename="u.json", options=ExtractOptions())
    assert document.text == "name: Zoë"


def test_given_empty_file_when_extracted_then_no_blocks():
    assert extract_json(b"  \n", filename="e.json", options=ExtractOptions()).blocks == []


def test_given_too_much_text_when_extracted_then_too_much_text():
    data = json.dumps([{"v": "x" * 50} for _ in range(10)]).encode()
    with pytest.raises(ExtractionError) as caught:
        extract_json(data, filename="b.json", options=ExtractOptions(max_chars=100))
    assert caught.value.error_type == ErrorType.TOO_MUCH_TEXT

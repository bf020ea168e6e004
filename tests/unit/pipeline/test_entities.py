"""Audit entity recognizer."""

from __future__ import annotations

import pytest

from data_extract.pipeline.entities import entity_tags, find_entities


def ids(text: str) -> list[tuple[str, str]]:
    return [(e["type"], e["id"]) for e in find_entities(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Risk #123 is open", [("risk", "RISK-123")]),
        ("see RISK-001-01 here", [("risk", "RISK-001-01")]),
        ("Archer shows R-123456.", [("risk", "R-123456")]),
        ("Archer Risk ID: 4411", [("risk", "ARCHER-RISK-4411")]),
        ("Risk ID: 7 and Risk No. 8", [("risk", "RISK-7"), ("risk", "RISK-8")]),
        ("CTRL-1234 and CTRL-001-01", [("control", "CTRL-1234"), ("control", "CTRL-001-01")]),
        ("Control #12 and C-123456", [("control", "CTRL-12"), ("control", "C-123456")]),
        ("requirement REQ-001-02 applies", [("regulation", "REQ-001-02")]),
        ("PROC-12 and Process ID: 9", [("process", "PROC-12"), ("process", "PROC-9")]),
        ("POL-003 and Policy #2", [("policy", "POL-003"), ("policy", "POL-2")]),
        ("ISSUE-17, ISS-0042, Finding #3", [("issue", "ISSUE-17"), ("issue", "ISSUE-0042"), ("issue", "FIND-3")]),
    ],
)
def test_given_identifier_mentions_when_recognizing_then_type_and_canonical_id_are_found(text, expected):
    assert ids(text) == expected


def test_given_regulations_and_frameworks_when_recognizing_then_each_gets_a_canonical_id():
    text = (
        "SOX, the Sarbanes-Oxley Act, GDPR, HIPAA, PCI-DSS, PCI DSS, NIST CSF, NIST SP 800-53, "
        "ISO 27001, ISO/IEC 27002:2013, ISO 31000, COBIT 2019 and COSO."
    )
    assert [i for _, i in ids(text)] == [
        "SOX",
        "SOX",
        "GDPR",
        "HIPAA",
        "PCI-DSS",
        "PCI-DSS",
        "NIST-CSF",
        "NIST-SP-800-53",
        "ISO-27001",
        "ISO-27002",
        "ISO-31000",
        "COBIT",
        "COSO",
    ]
    assert {t for t, _ in ids(text)} == {"regulation"}


@pytest.mark.parametrize(
    "text",
    [
        "the risk 2 times higher than last year",
        "Risk: 3 (high)",
        "wear warm sox and a coso",
        "see figure C-3 for the layout",
        "the X-RISK-1 variant",
        "iso 27001 in lower case prose",
        "high risk, internal control, business process",
    ],
)
def test_given_ordinary_prose_when_recognizing_then_no_entity_is_invented(text):
    assert find_entities(text) == []


def test_given_entities_when_recognizing_then_offsets_slice_the_mention_in_reading_order():
    text = "Under SOX, CTRL-001-01 mitigates RISK-001-01 (Archer Risk ID: 77)."
    entities = find_entities(text)

    assert [e["text"] for e in entities] == ["SOX", "CTRL-001-01", "RISK-001-01", "Archer Risk ID: 77"]
    assert all(text[e["start"] : e["end"]] == e["text"] for e in entities)
    assert [e["start"] for e in entities] == sorted(e["start"] for e in entities)


def test_given_repeated_mentions_when_building_tags_then_ids_are_unique_in_first_mention_order():
    entities = find_entities("RISK-2 then SOX then Risk #2 then RISK-1 and SOX")
    assert entity_tags(entities) == ["RISK-2", "SOX", "RISK-1"]


def test_given_entity_ids_when_used_as_folder_names_then_they_are_path_safe():
    text = "Risk #1.2, ctrl_77, Archer Control ID: 5, ISO/IEC 27001:2022, NIST SP 800-53A"
    for entity in find_entities(text):
        assert all(ch.isupper() or ch.isdigit() or ch == "-" for ch in entity["id"]), entity

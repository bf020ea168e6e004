"""API keys and session tokens as pure functions: several keys, constant-time checks, tokens that never crash."""

from __future__ import annotations

import pytest

from data_extract.api import security

KEYS = ("old-key-0123456789abcdef", "new-key-fedcba9876543210")


def test_given_a_comma_or_newline_separated_list_when_parsed_then_every_key_counts_once():
    assert security.parse_keys(" a-key , b-key\nc-key,,a-key\n") == ("a-key", "b-key", "c-key")
    assert security.parse_keys("  ") == ()


@pytest.mark.parametrize(
    "given,index",
    [
        (KEYS[0], 0),
        (KEYS[1], 1),
        (f"  {KEYS[1]} ", 1),
        ("new-key", None),
        (KEYS[1] + "x", None),
        ("", None),
        (None, None),
        ("ключ", None),
    ],
)
def test_given_several_keys_when_one_is_offered_then_exactly_that_one_matches(given, index):
    assert security.matching_key_index(given, KEYS) == index
    assert security.keys_match(given, KEYS) is (index is not None)


def test_given_no_configured_key_then_nothing_matches():
    assert security.keys_match("anything", ()) is False


def test_a_key_fingerprint_names_the_key_without_revealing_it():
    fingerprint = security.key_fingerprint(KEYS[0])
    assert fingerprint == security.key_fingerprint(KEYS[0]) != security.key_fingerprint(KEYS[1])
    assert len(fingerprint) == 12 and KEYS[0] not in fingerprint


def test_an_issued_token_verifies_until_it_expires():
    token, claims = security.issue_token("session-secret", now=1_000, ttl=900)
    assert security.verify_token("session-secret", token, now=1_899) == claims
    assert security.verify_token("session-secret", token, now=1_900) is None


def test_a_token_signed_with_another_secret_is_refused():
    token, _ = security.issue_token("another-secret", now=1_000, ttl=900)
    assert security.verify_token("session-secret", token, now=1_000) is None


@pytest.mark.parametrize(
    "raw",
    [
        "abc.é",
        "abc.\u00e9\u00e9",
        "é" * 40,
        "a.b.c",
        "",
        ".",
        "..",
        "x" * 513,
        "eyJ.\x00",
        "abc.Ã©",
        "eyJzaWQiOiJ4IiwiZXhwIjoxfQ.aw6Sjw.v3YCybM7nYDkxCN_VSAn27r6S40",
    ],
)
def test_any_cookie_value_is_refused_without_raising(raw):
    assert security.verify_token("session-secret", raw, now=1_000) is None


def test_a_tampered_claim_breaks_the_signature():
    token, _ = security.issue_token("session-secret", now=1_000, ttl=900)
    payload, stamp, signature = token.split(".")
    forged = f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{stamp}.{signature}"
    assert security.verify_token("session-secret", forged, now=1_000) is None


def test_signing_without_a_secret_is_refused():
    with pytest.raises(ValueError):
        security.issue_token("", now=1_000, ttl=900)

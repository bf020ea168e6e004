"""Numeric attribute values as documents write them: an absent or malformed number reads as None."""

from __future__ import annotations


def parse_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
